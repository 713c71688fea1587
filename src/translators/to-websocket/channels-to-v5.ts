import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Channel, REMOTE_COMMAND_PROTOCOLS, negotiateSubprotocol, type ChannelProtocol } from '../../codecs/channels/protocols.js';
import { encodeCloseSignal } from '../../codecs/channels/framing.js';
import { errorStatus, exitCodeOf, parseStatus, statusToText, type Status } from '../../codecs/k8s/status.js';
import type { RemoteCommandRequest } from '../../codecs/k8s/remote-command-request.js';
import { HttpStatusError, sendStatusOnSocket } from '../../net/http-answers.js';
import { ChannelConnection } from '../../connections/websocket/channel-connection.js';
import { acceptClientWebSocket, ClientWebSocket } from '../../connections/websocket/client-websocket.js';
import { dialWebSocketUpgrade } from '../../upstream/websocket-dialer.js';
import { Bridge, type Route, type SessionTap } from '../bridge.js';
import { openSessionTap } from '../session-tap.js';
import { bridgedSession, SessionEnding, type LiveSession, type SessionOutcome } from '../live-session.js';
import { SessionLog, sessionSubject } from '../session-log.js';
import type { UpstreamCall } from '../upstream-call.js';
import { dialUpstreamForClient, type TranslatorOptions } from '../accept-upgrade.js';
import { hasValidWebSocketHandshake, INVALID_HANDSHAKE } from '../upgrade-request.js';

const V5 = REMOTE_COMMAND_PROTOCOLS.find((protocol) => protocol.name === 'v5.channel.k8s.io')!;
/** Bound on what the upstream's error channel may hold: a Status is a few hundred bytes. */
const MAX_STATUS_BYTES = 64 * 1024;

export interface ChannelsToV5Options extends TranslatorOptions {
  upstreamPingIntervalMs?: number;
}

/**
 * Whether a WebSocket exec/attach client toward a v5 upstream is bridged rather than relayed: it did
 * not offer v5, or the session is tapped (recorded, watched), which a raw relay cannot be.
 */
export function bridgesTowardV5(offeredProtocols: readonly string[], tapped: boolean): boolean {
  return tapped || !offeredProtocols.includes(V5.name);
}

/**
 * A WebSocket exec/attach client speaking a channel protocol other than v5 (`v4.channel.k8s.io`,
 * `v4.base64.channel.k8s.io`, `channel.k8s.io`, `base64.channel.k8s.io`) — or v5 itself when the
 * session is tapped — toward an upstream that is only promised to speak v5 (`streaming: websocket`, or `auto` once it has learnt WebSocket): two
 * ChannelConnections, the client's in its framing and a v5 one upstream, and a Bridge between them,
 * channel for channel (stdin 0, stdout 1, stderr 2, resize 4). Only v5 clients can half-close stdin
 * (CLOSE, passed on); the others' stdin ends when they close the WebSocket, as with the kubelet. The
 * upstream's Status (channel 3) reaches the client once the upstream closes, after the output, in
 * the client's format (JSON from v4 on; text, failures only, before); an upstream that closes
 * without one gives the client an error Status.
 */
export async function serveChannelClientTowardV5(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  request: RemoteCommandRequest,
  call: UpstreamCall,
  options: ChannelsToV5Options,
): Promise<LiveSession | undefined> {
  const subject = sessionSubject(call, req, 'to-websocket');
  const context = { tty: request.tty, clientTransport: 'websocket', upstreamTransport: 'websocket' };
  const logger = new SessionLog(options.logger, subject, context).logger;
  socket.on('error', () => undefined);
  const protocol = negotiateSubprotocol(call.offeredProtocols, REMOTE_COMMAND_PROTOCOLS);
  if (!protocol) {
    const message = `unable to negotiate a remote-command subprotocol: the client offered [${call.offeredProtocols.join(', ')}], the gateway supports [${REMOTE_COMMAND_PROTOCOLS.map((p) => p.name || '""').join(', ')}]`;
    logger.info({ event: 'session-refused', status: 403, reason: message }, 'session refused');
    sendStatusOnSocket(socket, new HttpStatusError(403, 'Forbidden', message));
    return undefined;
  }
  if (!hasValidWebSocketHandshake(req)) {
    sendStatusOnSocket(socket, new HttpStatusError(400, 'BadRequest', INVALID_HANDSHAKE));
    return undefined;
  }
  // Recorded like every translated session: a recording that must be written and cannot be refuses it.
  const tapping = await openSessionTap(options.tap, call, subject, request.tty);
  if (tapping.refused !== undefined) {
    logger.warn({ event: 'session-refused', status: 500, reason: tapping.refused }, 'session refused');
    sendStatusOnSocket(socket, new HttpStatusError(500, 'InternalError', tapping.refused));
    return undefined;
  }
  const tap = tapping.opened?.tap;
  const log = new SessionLog(options.logger, subject, tapping.opened?.name ? { ...context, recording: tapping.opened.name } : context);
  const unreachable = (message: string): void => sendStatusOnSocket(socket, new HttpStatusError(503, 'ServiceUnavailable', message));
  const outcome = await dialUpstreamForClient(call, req, socket, [V5.name], log.logger, unreachable, { dial: dialWebSocketUpgrade });
  if (!outcome) {
    tap?.event('end', { reason: 'the session did not start' });
    return undefined;
  }
  const client = new ChannelConnection(acceptClientWebSocket(req, socket, head, protocol.name, options), protocol, { pingIntervalMs: options.clientPingIntervalMs });
  const upstream = new ChannelConnection(new ClientWebSocket(outcome.socket, outcome.head, outcome.protocol, { role: 'client' }), V5, { pingIntervalMs: options.upstreamPingIntervalMs });
  const session = bridgeChannels({ request, protocol, client, upstream, log, tap });
  tapping.onFailure((message) => session.end(errorStatus(500, 'InternalError', message), 'recording-failed'));
  return session;
}

function bridgeChannels(parts: { request: RemoteCommandRequest; protocol: ChannelProtocol; client: ChannelConnection; upstream: ChannelConnection; log: SessionLog; tap: SessionTap | undefined }): LiveSession {
  const { request, protocol, client, upstream, log, tap } = parts;
  const bridge = new Bridge(tap);
  const ending = new SessionEnding();
  const statusBytes: Buffer[] = [];
  let statusSize = 0;
  let ended = false;
  let upstreamCloseCode = 1006;

  const routes: Route[] = [
    // A v5 client's CLOSE is passed on; the others have none: their stdin ends with their WebSocket.
    { name: 'stdin', direction: 'to-upstream', from: client.channel(Channel.stdin), to: upstream.channel(Channel.stdin), onEnd: () => void upstream.peer.send(encodeCloseSignal(Channel.stdin), true) },
    { name: 'resize', direction: 'to-upstream', from: client.channel(Channel.resize), to: upstream.channel(Channel.resize), counted: false, onEnd: () => undefined },
    { name: 'stdout', direction: 'to-client', from: upstream.channel(Channel.stdout), to: client.channel(Channel.stdout), dropAfterEnd: true, onEnd: () => undefined },
    { name: 'stderr', direction: 'to-client', from: upstream.channel(Channel.stderr), to: client.channel(Channel.stderr), dropAfterEnd: true, onEnd: () => undefined },
  ];
  for (const route of routes) bridge.pump(route);
  // The Status is held whole (bounded) and written in the client's format once the upstream is done.
  upstream.channel(Channel.error).read((payload) => {
    if (statusSize + payload.length > MAX_STATUS_BYTES) return;
    statusBytes.push(Buffer.from(payload));
    statusSize += payload.length;
  });
  upstream.onClose((reason) => {
    upstreamCloseCode = reason.code;
    if (statusBytes.length) finish(undefined, 'completed', 'the command ended');
    else finish(errorStatus(500, 'InternalError', `Internal error occurred: the upstream closed the stream without a status (close code ${reason.code})`), 'upstream-error', reason.message || 'the upstream closed the connection');
  });
  client.onClose((reason) => finish(undefined, 'client-error', `the client closed the connection (code ${reason.code})`));
  log.start({ clientProtocol: protocol.name, upstreamProtocol: V5.name });

  function finish(failure: Status | undefined, outcome: SessionOutcome, reason: string): void {
    if (ended) return;
    ended = true;
    ending.outcome = outcome;
    let status = failure;
    if (!status && statusBytes.length) {
      try {
        status = parseStatus(Buffer.concat(statusBytes));
      } catch {
        status = errorStatus(500, 'InternalError', 'Internal error occurred: the upstream sent an unreadable status');
      }
    }
    bridge.stop();
    if (status && client.peer.isOpen) {
      if (protocol.statusFormat === 'json') client.send(Channel.error, Buffer.from(JSON.stringify(status)));
      else if (status.status !== 'Success') client.send(Channel.error, Buffer.from(statusToText(status)));
    }
    client.close(1000, '');
    upstream.close(1000, '');
    tap?.event('end', { exitCode: status ? exitCodeOf(status) : undefined, reason });
    log.end(
      { bytesFromClient: bridge.bytesFromClient, bytesToClient: bridge.bytesToClient, exitCode: status ? (exitCodeOf(status) ?? (status.status === 'Success' ? 0 : null)) : null, outcome, reason },
      { upstreamCloseCode },
    );
    ending.settle();
  }

  return bridgedSession({
    kind: request.kind,
    clientProtocol: protocol.name,
    done: ending.done,
    counts: bridge,
    bufferedBytes: () => client.bufferedBytes + upstream.bufferedBytes,
    end(status, why) {
      finish(status, why, status.message ?? why);
    },
  });
}
