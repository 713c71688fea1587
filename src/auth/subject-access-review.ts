/**
 * Authorization delegated to the upstream's `authorization.k8s.io/v1` SubjectAccessReview, as
 * kube-apiserver's webhook authorizer asks it, with a short cache of answers (default 10 s, at most
 * 10 000 entries) keyed by the user and the attributes.
 *
 *   createSubjectAccessReviewAuthorizer({ postJson, … }) → { authorize(user, attributes) }
 *     → Promise<{ allowed, reason, unavailable? }>
 *
 * An upstream that cannot answer (transport error, HTTP status other than 200/201, no status) denies
 * with `unavailable: true`, uncached, so the gateway can answer 503 rather than 403. The review's
 * `status.denied`/`evaluationError` are folded into the reason.
 */
import type { UserInfo } from './identity.js';
import type { RequestAttributes } from './request-attributes.js';
import type { PostJson } from './token-review.js';
import { TtlCache } from './ttl-cache.js';

/** @internal Exported for its unit test; the product uses it only here. */
export const SUBJECT_ACCESS_REVIEW_PATH = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

export interface SubjectAccessReviewOptions {
  postJson: PostJson;
  cacheTTLSeconds?: number;
  maxCacheEntries?: number;
  now?: () => number;
}

interface DelegatedDecision {
  allowed: boolean;
  reason: string;
  /** The upstream could not decide; not a denial of the caller. */
  unavailable?: boolean;
}

export interface SubjectAccessReviewAuthorizer {
  authorize(user: UserInfo, attributes: RequestAttributes): Promise<DelegatedDecision>;
}

function subjectAccessReviewSpec(user: UserInfo, attributes: RequestAttributes): Record<string, unknown> {
  const spec: Record<string, unknown> = { user: user.name, groups: user.groups };
  if (user.uid) spec.uid = user.uid;
  if (Object.keys(user.extra).length > 0) spec.extra = user.extra;
  if (attributes.resourceRequest) {
    const resourceAttributes: Record<string, string> = { verb: attributes.verb, group: attributes.apiGroup, version: attributes.apiVersion, resource: attributes.resource };
    if (attributes.namespace) resourceAttributes.namespace = attributes.namespace;
    if (attributes.subresource) resourceAttributes.subresource = attributes.subresource;
    if (attributes.name) resourceAttributes.name = attributes.name;
    spec.resourceAttributes = resourceAttributes;
  } else {
    spec.nonResourceAttributes = { path: attributes.path, verb: attributes.verb };
  }
  return spec;
}

export function createSubjectAccessReviewAuthorizer(options: SubjectAccessReviewOptions): SubjectAccessReviewAuthorizer {
  const cache = new TtlCache<string, DelegatedDecision>(options.maxCacheEntries ?? 10_000, options.now ?? Date.now);
  const ttlMs = (options.cacheTTLSeconds ?? 10) * 1000;
  return {
    async authorize(user, attributes) {
      const spec = subjectAccessReviewSpec(user, attributes);
      const key = JSON.stringify(spec);
      const cached = cache.get(key);
      if (cached) return { ...cached };
      let response: { status: number; body: unknown };
      try {
        response = await options.postJson(SUBJECT_ACCESS_REVIEW_PATH, { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec });
      } catch (error) {
        return { allowed: false, reason: `subject access review: upstream unreachable: ${(error as Error).message}`, unavailable: true };
      }
      if (response.status !== 200 && response.status !== 201) {
        return { allowed: false, reason: `subject access review: upstream answered HTTP ${response.status}`, unavailable: true };
      }
      const status = (response.body as { status?: { allowed?: unknown; denied?: unknown; reason?: unknown; evaluationError?: unknown } } | null)?.status;
      if (!status || typeof status !== 'object') return { allowed: false, reason: 'subject access review: the answer has no status', unavailable: true };
      const reason = [status.reason, status.evaluationError].filter((s): s is string => typeof s === 'string' && s !== '').join('; ');
      const decision: DelegatedDecision = { allowed: status.allowed === true && status.denied !== true, reason };
      cache.set(key, decision, ttlMs);
      return { ...decision };
    },
  };
}
