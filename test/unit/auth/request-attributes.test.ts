// RequestInfo as kube-apiserver derives it, and the exec/attach/portforward → create rule.
import t from 'tap';
import { requestAttributes, type RequestAttributes } from '../../../src/auth/request-attributes.js';

const base: RequestAttributes = { verb: '', apiGroup: '', apiVersion: '', resource: '', subresource: '', namespace: '', name: '', resourceRequest: false, path: '' };
const attrs = (method: string, url: string): RequestAttributes => requestAttributes({ method, url });

t.test('exec, attach and portforward are create whatever the method (a WebSocket upgrade is a GET)', async (t) => {
  for (const sub of ['exec', 'attach', 'portforward']) {
    for (const method of ['GET', 'POST', 'HEAD']) {
      t.same(attrs(method, `/api/v1/namespaces/default/pods/web-1/${sub}?command=sh&stdin=true`), {
        ...base,
        verb: 'create',
        apiVersion: 'v1',
        resource: 'pods',
        subresource: sub,
        namespace: 'default',
        name: 'web-1',
        resourceRequest: true,
        path: `/api/v1/namespaces/default/pods/web-1/${sub}`,
      }, `${method} ${sub}`);
    }
  }
  t.match(attrs('GET', '/api/v1/namespaces/default/pods/web-1/%65xec'), { verb: 'create', subresource: 'exec' }, 'percent-encoded path decoded as Go does');
  t.match(attrs('GET', '/api/v1/namespaces/default/pods/web-1/log'), { verb: 'get', subresource: 'log' }, 'other subresources keep get');
});

t.test("the kubelet's own streaming paths are the same subresources", async (t) => {
  t.match(attrs('GET', '/exec/default/web-1/main?command=ls'), { verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'default', name: 'web-1', resourceRequest: true });
  t.match(attrs('POST', '/attach/ns/p/uid/c'), { verb: 'create', subresource: 'attach', namespace: 'ns', name: 'p' });
  t.match(attrs('GET', '/portForward/ns/p'), { verb: 'create', subresource: 'portforward', namespace: 'ns', name: 'p' });
});

t.test('verbs from methods, list/watch/deletecollection, special verbs', async (t) => {
  const cases: Array<[string, string, Partial<RequestAttributes>]> = [
    ['GET', '/api/v1/namespaces/default/pods', { verb: 'list', resource: 'pods', namespace: 'default' }],
    ['GET', '/api/v1/namespaces/default/pods?watch=true', { verb: 'watch' }],
    ['GET', '/api/v1/namespaces/default/pods?watch=1', { verb: 'watch' }],
    ['GET', '/api/v1/namespaces/default/pods?watch=false', { verb: 'list' }],
    ['GET', '/api/v1/namespaces/default/pods?watch=0', { verb: 'list' }],
    ['GET', '/api/v1/namespaces/default/pods/web', { verb: 'get', name: 'web' }],
    ['HEAD', '/api/v1/namespaces/default/pods/web', { verb: 'get' }],
    ['POST', '/api/v1/namespaces/default/pods', { verb: 'create' }],
    ['PUT', '/api/v1/namespaces/default/pods/web', { verb: 'update' }],
    ['PATCH', '/api/v1/namespaces/default/pods/web', { verb: 'patch' }],
    ['DELETE', '/api/v1/namespaces/default/pods/web', { verb: 'delete' }],
    ['DELETE', '/api/v1/namespaces/default/pods', { verb: 'deletecollection' }],
    ['OPTIONS', '/api/v1/namespaces/default/pods/web', { verb: '' }],
    ['GET', '/api/v1/watch/namespaces/default/pods', { verb: 'watch', resource: 'pods', namespace: 'default' }],
    ['GET', '/api/v1/proxy/namespaces/default/pods/web/a/b', { verb: 'proxy', name: 'web', subresource: '' }],
    ['GET', '/apis/apps/v1/namespaces/prod/deployments/api', { verb: 'get', apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments', name: 'api', namespace: 'prod' }],
    ['GET', '/api/v1/namespaces/default', { verb: 'get', resource: 'namespaces', name: 'default', namespace: 'default' }],
    ['PUT', '/api/v1/namespaces/default/status', { verb: 'update', resource: 'namespaces', name: 'default', subresource: 'status' }],
    ['GET', '/api/v1/nodes', { verb: 'list', resource: 'nodes', namespace: '' }],
    ['GET', '/api/v1/watch', { verb: 'get', resourceRequest: true, resource: '' }],
  ];
  for (const [method, url, expected] of cases) t.match(attrs(method, url), { resourceRequest: true, ...expected }, `${method} ${url}`);
});

t.test('non-resource requests: the lower-cased method and the path', async (t) => {
  for (const url of ['/healthz', '/api', '/api/v1', '/apis', '/apis/apps', '/apis/apps/v1', '/version/', '/', '/logs/a/b/c']) {
    t.same(attrs('GET', url), { ...base, verb: 'get', path: url.split('?')[0] }, url);
  }
  t.same(attrs('POST', '/bad%zzpath'), { ...base, verb: 'post', path: '/bad%zzpath' }, 'an invalid escape stays as sent');
});

t.test('pre135Verbs: the verb of the method, as API servers before 1.35 (the legacy stand-in) derive it', async (t) => {
  const exec = '/api/v1/namespaces/default/pods/demo/exec?command=id';
  t.equal(requestAttributes({ method: 'GET', url: exec }, { pre135Verbs: true }).verb, 'get', 'the hole: a WebSocket exec is a get');
  t.equal(requestAttributes({ method: 'POST', url: exec }, { pre135Verbs: true }).verb, 'create');
  t.equal(requestAttributes({ method: 'GET', url: exec }).verb, 'create', 'the gateway: always create');
  t.equal(requestAttributes({ method: 'GET', url: '/exec/default/demo/main' }, { pre135Verbs: true }).resourceRequest, false, 'kubelet paths stay non-resource paths');
});
