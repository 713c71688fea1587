import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  REMOTE_COMMAND_PROTOCOLS,
  REMOTE_COMMAND_UPSTREAM_PROTOCOLS,
  negotiateSubprotocol,
  type ChannelProtocol,
} from '../../codecs/channels/protocols.js';
import { Channel } from '../../codecs/channels/protocols.js';
import { errorStatus, statusToText } from '../../codecs/k8s/status.js';
import { ChannelConnection } from '../../connections/websocket/channel-connection.js';
import { HttpStatusError, sendStatusOnSocket } from '../../net/http-answers.js';
import { acceptClientWebSocket, type ClientWebSocket } from '../../connections/websocket/client-websocket.js';
import type { RemoteCommandRequest } from '../../codecs/k8s/remote-command-request.js';
import { SessionLog, sessionSubject } from '../session-log.js';
import type { UpstreamCall } from '../upstream-call.js';
import { dialThenAccept, upstreamSpdy, type TranslatorOptions } from '../accept-upgrade.js';
import { openSessionTap } from '../session-tap.js';
import type { Status } from '../../codecs/k8s/status.js';
import { RemoteCommandSession } from './session.js';

/** What the gateway offers upstream, in preference order. */
const UPSTREAM_PROTOCOLS = REMOTE_COMMAND_UPSTREAM_PROTOCOLS.map((protocol) => protocol.name);

export interface RemoteCommandTranslatorOptions extends TranslatorOptions {
  /** An upstream that does not answer one SPDY ping by the next is treated as gone. */
  upstreamPingIntervalMs?: number;
}

/** Terminates exec/attach WebSocket upgrades and re-originates them as SPDY/3.1 upstream. */
export class RemoteCommandTranslator {
  /** Accepted clients until their sockets close, for the shutdown's grace period. */
  private readonly clients = new Set<ClientWebSocket>();
  private nextSessionId = 1;

  constructor(private readonly options: RemoteCommandTranslatorOptions) {}

  /**
   * Once the session registry has ended every session with a Status: gives clients a bounded time to
   * complete the close handshake (so the Status is not cut off), then cuts their sockets.
   */
  async shutdown(graceMs = 5_000): Promise<void> {
    const closed = Promise.all([...this.clients].map((client) => new Promise((resolve) => client.once('close', resolve))));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    for (const client of this.clients) client.terminate();
  }

  /** The 101 and the client's WebSocket, tracked until its socket closes. */
  private accept(req: IncomingMessage, socket: Duplex, head: Buffer, protocol: ChannelProtocol): ClientWebSocket {
    const client = acceptClientWebSocket(req, socket, head, protocol.name, this.options);
    this.clients.add(client);
    client.once('close', () => this.clients.delete(client));
    return client;
  }

  /**
   * Serves one exec/attach WebSocket upgrade; resolves with the session once it runs, or undefined
   * when it was refused (the client has had its answer).
   */
  async handle(req: IncomingMessage, socket: Duplex, head: Buffer, request: RemoteCommandRequest, call: UpstreamCall): Promise<RemoteCommandSession | undefined> {
    const id = this.nextSessionId++;
    const subject = sessionSubject(call, req, 'translated');
    const context = { session: id, tty: request.tty };
    socket.on('error', () => undefined);

    const offered = call.offeredProtocols;
    const protocol = negotiateSubprotocol(offered, REMOTE_COMMAND_PROTOCOLS);
    if (!protocol) {
      const logger = new SessionLog(this.options.logger, subject, context).logger;
      const message = `unable to negotiate a remote-command subprotocol: the client offered [${offered.join(', ')}], the gateway supports [${REMOTE_COMMAND_PROTOCOLS.map((p) => p.name || '""').join(', ')}]`;
      logger.info({ event: 'session-refused', status: 403, reason: message }, 'session refused');
      sendStatusOnSocket(socket, new HttpStatusError(403, 'Forbidden', message));
      return undefined;
    }
    const tapping = await openSessionTap(this.options.tap, call, subject, request.tty);
    if (tapping.refused !== undefined) {
      new SessionLog(this.options.logger, subject, context).logger.warn({ event: 'session-refused', status: 500, reason: tapping.refused }, 'session refused');
      this.acceptThenFail(req, socket, head, protocol, errorStatus(500, 'InternalError', tapping.refused));
      return undefined;
    }
    const opened = tapping.opened;
    const log = new SessionLog(this.options.logger, subject, opened?.name ? { ...context, recording: opened.name } : context);
    const logger = log.logger;
    const tap = opened?.tap;
    // Unreachable: like the 1.31 API server's translator, the WebSocket is accepted and the failure
    // reported as an InternalError Status on the error channel (apiserver streamtranslator.go).
    const upgraded = await dialThenAccept({
      req,
      socket,
      call,
      logger,
      upstreamProtocols: UPSTREAM_PROTOCOLS,
      unreachable: (message) => this.acceptThenFail(req, socket, head, protocol, errorStatus(500, 'InternalError', `Internal error occurred: ${message}`)),
      acceptClient: () => this.accept(req, socket, head, protocol),
    });
    if (!upgraded) {
      tap?.event('end', { reason: 'the session did not start' });
      return undefined;
    }
    // stdout, stderr and error buffer what they read; stdin and resize are bounded by their writes.
    const { upstream, webSocketHighWaterMark } = upstreamSpdy(upgraded, this.options, 4);
    const channels = new ChannelConnection(upgraded.client, protocol, { pingIntervalMs: this.options.clientPingIntervalMs, highWaterMark: webSocketHighWaterMark });
    const session = new RemoteCommandSession({
      request,
      channels,
      upstream,
      upstreamProtocol: upgraded.upstreamProtocol,
      log,
      upstreamPingIntervalMs: this.options.upstreamPingIntervalMs ?? 30_000,
      tap,
    });
    // A recording that must be written and cannot be ends the session with a Status saying so.
    tapping.onFailure((message) => session.end(errorStatus(500, 'InternalError', message), 'recording-failed'));
    return session;
  }

  private acceptThenFail(req: IncomingMessage, socket: Duplex, head: Buffer, protocol: ChannelProtocol, status: Status): void {
    if (socket.destroyed) return;
    const channels = new ChannelConnection(this.accept(req, socket, head, protocol), protocol);
    channels.send(Channel.error, Buffer.from(protocol.statusFormat === 'json' ? JSON.stringify(status) : statusToText(status)));
    channels.close(1000, '');
  }
}
