import { Duplex } from 'node:stream';
import type { Stream } from '../connections/stream.js';

/**
 * One Kubernetes channel as a Node Duplex, the shape the exec and attach code already drives over
 * SPDY streams: what the client sends on the channel is read (its v5 CLOSE is the end), writes are
 * channel messages. A full WebSocket makes a write wait for its drain.
 */
export class ChannelDuplex extends Duplex {
  private waitingWrite: (() => void) | undefined;

  /** `readable` false: a channel only the server writes; what the client sends there is dropped unread. */
  constructor(
    private readonly channel: Stream,
    readable: boolean,
  ) {
    super({ allowHalfOpen: true });
    if (!readable) {
      this.push(null);
      return;
    }
    // A copy: the payload is a view of a socket read that the connection keeps parsing.
    channel.read(
      (payload) => {
        if (!this.push(Buffer.from(payload))) channel.pause();
      },
      () => this.push(null),
    );
  }

  override _construct(done: (error?: Error | null) => void): void {
    this.channel.onDrain(() => {
      const done = this.waitingWrite;
      this.waitingWrite = undefined;
      done?.();
    });
    done();
  }

  override _read(): void {
    this.channel.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    // An empty write is a flush marker (remote-command.ts flushed): nothing goes on the wire.
    if (chunk.length === 0 || !this.channel.writable || this.channel.write(chunk)) return done();
    this.waitingWrite = () => done();
  }
}
