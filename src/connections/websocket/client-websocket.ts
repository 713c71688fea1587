import { EventEmitter } from 'node:events';
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  encodeCloseFrame,
  encodeControlFrame,
  encodeFrame,
  encodeFrameHeader,
  encodeMaskedFrame,
  maskFrame,
  Opcode,
  WebSocketFrameParser,
  WebSocketProtocolError,
  type WebSocketFrameHandler,
} from '../../codecs/websocket/frames.js';
import { webSocketAccept } from '../../codecs/websocket/handshake.js';
import { MaskKeys } from './mask-keys.js';
import { SMALL_WRITE_BYTES } from '../small-writes.js';
import { noteAnswer } from '../../net/http-answers.js';

/**
 * What arrives from the client. Binary messages are handed on in pieces as they arrive — views of the
 * socket's read buffers, never reassembled — because they carry the bulk of every upload; text
 * messages (base64 framing, a few bytes of a resize) arrive whole and checked as UTF-8.
 */
export interface IncomingMessages {
  binaryStart(): void;
  binaryData(piece: Buffer): void;
  binaryEnd(): void;
  text(message: Buffer): void;
  /**
   * A text message over `maxMessageBytes` (it would have to be held whole): the consumer may first
   * say so where its protocol has a place for it (a Status); the connection is then failed with 1009.
   */
  tooLarge?(maxMessageBytes: number): void;
}

export interface ClientWebSocketLimits {
  /**
   * Largest text message accepted (close 1009 beyond it): text is held whole, binary messages are
   * streamed and not bounded by it.
   */
  maxMessageBytes?: number;
  /** How long the closing handshake may wait for the client's close frame before the socket is cut. */
  closeTimeoutMs?: number;
  /** How long a client that floods pings without reading the answers stays paused before it is cut. */
  controlFloodTimeoutMs?: number;
  /**
   * `client`: the gateway is the WebSocket client of an upstream (upstream/websocket-dialer.ts):
   * what it sends is masked, what arrives must not be (RFC 6455 §5.1). Default `server`.
   */
  role?: 'server' | 'client';
}

/** Why the gateway itself ended a client connection: the session outcome it stands for, and the reason in words. */
export interface ClientWebSocketCut {
  outcome: 'ping-timeout' | 'control-flood' | 'message-too-large';
  reason: string;
}

export interface ClientWebSocketEvents {
  pong: [];
  /**
   * The TCP connection is gone: the client's close code (1005 none given, 1006 no close frame at all),
   * or the code the gateway ended it with; `cut` says why when the gateway did.
   */
  close: [code: number, reason: string, cut: ClientWebSocketCut | undefined];
}

/** What golang.org/x/net/websocket (the API server's WebSocket code) accepts: DefaultMaxPayloadBytes. */
const DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024;
const DEFAULT_CLOSE_TIMEOUT_MS = 30_000;
const DEFAULT_CONTROL_FLOOD_TIMEOUT_MS = 30_000;
/**
 * Pings answered by one coalesced pong (RFC 6455 §5.5.3 lets a pong answer only the latest ping)
 * while the previous pong has not reached the kernel: past this many the client is sending pings
 * without reading, and its socket is no longer read.
 */
const CONTROL_FLOOD_PINGS = 64;
/** No close frame from the client: RFC 6455 §7.1.5's "abnormal closure", never sent on the wire. */
const ABNORMAL_CLOSURE = 1006;
const POLICY_VIOLATION = 1008;
const MESSAGE_TOO_BIG = 1009;
/** One pool of mask keys for every connection in the client role. */
const maskKeys = new MaskKeys();

/** Answers a validated WebSocket upgrade with 101 and takes the socket over as a WebSocket. */
export function acceptClientWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, protocol: string | undefined, limits: ClientWebSocketLimits = {}): ClientWebSocket {
  const accept = webSocketAccept(String(req.headers['sec-websocket-key']));
  const lines = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${accept}`];
  if (protocol) lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
  socket.write(lines.join('\r\n') + '\r\n\r\n');
  noteAnswer(socket, 101);
  return new ClientWebSocket(socket, head, protocol ?? '', limits);
}

type State = 'open' | 'closing' | 'closed';
/** Why the socket is not read: the consumer's back-pressure, or a client flooding pings. */
type Hold = 'consumer' | 'control-flood';

/**
 * The server side of one client WebSocket, over the upgraded socket: the frame codec for what comes
 * in, frame headers for what goes out, pings answered, and the closing handshake bounded in time.
 * Reading starts at `receive`, so that no message arrives before its consumer is in place.
 */
export class ClientWebSocket extends EventEmitter<ClientWebSocketEvents> {
  private state: State = 'open';
  private incoming?: IncomingMessages;
  private readonly parser: WebSocketFrameParser;
  private readonly maxMessageBytes: number;
  private readonly closeTimeoutMs: number;
  private closeTimer?: NodeJS.Timeout;
  private closeSent = false;
  private failed = false;
  /** What the session ends with: the client's close frame, or the code we failed the connection with. */
  private closeCode = ABNORMAL_CLOSURE;
  private closeReason = '';
  private messageIsText = false;
  private textPieces: Buffer[] = [];
  private cut: ClientWebSocketCut | undefined;
  /** Something arrived since the last `takeHeard` (the liveness check: any traffic counts). */
  private heard = false;
  private readonly holds = new Set<Hold>();
  // At most one pong and one ping of ours in the socket's queue; later pings are answered by the latest payload.
  private pongInFlight = false;
  private pendingPong: Buffer | undefined;
  private pingsCoalesced = 0;
  private pingInFlight = false;
  private floodTimer?: NodeJS.Timeout;
  private readonly controlFloodTimeoutMs: number;
  /** The client role masks every frame it sends (a copy: the payload stays the caller's). */
  private readonly masking: boolean;

  constructor(
    readonly socket: Duplex,
    private head: Buffer,
    readonly protocol: string,
    limits: ClientWebSocketLimits = {},
  ) {
    super();
    this.maxMessageBytes = limits.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.closeTimeoutMs = limits.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    this.controlFloodTimeoutMs = limits.controlFloodTimeoutMs ?? DEFAULT_CONTROL_FLOOD_TIMEOUT_MS;
    // Binary pieces go on as they arrive (nothing is held), so only text is bounded.
    this.masking = limits.role === 'client';
    this.parser = new WebSocketFrameParser(this.frameHandler(), { maxMessageBytes: this.maxMessageBytes, maxBinaryMessageBytes: Number.MAX_SAFE_INTEGER, masked: !this.masking });
    // The HTTP server's idle timeout was for the request; a session may stay quiet for hours.
    (socket as { setTimeout?: (ms: number) => void }).setTimeout?.(0);
    socket.on('error', () => undefined);
    socket.on('end', () => this.peerEnded());
    socket.on('close', () => this.socketClosed());
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Largest text message accepted: consumers that must hold a binary message whole bound it by this too. */
  get messageLimit(): number {
    return this.maxMessageBytes;
  }

  /** Control frames of ours not yet handed to the kernel (one pong and one ping at most). */
  get queuedControlBytes(): number {
    return (this.pongInFlight ? 127 : 0) + (this.pingInFlight ? 2 : 0);
  }

  /**
   * Whether anything (data or control) arrived since the last call — or the socket is not being
   * read: then the gateway is the slow side (or the flood bound applies), not a silent client.
   */
  takeHeard(): boolean {
    const heard = this.heard || this.holds.size > 0;
    this.heard = false;
    return heard;
  }

  /**
   * Starts reading; the head (bytes that came with the upgrade or its answer) is parsed first. It is
   * parsed a microtask later, and only once nothing holds reading: a consumer that pauses right after
   * construction (waiting for its own peer) must not have frames that came with the 101 delivered —
   * and lost — before it can take them.
   */
  receive(incoming: IncomingMessages): void {
    this.incoming = incoming;
    this.socket.on('data', (chunk: Buffer) => this.parse(chunk));
    queueMicrotask(() => this.parseHead());
  }

  /** `evenIfHeld`: the peer is gone, so what it sent before its close frame or FIN is read now or never. */
  private parseHead(evenIfHeld = false): void {
    if ((this.holds.size > 0 && !evenIfHeld) || !this.incoming || this.head.length === 0) return;
    const head = this.head;
    this.head = Buffer.alloc(0);
    this.parse(head);
  }

  /** One message as one frame (header and a small payload copied together: small-writes.ts); `written` runs once its payload has reached the kernel. */
  send(data: Buffer | string, binary: boolean, written?: () => void): void {
    if (this.state !== 'open') return;
    const payload = typeof data === 'string' ? Buffer.from(data) : data;
    const opcode = binary ? Opcode.binary : Opcode.text;
    // A client's frames are masked as the payload is copied in: one buffer, like small writes.
    if (this.masking) this.socket.write(encodeMaskedFrame(opcode, payload, maskKeys.next()), written);
    else if (payload.length <= SMALL_WRITE_BYTES) this.socket.write(encodeFrame(opcode, payload), written);
    else this.writeGathered(encodeFrameHeader(opcode, payload.length), payload, written);
  }

  /**
   * One binary message of `prefix` (one byte) then `payload`, without copying a large payload: the
   * prefix rides in the frame header's buffer and the payload is written as is (a channel message).
   */
  sendPrefixed(prefix: number, payload: Buffer, written?: () => void): void {
    if (this.state !== 'open') return;
    if (this.masking) this.socket.write(encodeMaskedFrame(Opcode.binary, payload, maskKeys.next(), prefix), written);
    else if (payload.length < SMALL_WRITE_BYTES) this.socket.write(encodeFrame(Opcode.binary, payload, prefix), written);
    else this.writeGathered(encodeFrameHeader(Opcode.binary, payload.length + 1, prefix), payload, written);
  }

  /** Header and payload in one corked write: a writev on TCP; TLS copies them into one native buffer to encrypt, freed at once. */
  private writeGathered(header: Buffer, payload: Buffer, written: (() => void) | undefined): void {
    const socket = this.socket;
    socket.cork();
    socket.write(header);
    socket.write(payload, written);
    socket.uncork();
  }

  /** A ping of ours, unless the previous one has not even reached the kernel (the client is not reading). */
  ping(): void {
    if (this.state !== 'open' || this.pingInFlight) return;
    this.pingInFlight = true;
    this.socket.write(this.outgoing(encodeControlFrame(Opcode.ping, Buffer.alloc(0))), () => (this.pingInFlight = false));
  }

  pause(): void {
    this.hold('consumer');
  }

  resume(): void {
    this.release('consumer');
  }

  /**
   * The gateway ends the connection on its own (silence, a flood): a close frame with `code` and the
   * reason, then the socket goes at once — the client has shown it is not reading or not there.
   */
  cutOff(cut: ClientWebSocketCut, code: number): void {
    if (this.state === 'closed') return;
    this.cut ??= cut;
    this.failed = true;
    this.closeCode = code;
    this.closeReason = cut.reason;
    this.state = 'closing';
    if (!this.closeSent) this.sendClose(code, cut.reason);
    this.socket.destroy();
  }

  /** Starts the closing handshake; the socket is cut if the client does not answer in time. */
  close(code: number, reason: string): void {
    if (this.state !== 'open') return;
    this.state = 'closing';
    this.sendClose(code, reason);
    this.cutAfterTimeout();
  }

  terminate(): void {
    this.state = 'closing';
    this.socket.destroy();
  }

  // --- internals

  /** The parser's callbacks, called synchronously from `parse`. */
  private frameHandler(): WebSocketFrameHandler {
    return {
      messageStart: (binary) => {
        this.messageIsText = !binary;
        if (binary) this.incoming!.binaryStart();
      },
      messageData: (piece) => {
        if (this.messageIsText) this.textPieces.push(piece);
        else this.incoming!.binaryData(piece);
      },
      messageEnd: () => {
        if (!this.messageIsText) return this.incoming!.binaryEnd();
        const message = this.textPieces.length === 1 ? this.textPieces[0]! : Buffer.concat(this.textPieces);
        this.textPieces = [];
        if (!isUtf8(message)) throw new WebSocketProtocolError(1007, 'text message is not valid UTF-8');
        this.incoming!.text(message);
      },
      ping: (payload) => this.answerPing(payload),
      pong: () => this.emit('pong'),
      close: (code, reason) => this.closeReceived(code, reason),
    };
  }

  private closeReceived(code: number, reason: string): void {
    this.closeCode = code;
    this.closeReason = reason;
    this.textPieces = [];
    if (this.state === 'open') {
      this.state = 'closing';
      this.sendClose(code, reason);
    }
    // Both close frames are out: the server closes the TCP connection first (RFC 6455 §7.1.1).
    this.socket.end();
    this.cutAfterTimeout();
  }

  private parse(chunk: Buffer): void {
    this.heard = true;
    if (this.failed || this.parser.finished) return;
    try {
      this.parser.push(chunk);
    } catch (error) {
      if (!(error instanceof WebSocketProtocolError)) throw error;
      if (error.closeCode !== MESSAGE_TOO_BIG) return this.fail(error.closeCode, error.message);
      const reason = `a text message over ${this.maxMessageBytes} bytes (limits.maxMessageBytes)`;
      this.cut ??= { outcome: 'message-too-large', reason };
      // The consumer's Status (if any) goes out before the close frame.
      this.incoming?.tooLarge?.(this.maxMessageBytes);
      this.fail(MESSAGE_TOO_BIG, reason);
    }
  }

  /** One pong in the socket's queue at most: while it waits, later pings only replace its successor's payload. */
  private answerPing(payload: Buffer): void {
    if (this.state !== 'open') return;
    if (!this.pongInFlight) return this.writePong(payload);
    // A copy: the payload is a view of a socket read that would otherwise stay alive with it.
    this.pendingPong = Buffer.from(payload);
    if (++this.pingsCoalesced !== CONTROL_FLOOD_PINGS) return;
    // Sending pings without reading the answers: stop reading (TCP pushes back), and cut it if that lasts.
    this.hold('control-flood');
    this.floodTimer = setTimeout(() => {
      const seconds = this.controlFloodTimeoutMs / 1000;
      this.cutOff({ outcome: 'control-flood', reason: `pings sent without reading the answers for ${seconds} s (limits.sessionBufferBytes)` }, POLICY_VIOLATION);
    }, this.controlFloodTimeoutMs);
  }

  private writePong(payload: Buffer): void {
    this.pongInFlight = true;
    this.socket.write(this.outgoing(encodeControlFrame(Opcode.pong, payload)), () => this.pongWritten());
  }

  private pongWritten(): void {
    this.pongInFlight = false;
    this.pingsCoalesced = 0;
    clearTimeout(this.floodTimer);
    this.floodTimer = undefined;
    this.release('control-flood');
    const next = this.pendingPong;
    this.pendingPong = undefined;
    if (next && this.state === 'open') this.writePong(next);
  }

  private hold(why: Hold): void {
    this.holds.add(why);
    this.socket.pause();
  }

  private release(why: Hold): void {
    if (!this.holds.delete(why) || this.holds.size > 0) return;
    this.parseHead();
    if (this.holds.size === 0) this.socket.resume();
  }

  /** RFC 6455 §7.1.7: the connection is failed — a close frame saying why, then the socket ends. */
  private fail(code: number, reason: string): void {
    this.failed = true;
    this.textPieces = [];
    this.closeCode = code;
    this.closeReason = reason;
    if (this.state === 'closed') return;
    this.state = 'closing';
    if (!this.closeSent) this.sendClose(code, reason);
    this.socket.end();
    this.cutAfterTimeout();
  }

  /** A client that never finishes the closing handshake (or its TCP half) does not keep the socket. */
  private cutAfterTimeout(): void {
    this.closeTimer ??= setTimeout(() => this.socket.destroy(), this.closeTimeoutMs);
  }

  private sendClose(code: number, reason: string): void {
    this.closeSent = true;
    this.socket.write(this.outgoing(encodeCloseFrame(code, reason)));
  }

  /** A control frame as this side sends it: masked with a fresh key in the client role. */
  private outgoing(frame: Buffer): Buffer {
    return this.masking ? maskFrame(frame, maskKeys.next()) : frame;
  }

  private peerEnded(): void {
    this.parseHead(true);
    // A TCP FIN without (or after) a close frame: nothing more can come; finish our side too.
    if (this.state === 'open') this.state = 'closing';
    // Usually our side has finished already: end() on a finished socket only builds an error for nobody.
    if (!this.socket.writableEnded) this.socket.end();
    this.cutAfterTimeout();
  }

  private socketClosed(): void {
    this.parseHead(true);
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.closeTimer);
    clearTimeout(this.floodTimer);
    this.pendingPong = undefined;
    this.emit('close', this.closeCode, this.closeReason, this.cut);
  }
}
