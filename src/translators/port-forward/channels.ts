import { closeReason } from '../../codecs/websocket/frames.js';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  PORT_FORWARD_CHANNEL_PROTOCOLS,
  PORT_FORWARD_TUNNELING_PROTOCOL,
  PORT_FORWARD_UPSTREAM_PROTOCOL,
  negotiateSubprotocol,
  type ChannelProtocol,
} from '../../codecs/channels/protocols.js';
import { parsePortForwardRequest, PortForwardRequestError } from '../../codecs/k8s/port-forward-request.js';
import { HttpStatusError, sendStatusOnSocket } from '../../net/http-answers.js';
import type { SpdyStreams, SpdyStreamView } from '../../connections/spdy/spdy-streams.js';
import { ChannelConnection } from '../../connections/websocket/channel-connection.js';
import { Bridge, type SessionTap } from '../bridge.js';
import { openSessionTap } from '../session-tap.js';
import { errorStatus } from '../../codecs/k8s/status.js';
import type { Status } from '../../codecs/k8s/status.js';
import { SessionLog, sessionSubject } from '../session-log.js';
import type { UpstreamCall } from '../upstream-call.js';
import { dialThenAccept, upstreamSpdy, type TranslatorOptions } from '../accept-upgrade.js';
import { bridgedSession, SessionEnding, type EndedFromOutside, type LiveSession } from '../live-session.js';
import { acceptClientWebSocket, ClientWebSocket } from '../../connections/websocket/client-websocket.js';
import { MessageByteStream } from '../../connections/websocket/message-byte-stream.js';
import { dialWebSocketUpgrade } from '../../upstream/websocket-dialer.js';

/** More ports than this in one request is not a client, it is an attack on the upstream. */
const MAX_PORTS = 32;

/** Port-forward channels take what every translator takes. */
export type PortForwardChannelsOptions = TranslatorOptions;

interface PortPair {
  port: number;
  data: SpdyStreamView;
  error: SpdyStreamView;
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

  /**
   * Serves one port-forward upgrade; resolves with the session once it runs, or undefined when refused.
   * Toward an upstream that speaks WebSocket only (`upstreamTransport: 'websocket'`, a 1.31+ API
   * server) the same SPDY streams run inside the tunneling subprotocol's binary messages.
   */
  async handle(req: IncomingMessage, socket: Duplex, head: Buffer, call: UpstreamCall, upstreamTransport: 'spdy' | 'websocket' = 'spdy'): Promise<LiveSession | undefined> {
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
    const tunneled = upstreamTransport === 'websocket';
    const subject = sessionSubject(call, req, tunneled ? 'to-websocket' : 'channels');
    const transports = tunneled ? { clientTransport: 'websocket', upstreamTransport } : {};
    const context = { session: `pf-${this.nextId++}`, ports, ...transports };
    const refuse = (error: HttpStatusError): undefined => {
      sendStatusOnSocket(socket, error);
      return undefined;
    };
    // The kubelet's own words when `ports` is missing (portforward/websocket.go).
    if (ports.length === 0) return refuse(new HttpStatusError(400, 'BadRequest', 'query parameter "port" is required'));
    if (ports.length > MAX_PORTS) return refuse(new HttpStatusError(400, 'BadRequest', `at most ${MAX_PORTS} ports per request`));
    const tapping = await openSessionTap(this.options.tap, call, subject, false, ports);
    if (tapping.refused !== undefined) {
      new SessionLog(this.options.logger, subject, context).logger.warn({ event: 'session-refused', status: 500, reason: tapping.refused }, 'session refused');
      return refuse(new HttpStatusError(500, 'InternalError', tapping.refused));
    }
    const tap = tapping.opened?.tap;
    const log = new SessionLog(this.options.logger, subject, tapping.opened?.name ? { ...context, recording: tapping.opened.name } : context);
    const logger = log.logger;
    const protocol = negotiateSubprotocol(call.offeredProtocols, PORT_FORWARD_CHANNEL_PROTOCOLS)!;
    const upgraded = await dialThenAccept({
      req,
      socket,
      call,
      logger,
      upstreamProtocols: [tunneled ? PORT_FORWARD_TUNNELING_PROTOCOL : PORT_FORWARD_UPSTREAM_PROTOCOL],
      dial: tunneled ? dialWebSocketUpgrade : undefined,
      unreachable: (message) => refuse(new HttpStatusError(503, 'ServiceUnavailable', message)),
      acceptClient: () => acceptClientWebSocket(req, socket, head, protocol.name, this.options),
    });
    if (!upgraded) {
      tap?.event('end', { reason: 'the session did not start' });
      return undefined;
    }
    // The tunnel's binary messages read as the byte stream a SPDY connection runs over, as client-go's TunnelingConnection.
    const upstreamBytes = tunneled
      ? { upstreamSocket: new MessageByteStream(new ClientWebSocket(upgraded.upstreamSocket, upgraded.upstreamHead, upgraded.upstreamProtocol, { role: 'client' })) }
      : upgraded;
    // Each port's data and error streams buffer what they read.
    const { upstream, webSocketHighWaterMark } = upstreamSpdy(upstreamBytes, this.options, 2 * ports.length);
    const session = this.run(upgraded.client, protocol, upstream, upgraded.upstreamProtocol, ports, log, tap, webSocketHighWaterMark);
    tapping.onFailure((message) => session.end(errorStatus(500, 'InternalError', message), 'recording-failed'));
    return session;
  }

  private run(client: ClientWebSocket, protocol: ChannelProtocol, upstream: SpdyStreams, upstreamProtocol: string, ports: number[], log: SessionLog, tap: SessionTap | undefined, highWaterMark?: number): LiveSession {
    const logger = log.logger;
    const channels = new ChannelConnection(client, protocol, { pingIntervalMs: this.options.clientPingIntervalMs, highWaterMark });
    const bridge = new Bridge(tap);
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
      const dataChannel = channels.channel(2 * index);
      const errorChannel = channels.channel(2 * index + 1);
      // Each channel first says its port, as two little-endian bytes.
      const prefix = Buffer.from([pair.port & 0xff, pair.port >> 8]);
      dataChannel.write(prefix);
      errorChannel.write(prefix);
      // A port is done when the upstream has ended (FIN or RST) both its streams: the kubelet with
      // containerd ends the data stream first and writes the port's error afterwards. The end comes
      // after every byte read, so the error reaches the client before the close. The session is
      // done when every port is.
      let streamsOpen = 2;
      const streamEnded = (): void => {
        if (--streamsOpen === 0 && --open === 0) end('every port closed by the upstream', 1000);
      };
      // Only the upstream's own end (FIN, RST) counts: a lost connection ends the session on its own.
      const upstreamEnded = (error?: Error): void => (error ? undefined : streamEnded());
      bridge.pump({ name: `port ${pair.port} to client`, direction: 'to-client', from: pair.data, to: dataChannel, onEnd: upstreamEnded });
      pair.error.read((chunk) => {
        logger.info({ event: 'portforward-error', port: pair.port, message: chunk.toString() }, 'upstream reported a port error');
        bridge.tap?.bytes('to-client', `port ${pair.port} error`, chunk);
        errorChannel.write(chunk);
      }, upstreamEnded);
      // Odd channels are error channels, which only the server writes: what the client sends there is
      // ignored, like any channel the server does not read. The client's data never half-closes the port.
      bridge.pump({ name: `port ${pair.port} to upstream`, direction: 'to-upstream', from: dataChannel, to: pair.data, dropAfterEnd: true, onEnd: () => undefined });
    });

    channels.on('protocol-error', (error) => {
      ending.outcome = 'client-error';
      end(`client protocol error: ${error.message}`, 1002);
    });
    channels.on('message-too-large', (maxBytes) => {
      ending.outcome = 'message-too-large';
      end(`a WebSocket message over ${maxBytes} bytes was refused (limits.maxMessageBytes)`, 1009);
    });

    const end = (reason: string, code: number): void => {
      if (ended) return;
      ended = true;
      bridge.stop();
      for (const pair of pairs) {
        pair.data.reset();
        pair.error.reset();
      }
      upstream.spdy.close();
      channels.resumeIncoming();
      channels.close(code, code === 1000 ? '' : closeReason(reason));
      log.end({ bytesFromClient: bridge.bytesFromClient, bytesToClient: bridge.bytesToClient, outcome: ending.outcome, reason });
      tap?.event('end', { reason, bytesFromClient: bridge.bytesFromClient, bytesToClient: bridge.bytesToClient });
      ending.settle();
    };
    const session = bridgedSession({
      kind: 'portforward-channels',
      clientProtocol: protocol.name,
      done: ending.done,
      counts: bridge,
      bufferedBytes: () => pairs.reduce((total, pair) => total + pair.data.bufferedBytes, channels.bufferedBytes),
      // The channel protocol has no Status channel for the session: the close frame says why.
      end(status: Status, why: EndedFromOutside) {
        ending.outcome = why;
        end(status.message ?? why, why === 'shutdown' ? 1001 : 1008);
      },
    });
    upstream.spdy.on('close', () => {
      if (!ended) ending.outcome = 'upstream-error';
      end('the upstream connection closed', 1011);
    });
    channels.on('close', (code, _reason, cut) => {
      if (cut && !ended) ending.outcome = cut.outcome;
      end(cut?.reason ?? `client closed the connection (code ${code})`, 1000);
    });
    log.start({ clientProtocol: protocol.name, upstreamProtocol });
    return session;
  }
}
