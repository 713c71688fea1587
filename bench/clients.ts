import { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { SpdyConnection, type SpdyStream } from '../src/connections/spdy/spdy-connection.js';
import { dialSpdyUpgrade } from '../src/upstream/spdy-dialer.js';
import { parseStatus, type Status } from '../src/codecs/k8s/status.js';
import { BenchWebSocket } from './websocket-client.js';

export const TOKEN = 'bench-token';

/** One exec session as the benchmark drives it, over either path. */
export interface ExecSession {
  /** Called with every stdout chunk. */
  onStdout(listener: (chunk: Buffer) => void): void;
  /** Writes stdin; resolves when the transport accepted it (back-pressure honoured). */
  write(chunk: Buffer): Promise<void>;
  /** Ends stdin (v5 CLOSE / SPDY FIN). */
  endStdin(): void;
  /** Resolves when the session is over (Status received, connection closed). */
  finished: Promise<void>;
  /** The Status from the error channel once the session is over; undefined if none came. */
  status: Promise<Status | undefined>;
  /** Drops the connection without a goodbye (a client that vanishes). */
  kill(): void;
}

function execPath(command: string[], stdin: boolean): string {
  const query = new URLSearchParams();
  for (const part of command) query.append('command', part);
  query.set('stdout', 'true');
  if (stdin) query.set('stdin', 'true');
  return `/api/v1/namespaces/default/pods/demo/exec?${query}`;
}

/** The direct path: SPDY/3.1 from this process to the legacy cluster, as kubectl ≤ 1.30 does it; over TLS when the URL is https (`ca` verifies the server). */
export async function directExec(clusterUrl: string, command: string[], stdin: boolean, ca?: string): Promise<ExecSession> {
  const outcome = await dialSpdyUpgrade(
    { url: new URL(clusterUrl), insecureSkipTlsVerify: false, ...(ca ? { ca } : {}) },
    { path: execPath(command, stdin), headers: { authorization: `Bearer ${TOKEN}` }, protocols: ['v4.channel.k8s.io'], timeoutMs: 10_000 },
  );
  if (outcome.kind !== 'upgraded') throw new Error(`direct upgrade refused: ${outcome.statusCode}`);
  outcome.socket.setNoDelay(true);
  const connection = new SpdyConnection(outcome.socket, { role: 'client' }, outcome.head);
  const error = connection.openStream({ streamtype: 'error' });
  const input: SpdyStream | undefined = stdin ? connection.openStream({ streamtype: 'stdin' }) : undefined;
  const stdout = connection.openStream({ streamtype: 'stdout' });
  for (const stream of [error, input, stdout]) stream?.on('error', () => undefined);
  const errorBytes: Buffer[] = [];
  error.on('data', (chunk: Buffer) => errorBytes.push(chunk));
  input?.resume();
  const finished = new Promise<void>((resolve) => connection.once('close', () => resolve()));
  stdout.once('end', () => connection.close());
  return {
    onStdout: (listener) => stdout.on('data', listener),
    write: (chunk) => new Promise((resolve) => input!.write(chunk, () => resolve())),
    endStdin: () => input!.end(),
    finished,
    status: finished.then(() => statusOf(errorBytes)),
    kill: () => connection.destroy(),
  };
}

/** The gateway path: WebSocket v5 to the gateway, which speaks SPDY to the same cluster; over TLS when the URL is https. */
export async function gatewayExec(gatewayUrl: string, command: string[], stdin: boolean, ca?: string): Promise<ExecSession> {
  const stdout = lateListeners();
  const errorBytes: Buffer[] = [];
  let channel = -1;
  const socket = await BenchWebSocket.open(gatewayUrl, execPath(command, stdin), 'v5.channel.k8s.io', { authorization: `Bearer ${TOKEN}` }, {
    piece: (data, start) => {
      let payload = data;
      if (start) {
        channel = data[0] ?? -1;
        payload = data.subarray(1);
      }
      if (payload.length === 0) return;
      if (channel === 1) stdout.emit(payload);
      else if (channel === 3) errorBytes.push(Buffer.from(payload));
    },
  }, ca);
  const finished = socket.closed.then(() => undefined);
  return {
    onStdout: stdout.add,
    write: (chunk) => socket.send(chunk, 0),
    endStdin: () => void socket.send(Buffer.from([0]), 0xff),
    finished,
    status: finished.then(() => statusOf(errorBytes)),
    kill: () => socket.terminate(),
  };
}

/**
 * The gateway path with ws's client instead of the benchmark's: the soak uses it, so that the gateway's
 * WebSocket server is held to an implementation that is not its own.
 */
export async function gatewayExecWithWs(gatewayUrl: string, command: string[], stdin: boolean): Promise<ExecSession> {
  const stdout = lateListeners();
  const errorBytes: Buffer[] = [];
  const socket = await openWebSocket(gatewayUrl, execPath(command, stdin), 'v5.channel.k8s.io', (data) => {
    if (data[0] === 1 && data.length > 1) stdout.emit(data.subarray(1));
    else if (data[0] === 3) errorBytes.push(data.subarray(1));
  });
  const finished = new Promise<void>((resolve) => (socket.readyState === socket.CLOSED ? resolve() : socket.once('close', () => resolve())));
  return {
    onStdout: stdout.add,
    write: (chunk) => sendOnChannel(socket, 0, chunk),
    endStdin: () => socket.send(Buffer.from([0xff, 0])),
    finished,
    status: finished.then(() => statusOf(errorBytes)),
    kill: () => socket.terminate(),
  };
}

/**
 * Output for listeners that may subscribe late: the gateway's first messages can arrive before the
 * caller has subscribed, so they are kept until the first listener does.
 */
function lateListeners(): { emit(chunk: Buffer): void; add(listener: (chunk: Buffer) => void): void } {
  const listeners: Array<(chunk: Buffer) => void> = [];
  const early: Buffer[] = [];
  return {
    emit: (chunk) => {
      if (listeners.length === 0) early.push(chunk);
      for (const listener of listeners) listener(chunk);
    },
    add: (listener) => {
      listeners.push(listener);
      for (const chunk of early.splice(0)) listener(chunk);
    },
  };
}

/** The error channel's Status; what is not one becomes a Failure naming it (never a rejection nobody awaits). */
function statusOf(errorBytes: Buffer[]): Status | undefined {
  const bytes = Buffer.concat(errorBytes);
  if (bytes.length === 0) return undefined;
  try {
    return parseStatus(bytes);
  } catch (error) {
    return { metadata: {}, status: 'Failure', message: `${(error as Error).message}: ${bytes.toString('utf8', 0, 200)}` };
  }
}

/** A byte pipe to the demo pod's TCP echo port (pod port 7), over either path. */
export interface EchoPipe {
  write(chunk: Buffer): Promise<void>;
  onData(listener: (chunk: Buffer) => void): void;
  /** Says goodbye: the data stream's FIN, or the WebSocket's close frame, then the connection ends. */
  end(): void;
  /** Drops the connection without a goodbye (a client that vanishes). */
  close(): void;
}

/** Direct: SPDY port-forward to the cluster, one error/data stream pair as kubectl opens it. */
export async function directPortForward(clusterUrl: string, port: number, ca?: string): Promise<EchoPipe> {
  const outcome = await dialSpdyUpgrade(
    { url: new URL(clusterUrl), insecureSkipTlsVerify: false, ...(ca ? { ca } : {}) },
    { path: '/api/v1/namespaces/default/pods/demo/portforward', headers: { authorization: `Bearer ${TOKEN}` }, protocols: ['portforward.k8s.io'], timeoutMs: 10_000 },
  );
  if (outcome.kind !== 'upgraded') throw new Error(`direct port-forward refused: ${outcome.statusCode}`);
  outcome.socket.setNoDelay(true);
  return spdyEchoPipe(new SpdyConnection(outcome.socket, { role: 'client' }, outcome.head), port);
}

/** One error/data stream pair on a SPDY port-forward session, as kubectl opens it (requestID 0). */
function spdyEchoPipe(connection: SpdyConnection, port: number, closeAlso?: () => void): EchoPipe {
  const error = connection.openStream({ streamtype: 'error', port: String(port), requestid: '0' });
  error.on('error', () => undefined);
  error.end();
  error.resume();
  const data = connection.openStream({ streamtype: 'data', port: String(port), requestid: '0' });
  data.on('error', () => undefined);
  return {
    write: (chunk) => new Promise((resolve) => data.write(chunk, () => resolve())),
    onData: (listener) => data.on('data', listener),
    end: () => {
      data.end();
      connection.close();
    },
    close: () => {
      connection.destroy();
      closeAlso?.();
    },
  };
}

/** Through the gateway: the WebSocket channel protocol (`v4.channel.k8s.io`, `?ports=`). */
export async function gatewayPortForward(gatewayUrl: string, port: number, ca?: string): Promise<EchoPipe> {
  const echoed = lateListeners();
  let prefixSeen = false;
  let channel = -1;
  const socket = await BenchWebSocket.open(gatewayUrl, `/api/v1/namespaces/default/pods/demo/portforward?ports=${port}`, 'v4.channel.k8s.io', { authorization: `Bearer ${TOKEN}` }, {
    piece: (data, start) => {
      let payload = data;
      if (start) {
        channel = data[0] ?? -1;
        payload = data.subarray(1);
        // The first message on the data channel is the port number, not data.
        if (channel === 0 && !prefixSeen) {
          prefixSeen = true;
          channel = -1;
          return;
        }
      }
      if (channel === 0 && payload.length > 0) echoed.emit(payload);
    },
  }, ca);
  return {
    write: (chunk) => socket.send(chunk, 0),
    onData: echoed.add,
    end: () => socket.close(),
    close: () => socket.terminate(),
  };
}

/**
 * Through the gateway's tunnel, as kubectl ≥ 1.31 does it: a WebSocket with the subprotocol
 * `SPDY/3.1+portforward.k8s.io` whose binary messages carry the SPDY session end to end.
 */
export async function gatewayTunnelPortForward(gatewayUrl: string, port: number, ca?: string): Promise<EchoPipe> {
  let socket: BenchWebSocket | undefined;
  const stream = new Duplex({
    write: (chunk: Buffer, _encoding, done) => socket!.sendPieces([chunk], done),
    // A SPDY frame's header and data, written corked, go as one message rather than two.
    writev: (chunks, done) => socket!.sendPieces(chunks.map(({ chunk }) => chunk as Buffer), done),
    read: () => socket?.socket.resume(),
    final: (done) => {
      socket!.close();
      done();
    },
  });
  socket = await BenchWebSocket.open(gatewayUrl, '/api/v1/namespaces/default/pods/demo/portforward', 'SPDY/3.1+portforward.k8s.io', { authorization: `Bearer ${TOKEN}` }, {
    piece: (data) => {
      if (data.length && !stream.push(data)) socket?.socket.pause();
    },
  }, ca);
  const opened = socket;
  void opened.closed.then(() => stream.push(null));
  return spdyEchoPipe(new SpdyConnection(stream, { role: 'client' }), port, () => opened.terminate());
}

/**
 * A benchmark client's WebSocket to the gateway, open and with Nagle off (as kubectl's is). The
 * message listener is attached before the handshake completes: the gateway's first messages (the
 * port-forward port prefixes, the empty first stdout message) can come in the same read as the 101
 * and be emitted before code awaiting 'open' could subscribe — the port-forward bench once took the
 * first echoed 32 KiB for the port prefix and waited forever for it.
 */
async function openWebSocket(gatewayUrl: string, path: string, protocol: string, onMessage: (data: Buffer) => void): Promise<WebSocket> {
  const socket = new WebSocket(gatewayUrl.replace(/^http/, 'ws') + path, [protocol], {
    headers: { authorization: `Bearer ${TOKEN}` },
    perMessageDeflate: false,
  });
  socket.on('message', onMessage);
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  (socket as unknown as { _socket: { setNoDelay(on: boolean): void } })._socket.setNoDelay(true);
  return socket;
}

/** One binary channel message; resolves once ws has written it. */
function sendOnChannel(socket: WebSocket, channel: number, payload: Buffer): Promise<void> {
  const framed = Buffer.allocUnsafe(payload.length + 1);
  framed[0] = channel;
  payload.copy(framed, 1);
  return new Promise((resolve, reject) => socket.send(framed, { binary: true }, (error) => (error ? reject(error) : resolve())));
}
