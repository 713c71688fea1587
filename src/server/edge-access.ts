import type { IncomingMessage } from 'node:http';
import { extractCredentials } from '../auth/credentials.js';
import type { UserInfo } from '../auth/identity.js';
import { clientImpersonation, upstreamHeaders, type ImpersonationRule } from '../auth/impersonation.js';
import { forbiddenMessage } from '../auth/policy.js';
import type { FailedAuthLimiter } from '../auth/rate-limit.js';
import type { AuthenticationResult, Credentials } from '../auth/identity.js';
import type { Logger } from '../observability/logger.js';
import { HttpStatusError } from '../net/http-answers.js';
import type { UpstreamCall } from '../translators/upstream-call.js';
import type { AccessControl, AccessRequest } from './access.js';
import { requestAttributes, type RequestAttributes } from '../auth/request-attributes.js';
import type { ClientAddress } from '../net/client-address.js';

/**
 * Edge mode tells the upstream the real client address as an impersonated user extra, named as
 * kube-oidc-proxy names it: key `remote-client-ip` (the gateway needs `impersonate` on
 * `userextras/remote-client-ip`, docs/auth.md).
 */
const REMOTE_CLIENT_IP_HEADER = 'impersonate-extra-remote-client-ip';

/** A decision the gateway makes for itself (edge policy) or asks the upstream for (SubjectAccessReview). */
export interface Authorizer {
  /** `upstream`: the cluster the request goes to (SubjectAccessReview asks that one). */
  authorize(user: UserInfo, attributes: RequestAttributes, upstream: string): Promise<{ allowed: boolean; reason: string; unavailable?: boolean }>;
}

/** The configured authenticators in order; `upstream` is the cluster the request goes to (TokenReview may ask it). */
export interface EdgeAuthenticator {
  authenticate(credentials: Credentials, upstream: string): Promise<AuthenticationResult>;
}

/** Why a request was refused before reaching its cluster, for audit and metrics. */
interface Denial {
  req: IncomingMessage;
  /** The real client (client-address.ts), for the audit's sourceIPs. */
  clientAddress: string;
  stage: 'rate-limit' | 'credentials' | 'authentication' | 'impersonation' | 'authorization';
  error: HttpStatusError;
  /** The caller, when authentication got that far (whom it acted as, when it impersonates). */
  user?: UserInfo;
  /** The caller itself, when `user` is whom it impersonates. */
  impersonator?: UserInfo;
  /** What the request asked for, read from the routed target (the one the upstream would act on). */
  attributes: RequestAttributes;
  /** A label for metrics: bounded vocabulary, never a user name or a token. */
  reason: string;
}

export interface EdgeAccessOptions {
  authenticator: EdgeAuthenticator;
  /** No authorizer: the upstream's RBAC decides, on the impersonated identity. */
  authorizer?: Authorizer;
  /** Callers allowed to send their own Impersonate-* headers. */
  impersonation: ImpersonationRule[];
  failedAuth?: FailedAuthLimiter;
  onDenied?: (denial: Denial) => void;
  logger: Logger;
}

/**
 * `auth.mode: edge`: the gateway authenticates the caller, optionally authorizes the request, and
 * calls the upstream with its own credential and Impersonate-* headers naming the caller, so the
 * upstream's RBAC and audit see the real user. No client identity header ever reaches the upstream.
 */
export class EdgeAccess implements AccessControl {
  constructor(private readonly options: EdgeAccessOptions) {}

  async admit({ req, route, upgrade, client }: AccessRequest): Promise<UpstreamCall> {
    const { options } = this;
    const address = client.address;
    // Read from the routed target, so every denial's audit event names what the upstream would have served.
    const attributes = route.attributes;
    const deny = (denial: Omit<Denial, 'req' | 'attributes' | 'clientAddress'>): never => {
      options.onDenied?.({ req, attributes, clientAddress: address, ...denial });
      throw denial.error;
    };

    const { caller, webSocketProtocols } = await this.authenticateCaller(req, address, route.upstream.name, deny);

    let user = caller;
    const impersonation = clientImpersonation(req, caller, options.impersonation);
    if (impersonation.kind === 'invalid') deny({ stage: 'impersonation', reason: 'invalid-impersonation', user: caller, error: new HttpStatusError(400, 'BadRequest', impersonation.reason) });
    if (impersonation.kind === 'denied') deny({ stage: 'impersonation', reason: 'impersonation-denied', user: caller, error: new HttpStatusError(403, 'Forbidden', impersonation.reason) });
    if (impersonation.kind === 'allowed') user = impersonation.user;

    const impersonator = user !== caller ? caller : undefined;
    if (options.authorizer) {
      const decision = await options.authorizer.authorize(user, attributes, route.upstream.name);
      if (decision.unavailable) {
        // The reason names the reviewer's address and error: the operator's to read, not the caller's.
        options.logger.warn({ event: 'authorization-unavailable', upstream: route.upstream.name, reason: decision.reason }, 'authorization unavailable');
        deny({ stage: 'authorization', reason: 'unavailable', user, impersonator, error: new HttpStatusError(503, 'ServiceUnavailable', 'authorization is unavailable') });
      }
      if (!decision.allowed) {
        deny({ stage: 'authorization', reason: 'denied', user, impersonator, error: new HttpStatusError(403, 'Forbidden', forbiddenMessage(user, attributes, decision.reason)) });
      }
    }

    const target = route.upstream.target;
    return {
      upstreamName: route.upstream.name,
      target,
      path: route.path,
      offeredProtocols: webSocketProtocols ?? [],
      user: user.name,
      identity: { user, ...(user !== caller ? { impersonator: caller } : {}), attributes, upgrade },
      rewriteHeaders: (headers) => {
        // The token is read per call: a rotated token file takes effect on the next request.
        const rewritten = upstreamHeaders(headers as Parameters<typeof upstreamHeaders>[0], user, {
          gatewayAuthorization: target.credentials?.bearerToken ? `Bearer ${target.credentials.bearerToken}` : undefined,
          webSocketProtocols,
        });
        // As kube-oidc-proxy: the upstream's audit sees the client's address as a user extra.
        rewritten[REMOTE_CLIENT_IP_HEADER] = address;
        return rewritten;
      },
    };
  }

  /**
   * Who the caller is, by the configured authenticators, with the failed-attempt limit: the web
   * interface's API authenticates each request here, exactly as a cluster request is.
   */
  async authenticate(req: IncomingMessage, client: ClientAddress, upstream: string): Promise<UserInfo> {
    const attributes = requestAttributes({ method: req.method ?? 'GET', url: req.url ?? '/' });
    const deny = (denial: Omit<Denial, 'req' | 'attributes' | 'clientAddress'>): never => {
      this.options.onDenied?.({ req, attributes, clientAddress: client.address, ...denial });
      throw denial.error;
    };
    return (await this.authenticateCaller(req, client.address, upstream, deny)).caller;
  }

  private async authenticateCaller(
    req: IncomingMessage,
    address: string,
    upstream: string,
    deny: (denial: Omit<Denial, 'req' | 'attributes' | 'clientAddress'>) => never,
  ): Promise<{ caller: UserInfo; webSocketProtocols: string[] | undefined }> {
    const wait = this.options.failedAuth?.blocked(address) ?? 0;
    if (wait > 0) {
      deny({
        stage: 'rate-limit',
        reason: 'rate-limited',
        error: new HttpStatusError(429, 'TooManyRequests', `too many failed authentication attempts from ${address}; retry in ${wait} s (limits.failedAuthPerMinute)`),
      });
    }

    const extracted = extractCredentials(req);
    if (!extracted.ok) deny({ stage: 'credentials', reason: 'malformed-credentials', error: new HttpStatusError(400, 'BadRequest', extracted.reason) });
    const { credentials, webSocketProtocols } = extracted as Extract<typeof extracted, { ok: true }>;

    const result = await this.options.authenticator.authenticate(credentials, upstream);
    if (result.outcome === 'unavailable') {
      // The reason names the reviewer or issuer and its error: logged, never sent to the caller.
      this.options.logger.warn({ event: 'authentication-unavailable', upstream: upstream, reason: result.reason }, 'authentication unavailable');
      deny({ stage: 'authentication', reason: 'unavailable', error: new HttpStatusError(503, 'ServiceUnavailable', 'authentication is unavailable') });
    }
    if (result.outcome !== 'authenticated') {
      this.options.failedAuth?.recordFailure(address);
      const why = result.outcome === 'rejected' ? result.reason : 'no credentials';
      this.options.logger.info({ event: 'authentication-failed', address, clientAddress: address, reason: why }, 'authentication failed');
      // Kubernetes says only "Unauthorized": the reason is for the operator's log, not the caller.
      deny({ stage: 'authentication', reason: result.outcome === 'rejected' ? 'rejected' : 'no-credentials', error: new HttpStatusError(401, 'Unauthorized', 'Unauthorized') });
    }
    return { caller: (result as Extract<typeof result, { outcome: 'authenticated' }>).user, webSocketProtocols };
  }

  close(): void {}
}
