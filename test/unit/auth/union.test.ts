// The union of authenticators: order, first success wins, system:authenticated, combined failures.
import t from 'tap';
import { createUnionAuthenticator } from '../../../src/auth/union.js';
import type { AuthenticatorName } from '../../../src/auth/authenticators.js';
import type { AuthenticationResult, Authenticator } from '../../../src/auth/identity.js';

function fixed(name: AuthenticatorName, result: AuthenticationResult, calls: string[]): Authenticator {
  return {
    name,
    async authenticate() {
      calls.push(name);
      return result;
    },
  };
}

const alice: AuthenticationResult = { outcome: 'authenticated', user: { name: 'alice', groups: ['devs'], extra: {} }, by: 'token-file' };

t.test('first authenticated wins; later authenticators are not asked; system:authenticated added once', async (t) => {
  const calls: string[] = [];
  const union = createUnionAuthenticator([
    fixed('client-certificate', { outcome: 'no-credential' }, calls),
    fixed('token-file', alice, calls),
    fixed('oidc', { outcome: 'rejected', reason: 'never asked' }, calls),
  ]);
  t.same(await union.authenticate({ bearerToken: 't' }), { outcome: 'authenticated', user: { name: 'alice', groups: ['devs', 'system:authenticated'], extra: {} }, by: 'token-file' });
  t.same(calls, ['client-certificate', 'token-file']);
  const already = createUnionAuthenticator([fixed('token-review', { outcome: 'authenticated', user: { name: 'sa', groups: ['system:authenticated'], extra: {} }, by: 'token-review' }, [])]);
  t.match(await already.authenticate({}), { user: { groups: ['system:authenticated'] } });
});

t.test('all failing: rejected with every reason; unavailable only when nobody rejected', async (t) => {
  const calls: string[] = [];
  const union = createUnionAuthenticator([
    fixed('token-file', { outcome: 'rejected', reason: 'token is not in the token file' }, calls),
    fixed('oidc', { outcome: 'unavailable', reason: 'issuer down' }, calls),
    fixed('token-review', { outcome: 'rejected', reason: 'token review: invalid' }, calls),
  ]);
  t.same(await union.authenticate({ bearerToken: 't' }), { outcome: 'rejected', reason: 'token is not in the token file; token review: invalid; issuer down' });
  t.same(calls, ['token-file', 'oidc', 'token-review']);
  const down = createUnionAuthenticator([fixed('oidc', { outcome: 'unavailable', reason: 'issuer down' }, []), fixed('client-certificate', { outcome: 'no-credential' }, [])]);
  t.same(await down.authenticate({}), { outcome: 'unavailable', reason: 'issuer down' });
  t.same(await createUnionAuthenticator([fixed('client-certificate', { outcome: 'no-credential' }, [])]).authenticate({}), { outcome: 'no-credential' });
  t.same(await createUnionAuthenticator([]).authenticate({}), { outcome: 'no-credential' });
});
