import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../observability/logger.js';
import { HttpStatusError, sendStatusOnSocket } from '../net/http-answers.js';
import { SpdyConnection } from '../connections/spdy/spdy-connection.js';
import { SpdyStreams } from '../connections/spdy/spdy-streams.js';
import type { ClientWebSocket } from '../connections/websocket/client-websocket.js';
import { hasValidWebSocketHandshake, INVALID_HANDSHAKE } from './upgrade-request.js';
import { dialForClient, type UpgradedUpstream, type UpstreamCall } from './upstream-call.js';
import { splitSessionBudget } from './session-budget.js';
import type { SessionTapFactory } from './bridge.js';

type UpstreamDial = NonNullable<Parameters<typeof dialForClient>[6]>['dial'];

/** What every translator takes from the configuration: the client's limits, the upstream's, the session tap. */
export interface TranslatorOptions {
  logger: Logger;
  /** Interval of pings toward the client (limits.pingIntervalSeconds). */
  clientPingIntervalMs?: number;
  /** Largest WebSocket message accepted from a client. */
  maxMessageBytes?: number;
  /** Bound on one decompressed SPDY header block from the upstream (a zlib bomb fails at it). */
  maxHeaderBlockBytes?: number;
  /** Bytes one session may buffer in all (limits.sessionBufferBytes). */
  sessionBufferBytes?: number;
  /** How long the gateway waits for the client's close frame after sending its own. */
  closeTimeoutMs?: number;
  /** How long a peer (client, or upstream for SPDY) pinging without reading the answers stays paused before it is cut (default 30 s). */
  controlFloodTimeoutMs?: number;
  /** Opens a tap for each session (recording, live views); a refusal refuses the session with a Status. */
  tap?: SessionTapFactory;
}

export interface UpgradeToTranslate {
  req: IncomingMessage;
  socket: Duplex;
  call: UpstreamCall;
  logger: Logger;
  /** What to offer upstream (`X-Stream-Protocol-Version`, or WebSocket subprotocols with `dial`), in preference order. */
  upstreamProtocols: readonly string[];
  /** How the upstream is asked: SPDY (the default), or WebSocket toward an upstream that speaks only that. */
  dial?: UpstreamDial;
  /** The upstream is unreachable or refused: tell the client (the client socket is still ours). */
  unreachable: (message: string) => void;
  /** The 101 to the client, once the upstream has upgraded; gets the version the upstream chose. */
  acceptClient: (upstreamProtocol: string) => ClientWebSocket;
}

export interface TranslatedUpgrade {
  client: ClientWebSocket;
  upstreamSocket: Socket;
  /** Upstream bytes that came with its 101. */
  upstreamHead: Buffer;
  upstreamProtocol: string;
}

/**
 * The set-up every translator shares, written once: the client's handshake checked before any
 * upstream connection is spent, the upstream dialled (its refusals answered by `unreachable`), a
 * client gone meanwhile dropped, Nagle off both ways (keystrokes), then the client's 101.
 * Undefined: the client has had its answer, or is gone.
 */
export async function dialThenAccept(upgrade: UpgradeToTranslate): Promise<TranslatedUpgrade | undefined> {
  const { req, socket } = upgrade;
  if (!hasValidWebSocketHandshake(req)) {
    sendStatusOnSocket(socket, new HttpStatusError(400, 'BadRequest', INVALID_HANDSHAKE));
    return undefined;
  }
  const outcome = await dialUpstreamForClient(upgrade.call, req, socket, upgrade.upstreamProtocols, upgrade.logger, upgrade.unreachable, { dial: upgrade.dial });
  if (!outcome) return undefined;
  const client = upgrade.acceptClient(outcome.protocol);
  return { client, upstreamSocket: outcome.socket, upstreamHead: outcome.head, upstreamProtocol: outcome.protocol };
}

/**
 * The upstream dialled for a client's upgrade (`dialForClient`: refusals and an unreachable upstream
 * answered to the client), a client gone meanwhile dropped, Nagle off both ways (keystrokes): what
 * every translator does before it answers its client, whichever protocol each side speaks.
 */
export async function dialUpstreamForClient(...dial: Parameters<typeof dialForClient>): Promise<UpgradedUpstream | undefined> {
  const [, , socket] = dial;
  const outcome = await dialForClient(...dial);
  if (!outcome) return undefined;
  if (socket.destroyed) {
    outcome.socket.destroy();
    return undefined;
  }
  outcome.socket.setNoDelay(true);
  (socket as Socket).setNoDelay?.(true);
  return outcome;
}

export interface UpstreamSpdyOptions {
  maxHeaderBlockBytes?: number;
  controlFloodTimeoutMs?: number;
  /** limits.sessionBufferBytes, shared as splitSessionBudget says. */
  sessionBufferBytes?: number;
}

/**
 * The upstream side as SPDY streams, with the session's buffer budget split over `streams` read
 * buffers; `webSocketHighWaterMark` is the client side's share.
 */
export function upstreamSpdy(upgraded: { upstreamSocket: Duplex; upstreamHead?: Buffer }, options: UpstreamSpdyOptions, streams: number): { upstream: SpdyStreams; webSocketHighWaterMark?: number } {
  const budget = splitSessionBudget(options.sessionBufferBytes, streams);
  const spdy = new SpdyConnection(
    upgraded.upstreamSocket,
    { role: 'client', maxHeaderBlockBytes: options.maxHeaderBlockBytes, streamHighWaterMark: budget.streamHighWaterMark, pingFloodTimeoutMs: options.controlFloodTimeoutMs },
    upgraded.upstreamHead,
  );
  return { upstream: new SpdyStreams(spdy), webSocketHighWaterMark: budget.webSocketHighWaterMark };
}
