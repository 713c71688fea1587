// Routing a request to one of several clusters: prefix first, then host, then the default.
import t from 'tap';
import { Router, type NamedUpstream } from '../../src/server/routing.js';
import { HttpStatusError } from '../../src/net/http-answers.js';

const upstream = (name: string, hosts: string[] = []): NamedUpstream => ({ name, hosts, target: { url: new URL(`https://${name}.internal:6443`), insecureSkipTlsVerify: false } });
const a = upstream('alpha', ['alpha.example.com']);
const b = upstream('beta', ['beta.example.com', '[::1]', 'shared.example.com:9443']);
const request = (url: string, host?: string) => ({ url, headers: host === undefined ? {} : { host } });

t.test('a /clusters/{name}/ prefix picks the cluster and is stripped', async (t) => {
  const router = new Router({ upstreams: [a, b] });
  t.match(router.route(request('/clusters/beta/api/v1/namespaces/default/pods?limit=1', 'alpha.example.com')), { upstream: b, path: '/api/v1/namespaces/default/pods?limit=1' }, 'the prefix wins over the host');
  t.match(router.route(request('/clusters/alpha')), { upstream: a, path: '/' });
  t.match(router.route(request('/clusters/alpha?x=1')), { upstream: a, path: '/?x=1' });
  t.match(router.route(request('/clusters/al%70ha/version')), { upstream: a, path: '/version' }, 'percent-encoded names are decoded');
  t.same(router.route(request('/clustersalpha/api', 'alpha.example.com')).path, '/clustersalpha/api', 'only a whole path segment is a prefix');
});

t.test('the Host header picks the cluster, port and case ignored', async (t) => {
  const router = new Router({ upstreams: [a, b] });
  t.equal(router.route(request('/api', 'ALPHA.example.com:8443')).upstream, a);
  t.equal(router.route(request('/api', 'beta.example.com')).upstream, b);
  t.equal(router.route(request('/api', '[::1]:8443')).upstream, b, 'IPv6 literal hosts');
  t.equal(router.route(request('/api', 'beta.example.com')).path, '/api', 'the path is untouched');
  t.equal(router.route(request('/api', 'shared.example.com:9443')).upstream, b, 'a host configured with a port matches that port');
  t.throws(() => router.route(request('/api', 'shared.example.com:8443')), /no cluster for host/, 'and no other');
});

t.test('unknown clusters get a 404 Status; names are revealed only when configured', async (t) => {
  const hidden = new Router({ upstreams: [a, b] });
  const error = t.throws(() => hidden.route(request('/clusters/gamma/api'))) as HttpStatusError;
  t.equal(error.code, 404);
  t.equal(error.reason, 'NotFound');
  t.match(error.message, /no cluster named "gamma"/);
  t.notMatch(error.message, /alpha/, 'names stay private by default');
  const noHost = t.throws(() => hidden.route(request('/api', 'other.example.com'))) as HttpStatusError;
  t.match(noHost.message, /no cluster for host "other.example.com"/);
  const revealing = new Router({ upstreams: [a, b], revealUpstreamNames: true });
  t.match((t.throws(() => revealing.route(request('/clusters/gamma/'))) as HttpStatusError).message, /known clusters: alpha, beta/);
});

t.test('the default: the configured one, or the only upstream', async (t) => {
  t.equal(new Router({ upstreams: [a] }).route(request('/api', 'anything')).upstream, a, 'a single upstream takes everything');
  t.equal(new Router({ upstreams: [a, b], defaultUpstream: 'beta' }).route(request('/api', 'x')).upstream, b);
  t.throws(() => new Router({ upstreams: [a], defaultUpstream: 'nope' }), /default upstream "nope"/);
});

t.test('dot segments are refused: they could be authorized as one path and served as another', async (t) => {
  const router = new Router({ upstreams: [a] });
  for (const path of ['/api/v1/namespaces/default/pods/p/log/../exec', '/api/./v1', '/clusters/alpha/..', '/api/v1/%2e%2E/x', '/.']) {
    const error = t.throws(() => router.route(request(path))) as HttpStatusError;
    t.equal(error.code, 400, path);
  }
  t.equal(router.route(request('/api/v1/namespaces/default/pods/a..b/exec?x=../y')).path, '/api/v1/namespaces/default/pods/a..b/exec?x=../y', 'dots inside a segment or in the query are fine');
});

t.test('a route carries what the upstream will act on in authorization terms, read once for every check', async (t) => {
  const router = new Router({ upstreams: [a, b] });
  // The upgrade is a GET; the exec subresource is `create` whatever the method, read after the prefix is stripped.
  const exec = router.route({ ...request('/clusters/beta/api/v1/namespaces/ns/pods/web/%65xec?command=sh'), method: 'GET' });
  t.match(exec.attributes, { verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'ns', name: 'web', resourceRequest: true });
  const list = router.route({ ...request('/api/v1/namespaces/ns/pods', 'alpha.example.com'), method: 'GET' });
  t.match(list.attributes, { verb: 'list', resource: 'pods', namespace: 'ns', subresource: '' });
});
