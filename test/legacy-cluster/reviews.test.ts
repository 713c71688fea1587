// TokenReview, SubjectAccessReview and SelfSubjectAccessReview on the legacy cluster: what an
// authenticating proxy (the gateway in edge mode) asks a 1.28 API server, and the answers' shapes.
import t from 'tap';
import { parseRules } from '../../src/legacy-cluster/authorizer.js';
import { startHarness, json, postJson, rawExchange, failureStatus, type Harness } from './harness.js';

const TOKEN_REVIEWS = '/apis/authentication.k8s.io/v1/tokenreviews';
const SARS = '/apis/authorization.k8s.io/v1/subjectaccessreviews';
const SELF_SARS = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';
const AUDIENCE = 'https://kubernetes.default.svc.cluster.local';

let h: Harness;
t.before(async () => {
  h = await startHarness({
    users: [
      { token: 'alice-token', name: 'alice', uid: 'alice-uid', groups: ['devs'] },
      { token: 'gateway-token', name: 'gateway' },
      { token: 'carol-token', name: 'carol' },
    ],
    rules: parseRules(
      [
        { groups: ['devs'], verbs: ['create'], resources: ['pods/exec'], namespaces: ['default'] },
        { users: ['gateway'], verbs: ['create'], apiGroups: ['authentication.k8s.io', 'authorization.k8s.io'], resources: ['tokenreviews', 'subjectaccessreviews'] },
        { users: ['carol'], verbs: ['get'], nonResourceURLs: ['/logs/*'] },
      ],
      'test rules',
    ),
  });
});
t.teardown(() => h.close());

const tokenReview = (spec: object): object => ({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec });

t.test('TokenReview: the tokens the cluster was started with, with user, uid, groups and the API audiences', async (t) => {
  const alice = await postJson(h, TOKEN_REVIEWS, tokenReview({ token: 'alice-token' }));
  t.equal(alice.status, 201, 'Created, as the create handler answers');
  t.same(json(alice), {
    kind: 'TokenReview',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { creationTimestamp: null },
    spec: { token: 'alice-token' },
    status: { authenticated: true, user: { username: 'alice', uid: 'alice-uid', groups: ['devs', 'system:authenticated'] }, audiences: [AUDIENCE] },
  });
  const admin = json(await postJson(h, TOKEN_REVIEWS, tokenReview({ token: h.token, audiences: [AUDIENCE, 'other'] })));
  t.same(admin.status, { authenticated: true, user: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] }, audiences: [AUDIENCE] });

  for (const spec of [{ token: 'nope' }, { token: 'alice-token', audiences: ['https://elsewhere.example'] }]) {
    const response = await postJson(h, TOKEN_REVIEWS, tokenReview(spec));
    t.equal(response.status, 201);
    t.same(json(response).status, { user: {} }, `not authenticated: ${JSON.stringify(spec)}`);
  }
  // A caller allowed by a rule (system:auth-delegator style) may review too.
  t.match(json(await postJson(h, TOKEN_REVIEWS, tokenReview({ token: 'carol-token' }), 'gateway-token')), { status: { authenticated: true, user: { username: 'carol' } } });
});

t.test('TokenReview refusals: no token (400), a caller without create on tokenreviews (403)', async (t) => {
  const empty = await postJson(h, TOKEN_REVIEWS, tokenReview({}));
  t.equal(empty.status, 400);
  t.same(json(empty), failureStatus(400, 'BadRequest', 'token is required for TokenReview in authentication'));
  const carol = await postJson(h, TOKEN_REVIEWS, tokenReview({ token: 'alice-token' }), 'carol-token');
  t.equal(carol.status, 403);
  t.equal(
    json(carol).message,
    'tokenreviews.authentication.k8s.io is forbidden: User "carol" cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the cluster scope',
  );
  const wrongKind = await postJson(h, TOKEN_REVIEWS, { apiVersion: 'authentication.k8s.io/v1', kind: 'SubjectAccessReview', spec: { token: 'x' } });
  t.equal(wrongKind.status, 400);
  const notJson = await postJson(h, TOKEN_REVIEWS, 'x');
  t.equal(notJson.status, 400);
});

const sar = (spec: object): object => ({ apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec });

t.test('SubjectAccessReview: the rules, for the user and groups as given; create vs get on pods/exec', async (t) => {
  const exec = (verb: string): object => ({ namespace: 'default', verb, resource: 'pods', subresource: 'exec', name: 'demo' });
  const allowed = await postJson(h, SARS, sar({ resourceAttributes: exec('create'), user: 'alice', groups: ['devs'] }));
  t.equal(allowed.status, 201);
  t.same(json(allowed), {
    kind: 'SubjectAccessReview',
    apiVersion: 'authorization.k8s.io/v1',
    metadata: { creationTimestamp: null },
    spec: { resourceAttributes: exec('create'), user: 'alice', groups: ['devs'] },
    status: { allowed: true, reason: 'allowed by rule 1' },
  });
  const cases: Array<[object, boolean]> = [
    [{ resourceAttributes: exec('get'), user: 'alice', groups: ['devs'] }, false],
    [{ resourceAttributes: exec('create'), user: 'alice' }, false],
    [{ resourceAttributes: { ...exec('create'), namespace: 'other' }, groups: ['devs'] }, false],
    [{ resourceAttributes: exec('create'), user: 'root', groups: ['system:masters'] }, true],
    [{ nonResourceAttributes: { path: '/logs/kubelet.log', verb: 'get' }, user: 'carol' }, true],
    [{ nonResourceAttributes: { path: '/logs', verb: 'get' }, user: 'carol' }, false],
    // The built-in discovery rule is for system:authenticated, which a SAR does not add.
    [{ nonResourceAttributes: { path: '/version', verb: 'get' }, user: 'carol' }, false],
    [{ nonResourceAttributes: { path: '/version', verb: 'get' }, user: 'carol', groups: ['system:authenticated'] }, true],
  ];
  for (const [spec, expected] of cases) {
    const status = json(await postJson(h, SARS, sar(spec), 'gateway-token')).status as { allowed: boolean; reason?: string };
    t.equal(status.allowed, expected, JSON.stringify(spec));
    if (!expected) t.same(status, { allowed: false }, 'a denial carries no reason, as RBAC');
  }
});

t.test('SubjectAccessReview validation (422 Invalid) and its own authorization (403)', async (t) => {
  const invalid = await postJson(h, SARS, sar({ resourceAttributes: { verb: 'get', resource: 'pods' } }));
  t.equal(invalid.status, 422);
  t.same(
    json(invalid),
    failureStatus(422, 'Invalid', 'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at least one of user or group must be specified', {
      group: 'authorization.k8s.io',
      kind: 'SubjectAccessReview',
      causes: [{ reason: 'FieldValueInvalid', message: 'Invalid value: "": at least one of user or group must be specified', field: 'spec.user' }],
    }),
  );
  const neither = json(await postJson(h, SARS, sar({ user: 'alice' })));
  t.match(neither.message, /spec\.resourceAttributes: Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified/);
  const carol = await postJson(h, SARS, sar({ resourceAttributes: { verb: 'get', resource: 'pods' }, user: 'carol' }), 'carol-token');
  t.equal(carol.status, 403);
  t.equal(
    json(carol).message,
    'subjectaccessreviews.authorization.k8s.io is forbidden: User "carol" cannot create resource "subjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope',
  );
});

t.test('SelfSubjectAccessReview (kubectl auth can-i): any authenticated user, about itself, after impersonation', async (t) => {
  const canI = (token: string, verb: string, headers: string[] = []): Promise<unknown> =>
    postJson(h, SELF_SARS, { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { namespace: 'default', verb, resource: 'pods', subresource: 'exec' } } }, token, headers).then(
      (response) => (json(response).status as { allowed: boolean }).allowed,
    );
  t.equal(await canI('alice-token', 'create'), true);
  t.equal(await canI('alice-token', 'get'), false);
  t.equal(await canI('carol-token', 'create'), false);
  t.equal(await canI(h.token, 'create', ['Impersonate-User: carol']), false, 'the privileged token acting as carol');
  t.equal(await canI(h.token, 'create', ['Impersonate-User: erin', 'Impersonate-Group: devs']), true);
});

/** Protobuf as client-go writes it: a length-delimited field (every field these reviews use is one). */
function field(number: number, value: Buffer | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  const varint = (n: number): Buffer => {
    const out: number[] = [];
    while (n >= 0x80) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
    return Buffer.from(out);
  };
  return Buffer.concat([varint(number * 8 + 2), varint(bytes.length), bytes]);
}

t.test('review bodies in Kubernetes protobuf (what kubectl sends) are read too; answers are JSON', async (t) => {
  const resourceAttributes = Buffer.concat([field(1, 'default'), field(2, 'create'), field(5, 'pods'), field(6, 'exec')]);
  const extra = field(5, Buffer.concat([field(1, 'scopes'), field(2, Buffer.concat([field(1, 'a'), field(1, 'b')]))]));
  const spec = Buffer.concat([field(1, resourceAttributes), field(3, 'alice'), field(4, 'devs'), field(4, 'qa'), extra, field(6, 'u-1')]);
  const raw = Buffer.concat([field(1, field(1, 'review-1')), field(2, spec), Buffer.from([0x18, 0x01]) /* a varint field, skipped */]);
  const envelope = Buffer.concat([Buffer.from('k8s\0', 'latin1'), field(1, Buffer.concat([field(1, 'authorization.k8s.io/v1'), field(2, 'SubjectAccessReview')])), field(2, raw)]);
  const response = await rawExchange(
    h,
    Buffer.concat([
      Buffer.from(
        `POST ${SARS} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer ${h.token}\r\nContent-Type: application/vnd.kubernetes.protobuf\r\nContent-Length: ${envelope.length}\r\n\r\n`,
      ),
      envelope,
    ]).toString('latin1'),
  );
  t.equal(response.status, 201);
  t.same(response.header('content-type'), ['application/json']);
  t.same(json(response), {
    kind: 'SubjectAccessReview',
    apiVersion: 'authorization.k8s.io/v1',
    metadata: { name: 'review-1', creationTimestamp: null },
    spec: { resourceAttributes: { namespace: 'default', verb: 'create', resource: 'pods', subresource: 'exec' }, user: 'alice', groups: ['devs', 'qa'], extra: { scopes: ['a', 'b'] }, uid: 'u-1' },
    status: { allowed: true, reason: 'allowed by rule 1' },
  });
  const truncated = await rawExchange(
    h,
    `POST ${SARS} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer ${h.token}\r\nContent-Type: application/vnd.kubernetes.protobuf\r\nContent-Length: 6\r\n\r\nk8s\0\x0a\x7f`,
  );
  t.equal(truncated.status, 400);
  t.match(json(truncated).message, /could not be decoded: field 1: length 127 runs past the message/);
});
