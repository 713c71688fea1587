// Real peers played back from captures (test/fixtures/captures): a kubelet that answers the
// gateway's SPDY upgrade with the frames the real kubelet sent, and a kubectl that sends the gateway
// the WebSocket handshake and frames real kubectl sent. Each records what the gateway sent it.
//
// Captures carry no timing across directions, so each replayed frame may be gated: it is written
// only once the gateway has sent enough frames (a count the test reads off the capture's other
// direction). A frame naming a stream also waits until the gateway has opened that stream.
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { CAPTURES_DIR } from './captures.js';
import {
  GOAWAY,
  PING,
  SpdyHeaderReader,
  splitHead,
  splitSpdy,
  splitWebSocket,
  SYN_STREAM,
  type SpdyFrame,
  type WebSocketFrame,
} from './capture-frames.js';

/** The raw bytes of one direction of a capture. */
export function captureBytes(name: string): Buffer {
  return readFileSync(CAPTURES_DIR + name);
}

/** One direction of a capture: its HTTP head and what followed it. */
export function captureParts(name: string): { head: string; body: Buffer } {
  const split = splitHead(captureBytes(name))!;
  return { head: split.head, body: split.rest };
}

export interface ScriptedKubeletOptions {
  /** Capture base name, e.g. `websocket-apiserver-exec-v5-stdin-upstream`: `.server-to-client.bin` is played, `.client-to-server.bin` says which streams to expect. */
  capture: string;
  /** Server frame index → how many frames the gateway must have sent before it is written. */
  gates?: Record<number, number>;
  /** Close the connection once every frame is written, as the kubelet does when its handler returns. */
  endAfterLast?: boolean;
  /** Leave out the echoes of the recorded client's own PINGs (a client that pings on a timer, where the gateway need not). */
  skipPingEchoes?: boolean;
}

export interface ScriptedKubelet {
  port: number;
  /** The gateway's HTTP request heads, one per connection. */
  requests: string[];
  /** Frames the gateway sent (headers inflated), stream ids as the gateway chose them. */
  received: SpdyFrame[];
  /** Raw SPDY bytes the gateway sent after its request head. */
  receivedBytes(): Buffer;
  /** Gateway stream id → the capture's stream id for the same stream. */
  captureStreamOf(gatewayStreamId: number): number | undefined;
  /** How many captured frames were written so far, and whether the connection has closed. */
  progress(): { written: number; total: number; closed: boolean };
  /** Resolves when the gateway's connection has closed. */
  closed: Promise<void>;
  close(): Promise<void>;
}

/** Streams match on their type and port (the request id is the client's choice). */
function sameStream(a: Record<string, string>, b: Record<string, string>): boolean {
  return a['streamtype'] === b['streamtype'] && a['port'] === b['port'];
}

/** A plain-HTTP upstream serving one connection from a capture (a 101 and SPDY frames, or a refusal as recorded). */
export async function scriptedKubelet(options: ScriptedKubeletOptions): Promise<ScriptedKubelet> {
  const answer = captureParts(`${options.capture}.server-to-client.bin`);
  const isPingEcho = (frame: SpdyFrame): boolean => frame.type === 'control' && frame.kind === PING && (frame.body.readUInt32BE(0) & 1) === 1;
  const serverFrames = splitSpdy(answer.body).frames.filter((frame) => !(options.skipPingEchoes && isPingEcho(frame)));
  const clientReader = new SpdyHeaderReader();
  const captureOpened = splitSpdy(captureParts(`${options.capture}.client-to-server.bin`).body)
    .frames.map((frame) => clientReader.read(frame))
    .filter((frame) => frame.type === 'control' && frame.kind === SYN_STREAM);
  const upgraded = answer.head.startsWith('HTTP/1.1 101 ');
  const requests: string[] = [];
  const received: SpdyFrame[] = [];
  const bytes: Buffer[] = [];
  /** capture stream id → gateway stream id */
  const toGateway = new Map<number, number>();
  let written = 0;
  let closedFlag = false;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  const sockets = new Set<net.Socket>();

  const ready = (frame: SpdyFrame): boolean => {
    const gate = options.gates?.[written] ?? 0;
    if (received.length < gate) return false;
    if (frame.type === 'data' || frame.streamId !== undefined) return toGateway.has(frame.type === 'data' ? frame.streamId : frame.streamId!);
    // A PING the client started (odd id) is answered after the gateway sent it.
    if (isPingEcho(frame)) {
      const id = frame.body.readUInt32BE(0);
      return received.some((r) => r.type === 'control' && r.kind === PING && r.body.readUInt32BE(0) === id);
    }
    return true;
  };
  const mapped = (frame: SpdyFrame): Buffer => {
    const raw = Buffer.from(frame.raw);
    if (frame.type === 'data') raw.writeUInt32BE(toGateway.get(frame.streamId)!, 0);
    else if (frame.streamId !== undefined) raw.writeUInt32BE(toGateway.get(frame.streamId)!, 8);
    else if (frame.kind === GOAWAY) {
      const lastGood = raw.readUInt32BE(8);
      raw.writeUInt32BE(toGateway.get(lastGood) ?? lastGood, 8);
    }
    return raw;
  };

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      closedFlag = true;
      resolveClosed();
    });
    let head: Buffer | undefined = Buffer.alloc(0);
    let pendingBytes = Buffer.alloc(0);
    const reader = new SpdyHeaderReader();
    const pump = (): void => {
      while (written < serverFrames.length && ready(serverFrames[written]!)) socket.write(mapped(serverFrames[written++]!));
      if (written === serverFrames.length && options.endAfterLast && !socket.writableEnded) socket.end();
    };
    socket.on('data', (chunk: Buffer) => {
      if (head) {
        head = Buffer.concat([head, chunk]);
        const split = splitHead(head);
        if (!split) return;
        requests.push(split.head);
        head = undefined;
        if (!upgraded) {
          // A refusal: the recorded answer, then the connection stays open as the real one did.
          socket.write(captureBytes(`${options.capture}.server-to-client.bin`));
          return;
        }
        socket.write(answer.head);
        chunk = split.rest;
      }
      bytes.push(chunk);
      pendingBytes = Buffer.concat([pendingBytes, chunk]);
      const split = splitSpdy(pendingBytes);
      pendingBytes = Buffer.from(split.rest);
      for (const frame of split.frames) {
        received.push(reader.read(frame));
        if (frame.type === 'control' && frame.kind === SYN_STREAM) {
          const match = captureOpened.find(
            (opened) => !toGateway.has(opened.type === 'control' ? opened.streamId! : -1) && sameStream(opened.type === 'control' ? opened.headers ?? {} : {}, frame.headers ?? {}),
          );
          if (match?.type === 'control') toGateway.set(match.streamId!, frame.streamId!);
        }
      }
      pump();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    received,
    receivedBytes: () => Buffer.concat(bytes),
    captureStreamOf: (gatewayStreamId) => [...toGateway].find(([, g]) => g === gatewayStreamId)?.[0],
    progress: () => ({ written, total: serverFrames.length, closed: closedFlag }),
    closed,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

export interface ScriptedKubectlOptions {
  /** Capture base name, e.g. `websocket-apiserver-exec-v5-stdin`: `.client-to-server.bin` is played. */
  capture: string;
  /** Client frame index → a condition on what the gateway has sent so far (its WebSocket frames). */
  gates?: Record<number, (received: WebSocketFrame[]) => boolean>;
}

export interface ScriptedKubectl {
  /** The gateway's answer head (status line and headers). */
  head(): string | undefined;
  /** WebSocket frames the gateway sent after its head, unmasked. */
  frames(): WebSocketFrame[];
  /** Everything the gateway sent, head included. */
  bytes(): Buffer;
  progress(): { written: number; total: number };
  /** Resolves when the gateway has closed the connection. */
  closed: Promise<void>;
}

/**
 * Plays a capture's client side against the gateway over TLS: the recorded request head (Host set to
 * the gateway), then each recorded frame byte for byte (they are
 * masked already, with kubectl's own keys), the first once the gateway's head has arrived.
 */
export async function scriptedKubectl(gateway: { port: number; caPem: string }, options: ScriptedKubectlOptions): Promise<ScriptedKubectl> {
  const recorded = captureParts(`${options.capture}.client-to-server.bin`);
  const outgoing = splitWebSocket(recorded.body).frames;
  // Credentials go as recorded: the test gateway passes them through (the upstream decides), and
  // kubectl sent none over plain http.
  const head = recorded.head.replace(/^Host: .*$/m, `Host: 127.0.0.1:${gateway.port}`);
  const socket = tls.connect({ host: '127.0.0.1', port: gateway.port, ca: gateway.caPem, servername: 'localhost' });
  socket.on('error', () => undefined);
  await once(socket, 'secureConnect');
  const chunks: Buffer[] = [];
  let answerHead: string | undefined;
  let frames: WebSocketFrame[] = [];
  let written = 0;
  const pump = (): void => {
    if (answerHead === undefined || socket.destroyed) return;
    while (written < outgoing.length && (options.gates?.[written]?.(frames) ?? true)) socket.write(outgoing[written++]!.raw);
  };
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    const all = Buffer.concat(chunks);
    const split = splitHead(all);
    if (!split) return;
    answerHead = split.head;
    frames = splitWebSocket(split.rest).frames;
    pump();
  });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.write(head);
  return {
    head: () => answerHead,
    frames: () => frames,
    bytes: () => Buffer.concat(chunks),
    progress: () => ({ written, total: outgoing.length }),
    closed,
  };
}

/** Waits for `promise`, failing after `limitMs` with `what()` (a bound against hangs, not a delay). */
export async function within<T>(promise: Promise<T>, limitMs: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${limitMs} ms: ${what()}`)), limitMs);
  });
  try {
    return await Promise.race([promise, bound]);
  } finally {
    clearTimeout(timer);
  }
}
