import { listElements, rawHeaderValues } from '../../codecs/http/header-lists.js';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { HttpStatusError, noteAnswer, sendStatusOnSocket } from '../../net/http-answers.js';
import { dialWebSocketUpgrade } from '../../upstream/websocket-dialer.js';
import { ClientWebSocket } from '../../connections/websocket/client-websocket.js';
import type { Logger } from '../../observability/logger.js';
import type { UpstreamCall } from '../upstream-call.js';
import { statusToText, type Status } from '../../codecs/k8s/status.js';
import type { SpdyStream } from '../../connections/spdy/spdy-connection.js';
import { dialUpstreamForClient } from '../accept-upgrade.js';

/** The SPDY client's `X-Stream-Protocol-Version` tokens in its order, from every header line (kubectl ≤ 1.29 repeats it). */
export function offeredStreamProtocols(req: IncomingMessage): string[] {
  return listElements(rawHeaderValues(req.rawHeaders, 'x-stream-protocol-version'));
}

export interface SpdyClientUpgrade {
  req: IncomingMessage;
  socket: Duplex;
  call: UpstreamCall;
  logger: Logger;
  /** What the gateway serves the SPDY client, in its preference order (the client's order decides). */
  clientProtocols: readonly string[];
  /** The WebSocket subprotocols asked of the upstream, in preference order. */
  upstreamProtocols: readonly string[];
  /** A second attempt after a refused SPDY one: a refusal here replays that first answer instead (see dialForClient). */
  refused?: () => void;
}

export interface SpdyClientUpgraded {
  /** The version agreed with the SPDY client (its `X-Stream-Protocol-Version`). */
  clientProtocol: string;
  upstream: ClientWebSocket;
  upstreamProtocol: string;
}

/**
 * A SPDY client's upgrade served toward a WebSocket upstream, in the kubelet's order: the version
 * negotiated from the client's list (none in common: 403 as the kubelet's handshake), the upstream
 * asked over WebSocket — its refusal replayed to the client as it came (the same HTTP status and
 * Status body a SPDY upstream would have given), unreachable as 503 — then the client's 101 with the
 * chosen version. Undefined: the client has had its answer, or is gone.
 */
export async function acceptSpdyClient(upgrade: SpdyClientUpgrade): Promise<SpdyClientUpgraded | undefined> {
  const { req, socket, call, logger } = upgrade;
  const offered = offeredStreamProtocols(req);
  const clientProtocol = offered.find((token) => upgrade.clientProtocols.includes(token));
  if (!clientProtocol) {
    const message = `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server accepts [${upgrade.clientProtocols.join(' ')}]`;
    logger.info({ event: 'session-refused', status: 403, reason: message }, 'session refused');
    sendStatusOnSocket(socket, new HttpStatusError(403, 'Forbidden', message));
    return undefined;
  }
  const unreachable = (message: string): void => sendStatusOnSocket(socket, new HttpStatusError(503, 'ServiceUnavailable', message));
  const outcome = await dialUpstreamForClient(call, req, socket, upgrade.upstreamProtocols, logger, unreachable, { dial: dialWebSocketUpgrade, refused: upgrade.refused });
  if (!outcome) return undefined;
  answerSpdyClient(socket, clientProtocol);
  const upstream = new ClientWebSocket(outcome.socket, outcome.head, outcome.protocol, { role: 'client' });
  return { clientProtocol, upstream, upstreamProtocol: outcome.protocol };
}

/** The SPDY client's 101, as the kubelet answers it: the version agreed in `X-Stream-Protocol-Version`. */
export function answerSpdyClient(socket: Duplex, version: string): void {
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${version}\r\n\r\n`);
  noteAnswer(socket, 101);
}

/** A Status as a SPDY client's error stream carries it: JSON from v4, text on failure for v2/v3, nothing for v1. */
export function statusForSpdyClient(version: string, status: Status): string | undefined {
  if (version === 'v4.channel.k8s.io') return JSON.stringify(status);
  if (status.status !== 'Success' && version !== 'channel.k8s.io') return statusToText(status);
  return undefined;
}

/** Resolves once everything written to the stream so far has been handed to the socket (an ended one: once it finished). */
export function flushed(stream: SpdyStream | undefined): Promise<void> {
  if (!stream || stream.destroyed || stream.writableFinished) return Promise.resolve();
  if (stream.writableEnded) return new Promise((resolve) => (stream.once('finish', resolve), stream.once('close', resolve)));
  return new Promise((resolve) => stream.write(Buffer.alloc(0), () => resolve()));
}
