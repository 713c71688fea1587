import type { OutgoingHttpHeaders } from 'node:http';
import type { UpstreamTarget } from '../upstream/target.js';
import { dialSpdyUpgrade, type SpdyUpgradeOutcome, type SpdyUpgradeRequest } from '../upstream/spdy-dialer.js';
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
  /** Who is calling, for logs and limits; undefined when the upstream authenticates (passthrough). */
  user?: string;
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

/** Dials the call's upstream for a SPDY session, reporting the time it took to `onDial`. */
export async function dialUpstream(call: UpstreamCall, request: Omit<SpdyUpgradeRequest, 'path' | 'headers'> & { headers: SpdyUpgradeRequest['headers'] }): Promise<SpdyUpgradeOutcome> {
  const started = performance.now();
  try {
    const outcome = await dialSpdyUpgrade(call.target, { ...request, path: call.path, headers: call.rewriteHeaders(request.headers) });
    call.onDial?.((performance.now() - started) / 1000);
    return outcome;
  } catch (error) {
    call.onDial?.((performance.now() - started) / 1000, error as Error);
    throw error;
  }
}
