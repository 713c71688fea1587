import { randomBytes, randomFillSync } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { encodeCloseFrame, encodeFrameHeader, MAX_HEADER_BYTES, WebSocketFrameParser, type WebSocketFrameHandler } from '../src/codecs/websocket/frames.js';
import { webSocketAccept } from '../src/codecs/websocket/handshake.js';
import { maskInto } from '../src/codecs/websocket/mask.js';

/** Binary messages as they arrive: the first piece of each message starts with `start`, pieces in order. */
export interface MessagePieces {
  piece(data: Buffer, start: boolean): void;
}

/**
 * The benchmark's WebSocket client, reading and writing as kubectl's (gorilla/websocket) does rather
 * than as ws does: a message is read as a stream of pieces (gorilla's NextReader), never reassembled,
 * and one is written as one frame, its bytes copied into the frame and masked in the same pass. With
 * ws's client the gateway path's benchmark client cost twice the direct path's SPDY client per byte
 * (ws reassembles every frame that spans two reads and copies again to mask), and that CPU — shared
 * with the upstream under `--pin` — was charged to the gateway.
 */
export class BenchWebSocket {
  readonly closed: Promise<number>;
  private readonly parser: WebSocketFrameParser;
  private atMessageStart = false;
  private closeSent = false;
  /** Frame buffers whose write has completed, reused as gorilla reuses its write buffer (see POOLED_MIN_BYTES). */
  private readonly framePool: Buffer[] = [];

  private constructor(
    readonly socket: Socket,
    head: Buffer,
    private readonly pieces: MessagePieces,
  ) {
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    let code = 1006;
    const handler: WebSocketFrameHandler = {
      messageStart: () => (this.atMessageStart = true),
      messageData: (piece) => {
        const start = this.atMessageStart;
        this.atMessageStart = false;
        this.pieces.piece(piece, start);
      },
      messageEnd: () => {
        // A message of no bytes at all still starts (and ends) a message.
        if (this.atMessageStart) this.pieces.piece(Buffer.alloc(0), true);
        this.atMessageStart = false;
      },
      ping: (payload) => socket.write(clientFrame(0x0a, [payload])),
      pong: () => undefined,
      close: (closeCode, reason) => {
        code = closeCode;
        if (this.closeSent) socket.end();
        else socket.end(clientFrame(0x08, [closeBody(closeCode, reason)]));
        this.closeSent = true;
      },
    };
    this.parser = new WebSocketFrameParser(handler, { maxMessageBytes: Number.MAX_SAFE_INTEGER, masked: false });
    this.closed = new Promise((resolve) => socket.once('close', () => resolve(code)));
    if (head.length) this.parser.push(head);
    socket.on('data', (chunk: Buffer) => this.parser.push(chunk));
  }

  /** Opens a WebSocket (over TLS when `baseUrl` is https, `ca` verifying the server) and checks the server's 101. */
  static async open(baseUrl: string, path: string, protocol: string, headers: Record<string, string>, pieces: MessagePieces, ca?: string): Promise<BenchWebSocket> {
    const url = new URL(baseUrl);
    const key = randomBytes(16).toString('base64');
    const { socket, head, answer } = await new Promise<{ socket: Socket; head: Buffer; answer: http.IncomingMessage }>((resolve, reject) => {
      const secure = url.protocol === 'https:';
      const req = (secure ? https.request : http.request)({
        host: url.hostname,
        port: url.port,
        // One connection per session, as kubectl opens them: no pooled agent.
        agent: false,
        ...(secure && ca ? { ca } : {}),
        path,
        headers: { ...headers, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': key, 'sec-websocket-version': '13', 'sec-websocket-protocol': protocol },
      });
      // A gateway that never answers fails this session (and its row), not the whole run by hanging it.
      const timer = setTimeout(() => req.destroy(new Error(`WebSocket: no answer within ${OPEN_TIMEOUT_MS / 1000} s`)), OPEN_TIMEOUT_MS);
      req.on('upgrade', (res, upgraded: Socket, rest: Buffer) => {
        clearTimeout(timer);
        resolve({ socket: upgraded, head: rest, answer: res });
      });
      req.on('response', (res) => {
        clearTimeout(timer);
        res.resume();
        reject(new Error(`WebSocket refused: ${res.statusCode}`));
      });
      req.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      req.end();
    });
    if (answer.headers['sec-websocket-accept'] !== webSocketAccept(key) || answer.headers['sec-websocket-protocol'] !== protocol) {
      socket.destroy();
      throw new Error('WebSocket handshake: wrong Sec-WebSocket-Accept or subprotocol');
    }
    return new BenchWebSocket(socket, head, pieces);
  }

  /** One binary message of `prefix` (if any) and `payload`; resolves once written to the kernel. */
  send(payload: Buffer, prefix?: number): Promise<void> {
    const pieces = prefix === undefined ? [payload] : [Buffer.of(prefix), payload];
    return new Promise((resolve, reject) => this.sendPieces(pieces, (error) => (error ? reject(error) : resolve())));
  }

  /** One binary message of the pieces in order (a writev's chunks); `done` once written to the kernel. */
  sendPieces(pieces: readonly Buffer[], done: (error?: Error | null) => void): void {
    let length = 0;
    for (const piece of pieces) length += piece.length;
    const frameBuffer = length >= POOLED_MIN_BYTES && length <= POOLED_MAX_PAYLOAD ? this.framePool.pop() ?? Buffer.allocUnsafeSlow(POOLED_MAX_PAYLOAD + MAX_HEADER_BYTES) : undefined;
    const frame = clientFrame(0x02, pieces, frameBuffer);
    this.socket.write(frame, (error) => {
      // Written to the kernel: the buffer can hold the next frame.
      if (frameBuffer && this.framePool.length < FRAME_POOL_SIZE) this.framePool.push(frameBuffer);
      done(error);
    });
  }

  close(): void {
    if (this.closeSent) return;
    this.closeSent = true;
    this.socket.write(clientFrame(0x08, [closeBody(1000, '')]));
  }

  terminate(): void {
    this.socket.destroy();
  }
}

/** As long as the direct path's SPDY dial may take (clients.ts). */
const OPEN_TIMEOUT_MS = 10_000;

/**
 * Large frames are built in reused buffers: a fresh 64 KiB allocation per frame counts as external
 * memory, and V8 answers its growth with full collections of the whole heap — in the bench process,
 * with everything earlier parts left on it, that doubled the client's CPU per GiB uploaded. The direct
 * path's SPDY client allocates nothing per write (DATA frames are views of the caller's buffer).
 * Small frames come from Node's buffer pool.
 */
const POOLED_MIN_BYTES = 4096;
const POOLED_MAX_PAYLOAD = 64 * 1024 + 1;
/** More than the bench ever has in flight on one connection (16 writes of 64 KiB). */
const FRAME_POOL_SIZE = 32;

/**
 * A masked client frame: header, mask, then the pieces of the payload, each copied and masked in one
 * pass; in `into` when given (large enough), else in a buffer of its own.
 */
function clientFrame(opcode: number, pieces: readonly Buffer[], into?: Buffer): Buffer {
  let length = 0;
  for (const piece of pieces) length += piece.length;
  const header = encodeFrameHeader(opcode, length);
  header[1]! |= 0x80;
  const frame = into ? into.subarray(0, header.length + 4 + length) : Buffer.allocUnsafe(header.length + 4 + length);
  header.copy(frame);
  const payloadStart = header.length + 4;
  const mask = frame.subarray(header.length, payloadStart);
  nextMaskKey().copy(mask);
  let offset = 0;
  for (const piece of pieces) {
    maskInto(piece, mask, frame, payloadStart + offset, offset);
    offset += piece.length;
  }
  return frame;
}

/**
 * Mask keys from a pool of random bytes refilled 2,048 keys at a time, as ws's client does: one
 * call into the CSPRNG per frame cost more than masking a small frame.
 */
const maskKeys = Buffer.alloc(8192);
let nextMaskKeyAt = maskKeys.length;
function nextMaskKey(): Buffer {
  if (nextMaskKeyAt === maskKeys.length) {
    randomFillSync(maskKeys);
    nextMaskKeyAt = 0;
  }
  nextMaskKeyAt += 4;
  return maskKeys.subarray(nextMaskKeyAt - 4, nextMaskKeyAt);
}

/** A close frame's body (code + reason): the server encoder's, whose header is 2 bytes for any close frame. */
function closeBody(code: number, reason: string): Buffer {
  return encodeCloseFrame(code, reason).subarray(2);
}
