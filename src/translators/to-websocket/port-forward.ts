import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../observability/logger.js';
import { PORT_FORWARD_TUNNELING_PROTOCOL, PORT_FORWARD_UPSTREAM_PROTOCOL } from '../../codecs/channels/protocols.js';
import { MessageByteStream } from '../../connections/websocket/message-byte-stream.js';
import { SessionEnding, type LiveSession } from '../live-session.js';
import { SessionLog, sessionSubject } from '../session-log.js';
import type { UpstreamCall } from '../upstream-call.js';
import { acceptSpdyClient } from './spdy-client-upgrade.js';

/**
 * A SPDY port-forward client (kubectl ≤ 1.29) toward an upstream that speaks WebSocket only: the
 * client's SPDY bytes go upstream unchanged inside the tunneling subprotocol's binary messages and
 * the upstream's come back as bytes — SPDY end to end, the upstream's kubelet its peer, PINGs
 * included (so the client's keep-alive is answered from the far end). Back-pressure is the pipes'.
 */
export async function tunnelSpdyClientTowardWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, call: UpstreamCall, logger: Logger, refused?: () => void): Promise<LiveSession | undefined> {
  const log = new SessionLog(logger, sessionSubject(call, req, 'to-websocket'), { clientTransport: 'spdy', upstreamTransport: 'websocket' });
  socket.on('error', () => undefined);
  const upgraded = await acceptSpdyClient({ req, socket, call, logger: log.logger, clientProtocols: [PORT_FORWARD_UPSTREAM_PROTOCOL], upstreamProtocols: [PORT_FORWARD_TUNNELING_PROTOCOL], refused });
  if (!upgraded) return undefined;
  const tunnel = new MessageByteStream(upgraded.upstream);
  tunnel.on('error', () => undefined);
  const ending = new SessionEnding();
  let bytesFromClient = head.length;
  let bytesToClient = 0;
  socket.on('data', (chunk: Buffer) => (bytesFromClient += chunk.length));
  tunnel.on('data', (chunk: Buffer) => (bytesToClient += chunk.length));
  if (head.length) tunnel.write(head);
  socket.pipe(tunnel);
  tunnel.pipe(socket);
  log.start({ clientProtocol: `SPDY/3.1 ${upgraded.clientProtocol}`, upstreamProtocol: upgraded.upstreamProtocol });
  let ended = false;
  const end = (reason: string): void => {
    if (ended) return;
    ended = true;
    socket.destroy();
    tunnel.destroy();
    log.end({ bytesFromClient, bytesToClient, outcome: ending.outcome, reason });
    ending.settle();
  };
  socket.once('close', () => end('the client closed the connection'));
  tunnel.once('close', () => end('the upstream closed the connection'));
  return {
    kind: 'portforward-tunnel',
    clientProtocol: upgraded.clientProtocol,
    done: ending.done,
    get bytesFromClient() {
      return bytesFromClient;
    },
    get bytesToClient() {
      return bytesToClient;
    },
    get bufferedBytes() {
      return socket.writableLength + tunnel.writableLength + tunnel.readableLength;
    },
    // SPDY end to end: the gateway has no place for a Status of its own; it cuts the tunnel and logs why.
    end(status, why) {
      ending.outcome = why;
      end(status.message ?? why);
    },
  };
}
