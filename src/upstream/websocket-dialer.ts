import { randomBytes } from 'node:crypto';
import type { UpstreamTarget } from './target.js';
import { webSocketAccept } from '../codecs/websocket/handshake.js';
import type { SpdyUpgradeRequest } from './spdy-dialer.js';
import type { UpgradeOutcome } from './dial-outcome.js';
import { dialUpgrade } from './upgrade-dialer.js';

/**
 * HTTP/1.1 upgrade to WebSocket toward an upstream that speaks it (a 1.31+ API server), as client-go's
 * WebSocket executor does it: GET, `Sec-WebSocket-Protocol` with `request.protocols` in preference
 * order. The 101 must prove it read the key (Sec-WebSocket-Accept) and choose an offered protocol.
 */
export function dialWebSocketUpgrade(target: UpstreamTarget, request: SpdyUpgradeRequest): Promise<UpgradeOutcome> {
  const key = randomBytes(16).toString('base64');
  const headers = { ...request.headers };
  // A POST-turned body or the client's own upgrade headers must not reach a GET upgrade.
  for (const name of ['content-length', 'transfer-encoding', 'x-stream-protocol-version']) delete headers[name];
  return dialUpgrade(target, {
    method: 'GET',
    path: request.path,
    timeoutMs: request.timeoutMs,
    headers: {
      ...headers,
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-key': key,
      'sec-websocket-version': '13',
      'sec-websocket-protocol': request.protocols.join(', '),
    },
    accept(res) {
      if (res.headers['sec-websocket-accept'] !== webSocketAccept(key)) return { problem: 'the upstream answered the WebSocket upgrade with a wrong Sec-WebSocket-Accept' };
      const chosen = String(res.headers['sec-websocket-protocol'] ?? '');
      return request.protocols.includes(chosen) ? { protocol: chosen } : { problem: `the upstream chose subprotocol "${chosen}", which was not offered` };
    },
  });
}
