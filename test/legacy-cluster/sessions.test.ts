// The record of each streaming session's effective identity: in process (`cluster.sessions()`), over
// HTTP (`GET /legacy-cluster/v1/sessions`, privileged token only), and one log line per session with
// the user — never a token.
import t from 'tap';
import { parseRules } from '../../src/legacy-cluster/authorizer.js';
import { startHarness, request, json, failureStatus, dialSpdy, openStreams, collect, execPath, type Harness } from './harness.js';

const ALICE_TOKEN = 'alice-secret-token-1234';
let h: Harness;
t.before(async () => {
  h = await startHarness({
    users: [
      { token: ALICE_TOKEN, name: 'alice', uid: 'a-1', groups: ['devs'] },
      { token: 'ops-token', name: 'ops' },
    ],
    rules: parseRules(
      [
        { groups: ['devs'], verbs: ['create'], resources: ['pods/exec', 'pods/attach', 'pods/portforward'] },
        { users: ['ops'], verbs: ['*'], nonResourceURLs: ['*'] },
      ],
      'test rules',
    ),
  });
});
t.teardown(() => h.close());

t.test('exec, attach and port-forward sessions are recorded in order, with who they ran as', async (t) => {
  t.same(h.cluster.sessions(), [], 'nothing before the first session');

  const exec = await dialSpdy(h, execPath(['true'], { container: 'shell', stdout: 'true' }), undefined, { token: ALICE_TOKEN });
  const streams = openStreams(exec.connection, ['error', 'stdout']);
  await Promise.all([collect(streams.error!), collect(streams.stdout!)]);
  await exec.closed;

  const attach = await dialSpdy(h, '/api/v1/namespaces/default/pods/demo/attach?container=echo&stdout=true', ['v2.channel.k8s.io'], {
    headers: ['Impersonate-User: bob', 'Impersonate-Group: devs', 'Impersonate-Extra-Reason: debugging'],
  });
  attach.socket.destroy();

  const forward = await dialSpdy(h, '/api/v1/namespaces/default/pods/demo/portforward', ['portforward.k8s.io'], { token: ALICE_TOKEN });
  forward.socket.destroy();

  const expected = [
    { kind: 'exec', namespace: 'default', pod: 'demo', container: 'shell', user: 'alice', uid: 'a-1', groups: ['devs', 'system:authenticated'], extra: {}, protocol: 'v4.channel.k8s.io' },
    {
      kind: 'attach',
      namespace: 'default',
      pod: 'demo',
      container: 'echo',
      user: 'bob',
      groups: ['devs', 'system:authenticated'],
      extra: { reason: ['debugging'] },
      impersonatedBy: 'kubernetes-admin',
      protocol: 'v2.channel.k8s.io',
    },
    { kind: 'portforward', namespace: 'default', pod: 'demo', user: 'alice', uid: 'a-1', groups: ['devs', 'system:authenticated'], extra: {}, protocol: 'portforward.k8s.io' },
  ];
  t.same(h.cluster.sessions(), expected);

  // The same over HTTP, for tests that drive the cluster as a process.
  const response = await request(h, 'GET', '/legacy-cluster/v1/sessions');
  t.equal(response.status, 200);
  t.same(response.header('content-type'), ['application/json']);
  t.same(json(response), expected);

  // The records are copies: a test cannot rewrite history.
  h.cluster.sessions()[0]!.groups.push('system:masters');
  t.same(h.cluster.sessions()[0]!.groups, ['devs', 'system:authenticated']);

  // One log line per session names the user and groups; no line carries a token.
  const lines = h.logs.find((r) => r.event === 'session-identity');
  t.same(
    lines.map((r) => [r.kind, r.user, r.groups, r.impersonatedBy]),
    [
      ['exec', 'alice', ['devs', 'system:authenticated'], undefined],
      ['attach', 'bob', ['devs', 'system:authenticated'], 'kubernetes-admin'],
      ['portforward', 'alice', ['devs', 'system:authenticated'], undefined],
    ],
  );
  // The exec's own start and end lines carry the user too.
  t.match(await h.logs.waitFor((r) => r.event === 'session-end' && r.kind === 'exec'), { user: 'alice', groups: ['devs', 'system:authenticated'] });
  const everything = JSON.stringify(h.logs.find(() => true));
  t.notOk(everything.includes(ALICE_TOKEN), 'no user token in the logs');
  t.notOk(everything.includes(h.token), 'no privileged token in the logs');
});

t.test('only the privileged token reads the record: users, and the privileged token acting as one, get 403', async (t) => {
  const message = 'forbidden: User "alice" cannot get path "/legacy-cluster/v1/sessions"';
  const alice = await request(h, 'GET', '/legacy-cluster/v1/sessions', { Authorization: `Bearer ${ALICE_TOKEN}` }, false);
  t.equal(alice.status, 403);
  t.same(json(alice), failureStatus(403, 'Forbidden', message, {}));
  const acting = await request(h, 'GET', '/legacy-cluster/v1/sessions', { 'Impersonate-User': 'alice' });
  t.equal(acting.status, 403);
  t.equal(json(acting).message, message);
  // Not even a rule granting every path opens it.
  const ops = await request(h, 'GET', '/legacy-cluster/v1/sessions', { Authorization: 'Bearer ops-token' }, false);
  t.equal(ops.status, 403);
  t.equal(json(ops).message, 'forbidden: User "ops" cannot get path "/legacy-cluster/v1/sessions"');
  t.equal((await request(h, 'GET', '/nothing-here', { Authorization: 'Bearer ops-token' }, false)).status, 404, 'while the rule does open other paths');
  const stranger = await request(h, 'GET', '/legacy-cluster/v1/sessions', { Authorization: 'Bearer nope' }, false);
  t.equal(stranger.status, 401);
  t.equal((await request(h, 'POST', '/legacy-cluster/v1/sessions', { 'Content-Length': '0' })).status, 405);
});

t.test('refused upgrades leave no record', async (t) => {
  const before = h.cluster.sessions().length;
  const refused = await request(h, 'POST', execPath(['true'], { stdout: 'true' }), { Authorization: 'Bearer nope', Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': 'v4.channel.k8s.io' }, false);
  t.equal(refused.status, 401);
  t.equal(h.cluster.sessions().length, before);
});
