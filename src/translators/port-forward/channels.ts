import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../observability/logger.js';
import {
  PORT_FORWARD_CHANNEL_PROTOCOLS,
  negotiateSubprotocol,
  type ChannelProtocol,
} from '../../codecs/channels/protocols.js';
import { parsePortForwardRequest, PortForwardRequestError } from '../../codecs/k8s/port-forward-request.js';
import { HttpStatusError, sendStatusOnSocket } from '../../net/http-answers.js';
import { SpdyConnection, type SpdyStream } from '../../connections/spdy/spdy-connection.js';
import { WebSocketChannels } from '../../connections/websocket/websocket-channels.js';
import type { Status } from '../../codecs/k8s/status.js';
import { SessionLog, sessionSubject } from '../session-log.js';
import { dialForClient, type UpstreamCall } from '../upstream-call.js';
import { closeReason, SessionEnding, type EndedFromOutside, type LiveSession } from '../live-session.js';
import { splitSessionBudget } from '../session-budget.js';
import { hasValidWebSocketHandshake, INVALID_HANDSHAKE } from '../upgrade-request.js';
import { acceptClientWebSocket, type ClientWebSocket } from '../../connections/websocket/client-websocket.js';

/** The upstream speaks SPDY port-forward whatever the client's channel protocol. */
const UPSTREAM_PROTOCOLS = ['portforward.k8s.io'];
/** More ports than this in one request is not a client, it is an attack on the upstream. */
const MAX_PORTS = 32;

export interface PortForwardChannelsOptions {
  logger: Logger;
  clientPingIntervalMs?: number;
  maxMessageBytes?: number;
  /** Bound on one decompressed SPDY header block from the upstream (a zlib bomb fails at it). */
  maxHeaderBlockBytes?: number;
  /** Bytes one session may buffer in all (limits.sessionBufferBytes). */
  sessionBufferBytes?: number;
  closeTimeoutMs?: number;
  /** How long a peer (client, or upstream for SPDY) pinging without reading the answers stays paused before it is cut (default 30 s). */
  controlFloodTimeoutMs?: number;
}

interface PortPair {
  port: number;
  data: SpdyStream;
  error: SpdyStream;
}

/**
 * The WebSocket channel protocol of port-forward (what the JavaScript and Python clients and browser
 * tools speak), served like the kubelet's websocket.go: for the i-th port in `?ports=`, channel 2i
 * carries data both ways and 2i+1 errors to the client; each channel first says its port as two
 * little-endian bytes. Upstream every port becomes a SPDY data/error stream pair.
 */
export class PortForwardChannels {
  private nextId = 1;

  constructor(private readonly options: PortForwardChannelsOptions) {}

  /** Whether the client asked for one of the channel protocols (rather than tunneling). */
  static wants(offeredProtocols: readonly string[]): boolean {
    return negotiateSubprotocol(offeredProtocols, PORT_FORWARD_CHANNEL_PROTOCOLS) !== undefined;
  }

  /** Serves one port-forward upgrade; resolves with the session once it runs, or undefined when refused. */
  async handle(req: IncomingMessage, socket: Duplex, head: Buffer, call: UpstreamCall): Promise<LiveSession | undefined> {
    socket.on('error', () => undefined);
    let ports: number[];
    try {
      const request = parsePortForwardRequest(call.path)!;
      ports = request.ports;
    } catch (error) {
      if (!(error instanceof PortForwardRequestError)) throw error;
      sendStatusOnSocket(socket, new HttpStatusError(400, 'BadRequest', error.message));
      return undefined;
    }
    const log = new SessionLog(this.options.logger, sessionSubject(call, req, 'channels'), { session: `pf-${this.nextId++}`, ports });
    const logger = log.logger;
    const refuse = (error: HttpStatusError): undefined => {
      sendStatusOnSocket(socket, error);
      return undefined;
    };
    // The kubelet's own words when `ports` is missing (portforward/websocket.go).
    if (ports.length === 0) return refuse(new HttpStatusError(400, 'BadRequest', 'query parameter "port" is required'));
    if (ports.length > MAX_PORTS) return refuse(new HttpStatusError(400, 'BadRequest', `at most ${MAX_PORTS} ports per request`));
    if (!hasValidWebSocketHandshake(req)) {
      return refuse(new HttpStatusError(400, 'BadRequest', INVALID_HANDSHAKE));
    }
    const protocol = negotiateSubprotocol(call.offeredProtocols, PORT_FORWARD_CHANNEL_PROTOCOLS)!;

    const outcome = await dialForClient(call, req, socket, UPSTREAM_PROTOCOLS, logger, (message) => refuse(new HttpStatusError(503, 'ServiceUnavailable', message)));
    if (!outcome) return undefined;
    const upstreamSocket = outcome.socket;
    if (socket.destroyed) {
      upstreamSocket.destroy();
      return undefined;
    }
    upstreamSocket.setNoDelay(true);
    (socket as Socket).setNoDelay?.(true);
    const client = acceptClientWebSocket(req, socket, head, protocol.name, this.options);
    // Each port's data and error streams buffer what they read.
    const budget = splitSessionBudget(this.options.sessionBufferBytes, 2 * ports.length);
    const upstream = new SpdyConnection(upstreamSocket, { role: 'client', maxHeaderBlockBytes: this.options.maxHeaderBlockBytes, streamHighWaterMark: budget.streamHighWaterMark, pingFloodTimeoutMs: this.options.controlFloodTimeoutMs }, outcome.head);
    return this.run(client, protocol, upstream, ports, log, budget.webSocketHighWaterMark);
  }

  private run(client: ClientWebSocket, protocol: ChannelProtocol, upstream: SpdyConnection, ports: number[], log: SessionLog, highWaterMark?: number): LiveSession {
    const logger = log.logger;
    const channels = new WebSocketChannels(client, protocol, { pingIntervalMs: this.options.clientPingIntervalMs, highWaterMark });
    const peer = channels.peer;
    let fromClient = 0;
    let toClient = 0;
    let ended = false;
    const ending = new SessionEnding();

    // One stream pair per port, as kubectl would open them for one connection (requestID = index).
    const pairs: PortPair[] = ports.map((port, index) => {
      const headers = { port: String(port), requestid: String(index) };
      const error = upstream.openStream({ streamtype: 'error', ...headers });
      const data = upstream.openStream({ streamtype: 'data', ...headers });
      // The client never writes on the error stream (kubectl half-closes it at once, capture).
      error.end();
      return { port, data, error };
    });
    let open = pairs.length;
    pairs.forEach((pair, index) => {
      const prefix = Buffer.from([pair.port & 0xff, pair.port >> 8]);
      channels.send(2 * index, prefix);
      channels.send(2 * index + 1, prefix);
      pair.data.on('data', (chunk: Buffer) => {
        toClient += chunk.length;
        if (!channels.send(2 * index, chunk)) pair.data.pause();
      });
      pair.error.on('data', (chunk: Buffer) => {
        logger.info({ event: 'portforward-error', port: pair.port, message: chunk.toString() }, 'upstream reported a port error');
        channels.send(2 * index + 1, chunk);
      });
      for (const stream of [pair.data, pair.error]) stream.on('error', () => undefined);
      pair.data.on('drain', () => peer.resumeIncoming());
      pair.data.on('finish', () => peer.resumeIncoming());
      // A port is done when the upstream has ended (FIN or RST) both its streams: the kubelet with
      // containerd ends the data stream first and writes the port's error afterwards. 'end' comes
      // after every byte read, so the error reaches the client before the close. The session is
      // done when every port is.
      let streamsOpen = 2;
      const streamEnded = (): void => {
        if (--streamsOpen === 0 && --open === 0) end('every port closed by the upstream', 1000);
      };
      pair.data.once('end', streamEnded);
      pair.error.once('end', streamEnded);
    });
    peer.on('drain', () => {
      for (const pair of pairs) pair.data.resume();
    });

    channels.on('protocol-error', (error) => {
      ending.outcome = 'client-error';
      end(`client protocol error: ${error.message}`, 1002);
    });
    channels.on('message-too-large', (maxBytes) => {
      ending.outcome = 'message-too-large';
      end(`a WebSocket message over ${maxBytes} bytes was refused (limits.maxMessageBytes)`, 1009);
    });
    channels.on('data', (channel, payload) => {
      // Even channels are data; odd ones are error channels, which only the server writes (ignored,
      // like any channel the server does not read).
      const pair = channel % 2 === 0 ? pairs[channel / 2] : undefined;
      if (!pair || pair.data.writableEnded) return;
      fromClient += payload.length;
      if (!pair.data.write(payload)) peer.pauseIncoming();
    });

    const end = (reason: string, code: number): void => {
      if (ended) return;
      ended = true;
      for (const pair of pairs) {
        pair.data.reset();
        pair.error.reset();
      }
      upstream.close();
      peer.resumeIncoming();
      peer.close(code, code === 1000 ? '' : closeReason(reason));
      log.end({ bytesFromClient: fromClient, bytesToClient: toClient, outcome: ending.outcome, reason });
      ending.settle();
    };
    const session: LiveSession = {
      kind: 'portforward-channels',
      clientProtocol: protocol.name,
      done: ending.done,
      get bytesFromClient() {
        return fromClient;
      },
      get bytesToClient() {
        return toClient;
      },
      get bufferedBytes() {
        let total = peer.unflushedBytes;
        for (const pair of pairs) total += pair.data.writableLength + pair.data.readableLength;
        return total;
      },
      // The channel protocol has no Status channel for the session: the close frame says why.
      end(status: Status, why: EndedFromOutside) {
        ending.outcome = why;
        end(status.message ?? why, why === 'shutdown' ? 1001 : 1008);
      },
    };
    upstream.on('close', () => {
      if (!ended) ending.outcome = 'upstream-error';
      end('the upstream connection closed', 1011);
    });
    peer.on('close', (code, _reason, cut) => {
      if (cut && !ended) ending.outcome = cut.outcome;
      end(cut?.reason ?? `client closed the connection (code ${code})`, 1000);
    });
    log.start({ clientProtocol: protocol.name, upstreamProtocol: 'portforward.k8s.io' });
    return session;
  }
}
