import { EventEmitter } from 'node:events';
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  encodeCloseFrame,
  encodeControlFrame,
  encodeFrame,
  encodeFrameHeader,
  Opcode,
  WebSocketFrameParser,
  WebSocketProtocolError,
  type WebSocketFrameHandler,
} from '../codecs/websocket/frames.js';
import { webSocketAccept } from '../codecs/websocket/handshake.js';
import { SMALL_WRITE_BYTES } from './small-writes.js';
import { noteAnswer } from './http-answers.js';

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
}

export interface ClientWebSocketLimits {
  /** Largest message accepted (close 1009 beyond it); text messages are also held whole up to this. */
  maxMessageBytes?: number;
  /** How long the closing handshake may wait for the client's close frame before the socket is cut. */
  closeTimeoutMs?: number;
}

export interface ClientWebSocketEvents {
  pong: [];
  /** The TCP connection is gone: the client's close code (1005 none given, 1006 no close frame at all). */
  close: [code: number, reason: string];
}

const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
const DEFAULT_CLOSE_TIMEOUT_MS = 30_000;
/** No close frame from the client: RFC 6455 §7.1.5's "abnormal closure", never sent on the wire. */
const ABNORMAL_CLOSURE = 1006;

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

  constructor(
    readonly socket: Duplex,
    private head: Buffer,
    readonly protocol: string,
    limits: ClientWebSocketLimits = {},
  ) {
    super();
    this.maxMessageBytes = limits.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.closeTimeoutMs = limits.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    this.parser = new WebSocketFrameParser(this.frameHandler(), { maxMessageBytes: this.maxMessageBytes });
    // The HTTP server's idle timeout was for the request; a session may stay quiet for hours.
    (socket as { setTimeout?: (ms: number) => void }).setTimeout?.(0);
    socket.on('error', () => undefined);
    socket.on('end', () => this.peerEnded());
    socket.on('close', () => this.socketClosed());
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Starts reading; the head (bytes that came with the upgrade request) is parsed first. */
  receive(incoming: IncomingMessages): void {
    this.incoming = incoming;
    const head = this.head;
    this.head = Buffer.alloc(0);
    if (head.length) this.parse(head);
    this.socket.on('data', (chunk: Buffer) => this.parse(chunk));
  }

  /** One message as one frame (header and a small payload copied together: small-writes.ts); `written` runs once its payload has reached the kernel. */
  send(data: Buffer | string, binary: boolean, written?: () => void): void {
    if (this.state !== 'open') return;
    const payload = typeof data === 'string' ? Buffer.from(data) : data;
    const socket = this.socket;
    const opcode = binary ? Opcode.binary : Opcode.text;
    if (payload.length <= SMALL_WRITE_BYTES) {
      socket.write(encodeFrame(opcode, payload), written);
      return;
    }
    socket.cork();
    socket.write(encodeFrameHeader(opcode, payload.length));
    socket.write(payload, written);
    socket.uncork();
  }

  ping(): void {
    if (this.state === 'open') this.socket.write(encodeControlFrame(Opcode.ping, Buffer.alloc(0)));
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
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
      ping: (payload) => {
        if (this.state === 'open') this.socket.write(encodeControlFrame(Opcode.pong, payload));
      },
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
    if (this.failed || this.parser.finished) return;
    try {
      this.parser.push(chunk);
    } catch (error) {
      if (!(error instanceof WebSocketProtocolError)) throw error;
      this.fail(error.closeCode, error.message);
    }
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
    this.socket.write(encodeCloseFrame(code, reason));
  }

  private peerEnded(): void {
    // A TCP FIN without (or after) a close frame: nothing more can come; finish our side too.
    if (this.state === 'open') this.state = 'closing';
    this.socket.end();
    this.cutAfterTimeout();
  }

  private socketClosed(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.closeTimer);
    this.emit('close', this.closeCode, this.closeReason);
  }
}
