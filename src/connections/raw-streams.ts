import type { Socket } from 'node:net';
import type { PayloadReader, Stream } from './stream.js';
import type { WebSocketPeer } from './websocket/websocket-peer.js';
import { turnBatchedWriter } from './turn-batched-writer.js';

/**
 * A tunnel's two single-stream connections: bytes with no framing of their own. The client side is
 * WebSocket binary messages (message bounds carry no meaning), the upstream side a socket's bytes.
 */

/** The client's binary messages as one Stream; a text message is the tunnel's protocol error (`onText`). */
export class WebSocketMessageStream implements Stream {
  readonly headers = {};

  constructor(
    private readonly peer: WebSocketPeer,
    private readonly onText: () => void,
  ) {}

  /** The stream ends with the WebSocket itself (the connection's close), never on its own. */
  read(reader: PayloadReader): void {
    this.peer.socket.receive({
      binaryStart: () => undefined,
      binaryData: (piece) => reader(piece),
      binaryEnd: () => undefined,
      text: () => this.onText(),
    });
  }

  pause(): void {
    this.peer.pauseIncoming();
  }

  resume(): void {
    this.peer.resumeIncoming();
  }

  get writable(): boolean {
    return this.peer.isOpen;
  }

  write(payload: Buffer): boolean {
    return this.peer.send(payload, true);
  }

  onDrain(listener: () => void): void {
    this.peer.on('drain', listener);
  }

  end(): void {}

  reset(): void {
    this.peer.terminate();
  }

  get bufferedBytes(): number {
    return this.peer.unflushedBytes;
  }
}

/**
 * An upstream socket's bytes as one Stream, starting with `head` (what came with its 101). Writes
 * made in one turn go out as one writev (turn-batched-writer.ts): kubectl sends a SPDY frame as
 * several messages, one per field.
 */
export class SocketStream implements Stream {
  readonly headers = {};
  private readonly writeBatched: (chunk: Buffer) => boolean;

  constructor(
    readonly socket: Socket,
    private readonly head: Buffer,
  ) {
    this.writeBatched = turnBatchedWriter(socket);
  }

  read(reader: PayloadReader, onEnd?: (error?: Error) => void): void {
    if (this.head.length) reader(this.head);
    this.socket.on('data', (chunk: Buffer) => reader(chunk));
    if (onEnd) {
      this.socket.on('error', (error) => onEnd(error));
      this.socket.on('close', () => onEnd());
    }
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  get writable(): boolean {
    return this.socket.writable;
  }

  write(payload: Buffer): boolean {
    return this.writeBatched(payload);
  }

  onDrain(listener: () => void): void {
    this.socket.on('drain', listener);
  }

  end(): void {
    this.socket.end();
  }

  reset(): void {
    this.socket.destroy();
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }
}
