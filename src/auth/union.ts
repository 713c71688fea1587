/**
 * The configured authenticators tried in order (edge mode). The first 'authenticated' wins and its
 * user gets 'system:authenticated'. Otherwise: 'rejected' with every reason when any authenticator
 * rejected the credentials; else 'unavailable' when one could not decide; else 'no-credential'.
 *
 *   createUnionAuthenticator(authenticators) → { authenticate(credentials) }
 */
import { withAuthenticatedGroup, type AuthenticationResult, type Authenticator, type Credentials } from './identity.js';

export interface UnionAuthenticator {
  authenticate(credentials: Credentials): Promise<AuthenticationResult>;
}

export function createUnionAuthenticator(authenticators: Authenticator[]): UnionAuthenticator {
  return {
    async authenticate(credentials: Credentials): Promise<AuthenticationResult> {
      const rejected: string[] = [];
      const unavailable: string[] = [];
      for (const authenticator of authenticators) {
        const result = await authenticator.authenticate(credentials);
        if (result.outcome === 'authenticated') return { ...result, user: withAuthenticatedGroup(result.user) };
        if (result.outcome === 'rejected') rejected.push(result.reason);
        else if (result.outcome === 'unavailable') unavailable.push(result.reason);
      }
      if (rejected.length > 0) return { outcome: 'rejected', reason: [...rejected, ...unavailable].join('; ') };
      if (unavailable.length > 0) return { outcome: 'unavailable', reason: unavailable.join('; ') };
      return { outcome: 'no-credential' };
    },
  };
}
