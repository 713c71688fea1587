/**
 * Opaque bearer tokens delegated to an upstream's `authentication.k8s.io/v1` TokenReview, as
 * kube-apiserver's webhook token authenticator does, with its caches: positive answers are kept
 * cacheTTLSeconds (default 120), negative ones negativeCacheTTLSeconds (default 10), at most
 * maxCacheEntries (default 10 000, oldest dropped first). Cache keys are SHA-256 digests, never
 * tokens. An upstream that fails (transport error, any HTTP status but 200/201, a body that is not a
 * TokenReview) gives 'unavailable', which is not cached.
 *
 * With `audiences`, the request names them (spec.audiences) and an answer counts only when its
 * status.audiences intersects them, as kube-apiserver's webhook token authenticator checks: a token
 * another cluster (or service) was issued for is rejected even if the reviewer knows its subject.
 *
 *   createTokenReviewAuthenticator({ postJson, audiences?, … }) → Authenticator
 *   type PostJson = (path, body) → Promise<{ status, body }>   (the gateway's own credential)
 */
import { createHash } from 'node:crypto';
import type { Authenticator, AuthenticationResult, Credentials, UserInfo } from './identity.js';
import { TtlCache } from './ttl-cache.js';

export type PostJson = (path: string, body: unknown) => Promise<{ status: number; body: unknown }>;

/** @internal Exported for its unit test; the product uses it only here. */
export const TOKEN_REVIEW_PATH = '/apis/authentication.k8s.io/v1/tokenreviews';

export interface TokenReviewOptions {
  postJson: PostJson;
  /** spec.audiences; the upstream's own audience when absent. */
  audiences?: string[];
  cacheTTLSeconds?: number;
  negativeCacheTTLSeconds?: number;
  maxCacheEntries?: number;
  now?: () => number;
}

interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  error?: string;
  audiences?: string[];
}

type Answer = { outcome: 'authenticated'; user: UserInfo; by: 'token-review' } | { outcome: 'rejected'; reason: string };

export function createTokenReviewAuthenticator(options: TokenReviewOptions): Authenticator {
  const cache = new TtlCache<string, Answer>(options.maxCacheEntries ?? 10_000, options.now ?? Date.now);
  const positiveTtlMs = (options.cacheTTLSeconds ?? 120) * 1000;
  const negativeTtlMs = (options.negativeCacheTTLSeconds ?? 10) * 1000;

  return {
    name: 'token-review',
    async authenticate(credentials: Credentials): Promise<AuthenticationResult> {
      const token = credentials.bearerToken;
      if (token === undefined) return { outcome: 'no-credential' };
      const key = createHash('sha256').update(token, 'utf8').digest('base64');
      const cached = cache.get(key);
      if (cached) return structuredClone(cached);

      const spec: { token: string; audiences?: string[] } = { token };
      if (options.audiences?.length) spec.audiences = options.audiences;
      let response: { status: number; body: unknown };
      try {
        response = await options.postJson(TOKEN_REVIEW_PATH, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec });
      } catch (error) {
        return { outcome: 'unavailable', reason: `token review: upstream unreachable: ${(error as Error).message}` };
      }
      if (response.status !== 200 && response.status !== 201) {
        return { outcome: 'unavailable', reason: `token review: upstream answered HTTP ${response.status}` };
      }
      const status = (response.body as { status?: TokenReviewStatus } | null)?.status;
      if (!status || typeof status !== 'object') return { outcome: 'unavailable', reason: 'token review: the answer has no status' };

      const answer = answerOf(status, options.audiences);
      cache.set(key, answer, answer.outcome === 'authenticated' ? positiveTtlMs : negativeTtlMs);
      return structuredClone(answer);
    },
  };
}

function answerOf(status: TokenReviewStatus, audiences: string[] | undefined): Answer {
  const username = status.user?.username;
  if (status.authenticated !== true || typeof username !== 'string' || username === '') {
    return { outcome: 'rejected', reason: `token review: ${status.error || 'token not authenticated'}` };
  }
  if (audiences?.length) {
    const granted = Array.isArray(status.audiences) ? status.audiences : [];
    if (!granted.some((audience) => audiences.includes(audience))) {
      return { outcome: 'rejected', reason: `token review: the token is not for audiences ${audiences.join(', ')} (it is for ${granted.join(', ') || 'none named'})` };
    }
  }
  const user: UserInfo = {
    name: username,
    groups: Array.isArray(status.user?.groups) ? status.user!.groups.filter((g) => typeof g === 'string') : [],
    extra: isExtra(status.user?.extra) ? status.user!.extra : {},
  };
  if (typeof status.user?.uid === 'string' && status.user.uid !== '') user.uid = status.user.uid;
  return { outcome: 'authenticated', user, by: 'token-review' };
}

function isExtra(value: unknown): value is Record<string, string[]> {
  return (
    typeof value === 'object' &&
    value !== null &&
    Object.values(value).every((v) => Array.isArray(v) && v.every((s) => typeof s === 'string'))
  );
}
