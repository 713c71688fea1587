import { closeReason } from '../../codecs/websocket/frames.js';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { HttpStatusError, sendStatusOnSocket } from '../../net/http-answers.js';
import { WebSocketPeer } from '../../connections/websocket/websocket-peer.js';
import type { Status } from '../../codecs/k8s/status.js';
import { SPDY_TUNNELING_PREFIX, tunneledSpdyProtocols } from '../../codecs/channels/protocols.js';
import { SessionLog, sessionSubject } from '../session-log.js';
import type { UpstreamCall } from '../upstream-call.js';
import { dialThenAccept, type TranslatorOptions } from '../accept-upgrade.js';
import { bridgedSession, SessionEnding, type EndedFromOutside, type LiveSession } from '../live-session.js';
import { splitSessionBudget } from '../session-budget.js';
import { acceptClientWebSocket, type ClientWebSocket } from '../../connections/websocket/client-websocket.js';
import { SocketStream, WebSocketMessageStream } from '../../connections/raw-streams.js';
import { Bridge, type SessionTap } from '../bridge.js';
import { openSessionTap } from '../session-tap.js';
import { errorStatus } from '../../codecs/k8s/status.js';


/** The tunnel takes what every translator takes (its upstream socket's own buffer is the kernel's; maxHeaderBlockBytes does not apply: the SPDY is end to end). */
export type PortForwardTunnelOptions = TranslatorOptions;

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
    const subject = sessionSubject(call, req, 'tunnel');
    const context = { session: `pf-${this.nextId++}` };
    socket.on('error', () => undefined);
    // Tunnelled SPDY names its ports inside the stream, which the gateway does not read.
    const tapping = await openSessionTap(this.options.tap, call, subject, false);
    if (tapping.refused !== undefined) {
      new SessionLog(this.options.logger, subject, context).logger.warn({ event: 'session-refused', status: 500, reason: tapping.refused }, 'session refused');
      sendStatusOnSocket(socket, new HttpStatusError(500, 'InternalError', tapping.refused));
      return undefined;
    }
    const tap = tapping.opened?.tap;
    const log = new SessionLog(this.options.logger, subject, tapping.opened?.name ? { ...context, recording: tapping.opened.name } : context);
    const logger = log.logger;
    // Tunneling has no error channel: an unreachable upstream is a Status before any upgrade.
    const upgraded = await dialThenAccept({
      req,
      socket,
      call,
      logger,
      upstreamProtocols: tunneledSpdyProtocols(call.offeredProtocols),
      unreachable: (message) => sendStatusOnSocket(socket, new HttpStatusError(503, 'ServiceUnavailable', message)),
      acceptClient: (upstreamProtocol) => acceptClientWebSocket(req, socket, head, SPDY_TUNNELING_PREFIX + upstreamProtocol, this.options),
    });
    if (!upgraded) {
      tap?.event('end', { reason: 'the session did not start' });
      return undefined;
    }
    const session = this.pump(upgraded.client, upgraded.upstreamSocket, upgraded.upstreamHead, upgraded.upstreamProtocol, log, tap);
    tapping.onFailure((message) => session.end(errorStatus(500, 'InternalError', message), 'recording-failed'));
    return session;
  }

  private pump(client: ClientWebSocket, upstreamSocket: Socket, upstreamHead: Buffer, protocol: string, log: SessionLog, tap: SessionTap | undefined): LiveSession {
    const peer = new WebSocketPeer(client, { pingIntervalMs: this.options.clientPingIntervalMs, highWaterMark: splitSessionBudget(this.options.sessionBufferBytes, 1).webSocketHighWaterMark });
    const bridge = new Bridge(tap);
    let ended = false;
    const ending = new SessionEnding();
    log.start({ clientProtocol: SPDY_TUNNELING_PREFIX + protocol, upstreamProtocol: protocol });

    // Binary messages are SPDY bytes: message bounds do not matter, and the pieces of one read go
    // upstream as one write (SocketStream's turn-batched writes).
    const fromClient = new WebSocketMessageStream(peer, () => {
      ending.outcome = 'client-error';
      end('client sent a text message on a SPDY tunnel', 1003);
    });
    const upstream = new SocketStream(upstreamSocket, upstreamHead);
    bridge.pump({
      name: 'spdy to client',
      direction: 'to-client',
      from: upstream,
      to: fromClient,
      onEnd: (error) => {
        if (!error) return end('upstream closed the connection');
        ending.outcome = 'upstream-error';
        end(`upstream connection failed: ${error.message}`, 1011);
      },
    });
    bridge.pump({ name: 'spdy to upstream', direction: 'to-upstream', from: fromClient, to: upstream });

    const end = (reason: string, code = 1000): void => {
      if (ended) return;
      ended = true;
      bridge.stop();
      upstream.reset();
      peer.close(code, code === 1000 ? '' : closeReason(reason));
      log.end({ bytesFromClient: bridge.bytesFromClient, bytesToClient: bridge.bytesToClient, outcome: ending.outcome, reason });
      tap?.event('end', { reason, bytesFromClient: bridge.bytesFromClient, bytesToClient: bridge.bytesToClient });
      ending.settle();
    };
    const session = bridgedSession({
      kind: 'portforward-tunnel',
      clientProtocol: SPDY_TUNNELING_PREFIX + protocol,
      done: ending.done,
      counts: bridge,
      bufferedBytes: () => peer.unflushedBytes + upstream.bufferedBytes,
      end(status: Status, why: EndedFromOutside) {
        ending.outcome = why;
        end(status.message ?? why, why === 'shutdown' ? 1001 : 1008);
      },
    });
    peer.on('close', (code, _reason, cut) => {
      if (cut && !ended) ending.outcome = cut.outcome;
      end(cut?.reason ?? `client closed the connection (code ${code})`);
    });
    return session;
  }
}
