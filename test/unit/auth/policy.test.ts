// Edge policy: subjects, policy verbs, namespaces, pod globs; a get-only identity cannot exec; SAR.
import t from 'tap';
import { createPolicyAuthorizer, forbiddenMessage, policyVerb } from '../../../src/auth/policy.js';
import { requestAttributes } from '../../../src/auth/request-attributes.js';
import { createSubjectAccessReviewAuthorizer, SUBJECT_ACCESS_REVIEW_PATH } from '../../../src/auth/subject-access-review.js';
import type { UserInfo } from '../../../src/auth/identity.js';

const alice: UserInfo = { name: 'alice', groups: ['system:authenticated'], extra: {} };
const dev: UserInfo = { name: 'dan', groups: ['devs', 'system:authenticated'], extra: {} };
const bob: UserInfo = { name: 'bob', groups: ['system:authenticated'], extra: {} };
const exec = (ns: string, pod: string) => requestAttributes({ method: 'GET', url: `/api/v1/namespaces/${ns}/pods/${pod}/exec?command=sh` });
const api = (method: string, url: string) => requestAttributes({ method, url });

t.test('policy verbs', async (t) => {
  t.equal(policyVerb(exec('a', 'b')), 'exec');
  t.equal(policyVerb(api('POST', '/api/v1/namespaces/a/pods/b/attach')), 'attach');
  t.equal(policyVerb(api('GET', '/api/v1/namespaces/a/pods/b/portforward')), 'portforward');
  t.equal(policyVerb(api('GET', '/api/v1/namespaces/a/pods/b/log')), 'api');
  t.equal(policyVerb(api('GET', '/apis/x.io/v1/namespaces/a/pods/b/exec')), 'api', 'a CRD named pods is not the core pods resource');
});

t.test('clusters: a rule scoped to one upstream does not allow another', async (t) => {
  const policy = createPolicyAuthorizer([{ users: ['alice'], verbs: ['*'], clusters: ['legacy-a'] }, { users: ['bob'], verbs: ['*'] }]);
  t.equal(policy.authorize(alice, exec('default', 'web'), 'legacy-a').allowed, true);
  t.same(policy.authorize(alice, exec('default', 'web'), 'legacy-b'), { allowed: false, reason: 'no edge policy rule allows exec in namespace default on cluster legacy-b' });
  t.equal(policy.authorize(bob, exec('default', 'web'), 'legacy-b').allowed, true, 'absent clusters = all');
});

t.test('first matching rule allows; no match denies', async (t) => {
  const policy = createPolicyAuthorizer([
    { users: ['alice'], groups: ['devs'], verbs: ['exec', 'attach', 'portforward', 'api'], namespaces: ['default'], pods: ['web-*'] },
    { users: ['viewer'], verbs: ['api'] },
    { groups: ['admins'], verbs: ['*'] },
  ]);
  t.same(policy.authorize(alice, exec('default', 'web-1')), { allowed: true, reason: 'allowed by edge policy rule 1' });
  t.same(policy.authorize(dev, exec('default', 'web-2')), { allowed: true, reason: 'allowed by edge policy rule 1' }, 'by group');
  t.same(policy.authorize(bob, exec('default', 'web-1')), { allowed: false, reason: 'no edge policy rule allows exec in namespace default' });
  t.equal(policy.authorize(alice, exec('kube-system', 'web-1')).allowed, false, 'other namespace');
  t.equal(policy.authorize(alice, exec('default', 'db-1')).allowed, false, 'pod outside the glob');
  t.equal(policy.authorize(alice, api('GET', '/api/v1/namespaces/default/pods/web-1')).allowed, true, 'named pod within the glob');
  t.equal(policy.authorize(alice, api('GET', '/api/v1/namespaces/default/pods')).allowed, false, 'a pod-limited rule does not grant a list');
  t.equal(policy.authorize(alice, api('GET', '/api/v1/namespaces/default/secrets/s')).allowed, false, 'nor other resources');

  const viewer: UserInfo = { name: 'viewer', groups: [], extra: {} };
  t.equal(policy.authorize(viewer, api('GET', '/api/v1/nodes')).allowed, true, 'cluster-scoped with namespaces absent');
  t.equal(policy.authorize(viewer, api('GET', '/healthz')).allowed, true, 'non-resource');
  t.same(policy.authorize(viewer, exec('default', 'web-1')), { allowed: false, reason: 'no edge policy rule allows exec in namespace default' }, 'api does not include exec');
  const admin: UserInfo = { name: 'root', groups: ['admins'], extra: {} };
  t.equal(policy.authorize(admin, exec('kube-system', 'etcd-0')).allowed, true, '"*" verbs');
});

t.test('a get-only identity is refused exec over a WebSocket (GET) upgrade', async (t) => {
  const policy = createPolicyAuthorizer([{ users: ['reader'], verbs: ['api'], namespaces: ['*'], pods: ['*'] }]);
  const reader: UserInfo = { name: 'reader', groups: [], extra: {} };
  const attributes = exec('default', 'web-1');
  t.equal(attributes.verb, 'create');
  const decision = policy.authorize(reader, attributes);
  t.equal(decision.allowed, false);
  t.equal(
    forbiddenMessage(reader, attributes, decision.reason),
    'pods "web-1" is forbidden: User "reader" cannot create resource "pods/exec" in API group "" in the namespace "default": no edge policy rule allows exec in namespace default',
  );
});

t.test('rules without subjects match nobody; "*" subjects match everyone; globs', async (t) => {
  const nobody = createPolicyAuthorizer([{ verbs: ['*'] }]);
  t.equal(nobody.authorize(alice, exec('a', 'b')).allowed, false);
  const everyone = createPolicyAuthorizer([{ users: ['*'], verbs: ['exec'], namespaces: ['*'], pods: ['a?c.*'] }]);
  t.equal(everyone.authorize(bob, exec('x', 'abc.1')).allowed, true);
  t.equal(everyone.authorize(bob, exec('x', 'abbc.1')).allowed, false);
  t.equal(everyone.authorize(bob, exec('x', 'abcx1')).allowed, false, '. is literal');
  const byGroup = createPolicyAuthorizer([{ groups: ['*'], verbs: ['api'], namespaces: ['team'] }]);
  t.equal(byGroup.authorize(bob, api('GET', '/api/v1/nodes')).allowed, false, 'no namespace only matches "*"');
});

t.test('forbidden messages as kube-apiserver words them', async (t) => {
  t.equal(forbiddenMessage(bob, api('GET', '/healthz'), ''), 'forbidden: User "bob" cannot get path "/healthz"');
  t.equal(forbiddenMessage(bob, api('GET', '/apis/apps/v1/deployments'), 'r'), 'deployments.apps is forbidden: User "bob" cannot list resource "deployments" in API group "apps" at the cluster scope: r');
});

t.test('SubjectAccessReview: request body, allowed/denied, cache, upstream down', async (t) => {
  let clock = 0;
  let mode: 'allow' | 'deny' | 'down' | '500' | 'empty' = 'allow';
  const calls: Array<{ path: string; body: unknown }> = [];
  const sar = createSubjectAccessReviewAuthorizer({
    now: () => clock,
    async postJson(path, body) {
      calls.push({ path, body });
      if (mode === 'down') throw new Error('ECONNREFUSED');
      if (mode === '500') return { status: 500, body: {} };
      if (mode === 'empty') return { status: 201, body: {} };
      return { status: 201, body: { status: mode === 'allow' ? { allowed: true, reason: 'RBAC: allowed' } : { allowed: false, denied: true, reason: 'no', evaluationError: 'e' } } };
    },
  });
  const user: UserInfo = { name: 'alice', uid: 'u1', groups: ['devs'], extra: { scopes: ['a'] } };
  t.same(await sar.authorize(user, exec('default', 'web-1')), { allowed: true, reason: 'RBAC: allowed' });
  t.same(calls[0], {
    path: SUBJECT_ACCESS_REVIEW_PATH,
    body: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: 'alice',
        groups: ['devs'],
        uid: 'u1',
        extra: { scopes: ['a'] },
        resourceAttributes: { verb: 'create', group: '', version: 'v1', resource: 'pods', namespace: 'default', subresource: 'exec', name: 'web-1' },
      },
    },
  });
  mode = 'deny';
  t.same(await sar.authorize(user, exec('default', 'web-1')), { allowed: true, reason: 'RBAC: allowed' }, 'cached');
  t.equal(calls.length, 1);
  clock = 10_001;
  t.same(await sar.authorize(user, exec('default', 'web-1')), { allowed: false, reason: 'no; e' }, 'refreshed after 10 s');
  await sar.authorize({ name: 'x', groups: [], extra: {} }, api('GET', '/healthz'));
  t.same((calls.at(-1)!.body as { spec: unknown }).spec, { user: 'x', groups: [], nonResourceAttributes: { path: '/healthz', verb: 'get' } });
  for (const [m, reason] of [
    ['down', 'subject access review: upstream unreachable: ECONNREFUSED'],
    ['500', 'subject access review: upstream answered HTTP 500'],
    ['empty', 'subject access review: the answer has no status'],
  ] as const) {
    mode = m;
    t.same(await sar.authorize(user, exec('other', 'p')), { allowed: false, reason, unavailable: true }, m);
  }
  const before = calls.length;
  mode = 'allow';
  t.same(await sar.authorize(user, exec('other', 'p')), { allowed: true, reason: 'RBAC: allowed' }, 'failures are not cached');
  t.equal(calls.length, before + 1);
});
