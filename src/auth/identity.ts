/**
 * Identity types shared by every authenticator, the authorizers, impersonation and audit
 * (contracts.md "Identity"). Exports: UserInfo, Credentials,
 * ClientCertificate, AuthenticationResult, Authenticator, withAuthenticatedGroup.
 */

/** Kubernetes user.Info. */
export interface UserInfo {
  name: string;
  uid?: string;
  /** Authenticated callers also get 'system:authenticated' (added by the union authenticator). */
  groups: string[];
  extra: Record<string, string[]>;
}

/** What a TLS client presented, as Node verified it against the listener's client CA bundle. */
export interface ClientCertificate {
  /** Node's verdict: the chain ends at a CA of the listener's `ca` bundle and every certificate is in date. */
  authorized: boolean;
  /** OpenSSL's code when not authorized, e.g. CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE. */
  authorizationError?: string;
  commonName?: string;
  /** Every O value of the subject, in order. */
  organizations: string[];
  validFrom: Date;
  validTo: Date;
  /** Extended key usage OIDs; absent when the certificate has no EKU extension (any use allowed). */
  extendedKeyUsage?: string[];
  fingerprint256: string;
}

/** The caller's credentials, taken from the request by credentials.ts. Never logged. */
export interface Credentials {
  bearerToken?: string;
  clientCertificate?: ClientCertificate;
}

export type AuthenticationResult =
  | { outcome: 'authenticated'; user: UserInfo; by: string }
  /** The request carries nothing this authenticator reads. */
  | { outcome: 'no-credential' }
  /** The credential is wrong (unknown, expired, badly signed…): 401, counts as a failed attempt. */
  | { outcome: 'rejected'; reason: string }
  /** The authenticator could not decide (issuer or upstream down): 503-worthy, never cached. */
  | { outcome: 'unavailable'; reason: string };

export interface Authenticator {
  /** As authenticators.ts names it (AuthenticatorName). */
  readonly name: string;
  authenticate(credentials: Credentials): Promise<AuthenticationResult>;
}

export const AUTHENTICATED_GROUP = 'system:authenticated';

/** A copy of the user with 'system:authenticated' among its groups exactly once. */
export function withAuthenticatedGroup(user: UserInfo): UserInfo {
  if (user.groups.includes(AUTHENTICATED_GROUP)) return user;
  return { ...user, groups: [...user.groups, AUTHENTICATED_GROUP] };
}
