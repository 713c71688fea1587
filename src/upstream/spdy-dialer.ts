import type { OutgoingHttpHeaders } from 'node:http';
import type { UpstreamTarget } from './target.js';
import { dialUpgrade } from './upgrade-dialer.js';
import type { UpgradeOutcome } from './dial-outcome.js';

export interface SpdyUpgradeRequest {
  /** Client path with query; the target's path prefix is added here. */
  path: string;
  /** End-to-end headers to pass on (Authorization, User-Agent, …); upgrade headers are added here. */
  headers: OutgoingHttpHeaders;
  /** Offered in preference order in `X-Stream-Protocol-Version`. */
  protocols: readonly string[];
  timeoutMs: number;
}

/** HTTP/1.1 upgrade to SPDY/3.1, as client-go's SPDY round tripper does it (POST, one socket, no pool). */
export function dialSpdyUpgrade(target: UpstreamTarget, request: SpdyUpgradeRequest): Promise<UpgradeOutcome> {
  return dialUpgrade(target, {
    method: 'POST',
    path: request.path,
    timeoutMs: request.timeoutMs,
    headers: {
      ...request.headers,
      connection: 'Upgrade',
      upgrade: 'SPDY/3.1',
      'x-stream-protocol-version': [...request.protocols],
      'content-length': '0',
    },
    accept(res) {
      const chosen = String(res.headers['x-stream-protocol-version'] ?? '');
      return request.protocols.includes(chosen) ? { protocol: chosen } : { problem: `the upstream chose stream protocol "${chosen}", which was not offered` };
    },
  });
}
