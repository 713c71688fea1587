import type { CloseReason, Connection, PayloadReader, Stream } from '../stream.js';
import type { SpdyConnection, SpdyStream } from './spdy-connection.js';

const ignore = (): void => undefined;

/**
 * A SpdyConnection seen as a Connection: each SPDY stream a Stream. The SpdyConnection stays
 * reachable (`spdy`) for what only SPDY has: pings, GOAWAY, the Duplex view of a stream.
 */
export class SpdyStreams implements Connection {
  private closedBy: CloseReason | undefined;

  constructor(readonly spdy: SpdyConnection) {}

  openStream(headers: Readonly<Record<string, string>>): SpdyStreamView {
    return new SpdyStreamView(this.spdy.openStream({ ...headers }));
  }

  acceptStreams(accept: (stream: Stream) => void): void {
    this.spdy.on('stream', (stream) => accept(new SpdyStreamView(stream)));
  }

  /** SPDY has no reason on the wire: the socket ends once what is queued is written. */
  close(reason: CloseReason): void {
    this.closedBy ??= reason;
    this.spdy.close();
  }

  onClose(listener: (reason: CloseReason) => void): void {
    this.spdy.once('close', () => listener(this.closedBy ?? { code: 1000, message: 'the upstream connection closed', outcome: 'upstream-error' }));
  }

  get bytesRead(): number {
    return this.spdy.bytesRead;
  }

  get bytesWritten(): number {
    return this.spdy.bytesWritten;
  }

  get bufferedBytes(): number {
    return 0;
  }
}

/** One SPDY stream as a Stream: payloads straight from the parser (readPayloads), writes as DATA frames. */
export class SpdyStreamView implements Stream {
  constructor(readonly stream: SpdyStream) {}

  get headers(): Readonly<Record<string, string>> {
    return this.stream.headers;
  }

  read(reader: PayloadReader, onEnd?: (error?: Error) => void): void {
    this.stream.readPayloads(reader);
    let ended = false;
    const end = (error?: Error): void => {
      if (ended) return;
      ended = true;
      onEnd?.(error);
    };
    // Ended by the peer's FIN or RST_STREAM (after all its data), or failed with the connection.
    this.stream.on('end', () => end());
    this.stream.on('error', (error: Error) => end(error));
    this.stream.on('close', () => end());
  }

  pause(): void {
    this.stream.pauseReader();
  }

  resume(): void {
    this.stream.resumeReader();
  }

  get writable(): boolean {
    return !this.stream.writableEnded;
  }

  write(payload: Buffer): boolean {
    if (this.stream.writableEnded) return true;
    return this.stream.write(payload);
  }

  /** Writable streams emit no 'drain' once ended: 'finish' counts too, or a paused source would wait forever. */
  onDrain(listener: () => void): void {
    this.stream.on('drain', listener);
    this.stream.on('finish', listener);
  }

  end(): void {
    this.stream.end();
  }

  reset(): void {
    if (!this.stream.destroyed) this.stream.reset();
  }

  get bufferedBytes(): number {
    return this.stream.unreadBytes + this.stream.writableLength;
  }

  /** A stream only written to: read anyway so it finishes when the peer resets it, its errors expected. */
  writeOnly(): this {
    this.stream.resume();
    this.stream.on('error', ignore);
    return this;
  }
}
