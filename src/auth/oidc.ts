/**
 * OIDC ID tokens, with kube-apiserver's `--oidc-*` knobs, verified by the `jose` library.
 *
 *   createOidcAuthenticator(options) → Authenticator
 *
 * Discovery: `<issuerURL>/.well-known/openid-configuration` is fetched on first use; its `issuer`
 * must equal issuerURL exactly and its `jwks_uri` is the key set. A failed discovery makes the
 * authenticator 'unavailable' and is retried on a later request (at most once per retry interval).
 * Keys: jose's remote JWKS cache (refetched after jwksMaxAgeMs; a token whose `kid` is unknown
 * triggers one refetch, at most once per jwksCooldownMs, which is how key rotation is picked up).
 * Both fetches trust `caPem` when given and never follow redirects.
 *
 * Claims, as kube-apiserver: `iss` equals issuerURL, `aud` contains one of audiences, `exp`
 * required, `nbf`/`exp` with clockSkewSeconds of leeway, alg among signingAlgorithms (default RS256).
 * Username: claims[usernameClaim] (default sub), a non-empty string, prefixed with usernamePrefix —
 * which defaults to `<issuerURL>#` unless the claim is `email` (no prefix); "-" means no prefix.
 * With usernameClaim email, an `email_verified` claim that is present must be true. Groups:
 * claims[groupsClaim], a string or an array of strings, each prefixed with groupsPrefix.
 * requiredClaims: each claim must be present with exactly the given string value.
 * Tokens that are not JWTs or come from another issuer are 'rejected' without any network I/O.
 */
import { createRemoteJWKSet, customFetch, decodeJwt, errors, jwtVerify, type JWTPayload } from 'jose';
import { createHttpsFetch, type SimpleFetch } from './https-fetch.js';
import type { Authenticator, AuthenticationResult, Credentials, UserInfo } from './identity.js';

export interface OidcOptions {
  issuerURL: string;
  audiences: string[];
  usernameClaim?: string;
  usernamePrefix?: string;
  groupsClaim?: string;
  groupsPrefix?: string;
  requiredClaims?: Record<string, string>;
  /** PEM bundle trusted for the issuer's discovery and JWKS endpoints. */
  caPem?: string;
  signingAlgorithms?: string[];
  clockSkewSeconds?: number;
  /** Least time between two JWKS fetches caused by unknown key ids (default 30 s). */
  jwksCooldownMs?: number;
  /** Keys are refetched when older than this (default 10 min). */
  jwksMaxAgeMs?: number;
  /** Least time between two discovery attempts after a failure (default 10 s). */
  discoveryRetryMs?: number;
  /** Per-fetch timeout (default 5 s). */
  timeoutMs?: number;
  /** Tests may inject a fetch; the default trusts caPem. */
  fetch?: SimpleFetch;
}

type KeySet = ReturnType<typeof createRemoteJWKSet>;

export function createOidcAuthenticator(options: OidcOptions): Authenticator {
  const issuer = options.issuerURL;
  if (new URL(issuer).protocol !== 'https:') throw new Error(`oidc: issuerURL must be an https URL, got ${issuer}`);
  if (options.audiences.length === 0) throw new Error('oidc: at least one audience is required');
  const fetchImpl = options.fetch ?? createHttpsFetch(options.caPem ? { caPem: options.caPem } : {});
  const timeoutMs = options.timeoutMs ?? 5000;
  const usernameClaim = options.usernameClaim ?? 'sub';
  const usernamePrefix = effectiveUsernamePrefix(issuer, usernameClaim, options.usernamePrefix);
  const groupsPrefix = options.groupsPrefix ?? '';
  const algorithms = options.signingAlgorithms ?? ['RS256'];
  const discoveryRetryMs = options.discoveryRetryMs ?? 10_000;

  let keySet: KeySet | undefined;
  let discovery: Promise<KeySet> | undefined;
  let lastDiscoveryFailure: { at: number; reason: string } | undefined;

  async function discover(): Promise<KeySet> {
    const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    const response = await fetchImpl(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
    if (response.status !== 200) throw new Error(`${url} answered HTTP ${response.status}`);
    const document = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
    if (document.issuer !== issuer) throw new Error(`discovery document names issuer ${JSON.stringify(document.issuer)}, expected ${JSON.stringify(issuer)}`);
    if (typeof document.jwks_uri !== 'string' || new URL(document.jwks_uri).protocol !== 'https:') {
      throw new Error(`discovery document has no https jwks_uri`);
    }
    return createRemoteJWKSet(new URL(document.jwks_uri), {
      [customFetch]: fetchImpl as never,
      cooldownDuration: options.jwksCooldownMs ?? 30_000,
      cacheMaxAge: options.jwksMaxAgeMs ?? 600_000,
      timeoutDuration: timeoutMs,
    });
  }

  async function keys(): Promise<KeySet | { unavailable: string }> {
    if (keySet) return keySet;
    if (!discovery) {
      if (lastDiscoveryFailure && Date.now() - lastDiscoveryFailure.at < discoveryRetryMs) {
        return { unavailable: lastDiscoveryFailure.reason };
      }
      discovery = discover();
    }
    try {
      keySet = await discovery;
      return keySet;
    } catch (error) {
      lastDiscoveryFailure = { at: Date.now(), reason: `OIDC discovery for ${issuer} failed: ${(error as Error).message}` };
      discovery = undefined;
      return { unavailable: lastDiscoveryFailure.reason };
    }
  }

  return {
    name: 'oidc',
    async authenticate(credentials: Credentials): Promise<AuthenticationResult> {
      const token = credentials.bearerToken;
      if (token === undefined) return { outcome: 'no-credential' };
      let unverified: JWTPayload;
      try {
        unverified = decodeJwt(token);
      } catch {
        return { outcome: 'rejected', reason: 'oidc: the token is not a JWT' };
      }
      if (unverified.iss !== issuer) return { outcome: 'rejected', reason: `oidc: token issuer ${JSON.stringify(unverified.iss)} is not ${issuer}` };
      const set = await keys();
      if ('unavailable' in set) return { outcome: 'unavailable', reason: set.unavailable };
      let claims: JWTPayload;
      try {
        ({ payload: claims } = await jwtVerify(token, set, {
          issuer,
          audience: options.audiences,
          algorithms,
          clockTolerance: options.clockSkewSeconds ?? 60,
          requiredClaims: ['exp'],
        }));
      } catch (error) {
        return verificationFailure(error);
      }
      return userFromClaims(claims);
    },
  };

  function userFromClaims(claims: JWTPayload): AuthenticationResult {
    for (const [claim, expected] of Object.entries(options.requiredClaims ?? {})) {
      if (!(claim in claims)) return { outcome: 'rejected', reason: `oidc: required claim ${claim} is missing` };
      if (claims[claim] !== expected) return { outcome: 'rejected', reason: `oidc: required claim ${claim} does not have the required value` };
    }
    const username = claims[usernameClaim];
    if (typeof username !== 'string' || username === '') {
      return { outcome: 'rejected', reason: `oidc: claim ${usernameClaim} is missing or not a non-empty string` };
    }
    if (usernameClaim === 'email' && 'email_verified' in claims && claims.email_verified !== true) {
      return { outcome: 'rejected', reason: 'oidc: email not verified' };
    }
    const user: UserInfo = { name: usernamePrefix + username, groups: [], extra: {} };
    if (options.groupsClaim && claims[options.groupsClaim] !== undefined) {
      const groups = claims[options.groupsClaim];
      const list = typeof groups === 'string' ? [groups] : groups;
      if (!Array.isArray(list) || !list.every((g): g is string => typeof g === 'string')) {
        return { outcome: 'rejected', reason: `oidc: claim ${options.groupsClaim} is neither a string nor an array of strings` };
      }
      user.groups = list.map((g) => groupsPrefix + g);
    }
    return { outcome: 'authenticated', user, by: 'oidc' };
  }
}

/**
 * kube-apiserver: no prefix flag → `issuerURL#` unless the claim is email; "-" → none.
 * @internal Exported for its unit test; the product uses it only here.
 */
export function effectiveUsernamePrefix(issuerURL: string, usernameClaim: string, usernamePrefix: string | undefined): string {
  if (usernamePrefix === '-') return '';
  if (usernamePrefix !== undefined && usernamePrefix !== '') return usernamePrefix;
  return usernameClaim === 'email' ? '' : `${issuerURL}#`;
}

/** Claim and signature failures are the token's fault ('rejected'); failing to fetch keys is not. */
function verificationFailure(error: unknown): AuthenticationResult {
  if (error instanceof errors.JWTExpired) return { outcome: 'rejected', reason: 'oidc: token expired' };
  if (error instanceof errors.JWTClaimValidationFailed) {
    const what: Record<string, string> = {
      nbf: 'token not yet valid',
      iss: 'wrong issuer',
      aud: 'audience not accepted',
      exp: 'token has no expiry',
    };
    return { outcome: 'rejected', reason: `oidc: ${what[error.claim] ?? `claim ${error.claim} invalid: ${error.message}`}` };
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return { outcome: 'rejected', reason: 'oidc: bad signature' };
  if (error instanceof errors.JWKSNoMatchingKey) return { outcome: 'rejected', reason: 'oidc: no key in the issuer JWKS matches the token (unknown kid)' };
  if (error instanceof errors.JOSEAlgNotAllowed) return { outcome: 'rejected', reason: 'oidc: signing algorithm not allowed' };
  if (error instanceof errors.JWKSTimeout) return { outcome: 'unavailable', reason: 'oidc: fetching the issuer JWKS timed out' };
  if (
    error instanceof errors.JWTInvalid ||
    error instanceof errors.JWSInvalid ||
    error instanceof errors.JWKSMultipleMatchingKeys ||
    error instanceof errors.JOSENotSupported
  ) {
    return { outcome: 'rejected', reason: `oidc: invalid token: ${error.message}` };
  }
  return { outcome: 'unavailable', reason: `oidc: fetching the issuer JWKS failed: ${(error as Error).message}` };
}
