// The gateway's one reading of a request target (issue 17 item 2): origin-form only, decoded as Go's
// url.PathUnescape decodes it, and refused wherever the gateway and a Go upstream could read it
// differently. The property test checks the classification against an independent model of Go's rules.
import t from 'tap';
import fc from 'fast-check';
import { parseRequestTarget, RequestTargetError } from '../../src/codecs/k8s/request-url.js';
import { requestAttributes, isStreamingRequest, type RequestAttributes } from '../../src/auth/request-attributes.js';
import { Router } from '../../src/server/routing.js';
import { HttpStatusError } from '../../src/net/http-answers.js';

const numRuns = Number(process.env.FUZZ_RUNS ?? 2000);
const EXEC = '/api/v1/namespaces/default/pods/demo/exec?command=id&stdout=true';

t.test('refused: every form the gateway and a Go upstream could read differently', async (t) => {
  const refused: Array<[string, RegExp]> = [
    ['http://x/api/v1/namespaces/default/pods/demo/exec?command=id', /origin-form/],
    ['HTTPS://x:443/api/v1/namespaces/default/pods/demo/exec', /origin-form/],
    ['example.com:443', /origin-form/],
    ['*', /origin-form/],
    ['api/v1/namespaces', /origin-form/],
    ['/api/v1/namespaces/default/pods/demo%2Fexec', /encoded slash/],
    ['/api/v1/namespaces/default/pods/demo%2fexec', /encoded slash/],
    ['/api/v1/namespaces/a%2Fb/pods/demo/exec', /encoded slash/],
    ['/api/v1/namespaces/default/pods/demo/log/../exec', /"\." or "\.\."/],
    ['/api/v1/namespaces/default/pods/demo/log/%2e%2E/exec', /"\." or "\.\."/],
    ['/api/v1/namespaces/default/pods/demo/log/.%2e/exec', /"\." or "\.\."/],
    ['/api/v1/namespaces/default/pods/demo/log/%2E./exec', /"\." or "\.\."/],
    ['/api/v1/./namespaces/default/pods/demo/exec', /"\." or "\.\."/],
    ['/api/v1/%2e/namespaces', /"\." or "\.\."/],
    ['/.', /"\." or "\.\."/],
    ['//api/v1/namespaces/default/pods/demo/exec', /repeated slashes/],
    ['/api//v1/namespaces/default/pods/demo/exec', /repeated slashes/],
    ['/api/v1/namespaces/default/pods/demo/exec//', /repeated slashes/],
    ['/api/v1/namespaces/default/pods/demo/%zzexec', /invalid URL escape "%zz"/],
    ['/api/v1/namespaces/default/pods/demo/exec%4', /invalid URL escape "%4"/],
    ['/api/v1/namespaces/default/pods/demo/exec%', /invalid URL escape "%"/],
    ['/api/v1/namespaces/default/pods/demo%00/exec', /control characters/],
    ['/api/v1/namespaces/default/pods/demo%1f/exec', /control characters/],
    ['/api/v1/namespaces/default/pods/demo%7F/exec', /control characters/],
    ['/api/v1/namespaces/default/pods/demo\x00/exec', /printable ASCII/],
    ['/api/v1/namespaces/default/pods/demo /exec', /printable ASCII/],
    ['/api/v1/namespaces/default/pods/démo/exec', /printable ASCII/],
    ['/api/v1/namespaces/default/pods/demo%ff/exec', /UTF-8/],
    ['/api/v1/namespaces/default/pods/demo/exec#frag', /"#"/],
    ['/api/v1/namespaces/default/pods/demo/exec?command=id#frag', /"#"/],
  ];
  for (const [target, reason] of refused) {
    const error = t.throws(() => parseRequestTarget(target), RequestTargetError, JSON.stringify(target)) as Error;
    t.match(error.message, reason, JSON.stringify(target));
  }
});

t.test('accepted: decoded exactly as Go decodes URL.Path, the raw form kept for the upstream', async (t) => {
  const target = parseRequestTarget('/api/v1/namespaces/d%65fault/pods/demo/%65xec?command=a%2Fb&command=../x');
  t.equal(target.rawPath, '/api/v1/namespaces/d%65fault/pods/demo/%65xec');
  t.equal(target.path, '/api/v1/namespaces/default/pods/demo/exec');
  t.same(target.segments, ['api', 'v1', 'namespaces', 'default', 'pods', 'demo', 'exec']);
  t.same(target.query.getAll('command'), ['a/b', '../x'], 'the query is not the path: escapes and dots there are fine');
  t.equal(target.search, '?command=a%2Fb&command=../x');
  t.same(parseRequestTarget('/').segments, []);
  t.same(parseRequestTarget('/api/v1/namespaces/').segments, ['api', 'v1', 'namespaces'], 'a trailing slash, trimmed as RequestInfo trims it');
  t.equal(parseRequestTarget('/a%252Fb').path, '/a%2Fb', '%25 decodes once: the upstream sees the text "%2F", not a separator');
  t.equal(parseRequestTarget('/pods/d%C3%A9mo').path, '/pods/démo');
  t.equal(parseRequestTarget('/pods/a..b/c.d/...').path, '/pods/a..b/c.d/...', 'dots inside a segment are a name');
  t.equal(parseRequestTarget('/pods/a+b').path, '/pods/a+b', 'a plus stays a plus in a path');
});

t.test('classification of every encoding of exec, attach and portforward: create on the decoded subresource', async (t) => {
  for (const [target, subresource] of [
    ['/api/v1/namespaces/default/pods/demo/%65xec', 'exec'],
    ['/api/v1/namespaces/default/pods/demo/%65%78%65%63', 'exec'],
    ['/api/v1/namespaces/default/pods/demo/%61ttach', 'attach'],
    ['/api/v1/namespaces/default/pods/demo/portforwar%64', 'portforward'],
    ['/%61pi/v1/namespaces/default/pods/demo/exec', 'exec'],
    ['/api/v1/namespaces/default/po%64s/demo/exec/', 'exec'],
    ['/%65xec/default/demo/shell', 'exec'],
    ['/attach/default/demo/uid/shell', 'attach'],
    ['/portForward/default/demo', 'portforward'],
    ['/port%46orward/default/demo', 'portforward'],
  ] as const) {
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']) {
      const attributes = requestAttributes({ method, target: parseRequestTarget(target) });
      t.match(attributes, { verb: 'create', resource: 'pods', subresource, namespace: 'default', name: 'demo', resourceRequest: true }, `${method} ${target}`);
      t.ok(isStreamingRequest(attributes));
    }
  }
  t.notOk(isStreamingRequest(requestAttributes({ method: 'GET', url: '/api/v1/namespaces/default/pods/demo/log' })));
  t.notOk(isStreamingRequest(requestAttributes({ method: 'GET', url: '/apis/x/v1/namespaces/default/pods/demo/exec' })), 'pods of another API group are not the core pods');
});

t.test('routing reads the same target: prefix stripped raw, refusals are a 400 Status', async (t) => {
  const router = new Router({ upstreams: [{ name: 'alpha', target: { url: new URL('https://alpha.internal'), insecureSkipTlsVerify: false } }] });
  const route = router.route({ url: '/clusters/alpha/api/v1/namespaces/default/pods/demo/%65xec?command=id', headers: {} });
  t.equal(route.path, '/api/v1/namespaces/default/pods/demo/%65xec?command=id', 'the upstream gets the path exactly as sent');
  t.match(requestAttributes({ method: 'GET', target: route.target }), { verb: 'create', subresource: 'exec', name: 'demo' });
  t.match(router.route({ url: '/clusters/alpha/exec/default/demo/shell', headers: {} }).target.segments, ['exec', 'default', 'demo', 'shell']);
  for (const url of ['http://x/clusters/alpha/api', '/clusters/alpha//api/v1', '/clusters/alpha/api/v1/namespaces/default/pods/demo%2Fexec', '/clusters/%2e%2e/api', '/clusters/alpha/%zz', '*']) {
    const error = t.throws(() => router.route({ url, headers: {} })) as HttpStatusError;
    t.equal(error.code, 400, url);
    t.equal(error.reason, 'BadRequest', url);
  }
});

// --- The property: the gateway's classification agrees with Go's, or the gateway refuses the target.

interface GoInfo {
  isResourceRequest: boolean;
  verb: string;
  apiGroup: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
}

/**
 * An independent model of what a Go upstream makes of a request target: net/http's
 * url.ParseRequestURI (CTL bytes refused; a scheme makes it absolute-form and the path is what
 * follows the authority; otherwise it must start with "/"; URL.Path = unescape(rawPath), a bad
 * escape is a 400), then apiserver's RequestInfoFactory (strings.Split(strings.Trim(path, "/"), "/"),
 * verbs from the method). Undefined: Go answers 400 itself.
 */
function goRequestInfo(method: string, raw: string): GoInfo | undefined {
  if (/[\x00-\x1f\x7f]/.test(raw)) return undefined;
  let rest = raw;
  if (rest === '*') return nonResource(method);
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(rest);
  if (scheme) {
    rest = rest.slice(scheme[0].length);
    if (!rest.startsWith('//')) return undefined;
    const authorityEnd = rest.slice(2).search(/[/?]/);
    rest = authorityEnd < 0 ? '' : rest.slice(2 + authorityEnd);
  }
  const query = rest.indexOf('?');
  const rawPath = query < 0 ? rest : rest.slice(0, query);
  if (!scheme && !rawPath.startsWith('/')) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < rawPath.length; i++) {
    if (rawPath[i] !== '%') {
      bytes.push(rawPath.charCodeAt(i));
      continue;
    }
    if (!/^[0-9a-fA-F]{2}$/.test(rawPath.slice(i + 1, i + 3))) return undefined;
    bytes.push(parseInt(rawPath.slice(i + 1, i + 3), 16));
    i += 2;
  }
  const path = Buffer.from(bytes).toString('utf8');
  const trimmed = path.replace(/^\/+/, '').replace(/\/+$/, '');
  let parts = trimmed === '' ? [] : trimmed.split('/');
  const info = nonResource(method);
  if (parts.length < 3 || (parts[0] !== 'api' && parts[0] !== 'apis')) return info;
  const prefix = parts[0];
  parts = parts.slice(1);
  if (prefix === 'apis') {
    if (parts.length < 3) return info;
    info.apiGroup = parts[0]!;
    parts = parts.slice(1);
  }
  info.isResourceRequest = true;
  parts = parts.slice(1);
  if (parts[0] === 'watch' || parts[0] === 'proxy') {
    if (parts.length < 2) return { ...info, verb: info.verb };
    info.verb = parts[0];
    parts = parts.slice(1);
  } else {
    info.verb = ({ POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as Record<string, string>)[method] ?? '';
  }
  if (parts[0] === 'namespaces') {
    if (parts.length > 1) {
      info.namespace = parts[1]!;
      if (parts.length > 2 && parts[2] !== 'status' && parts[2] !== 'finalize') parts = parts.slice(2);
    }
  }
  if (parts.length >= 3 && info.verb !== 'proxy') info.subresource = parts[2]!;
  if (parts.length >= 2) info.name = parts[1]!;
  if (parts.length >= 1) info.resource = parts[0]!;
  if (info.name === '' && info.verb === 'get') info.verb = /[?&]watch=(?!false|0)/i.test(raw) ? 'watch' : 'list';
  if (info.name === '' && info.verb === 'delete') info.verb = 'deletecollection';
  return info;
}

function nonResource(method: string): GoInfo {
  return { isResourceRequest: false, verb: method.toLowerCase(), apiGroup: '', resource: '', subresource: '', namespace: '', name: '' };
}

/** The kubelet's own streaming routes, as its restful container matches URL.Path. */
function kubeletStreaming(raw: string): { subresource: string; namespace: string; name: string } | undefined {
  const info = goRequestInfo('GET', raw);
  if (!info || raw === '*' || /^[A-Za-z][A-Za-z0-9+.-]*:/.test(raw)) return undefined;
  const path = Buffer.from(raw.split('?')[0]!.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1').toString('utf8');
  const parts = path.replace(/^\/+|\/+$/g, '').split('/');
  const [first, namespace, name] = parts;
  const shapes: Record<string, number[]> = { exec: [4, 5], attach: [4, 5], portForward: [3, 4] };
  if (!first || !shapes[first]?.includes(parts.length) || !namespace || !name) return undefined;
  return { subresource: first.toLowerCase(), namespace, name };
}

const CLEAN_SEGMENTS = ['api', 'apis', 'v1', 'apps', 'namespaces', 'default', 'kube-system', 'pods', 'demo', 'web-1', 'exec', 'attach', 'portforward', 'portForward', 'log', 'status', 'watch', 'proxy', 'nodes', '%65xec', '%61ttach', 'po%64s', '%6eamespaces', 'de%6Do', 'a..b', 'c%3a1', 'x+y', 'a;b', 'd%C3%A9mo'];
const AMBIGUOUS_SEGMENTS = ['', '.', '..', '%2e', '%2E%2e', '.%2e', '%2F', '%2f', 'a%2Fexec', 'demo%2fexec', '%zz', '%4', '%', '%00', '%ff', 'x#y', '*', '%0a'];
const segment = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...CLEAN_SEGMENTS) }, { weight: 1, arbitrary: fc.constantFrom(...AMBIGUOUS_SEGMENTS) });
const prefix = fc.oneof({ weight: 8, arbitrary: fc.constant('/') }, { weight: 1, arbitrary: fc.constantFrom('', 'http://x/', 'HTTP://gw:8443/', '//', 'h:443/', '*') });
const suffix = fc.constantFrom('', '', '/', '?', '?watch=true', '?watch=0', '?command=a%2Fb&x=../y', '?q#frag');
const method = fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS');
/** Heads that make streaming paths likely, each followed by generated segments. */
const head = fc.constantFrom('', '', 'api/v1/namespaces/default/pods/demo/', 'api/v1/namespaces/default/pods/', '%61pi/v1/namespaces/kube-system/po%64s/web-1/', 'exec/default/demo/', 'attach/default/', 'portForward/default/demo/', 'port%46orward/default/', 'api/v1/watch/namespaces/default/pods/demo/', 'apis/apps/v1/namespaces/default/pods/demo/');
const target = fc.tuple(prefix, head, fc.array(segment, { maxLength: 9 }), suffix).map(([p, h, segments, s]) => p + h + segments.join('/') + s);

/** The gateway's classification, or undefined when it refuses the target (a 400 before anything else). */
function gatewayAttributes(method: string, raw: string): RequestAttributes | undefined {
  try {
    return requestAttributes({ method, target: parseRequestTarget(raw) });
  } catch (error) {
    if (error instanceof RequestTargetError) return undefined;
    throw error;
  }
}

t.test('property: the gateway classifies a target as Go does, treats every streaming one as create, or refuses it', async (t) => {
  let accepted = 0;
  let streaming = 0;
  fc.assert(
    fc.property(method, target, (method, raw) => {
      const ours = gatewayAttributes(method, raw);
      if (!ours) return;
      accepted++;
      const go = goRequestInfo(method, raw);
      if (!go) throw new Error(`the gateway accepted ${JSON.stringify(raw)}, which Go refuses`);
      const kubelet = kubeletStreaming(raw);
      if (kubelet) {
        // On a kubelet these are exec/attach/portforward whatever the API server would call them.
        if (!(ours.verb === 'create' && ours.resource === 'pods' && ours.subresource === kubelet.subresource && ours.namespace === kubelet.namespace && ours.name === kubelet.name)) {
          throw new Error(`${method} ${raw}: kubelet ${JSON.stringify(kubelet)}, gateway ${JSON.stringify(ours)}`);
        }
        streaming++;
        return;
      }
      if (isStreamingRequest(ours) && ours.path.split('/')[1] !== 'api' && ours.path.split('/')[1] !== 'apis') return; // a kubelet-shaped path no kubelet serves
      const expected = { ...go, verb: go.isResourceRequest && go.resource === 'pods' && go.apiGroup === '' && ['exec', 'attach', 'portforward'].includes(go.subresource) ? 'create' : go.verb };
      const actual = { isResourceRequest: ours.resourceRequest, verb: ours.verb, apiGroup: ours.apiGroup, resource: ours.resource, subresource: ours.subresource, namespace: ours.namespace, name: ours.name };
      if (JSON.stringify(actual) !== JSON.stringify(expected)) throw new Error(`${method} ${raw}: Go ${JSON.stringify(expected)}, gateway ${JSON.stringify(actual)}`);
      if (expected.verb === 'create' && expected.subresource !== '' && expected.resource === 'pods') streaming++;
    }),
    { numRuns },
  );
  t.ok(accepted > numRuns / 4, `the generator reaches accepted targets (${accepted} of ${numRuns})`);
  t.ok(streaming > 0, `and streaming ones (${streaming})`);
});

t.test('property: a target with nothing ambiguous in it is never refused', async (t) => {
  const clean = fc.tuple(fc.array(fc.constantFrom(...CLEAN_SEGMENTS), { minLength: 1, maxLength: 9 }), fc.constantFrom('', '/', '?watch=1', '?command=a%2Fb&x=../y')).map(([segments, s]) => `/${segments.join('/')}${s}`);
  fc.assert(
    fc.property(clean, (raw) => {
      parseRequestTarget(raw);
    }),
    { numRuns },
  );
  t.pass();
});

t.test('the gateway reads exec where Go does: the examples from issue 17', async (t) => {
  t.equal(gatewayAttributes('POST', `http://x${EXEC}`), undefined, 'absolute-form is refused, not classified as a non-resource post');
  t.match(goRequestInfo('POST', `http://x${EXEC}`), { isResourceRequest: true, subresource: 'exec' }, 'while Go serves it as exec');
  t.match(gatewayAttributes('GET', EXEC.replace('exec', '%65xec')), { verb: 'create', subresource: 'exec' });
  t.equal(gatewayAttributes('GET', EXEC.replace('demo/exec', 'demo%2Fexec')), undefined);
  t.match(goRequestInfo('GET', EXEC.replace('demo/exec', 'demo%2Fexec')), { subresource: 'exec', verb: 'get' }, 'which Go reads as a get on pods/exec');
});
