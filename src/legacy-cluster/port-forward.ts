import net from 'node:net';
import type { Logger } from '../observability/logger.js';
import type { SpdyConnection, SpdyStream } from '../connections/spdy/spdy-connection.js';
import { RstStatus } from '../codecs/spdy/errors.js';

/** The kubelet drops a half-created pair after the stream-creation timeout. */
const PAIR_TIMEOUT_MS = 30_000;

export interface PortForwardServeOptions {
  connection: SpdyConnection;
  podName: string;
  podUid: string;
  /** Where a pod port is served on this host; undefined for a port the pod does not serve. */
  resolvePort(podPort: number): number | undefined;
  logger: Logger;
}

interface Pair {
  data?: SpdyStream;
  error?: SpdyStream;
  timer: NodeJS.Timeout;
}

/**
 * The kubelet's SPDY port-forward (kubelet pkg/cri/streaming/portforward/httpstream.go): the client
 * opens an `error` and a `data` stream per connection, sharing `requestID` and `port`; the server
 * connects to the port and copies bytes, or writes why it could not on the error stream.
 */
export function servePortForward(options: PortForwardServeOptions): void {
  const { connection, logger } = options;
  const pairs = new Map<string, Pair>();
  const sockets = new Set<net.Socket>();

  connection.on('close', () => {
    for (const socket of sockets) socket.destroy();
    for (const pair of pairs.values()) clearTimeout(pair.timer);
  });

  connection.on('stream', (stream) => {
    stream.on('error', () => undefined);
    const type = stream.headers.streamtype;
    const port = Number(stream.headers.port);
    const requestId = stream.headers.requestid ?? '';
    if ((type !== 'data' && type !== 'error') || !Number.isInteger(port) || port < 1 || port > 65535) {
      logger.warn({ headers: stream.headers }, 'port-forward stream without a valid streamType or port');
      stream.reset(RstStatus.PROTOCOL_ERROR);
      return;
    }
    stream.reply();
    let pair = pairs.get(requestId);
    if (!pair) {
      pair = { timer: setTimeout(() => dropPair(requestId), PAIR_TIMEOUT_MS) };
      pairs.set(requestId, pair);
    }
    pair[type] = stream;
    if (pair.data && pair.error) {
      clearTimeout(pair.timer);
      pairs.delete(requestId);
      forward(port, pair.data, pair.error);
    }
  });

  function dropPair(requestId: string): void {
    const pair = pairs.get(requestId);
    pairs.delete(requestId);
    pair?.data?.reset();
    pair?.error?.reset();
  }

  function forward(port: number, data: SpdyStream, error: SpdyStream): void {
    // The client half-closes the error stream at once; nothing is read from it.
    error.resume();
    const localPort = options.resolvePort(port);
    const fail = (reason: string): void => {
      const message = `error forwarding port ${port} to pod ${options.podName}, uid ${options.podUid}: ${reason}`;
      logger.info({ event: 'portforward-error', port, reason }, 'port-forward connection failed');
      // The kubelet with containerd, frame for frame (capture spdy-portforward-closed-port): the
      // data stream's FIN first, then the error text, then RST_STREAM on the error stream. The FIN
      // leaves in a socket write of its own, as spdystream's does, before the error is written.
      data.end(() => setImmediate(() => error.write(message, () => error.reset())));
    };
    if (localPort === undefined) {
      fail(`failed to connect to localhost:${port} inside namespace "${options.podName}": the pod serves nothing on port ${port}`);
      return;
    }
    const socket = net.connect(localPort, '127.0.0.1');
    sockets.add(socket);
    socket.setNoDelay(true);
    let connected = false;
    socket.once('connect', () => {
      connected = true;
      logger.debug({ event: 'portforward-connect', port }, 'port-forward connection opened');
      data.pipe(socket);
      socket.pipe(data);
      socket.once('close', () => error.end());
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      sockets.delete(socket);
      if (!connected) {
        fail(`failed to connect to localhost:${port} inside namespace "${options.podName}", IPv4: dial tcp4 127.0.0.1:${port}: connect: ${err.code === 'ECONNREFUSED' ? 'connection refused' : err.message}`);
      } else {
        data.reset();
        error.end();
      }
    });
    socket.once('close', () => sockets.delete(socket));
    data.once('reset', () => socket.destroy());
  }
}
