// Users and RBAC-like rules on the legacy cluster: token-file users next to the privileged token, 401
// for anyone else, 403 Status in the API server's exact words, and — as on a real 1.28 server — the
// verb taken from the HTTP method, so a GET exec upgrade is `get` on pods/exec and a POST `create`.
import t from 'tap';
import { parseTokenAuthFile } from '../../src/legacy-cluster/token-auth-file.js';
import { parseRules } from '../../src/legacy-cluster/authorizer.js';
import { startHarness, request, json, failureStatus, rawExchange, postJson, spdyUpgradeRequest, dialSpdy, openStreams, collect, execPath, type Harness, type UpgradeAs } from './harness.js';

const USERS = [
  { token: 'alice-token', name: 'alice', uid: 'alice-uid', groups: ['devs'] },
  { token: 'bob-token', name: 'bob', groups: [] },
  { token: 'carol-token', name: 'carol' },
];
const RULES = parseRules(
  {
    rules: [
      { groups: ['devs'], verbs: ['create'], resources: ['pods/exec', 'pods/attach', 'pods/portforward'], namespaces: ['default'] },
      { users: ['alice'], verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'], namespaces: ['default'] },
      // The read-only role of kubernetes/kubernetes#78741: `get` on pods/exec.
      { users: ['bob'], verbs: ['get'], resources: ['pods/exec'], namespaces: ['*'] },
    ],
  },
  'test rules',
);

let h: Harness;
t.before(async () => {
  h = await startHarness({ users: USERS, rules: RULES });
});
t.teardown(() => h.close());

const forbiddenStatus = (message: string, details: object): object => failureStatus(403, 'Forbidden', message, details);

t.test('token-file users authenticate; other tokens, and the users of other clusters, get the 401 Status', async (t) => {
  for (const token of ['alice-token', 'bob-token', 'carol-token', h.token]) {
    const response = await request(h, 'GET', '/version', { Authorization: `Bearer ${token}` }, false);
    t.equal(response.status, 200, `${token.slice(0, 6)}…: discovery is every authenticated user's (system:discovery)`);
  }
  for (const header of ['Bearer dave-token', 'Bearer alice-token2', 'Bearer alice', 'Bearer ', 'Basic YWxpY2U6eA==']) {
    const response = await request(h, 'GET', '/version', { Authorization: header }, false);
    t.equal(response.status, 401, header);
    t.same(json(response), failureStatus(401, 'Unauthorized', 'Unauthorized'));
  }
});

t.test('rules allow: alice lists and reads pods in default', async (t) => {
  const list = await request(h, 'GET', '/api/v1/namespaces/default/pods', { Authorization: 'Bearer alice-token' }, false);
  t.equal(list.status, 200);
  t.equal(json(list).kind, 'PodList');
  const pod = await request(h, 'GET', '/api/v1/namespaces/default/pods/demo', { Authorization: 'Bearer alice-token' }, false);
  t.equal(pod.status, 200);
  // Authorization before the handler: allowed, then the real 404.
  const missing = await request(h, 'GET', '/api/v1/namespaces/default/pods/missing', { Authorization: 'Bearer alice-token' }, false);
  t.equal(missing.status, 404);
});

t.test('rules deny with the API server message, before the handler (403, never 404 or 405)', async (t) => {
  const pod = (name: string): object => ({ name, kind: 'pods' });
  // [token, method, path, message, details]
  const cases: Array<[string, string, string, string, object]> = [
    ['carol-token', 'GET', '/api/v1/namespaces/default/pods/demo', 'pods "demo" is forbidden: User "carol" cannot get resource "pods" in API group "" in the namespace "default"', pod('demo')],
    ['carol-token', 'GET', '/api/v1/namespaces/default/pods/missing', 'pods "missing" is forbidden: User "carol" cannot get resource "pods" in API group "" in the namespace "default"', pod('missing')],
    ['alice-token', 'GET', '/api/v1/pods', 'pods is forbidden: User "alice" cannot list resource "pods" in API group "" at the cluster scope', { kind: 'pods' }],
    ['alice-token', 'GET', '/api/v1/namespaces/kube-system/pods?watch=true', 'pods is forbidden: User "alice" cannot watch resource "pods" in API group "" in the namespace "kube-system"', { kind: 'pods' }],
    ['alice-token', 'DELETE', '/api/v1/namespaces/default/pods/demo', 'pods "demo" is forbidden: User "alice" cannot delete resource "pods" in API group "" in the namespace "default"', pod('demo')],
    ['carol-token', 'GET', '/api/v1/namespaces/default', 'namespaces "default" is forbidden: User "carol" cannot get resource "namespaces" in API group "" in the namespace "default"', { name: 'default', kind: 'namespaces' }],
    ['carol-token', 'GET', '/nothing-here', 'forbidden: User "carol" cannot get path "/nothing-here"', {}],
    [
      'carol-token',
      'POST',
      '/apis/authentication.k8s.io/v1/tokenreviews',
      'tokenreviews.authentication.k8s.io is forbidden: User "carol" cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the cluster scope',
      { group: 'authentication.k8s.io', kind: 'tokenreviews' },
    ],
  ];
  for (const [token, method, path, message, details] of cases) {
    const response = await request(h, method, path, { Authorization: `Bearer ${token}`, 'Content-Length': '0' }, false);
    t.equal(response.status, 403, `${method} ${path}`);
    t.same(response.header('content-type'), ['application/json']);
    t.same(json(response), forbiddenStatus(message, details), `${method} ${path}`);
  }
  // The privileged token is allowed everything: the handlers answer.
  t.equal((await request(h, 'DELETE', '/api/v1/namespaces/default/pods/demo')).status, 405);
  t.equal((await request(h, 'GET', '/nothing-here')).status, 404);
});

/** An exec upgrade refused before any upgrade: the full answer, read from the raw socket. */
function refusedUpgrade(path: string, upgradeAs: UpgradeAs): ReturnType<typeof rawExchange> {
  return rawExchange(h, spdyUpgradeRequest(h, path, undefined, [], upgradeAs));
}

/** Runs `echo <word>` over SPDY as the given caller and returns stdout and the Status. */
async function execEcho(word: string, upgradeAs: UpgradeAs, kind = 'exec'): Promise<{ stdout: string; status: string }> {
  const session = await dialSpdy(h, execPath(['echo', word], { container: 'shell', stdout: 'true' }, 'demo', kind), undefined, upgradeAs);
  const s = openStreams(session.connection, ['error', 'stdout']);
  const [stdout, status] = await Promise.all([collect(s.stdout!), collect(s.error!)]);
  await session.closed;
  return { stdout: stdout.toString(), status: status.toString() };
}

t.test('POST exec is `create` on pods/exec: allowed for alice (devs), refused for carol with the exact message', async (t) => {
  const ran = await execEcho('alice-was-here', { method: 'POST', token: 'alice-token' });
  t.equal(ran.stdout, 'alice-was-here\n');
  t.equal(ran.status, '{"metadata":{},"status":"Success"}');

  const refused = await refusedUpgrade(execPath(['echo', 'x'], { stdout: 'true' }), { method: 'POST', token: 'carol-token' });
  t.equal(refused.status, 403);
  t.same(JSON.parse(refused.body.toString()), forbiddenStatus('pods "demo" is forbidden: User "carol" cannot create resource "pods/exec" in API group "" in the namespace "default"', { name: 'demo', kind: 'pods' }));
  t.notOk(h.logs.find((r) => r.event === 'session-start' && r.user === 'carol').length, 'no session started for carol');
});

t.test('1.28 realism: a GET upgrade is `get` on pods/exec — a get-only role can exec over GET, not over POST', async (t) => {
  // bob holds only `get` on pods/exec: the hole Kubernetes closed in 1.35.
  const ran = await execEcho('read-only-exec', { method: 'GET', token: 'bob-token' });
  t.equal(ran.stdout, 'read-only-exec\n', 'a get-only identity exec-ed over GET, as on a real 1.28 server');
  const post = await refusedUpgrade(execPath(['echo', 'x'], { stdout: 'true' }), { method: 'POST', token: 'bob-token' });
  t.equal(post.status, 403);
  t.equal(JSON.parse(post.body.toString()).message, 'pods "demo" is forbidden: User "bob" cannot create resource "pods/exec" in API group "" in the namespace "default"');

  // alice (create only) is refused over GET, with `get` in the message.
  const get = await refusedUpgrade(execPath(['echo', 'x'], { stdout: 'true' }), { method: 'GET', token: 'alice-token' });
  t.equal(get.status, 403);
  t.equal(JSON.parse(get.body.toString()).message, 'pods "demo" is forbidden: User "alice" cannot get resource "pods/exec" in API group "" in the namespace "default"');

  // A WebSocket upgrade (always a GET) passes bob's authorization and reaches the SPDY-only kubelet,
  // whose refusal is the empty 403 — not the API server's Status.
  const websocket = [
    'Connection: Upgrade',
    'Upgrade: websocket',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version: 13',
    'Sec-WebSocket-Protocol: v5.channel.k8s.io',
  ];
  const wsPath = execPath(['date'], { container: 'shell', stdout: 'true' });
  const bobWs = await rawExchange(h, [`GET ${wsPath} HTTP/1.1`, 'Host: x', 'Authorization: Bearer bob-token', ...websocket].join('\r\n') + '\r\n\r\n');
  t.equal(bobWs.status, 403);
  t.equal(bobWs.body.length, 0, 'the kubelet answered: authorization (get) passed');
  const carolWs = await rawExchange(h, [`GET ${wsPath} HTTP/1.1`, 'Host: x', 'Authorization: Bearer carol-token', ...websocket].join('\r\n') + '\r\n\r\n');
  t.equal(carolWs.status, 403);
  t.equal(JSON.parse(carolWs.body.toString()).message, 'pods "demo" is forbidden: User "carol" cannot get resource "pods/exec" in API group "" in the namespace "default"');
});

t.test('attach and portforward are their own subresources; namespaces in rules are honoured', async (t) => {
  const attach = await refusedUpgrade('/api/v1/namespaces/default/pods/demo/attach?container=echo&stdout=true', { method: 'POST', token: 'bob-token' });
  t.equal(attach.status, 403);
  t.equal(JSON.parse(attach.body.toString()).message, 'pods "demo" is forbidden: User "bob" cannot create resource "pods/attach" in API group "" in the namespace "default"');
  const forward = await refusedUpgrade('/api/v1/namespaces/default/pods/demo/portforward', { method: 'POST', token: 'carol-token' });
  t.equal(forward.status, 403);
  t.equal(JSON.parse(forward.body.toString()).message, 'pods "demo" is forbidden: User "carol" cannot create resource "pods/portforward" in API group "" in the namespace "default"');
  // devs may exec in default only: elsewhere the 403 comes before the 404.
  const elsewhere = await refusedUpgrade('/api/v1/namespaces/other/pods/demo/exec?command=true&stdout=true', { method: 'POST', token: 'alice-token' });
  t.equal(elsewhere.status, 403);
  t.equal(JSON.parse(elsewhere.body.toString()).message, 'pods "demo" is forbidden: User "alice" cannot create resource "pods/exec" in API group "" in the namespace "other"');
  // alice may attach (devs: pods/attach create)
  const attached = await dialSpdy(h, '/api/v1/namespaces/default/pods/demo/attach?container=echo&stdout=true', undefined, { method: 'POST', token: 'alice-token' });
  t.equal(attached.response.status, 101);
  attached.socket.destroy();
});

t.test('--token-auth-file CSV: columns, quoted groups, empty tokens skipped, the last duplicate wins, errors name the file', async (t) => {
  const text = 'alice-token,alice,alice-uid,"devs,ops"\r\nbob-token,bob,\n\n,nobody,x\n"quoted,token",q,u,"a ""b"""\nalice-token,alice2,u2\n';
  // A repeated token keeps only its last record (kube-apiserver's map assignment).
  t.same(parseTokenAuthFile(text, 'users.csv'), [
    { token: 'bob-token', name: 'bob', groups: [] },
    { token: 'quoted,token', name: 'q', uid: 'u', groups: ['a "b"'] },
    { token: 'alice-token', name: 'alice2', uid: 'u2', groups: [] },
  ]);
  t.throws(() => parseTokenAuthFile('a,b\n', 'users.csv'), /users.csv line 1: must have at least 3 columns \(token, user name, user uid\), found 2/);
  t.throws(() => parseTokenAuthFile('a,b"c,d\n', 'users.csv'), /line 1: bare " in non-quoted-field/);
  t.throws(() => parseTokenAuthFile('a,"b\n', 'users.csv'), /extraneous or missing " in quoted-field/);

  // The last of duplicate tokens is the user, as kube-apiserver keeps it.
  const dup = await startHarness({ users: parseTokenAuthFile('same,first,1\nsame,second,2\n', 'users.csv') });
  t.teardown(() => dup.close());
  const review = await postJson(dup, '/apis/authentication.k8s.io/v1/tokenreviews', { spec: { token: 'same' } });
  t.match(JSON.parse(review.body.toString()), { status: { authenticated: true, user: { username: 'second', uid: '2' } } });
});

t.test('rules files are checked strictly', async (t) => {
  t.same(parseRules(null, 'r.yaml'), []);
  t.same(parseRules([{ users: ['a'], verbs: ['get'], nonResourceURLs: ['/healthz'] }], 'r.yaml'), [{ users: ['a'], verbs: ['get'], nonResourceURLs: ['/healthz'] }]);
  t.throws(() => parseRules({ rules: [{ users: ['a'], verb: ['get'], resources: ['pods'] }] }, 'r.yaml'), /r\.yaml: rules\[0\]: unknown key "verb"/);
  t.throws(() => parseRules([{ verbs: ['get'], resources: ['pods'] }], 'r.yaml'), /rules\[0\]: give users or groups/);
  t.throws(() => parseRules([{ users: ['a'], resources: ['pods'] }], 'r.yaml'), /rules\[0\]\.verbs: required/);
  t.throws(() => parseRules([{ users: ['a'], verbs: ['get'] }], 'r.yaml'), /give resources or nonResourceURLs/);
  t.throws(() => parseRules([{ users: 'a', verbs: ['get'], resources: ['pods'] }], 'r.yaml'), /rules\[0\]\.users: expected a list/);
  t.throws(() => parseRules({ other: 1 }, 'r.yaml'), /expected a list of rules/);
});
