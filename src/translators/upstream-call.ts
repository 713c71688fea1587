import type { OutgoingHttpHeaders } from 'node:http';
import type { UpstreamTarget } from '../upstream/target.js';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { dialSpdyUpgrade } from '../upstream/spdy-dialer.js';
import { UpstreamUnreachableError, type UpgradeOutcome } from '../upstream/dial-outcome.js';
import type { Logger } from '../observability/logger.js';
import { HttpStatusError, replayResponse, sendStatusOnSocket } from '../net/http-answers.js';
import { forwardedHeaders, UPSTREAM_DIAL_TIMEOUT_MS } from './upgrade-request.js';
import type { UserInfo } from '../auth/identity.js';
import type { RequestAttributes } from '../auth/request-attributes.js';

/**
 * How one admitted request reaches its cluster: decided once by routing and access control, then
 * used by whichever translator, relay or proxy serves it. Translators never read the client's
 * identity headers themselves, so the edge mode's rewrite cannot be bypassed by one of them.
 */
export interface UpstreamCall {
  /** The cluster's configured name (logs, metrics). */
  upstreamName: string;
  /** Where to connect, with the gateway's own credential only in edge mode. */
  target: UpstreamTarget;
  /** Path and query to request upstream: the routing prefix removed; the target's own prefix is added later. */
  path: string;
  /** Turns the client's end-to-end headers into those sent upstream (identity, audit context). */
  rewriteHeaders(headers: Readonly<Record<string, string | string[] | number | undefined>>): OutgoingHttpHeaders;
  /** The subprotocols the client offered, without any bearer-token entry. */
  offeredProtocols: string[];
  /** The request's audit ID (sent upstream as `Audit-ID`), for the session's log lines. */
  auditID?: string;
  /** Who is calling, for logs and limits; undefined when the upstream authenticates (passthrough). */
  user?: string;
  /** The client's address behind any trusted proxies (net/client-address.ts), for session log lines. */
  clientAddress?: string;
  /** Adds annotations to the request's audit events (the session's recording). */
  annotate?: (annotations: Record<string, string>) => void;
  /** Told how long each upstream dial took and whether it failed (metrics). */
  onDial?: (seconds: number, error?: Error) => void;
  /** Edge mode: the identity the upstream sees (and who asked for it, when impersonating), for audit. */
  identity?: {
    user: UserInfo;
    impersonator?: UserInfo;
    attributes: RequestAttributes;
    upgrade: boolean;
  };
}

/**
 * What a caller is told when its cluster cannot be reached. The detail (address, errno, TLS error)
 * is the operator's: it goes to the log, never to a caller, who may not even be authenticated.
 */
export const UPSTREAM_UNAVAILABLE = 'the upstream cluster is unavailable';

/** Bound on an upstream 403 body read to judge it; real ones are a short Status. */
export const MAX_JUDGED_REFUSAL_BYTES = 64 * 1024;

/**
 * Edge mode: an upstream 403 saying the gateway may not impersonate names the gateway's own user
 * (`User "system:serviceaccount:ksg:gateway" cannot impersonate …`). The caller is told which of
 * its identities the cluster refused, not who the gateway is there; the original goes to the log.
 * Returns the Status message to send instead, or undefined to replay the answer as it came.
 */
export function gatewayIdentityRefusal(call: UpstreamCall, statusCode: number, body: Buffer, logger: Logger): string | undefined {
  if (!call.identity || statusCode !== 403 || !body.includes('cannot impersonate')) return undefined;
  logger.warn({ event: 'impersonation-refused-upstream', upstream: call.upstreamName, reason: body.toString('utf8', 0, 1024) }, 'the upstream refused the gateway\'s impersonation');
  return `the upstream cluster does not let the gateway act as user "${call.identity.user.name}"`;
}

export type UpgradedUpstream = Extract<UpgradeOutcome, { kind: 'upgraded' }>;

/**
 * Dials the call's upstream for a SPDY (or, with `dial`, WebSocket) session on behalf of a client's upgrade `req`, reporting the
 * time it took to `onDial`. A refusal (401, 403, 404, 400…) is replayed to the client as it came:
 * it is what a real API server would have said before upgrading, and kubectl prints it. An
 * unreachable upstream is logged with its detail and `unreachable` is told only the message a
 * caller may see (UPSTREAM_UNAVAILABLE), which it answers as the client's protocol allows.
 * Resolves with the upgraded connection, or undefined once the client has had its answer.
 */
export async function dialForClient(
  call: UpstreamCall,
  req: IncomingMessage,
  client: Duplex,
  protocols: readonly string[],
  logger: Logger,
  unreachable: (message: string) => void,
  how: {
    /** How the upstream is asked: SPDY (the default), or WebSocket toward an upstream that speaks only that. */
    dial?: typeof dialSpdyUpgrade;
    /**
     * Answers the client in place of replaying the upstream's refusal (a second attempt replays the
     * first's; a first attempt may try another way, or `replay` this refusal).
     */
    refused?: (statusCode: number, replay: () => void) => void;
  } = {},
): Promise<UpgradedUpstream | undefined> {
  const dial = how.dial ?? dialSpdyUpgrade;
  const started = performance.now();
  let outcome: UpgradeOutcome;
  try {
    outcome = await dial(call.target, { path: call.path, headers: call.rewriteHeaders(forwardedHeaders(req)), protocols, timeoutMs: UPSTREAM_DIAL_TIMEOUT_MS });
    call.onDial?.((performance.now() - started) / 1000);
  } catch (error) {
    call.onDial?.((performance.now() - started) / 1000, error as Error);
    if (!(error instanceof UpstreamUnreachableError)) throw error;
    logger.warn({ event: 'session-refused', reason: error.message }, 'upstream unreachable');
    unreachable(UPSTREAM_UNAVAILABLE);
    return undefined;
  }
  if (outcome.kind === 'refused') {
    logger.info({ event: 'session-refused', status: outcome.statusCode }, 'upstream refused the upgrade');
    const refusal = outcome;
    const replay = (): void => {
      const masked = gatewayIdentityRefusal(call, refusal.statusCode, refusal.body, logger);
      if (masked) sendStatusOnSocket(client, new HttpStatusError(403, 'Forbidden', masked));
      else replayResponse(client, refusal.statusCode, refusal.rawHeaders, refusal.body);
    };
    if (how.refused) how.refused(refusal.statusCode, replay);
    else replay();
    return undefined;
  }
  return outcome;
}
