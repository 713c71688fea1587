// A WebSocket-only API server played back from a capture (`websocket-apiserver-*`): what the real
// 1.31 API server sent kubectl 1.33 is what this upstream sends the gateway, frame for frame, and
// every message the gateway sends it is recorded (unmasked) for the test to compare with what
// kubectl 1.33 sent. Enough discovery and a pod `demo` are served for kubectl 1.27 to get as far
// as the upgrade.
//
// Captures carry no timing across directions, so a recorded frame may be gated on how many
// messages the gateway has sent so far (a count the test reads off the capture's other side).
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { webSocketAccept } from '../../src/codecs/websocket/handshake.js';
import { captureBytes, captureParts } from './scripted-peers.js';
import tls from 'node:tls';
import { readSpdy, splitHead, splitSpdy, splitWebSocket, SYN_STREAM, webSocketMessages, type SpdyFrame, type WebSocketFrame, type WebSocketMessage } from './capture-frames.js';

export interface ScriptedWebSocketUpstreamOptions {
  /** Capture base name, e.g. `websocket-apiserver-exec-v5-stdin`: its `.server-to-client.bin` is played. */
  capture: string;
  /** Recorded frame index → how many messages (data or close) the gateway must have sent before it is written. */
  gates?: Record<number, number>;
  /** Recorded frame index → a condition on what the gateway has sent, for gates a count cannot say. */
  when?: Record<number, (messages: WebSocketMessage[]) => boolean>;
  /** The pod's container names (kubectl checks `-c` against them). */
  containers?: string[];
  /** Called whenever the gateway has sent more (a scripted client gated on what arrived here waits on it). */
  onReceive?: () => void;
  /** The capture is a refusal: its recorded bytes answer every upgrade (WebSocket or SPDY) as they are, then the connection ends. */
  refusal?: boolean;
}

export interface ScriptedWebSocketUpstream {
  url: URL;
  /** The gateway's upgrade request heads, one per connection. */
  requests: string[];
  /** What the gateway sent after its request head, unmasked and fragments joined (pings left out). */
  messages(): WebSocketMessage[];
  /** The raw frames the gateway sent (to check that it masked them). */
  frames(): WebSocketFrame[];
  progress(): { written: number; total: number };
  close(): Promise<void>;
}

/** The recorded 101 with its accept key made for the gateway's own Sec-WebSocket-Key (the one header that cannot be replayed). */
function answerHead(recorded: string, key: string): string {
  return recorded.replace(/^Sec-WebSocket-Accept: .*$/im, `Sec-WebSocket-Accept: ${webSocketAccept(key)}`);
}

export async function scriptedWebSocketUpstream(options: ScriptedWebSocketUpstreamOptions): Promise<ScriptedWebSocketUpstream> {
  const recorded = captureParts(`${options.capture}.server-to-client.bin`);
  const serverFrames = splitWebSocket(recorded.body).frames;
  const requests: string[] = [];
  let received = Buffer.alloc(0);
  let written = 0;
  const sockets = new Set<Duplex>();
  const gatewayFrames = (): WebSocketFrame[] => splitWebSocket(received).frames;
  const gatewayMessages = (): WebSocketMessage[] => webSocketMessages(gatewayFrames());

  const pod = {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: { name: 'demo', namespace: 'default' },
    spec: { containers: (options.containers ?? ['c']).map((name) => ({ name, image: 'x' })) },
    status: { phase: 'Running' },
  };
  const bodies: Record<string, object> = {
    '/api': { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] },
    '/apis': { kind: 'APIGroupList', apiVersion: 'v1', groups: [] },
    '/api/v1': { kind: 'APIResourceList', groupVersion: 'v1', resources: [{ name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list'] }] },
    '/api/v1/namespaces/default/pods/demo': pod,
  };
  const server = http.createServer((req, res) => {
    const body = bodies[(req.url ?? '').split('?')[0]!];
    res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body ?? { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404 }));
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    requests.push(`${req.method} ${req.url} HTTP/${req.httpVersion}\r\n${rawHeaderLines(req)}`);
    if (options.refusal) return void socket.end(captureBytes(`${options.capture}.server-to-client.bin`));
    socket.write(answerHead(recorded.head, String(req.headers['sec-websocket-key'])));
    const pump = (): void => {
      const messages = gatewayMessages();
      while (written < serverFrames.length && messages.length >= (options.gates?.[written] ?? 0) && (options.when?.[written]?.(messages) ?? true)) {
        socket.write(serverFrames[written++]!.raw);
      }
      // Both close frames exchanged: the server closes the TCP connection first (RFC 6455 §7.1.1), as the API server did.
      const closedBoth = written === serverFrames.length && serverFrames.at(-1)?.opcode === 0x8 && messages.some((m) => m.kind === 'close');
      if (closedBoth && !socket.writableEnded) socket.end();
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      pump();
      options.onReceive?.();
    });
    pump();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    requests,
    messages: gatewayMessages,
    frames: gatewayFrames,
    progress: () => ({ written, total: serverFrames.length }),
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function rawHeaderLines(req: http.IncomingMessage): string {
  const lines: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`);
  return lines.join('') + '\r\n';
}

/** The messages (and close) a capture's client sent the API server, unmasked. */
export function capturedClientMessages(capture: string): WebSocketMessage[] {
  return webSocketMessages(splitWebSocket(captureParts(`${capture}.client-to-server.bin`).body).frames);
}

export interface ScriptedSpdyClient {
  /** The gateway's answer head. */
  head(): string | undefined;
  /** SPDY frames the gateway sent after its head, headers inflated. */
  frames(): SpdyFrame[];
  progress(): { written: number; total: number };
  /** Checks the gates again (after something they read changed elsewhere). */
  nudge(): void;
  /** Resolves when the gateway has closed the connection. */
  closed: Promise<void>;
}

/**
 * Plays a capture's SPDY client side (kubectl 1.27 as recorded against the kubelet) against the
 * gateway over TLS: the recorded request head (Host set to the gateway), then its frames byte for
 * byte — header blocks in the recorded zlib stream — up to `last`, each once its gate holds.
 */
export async function scriptedSpdyClient(
  gateway: { port: number; caPem: string },
  options: { capture: string; last: number; gates?: Record<number, (received: SpdyFrame[]) => boolean> },
): Promise<ScriptedSpdyClient> {
  const recorded = captureParts(`${options.capture}.client-to-server.bin`);
  const outgoing = splitSpdy(recorded.body).frames.slice(0, options.last + 1);
  const socket = tls.connect({ host: '127.0.0.1', port: gateway.port, ca: gateway.caPem, servername: 'localhost' });
  socket.on('error', () => undefined);
  await once(socket, 'secureConnect');
  let all = Buffer.alloc(0);
  let answer: string | undefined;
  let frames: SpdyFrame[] = [];
  let written = 0;
  const pump = (): void => {
    if (answer === undefined || socket.destroyed) return;
    while (written < outgoing.length && (options.gates?.[written]?.(frames) ?? true)) socket.write(outgoing[written++]!.raw);
  };
  socket.on('data', (chunk: Buffer) => {
    all = Buffer.concat([all, chunk]);
    const split = splitHead(all);
    if (!split) return;
    answer = split.head;
    // Whole frames only: the header blocks are inflated afresh each time, in order.
    frames = readSpdy(split.rest.subarray(0, split.rest.length - splitSpdy(split.rest).rest.length));
    pump();
  });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.write(recorded.head.replace(/^Host: .*$/m, `Host: 127.0.0.1:${gateway.port}`));
  return { head: () => answer, frames: () => frames, progress: () => ({ written, total: outgoing.length }), nudge: pump, closed };
}

/** What a SPDY client got on each stream, by the stream type it opened it with. */
export function spdyStreamBytes(sent: SpdyFrame[], received: SpdyFrame[]): Record<string, Buffer> {
  const types = new Map<number, string>();
  for (const frame of sent) if (frame.type === 'control' && frame.kind === SYN_STREAM) types.set(frame.streamId!, frame.headers?.['streamtype'] ?? '?');
  const bytes: Record<string, Buffer> = {};
  for (const frame of received) {
    if (frame.type !== 'data') continue;
    const type = types.get(frame.streamId) ?? `?${frame.streamId}`;
    bytes[type] = Buffer.concat([bytes[type] ?? Buffer.alloc(0), frame.payload]);
  }
  return bytes;
}
