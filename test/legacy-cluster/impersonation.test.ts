// Impersonation on the legacy cluster, as the API server's filter does it: Impersonate-* honoured
// only from callers allowed verb `impersonate` (the privileged token, or a rule), each header checked
// on its own resource, 403 in the API server's words otherwise; the effective user (plus
// system:authenticated) is what authorization and the session record see.
import t from 'tap';
import { parseRules } from '../../src/legacy-cluster/authorizer.js';
import { startHarness, request, json, failureStatus, rawExchange, spdyUpgradeRequest, dialSpdy, openStreams, collect, execPath, type Harness, type UpgradeAs } from './harness.js';

const USERS = [
  { token: 'imp-token', name: 'impersonator', groups: ['proxies'] },
  { token: 'carol-token', name: 'carol' },
];
const RULES = parseRules(
  [
    { groups: ['devs', 'system:serviceaccounts'], verbs: ['create'], resources: ['pods/exec'], namespaces: ['default'] },
    { users: ['impersonator'], verbs: ['impersonate'], resources: ['users', 'groups'] },
  ],
  'test rules',
);

let h: Harness;
t.before(async () => {
  h = await startHarness({ users: USERS, rules: RULES });
});
t.teardown(() => h.close());

const EXEC = execPath(['echo', 'hi'], { container: 'shell', stdout: 'true' });

async function execAs(upgradeAs: UpgradeAs): Promise<string> {
  const session = await dialSpdy(h, EXEC, undefined, upgradeAs);
  const s = openStreams(session.connection, ['error', 'stdout']);
  const [stdout] = await Promise.all([collect(s.stdout!), collect(s.error!)]);
  await session.closed;
  return stdout.toString();
}

const forbidden = (message: string, details: object): object => failureStatus(403, 'Forbidden', message, details);

const lastSession = (): ReturnType<Harness['cluster']['sessions']>[number] | undefined => h.cluster.sessions().at(-1);

t.test('the privileged token impersonates a user with groups, uid and extra: the session runs as that user', async (t) => {
  const headers = ['Impersonate-User: alice', 'Impersonate-Group: devs', 'Impersonate-Group: qa', 'Impersonate-Uid: alice-uid-1', 'Impersonate-Extra-Scopes: view', 'Impersonate-Extra-Scopes: edit', 'Impersonate-Extra-Example.com%2fteam: blue'];
  t.equal(await execAs({ headers }), 'hi\n');
  t.same(lastSession(), {
    kind: 'exec',
    namespace: 'default',
    pod: 'demo',
    container: 'shell',
    user: 'alice',
    uid: 'alice-uid-1',
    groups: ['devs', 'qa', 'system:authenticated'],
    extra: { scopes: ['view', 'edit'], 'example.com/team': ['blue'] },
    impersonatedBy: 'kubernetes-admin',
    protocol: 'v4.channel.k8s.io',
  });
});

t.test('the effective user is what authorization sees: alice without devs may not exec', async (t) => {
  const refused = await rawExchange(h, spdyUpgradeRequest(h, EXEC, undefined, [], { headers: ['Impersonate-User: alice'] }));
  t.equal(refused.status, 403);
  t.equal(JSON.parse(refused.body.toString()).message, 'pods "demo" is forbidden: User "alice" cannot create resource "pods/exec" in API group "" in the namespace "default"');
  // Impersonating system:masters is impersonating the power to do everything.
  const masters = await request(h, 'GET', '/api/v1/namespaces/default/pods/demo', { 'Impersonate-User': 'root', 'Impersonate-Group': 'system:masters' });
  t.equal(masters.status, 200);
});

t.test('a user allowed by a rule to impersonate users and groups may; the record names the impersonator', async (t) => {
  t.equal(await execAs({ token: 'imp-token', headers: ['Impersonate-User: dana', 'Impersonate-Group: devs', 'Impersonate-Group: system:authenticated'] }), 'hi\n');
  t.match(lastSession(), { user: 'dana', groups: ['devs', 'system:authenticated'], extra: {}, impersonatedBy: 'impersonator' });
  t.notOk('uid' in lastSession()!, 'no uid was impersonated');
  // The impersonator's own identity is not kept: without impersonation it may not exec.
  const own = await rawExchange(h, spdyUpgradeRequest(h, EXEC, undefined, [], { token: 'imp-token' }));
  t.equal(own.status, 403);
});

t.test('a service account: its fixed groups when none are given, the namespace in the check', async (t) => {
  t.equal(await execAs({ headers: ['Impersonate-User: system:serviceaccount:default:builder'] }), 'hi\n');
  t.match(lastSession(), { user: 'system:serviceaccount:default:builder', groups: ['system:serviceaccounts', 'system:serviceaccounts:default', 'system:authenticated'] });
  const refused = await request(h, 'GET', '/version', { Authorization: 'Bearer imp-token', 'Impersonate-User': 'system:serviceaccount:kube-system:deployer' }, false);
  t.equal(refused.status, 403);
  t.same(
    json(refused),
    forbidden('serviceaccounts "deployer" is forbidden: User "impersonator" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "kube-system"', {
      name: 'deployer',
      kind: 'serviceaccounts',
    }),
  );
});

t.test('callers not allowed to impersonate get the 403 of the first header they may not use', async (t) => {
  const users = await request(h, 'GET', '/version', { Authorization: 'Bearer carol-token', 'Impersonate-User': 'admin' }, false);
  t.equal(users.status, 403);
  t.same(json(users), forbidden('users "admin" is forbidden: User "carol" cannot impersonate resource "users" in API group "" at the cluster scope', { name: 'admin', kind: 'users' }));

  const uid = await request(h, 'GET', '/version', { Authorization: 'Bearer imp-token', 'Impersonate-User': 'alice', 'Impersonate-Uid': 'u-1' }, false);
  t.same(
    json(uid),
    forbidden('uids.authentication.k8s.io "u-1" is forbidden: User "impersonator" cannot impersonate resource "uids" in API group "authentication.k8s.io" at the cluster scope', {
      name: 'u-1',
      group: 'authentication.k8s.io',
      kind: 'uids',
    }),
  );
  const extra = await request(h, 'GET', '/version', { Authorization: 'Bearer imp-token', 'Impersonate-User': 'alice', 'Impersonate-Extra-Scopes': 'admin' }, false);
  t.same(
    json(extra),
    forbidden('userextras.authentication.k8s.io "admin" is forbidden: User "impersonator" cannot impersonate resource "userextras/scopes" in API group "authentication.k8s.io" at the cluster scope', {
      name: 'admin',
      group: 'authentication.k8s.io',
      kind: 'userextras',
    }),
  );
  // On an upgrade the refusal comes before any upgrade, and no session is recorded.
  const before = h.cluster.sessions().length;
  const upgrade = await rawExchange(h, spdyUpgradeRequest(h, EXEC, undefined, [], { token: 'carol-token', headers: ['Impersonate-User: admin', 'Impersonate-Group: system:masters'] }));
  t.equal(upgrade.status, 403);
  t.equal(JSON.parse(upgrade.body.toString()).message, 'users "admin" is forbidden: User "carol" cannot impersonate resource "users" in API group "" at the cluster scope');
  t.equal(h.cluster.sessions().length, before);
});

t.test('groups, uid or extra without a user: the filter answers 500 in plain text', async (t) => {
  const response = await request(h, 'GET', '/version', { 'Impersonate-Group': 'devs', 'Impersonate-Uid': 'u<1>' });
  t.equal(response.status, 500);
  t.same(response.header('content-type'), ['text/plain; charset=utf-8']);
  t.equal(response.body.toString(), 'Internal Server Error: "/version": requested [{Group  devs    } {UID  u&lt;1&gt;  authentication.k8s.io/v1  }] without impersonating a user\n');
});
