import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../observability/logger.js';
import { HttpStatusError, sendStatusOnSocket } from '../../net/http-answers.js';
import { WebSocketPeer } from '../../connections/websocket/websocket-peer.js';
import type { Status } from '../../codecs/k8s/status.js';
import { SessionLog, sessionSubject } from '../session-log.js';
import { dialForClient, type UpstreamCall } from '../upstream-call.js';
import { closeReason, SessionEnding, type EndedFromOutside, type LiveSession } from '../live-session.js';
import { splitSessionBudget } from '../session-budget.js';
import { hasValidWebSocketHandshake, INVALID_HANDSHAKE } from '../upgrade-request.js';
import { acceptClientWebSocket, type ClientWebSocket } from '../../connections/websocket/client-websocket.js';
import { turnBatchedWriter } from '../../connections/turn-batched-writer.js';

/** kubectl ≥ 1.31 asks for `SPDY/3.1+portforward.k8s.io`: SPDY carried in WebSocket binary messages. */
export const TUNNEL_PREFIX = 'SPDY/3.1+';

export interface PortForwardTunnelOptions {
  logger: Logger;
  /** Bytes one session may buffer toward the client (limits.sessionBufferBytes); the upstream socket's own buffer is the kernel's. */
  sessionBufferBytes?: number;
  clientPingIntervalMs?: number;
  maxMessageBytes?: number;
  closeTimeoutMs?: number;
  /** How long a client flooding pings without reading the answers stays paused before it is cut (default 30 s). */
  controlFloodTimeoutMs?: number;
}

/** The SPDY protocols a client asks to tunnel, in its order (`SPDY/3.1+portforward.k8s.io` → `portforward.k8s.io`). */
export function tunneledProtocols(offeredProtocols: readonly string[]): string[] {
  return offeredProtocols
    .filter((token) => token.startsWith(TUNNEL_PREFIX))
    .map((token) => token.slice(TUNNEL_PREFIX.length));
}

/**
 * Port-forward tunneling, as the API server's streamtunnel.go does it (spec §8): the handshake is
 * re-sent upstream as a SPDY upgrade, and after both 101s the SPDY bytes are copied unchanged —
 * WebSocket binary messages one way, socket reads the other — with back-pressure both ways. The SPDY
 * session (stream pairs, per-port errors, pings) is end to end between kubectl and the upstream.
 */
export class PortForwardTunnel {
  private nextId = 1;

  constructor(private readonly options: PortForwardTunnelOptions) {}

  /** Serves one tunneling upgrade; resolves with the session once it runs, or undefined when refused. */
  async handle(req: IncomingMessage, socket: Duplex, head: Buffer, call: UpstreamCall): Promise<LiveSession | undefined> {
    const log = new SessionLog(this.options.logger, sessionSubject(call, req, 'tunnel'), { session: `pf-${this.nextId++}` });
    const logger = log.logger;
    socket.on('error', () => undefined);
    if (!hasValidWebSocketHandshake(req)) {
      sendStatusOnSocket(socket, new HttpStatusError(400, 'BadRequest', INVALID_HANDSHAKE));
      return undefined;
    }
    // Tunneling has no error channel: an unreachable upstream is a Status before any upgrade.
    const outcome = await dialForClient(call, req, socket, tunneledProtocols(call.offeredProtocols), logger, (message) =>
      sendStatusOnSocket(socket, new HttpStatusError(503, 'ServiceUnavailable', message)),
    );
    if (!outcome) return undefined;
    const upstream = outcome.socket;
    if (socket.destroyed) {
      upstream.destroy();
      return undefined;
    }
    upstream.setNoDelay(true);
    (socket as Socket).setNoDelay?.(true);
    const client = acceptClientWebSocket(req, socket, head, TUNNEL_PREFIX + outcome.protocol, this.options);
    return this.pump(client, upstream, outcome.head, outcome.protocol, log);
  }

  private pump(client: ClientWebSocket, upstream: Socket, upstreamHead: Buffer, protocol: string, log: SessionLog): LiveSession {
    const peer = new WebSocketPeer(client, { pingIntervalMs: this.options.clientPingIntervalMs, highWaterMark: splitSessionBudget(this.options.sessionBufferBytes, 1).webSocketHighWaterMark });
    let fromClient = 0;
    let toClient = 0;
    let ended = false;
    const ending = new SessionEnding();
    log.start({ clientProtocol: TUNNEL_PREFIX + protocol, upstreamProtocol: protocol });

    const toClientChunk = (chunk: Buffer): void => {
      toClient += chunk.length;
      if (!peer.send(chunk, true)) upstream.pause();
    };
    if (upstreamHead.length) toClientChunk(upstreamHead);
    upstream.on('data', toClientChunk);
    peer.on('drain', () => upstream.resume());

    // Binary messages are SPDY bytes: message bounds do not matter, and the pieces of one read go
    // upstream as one write (kubectl sends a frame as several messages, one per field).
    const writeUpstream = turnBatchedWriter(upstream);
    client.receive({
      binaryStart: () => undefined,
      binaryData: (piece) => {
        if (ended) return;
        fromClient += piece.length;
        if (!writeUpstream(piece)) peer.pauseIncoming();
      },
      binaryEnd: () => undefined,
      text: () => {
        ending.outcome = 'client-error';
        end('client sent a text message on a SPDY tunnel', 1003);
      },
    });
    upstream.on('drain', () => peer.resumeIncoming());

    const end = (reason: string, code = 1000): void => {
      if (ended) return;
      ended = true;
      upstream.destroy();
      peer.close(code, code === 1000 ? '' : closeReason(reason));
      log.end({ bytesFromClient: fromClient, bytesToClient: toClient, outcome: ending.outcome, reason });
      ending.settle();
    };
    const session: LiveSession = {
      kind: 'portforward-tunnel',
      clientProtocol: TUNNEL_PREFIX + protocol,
      done: ending.done,
      get bytesFromClient() {
        return fromClient;
      },
      get bytesToClient() {
        return toClient;
      },
      get bufferedBytes() {
        return peer.unflushedBytes + upstream.writableLength;
      },
      end(status: Status, why: EndedFromOutside) {
        ending.outcome = why;
        end(status.message ?? why, why === 'shutdown' ? 1001 : 1008);
      },
    };
    upstream.on('error', (error) => {
      ending.outcome = 'upstream-error';
      end(`upstream connection failed: ${error.message}`, 1011);
    });
    upstream.on('close', () => end('upstream closed the connection'));
    peer.on('close', (code, _reason, cut) => {
      if (cut && !ended) ending.outcome = cut.outcome;
      end(cut?.reason ?? `client closed the connection (code ${code})`);
    });
    return session;
  }
}
