// Client Impersonate-* headers (header smuggling) and the upstream header set of edge mode.
import t from 'tap';
import { clientImpersonation, headerKeyEscape, upstreamHeaders, mayImpersonate } from '../../../src/auth/impersonation.js';
import type { UserInfo } from '../../../src/auth/identity.js';

const bob: UserInfo = { name: 'bob', groups: ['devs', 'system:authenticated'], extra: {} };
const admin: UserInfo = { name: 'admin', groups: ['system:authenticated'], extra: {} };
const rules = [{ users: ['admin'], groups: ['system:masters'] }];
const raw = (...rawHeaders: string[]) => ({ rawHeaders });

t.test('no Impersonate-* headers: none', async (t) => {
  t.same(clientImpersonation(raw('Host', 'x', 'Authorization', 'Bearer t'), bob, rules), { kind: 'none' });
});

t.test('a caller not in auth.impersonation sending Impersonate-User: admin is denied', async (t) => {
  t.same(clientImpersonation(raw('Impersonate-User', 'admin'), bob, rules), {
    kind: 'denied',
    reason: 'users "admin" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope',
  });
  t.same(clientImpersonation(raw('impersonate-user', 'admin'), bob, []), clientImpersonation(raw('Impersonate-User', 'admin'), bob, rules), 'header case does not matter');
});

t.test('an allowed caller: the impersonated identity, extra keys decoded, system:authenticated added', async (t) => {
  t.same(
    clientImpersonation(
      raw('Impersonate-User', 'carol', 'Impersonate-Group', 'ops', 'Impersonate-Group', 'qa', 'Impersonate-Uid', 'u-9', 'Impersonate-Extra-Scopes', 'a', 'Impersonate-Extra-Scopes', 'b', 'Impersonate-Extra-Example.com%2fteam', 'x'),
      admin,
      rules,
    ),
    { kind: 'allowed', user: { name: 'carol', uid: 'u-9', groups: ['ops', 'qa', 'system:authenticated'], extra: { scopes: ['a', 'b'], 'example.com/team': ['x'] } } },
  );
  t.same(clientImpersonation(raw('Impersonate-User', 'system:anonymous'), { name: 'm', groups: ['system:masters'], extra: {} }, rules), {
    kind: 'allowed',
    user: { name: 'system:anonymous', groups: [], extra: {} },
  });
  t.ok(mayImpersonate({ name: 'm', groups: ['system:masters'], extra: {} }, rules));
  t.notOk(mayImpersonate(bob, rules));
});

t.test('malformed impersonation is invalid whoever sends it', async (t) => {
  t.same(clientImpersonation(raw('Impersonate-Group', 'system:masters'), admin, rules), { kind: 'invalid', reason: 'impersonation headers without Impersonate-User' });
  t.same(clientImpersonation(raw('Impersonate-User', 'a', 'Impersonate-User', 'b'), admin, rules), { kind: 'invalid', reason: 'exactly one non-empty Impersonate-User is required' });
  t.same(clientImpersonation(raw('Impersonate-User', 'a', 'Impersonate-Uid', '1', 'Impersonate-Uid', '2'), admin, rules), { kind: 'invalid', reason: 'at most one Impersonate-Uid is allowed' });
  t.same(clientImpersonation(raw('Impersonate-Everything', 'yes'), admin, rules), { kind: 'invalid', reason: 'unknown impersonation header Impersonate-Everything' });
  t.same(clientImpersonation(raw('Impersonate-User', 'a', 'Impersonate-Extra-%zz', 'v'), admin, rules), { kind: 'allowed', user: { name: 'a', groups: ['system:authenticated'], extra: { '%zz': ['v'] } } }, 'bad escape kept');
});

t.test('upstream headers: client identity headers dropped, gateway credential and Impersonate-* added', async (t) => {
  const user: UserInfo = { name: 'alice', uid: 'u-1', groups: ['devs', 'system:authenticated', 'ops'], extra: { 'example.com/Team Name': ['a', 'b'], empty: [] } };
  const headers = upstreamHeaders(
    {
      host: 'gw',
      'user-agent': 'kubectl/v1.33',
      authorization: 'Bearer client-token',
      'proxy-authorization': 'Basic x',
      'impersonate-user': 'admin',
      'impersonate-group': 'system:masters',
      'impersonate-extra-x': 'y',
      'x-remote-user': 'admin',
      'x-remote-group': 'system:masters',
      'x-remote-extra-x': 'y',
      'sec-websocket-protocol': 'v5.channel.k8s.io, base64url.bearer.authorization.k8s.io.c2VjcmV0',
      'kubectl-command': 'kubectl exec',
    },
    user,
    { gatewayAuthorization: 'Bearer gateway-token', webSocketProtocols: ['v5.channel.k8s.io'] },
  );
  t.same(headers, {
    host: 'gw',
    'user-agent': 'kubectl/v1.33',
    'kubectl-command': 'kubectl exec',
    'sec-websocket-protocol': 'v5.channel.k8s.io',
    authorization: 'Bearer gateway-token',
    'impersonate-user': 'alice',
    'impersonate-uid': 'u-1',
    'impersonate-group': ['devs', 'ops'],
    'impersonate-extra-example.com%2FTeam%20Name': ['a', 'b'],
  });
  t.notOk(JSON.stringify(headers).includes('c2VjcmV0'), 'the token subprotocol is gone');
  t.same(upstreamHeaders({ 'Authorization': 'Bearer c', 'sec-websocket-protocol': 'x' }, { name: 'n', groups: ['system:authenticated'], extra: {} }), { 'impersonate-user': 'n' }, 'client certificate credential: no Authorization at all');
});

t.test("headerKeyEscape as client-go's", async (t) => {
  t.equal(headerKeyEscape('scopes'), 'scopes');
  t.equal(headerKeyEscape("a-z_A.Z0~9!#$&'*+^`|"), "a-z_A.Z0~9!#$&'*+^`|");
  t.equal(headerKeyEscape('example.com/team'), 'example.com%2Fteam');
  t.equal(headerKeyEscape('100%'), '100%25');
  t.equal(headerKeyEscape('a b:c'), 'a%20b%3Ac');
  t.equal(headerKeyEscape('é'), '%C3%A9');
});
