// audit.k8s.io/v1 Policy as kube-apiserver reads it: every selector, first match wins, no match is
// None, omitStages from the rule and the policy, and one-line errors for what it would refuse.
import t from 'tap';
import { DEFAULT_AUDIT_POLICY, parseAuditPolicy, type AuditPolicy } from '../../../src/observability/audit/policy.js';
import type { UserInfo } from '../../../src/auth/identity.js';
import { requestAttributes } from '../../../src/auth/request-attributes.js';

const alice: UserInfo = { name: 'alice', groups: ['devs', 'system:authenticated'], extra: {} };
const bob: UserInfo = { name: 'bob', groups: ['ops', 'system:authenticated'], extra: {} };

/** `null`: no known caller. */
function level(policy: AuditPolicy, method: string, url: string, user: UserInfo | null = alice): string {
  return policy.evaluate({ user: user ?? undefined, attributes: requestAttributes({ method, url }) }).level;
}

function policyOf(rules: string): AuditPolicy {
  return parseAuditPolicy(`apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n${rules}`);
}

t.test('no match is None; the first matching rule decides', async (t) => {
  const policy = policyOf(`
- level: Metadata
  users: [alice]
- level: None
`);
  t.equal(level(policy, 'GET', '/api/v1/pods'), 'Metadata');
  t.equal(level(policy, 'GET', '/api/v1/pods', bob), 'None');
  t.equal(level(policyOf('- level: Metadata\n  users: [carol]\n'), 'GET', '/api'), 'None', 'nothing matched');
  t.equal(level(parseAuditPolicy('apiVersion: audit.k8s.io/v1\nkind: Policy\n'), 'GET', '/api'), 'None', 'no rules at all');
});

t.test('users and userGroups: an unknown caller (failed authentication, passthrough) never matches them', async (t) => {
  const policy = policyOf(`
- level: None
  userGroups: [ops]
- level: Request
  users: [alice]
- level: Metadata
`);
  t.equal(level(policy, 'GET', '/api', bob), 'None', 'by group');
  t.equal(level(policy, 'GET', '/api', alice), 'Request', 'by user');
  t.equal(level(policy, 'GET', '/api', null), 'Metadata', 'no user: only the catch-all matches');
  t.equal(level(policyOf('- level: Metadata\n  users: [""]\n'), 'GET', '/api', null), 'None', 'not even an empty user name');
});

t.test('verbs: the verb as authorized (an exec upgrade is create, a watch is watch)', async (t) => {
  const policy = policyOf(`
- level: Metadata
  verbs: [create]
- level: RequestResponse
  verbs: [watch]
`);
  t.equal(level(policy, 'GET', '/api/v1/namespaces/default/pods/web/exec?command=sh'), 'Metadata', 'GET exec is create');
  t.equal(level(policy, 'GET', '/api/v1/namespaces/default/pods?watch=true'), 'RequestResponse');
  t.equal(level(policy, 'GET', '/api/v1/namespaces/default/pods'), 'None', 'list');
});

t.test('resources: group, resource, resource/subresource, *, */sub, resource/*, resourceNames', async (t) => {
  const exec = ['GET', '/api/v1/namespaces/default/pods/web/exec'] as const;
  const pod = ['GET', '/api/v1/namespaces/default/pods/web'] as const;
  const deploy = ['GET', '/apis/apps/v1/namespaces/default/deployments/web'] as const;
  const scale = ['GET', '/apis/apps/v1/namespaces/default/deployments/web/scale'] as const;
  const only = (resources: string) => policyOf(`- level: Metadata\n  resources: ${resources}\n`);

  t.equal(level(only('[{group: "", resources: [pods]}]'), ...pod), 'Metadata');
  t.equal(level(only('[{group: "", resources: [pods]}]'), ...exec), 'None', 'pods is not pods/exec');
  t.equal(level(only('[{resources: ["pods/exec"]}]'), ...exec), 'Metadata', 'group absent is the core group');
  t.equal(level(only('[{resources: ["pods/exec"]}]'), ...pod), 'None');
  t.equal(level(only('[{group: "", resources: ["pods/exec"]}]'), ...deploy), 'None');
  t.equal(level(only('[{group: apps}]'), ...deploy), 'Metadata', 'a group with no resources is all of it');
  t.equal(level(only('[{group: apps}]'), ...pod), 'None', 'other groups are not');
  t.equal(level(only('[{group: "", resources: ["*"]}]'), ...exec), 'Metadata', '* includes subresources');
  t.equal(level(only('[{group: apps, resources: ["*/scale"]}]'), ...scale), 'Metadata');
  t.equal(level(only('[{group: apps, resources: ["*/scale"]}]'), ...deploy), 'None');
  t.equal(level(only('[{group: "", resources: ["pods/*"]}]'), ...exec), 'Metadata');
  t.equal(level(only('[{group: "", resources: [pods], resourceNames: [web]}]'), ...pod), 'Metadata');
  t.equal(level(only('[{group: "", resources: [pods], resourceNames: [db]}]'), ...pod), 'None');
  t.equal(level(only('[{resources: ["*"]}]'), 'GET', '/api'), 'None', 'a resource rule never matches a non-resource request');
});

t.test('namespaces: "" is cluster-scoped; non-resource requests never match', async (t) => {
  const policy = policyOf(`
- level: Metadata
  namespaces: [kube-system]
- level: Request
  namespaces: [""]
`);
  t.equal(level(policy, 'GET', '/api/v1/namespaces/kube-system/pods'), 'Metadata');
  t.equal(level(policy, 'GET', '/api/v1/namespaces/default/pods'), 'None');
  t.equal(level(policy, 'GET', '/api/v1/nodes'), 'Request');
  t.equal(level(policy, 'GET', '/healthz'), 'None');
});

t.test('nonResourceURLs: exact, trailing * prefix, *; resource requests never match', async (t) => {
  const policy = policyOf(`
- level: None
  nonResourceURLs: [/healthz, "/version*"]
- level: Metadata
  nonResourceURLs: ["*"]
`);
  t.equal(level(policy, 'GET', '/healthz'), 'None');
  t.equal(level(policy, 'GET', '/healthz/etcd'), 'Metadata', 'exact means exact');
  t.equal(level(policy, 'GET', '/version/x'), 'None', 'prefix');
  t.equal(level(policy, 'GET', '/api'), 'Metadata');
  t.equal(level(policy, 'GET', '/api/v1/pods'), 'None', 'resource request');
});

t.test('omitStages: the rule and the policy together', async (t) => {
  const policy = parseAuditPolicy(`apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  verbs: [create]
  omitStages: [ResponseStarted]
- level: Metadata
`);
  const exec = policy.evaluate({ user: alice, attributes: requestAttributes({ method: 'GET', url: '/api/v1/namespaces/d/pods/p/exec' }) });
  t.same([...exec.omitStages].sort(), ['RequestReceived', 'ResponseStarted']);
  const get = policy.evaluate({ user: alice, attributes: requestAttributes({ method: 'GET', url: '/api/v1/namespaces/d/pods/p' }) });
  t.same([...get.omitStages], ['RequestReceived']);
});

t.test('the default policy: Metadata for everything, RequestReceived left out', async (t) => {
  const decision = DEFAULT_AUDIT_POLICY.evaluate({ attributes: requestAttributes({ method: 'GET', url: '/healthz' }) });
  t.equal(decision.level, 'Metadata');
  t.same([...decision.omitStages], ['RequestReceived']);
});

t.test('what kube-apiserver refuses is refused here, in one line', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['rules: [', /^invalid YAML: /],
    ['- a\n', /^expected an audit\.k8s\.io\/v1 Policy/],
    ['apiVersion: audit.k8s.io/v1beta1\nkind: Policy\n', /^apiVersion: must be audit\.k8s\.io\/v1, not "audit\.k8s\.io\/v1beta1"$/],
    ['apiVersion: audit.k8s.io/v1\nkind: Pod\n', /^kind: must be Policy/],
    ['apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: {}\n', /^rules: must be a list$/],
    ['apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Everything}]\n', /^rules\[0\]\.level: must be one of None, Metadata, Request, RequestResponse, not "Everything"$/],
    ['apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{}]\n', /^rules\[0\]\.level: must be one of/],
    ['apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, user: [a]}]\n', /^rules\[0\]\.user: unknown field/],
    ['apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, verbs: get}]\n', /^rules\[0\]\.verbs: must be a list$/],
    ['apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, users: [1]}]\n', /^rules\[0\]\.users\[0\]: must be a string$/],
    ['apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, omitStages: [Started]}]\n', /^rules\[0\]\.omitStages\[0\]: must be one of RequestReceived/],
    ['apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [X]\n', /^omitStages\[0\]: must be one of/],
    ['apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, nonResourceURLs: [/x], namespaces: [a]}]\n', /^rules\[0\]\.nonResourceURLs: cannot be combined/],
    ['apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, nonResourceURLs: [x]}]\n', /^rules\[0\]\.nonResourceURLs\[0\]: must be \* or a path/],
    ['apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, nonResourceURLs: ["/a*b"]}]\n', /^rules\[0\]\.nonResourceURLs\[0\]: /],
    ['apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, resources: [{group: "", resources: [a/b/c]}]}]\n', /^rules\[0\]\.resources\[0\]\.resources\[0\]: /],
    ['apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, resources: [{groups: [""]}]}]\n', /^rules\[0\]\.resources\[0\]\.groups: unknown field/],
  ];
  for (const [text, message] of cases) {
    t.throws(() => parseAuditPolicy(text), { name: 'AuditPolicyError', message }, JSON.stringify(text));
    try {
      parseAuditPolicy(text);
    } catch (error) {
      t.notMatch((error as Error).message, /\n/, 'one line');
    }
  }
});
