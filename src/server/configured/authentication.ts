/**
 * Edge mode's access control from the configuration: one authenticator chain per upstream, built
 * from the registry (auth/authenticators.ts) in the configured order, the authorizer, the
 * failed-authentication limiter, and what a denial records in metrics and the audit.
 */
import { AUTHENTICATORS, AUTHENTICATOR_SETTINGS, type StartedAuthenticator } from '../../auth/authenticators.js';
import { createPolicyAuthorizer } from '../../auth/policy.js';
import { createFailedAuthLimiter } from '../../auth/rate-limit.js';
import { createSubjectAccessReviewAuthorizer } from '../../auth/subject-access-review.js';
import { createUnionAuthenticator, type UnionAuthenticator } from '../../auth/union.js';
import type { GatewayConfig } from '../../config/model.js';
import type { RequestAuditor } from '../../observability/audit/request-audit.js';
import type { Logger } from '../../observability/logger.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import { postJson } from '../../upstream/api-client.js';
import { EdgeAccess, type Authorizer, type EdgeAuthenticator } from '../edge-access.js';

export interface ConfiguredEdgeAccess {
  access: EdgeAccess;
  /** Authenticators that take a rewrite of their file themselves (reload.ts hands them the change). */
  reloads: NonNullable<StartedAuthenticator['reload']>[];
}

export async function edgeAccess(config: GatewayConfig, logger: Logger, metrics: GatewayMetrics, auditor: RequestAuditor): Promise<ConfiguredEdgeAccess> {
  const { auth } = config;
  const byName = new Map(config.upstreams.map((upstream) => [upstream.name, upstream]));
  const context = { postJson: (upstream: string) => (path: string, body: unknown) => postJson(byName.get(upstream)!, path, body) };
  const keyOf = new Map(AUTHENTICATOR_SETTINGS.map((key) => [AUTHENTICATORS[key].name as string, key]));
  const started: StartedAuthenticator[] = [];
  for (const name of auth.authenticators) started.push(await AUTHENTICATORS[keyOf.get(name)!].start(auth, context));

  const chains = new Map<string, UnionAuthenticator>();
  for (const upstream of config.upstreams) chains.set(upstream.name, createUnionAuthenticator(started.map((member) => member.forUpstream(upstream.name))));
  const authenticator: EdgeAuthenticator = { authenticate: (credentials, upstream) => chains.get(upstream)!.authenticate(credentials) };

  const access = new EdgeAccess({
    authenticator,
    authorizer: authorizer(config),
    impersonation: auth.impersonation,
    failedAuth: config.limits.failedAuthPerMinute > 0 ? createFailedAuthLimiter({ perMinute: config.limits.failedAuthPerMinute }) : undefined,
    onDenied: (denial) => {
      if (denial.stage === 'authorization' || denial.stage === 'impersonation') metrics.authzDenied(denial.reason);
      else metrics.authFailure(denial.reason);
      // The gateway completes the record with the refusal; this names who was refused, for what.
      auditor.of(denial.req)?.identify(
        { user: denial.impersonator ?? denial.user, impersonatedUser: denial.impersonator ? denial.user : undefined, attributes: denial.attributes },
        { 'kube-stream-gateway/denied-at': denial.stage },
      );
    },
    logger,
  });
  return { access, reloads: started.flatMap((member) => (member.reload ? [member.reload] : [])) };
}

function authorizer(config: GatewayConfig): Authorizer | undefined {
  const { authorization } = config.auth;
  if (authorization.mode === 'policy') {
    const policy = createPolicyAuthorizer(authorization.policy);
    return { authorize: async (user, attributes, upstream) => policy.authorize(user, attributes, upstream) };
  }
  if (authorization.mode === 'subjectAccessReview') {
    const reviewers = new Map(config.upstreams.map((upstream) => [upstream.name, createSubjectAccessReviewAuthorizer({ postJson: (path, body) => postJson(upstream, path, body) })]));
    return { authorize: (user, attributes, upstream) => reviewers.get(upstream)!.authorize(user, attributes) };
  }
  return undefined;
}
