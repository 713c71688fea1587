import { Duplex } from 'node:stream';
import type { ClientWebSocket } from './client-websocket.js';

/**
 * A WebSocket's binary messages as one byte stream, as client-go's TunnelingConnection sees them
 * (`SPDY/3.1+portforward.k8s.io`): what arrives is read in order across message boundaries, each
 * write goes out as one binary message. A SPDY connection runs over it as over a socket. Reading
 * pauses the WebSocket while the reader is behind (Duplex back-pressure), so nothing piles up.
 */
export class MessageByteStream extends Duplex {
  constructor(private readonly webSocket: ClientWebSocket) {
    super({ allowHalfOpen: false });
    webSocket.receive({
      binaryStart: () => undefined,
      // A copy: the piece is a view of a socket read that the WebSocket keeps parsing.
      binaryData: (piece) => {
        if (!this.push(Buffer.from(piece))) webSocket.pause();
      },
      binaryEnd: () => undefined,
      // The tunneling protocol has binary messages only; text is dropped as the API server drops it.
      text: () => undefined,
    });
    webSocket.on('close', () => {
      this.push(null);
      this.destroy();
    });
  }

  override _read(): void {
    this.webSocket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    if (!this.webSocket.isOpen) return done();
    this.webSocket.send(chunk, true, () => done());
  }

  override _final(done: (error?: Error | null) => void): void {
    if (this.webSocket.isOpen) this.webSocket.close(1000, '');
    done();
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    if (this.webSocket.isOpen) this.webSocket.terminate();
    done(error);
  }
}
