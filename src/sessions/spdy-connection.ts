import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import {
  MAX_DATA_FRAME_PAYLOAD,
  SpdyFrameParser,
  encodeDataFrameHeader,
  encodeGoaway,
  encodePing,
  encodeRstStream,
  encodeSynReply,
  encodeSynStream,
  type SpdyFrame,
} from '../codecs/spdy/frames.js';
import { HeaderBlockDecoder, HeaderBlockEncoder, type SpdyHeaders } from '../codecs/spdy/header-block.js';
import { GoawayStatus, RstStatus, SpdyProtocolError } from '../codecs/spdy/errors.js';

export interface SpdyConnectionOptions {
  /** The side that sent the HTTP upgrade is the SPDY client and opens odd stream ids. */
  role: 'client' | 'server';
  maxHeaderBlockBytes?: number;
  /** Bytes a stream buffers for its reader before the connection stops reading the socket. */
  streamHighWaterMark?: number;
}

export interface SpdyConnectionEvents {
  stream: [stream: SpdyStream];
  goaway: [lastGoodStreamId: number, status: number];
  close: [];
  error: [error: Error];
}

const DEFAULT_STREAM_HIGH_WATER_MARK = 256 * 1024;

/**
 * SPDY/3.1 over one upgraded socket, speaking to moby/spdystream as Kubernetes ships it:
 * header-less SYN_REPLYs are fine, and flow-control windows are neither enforced on the peer nor
 * waited for — spdystream sends no WINDOW_UPDATE (PROTOCOLS.md §7). Back-pressure is TCP's: a
 * stream whose reader is behind stops the socket being read, and writes complete on socket drain.
 */
export class SpdyConnection extends EventEmitter<SpdyConnectionEvents> {
  /** DATA payload bytes, for session logs. */
  bytesRead = 0;
  bytesWritten = 0;
  private readonly parser: SpdyFrameParser;
  private readonly encoder = new HeaderBlockEncoder();
  private readonly decoder: HeaderBlockDecoder;
  private readonly streams = new Map<number, SpdyStream>();
  private readonly fullStreams = new Set<SpdyStream>();
  private readonly pings = new Map<number, { sentAt: bigint; resolve: (ms: number) => void; reject: (error: Error) => void }>();
  private drainWaiters: Array<() => void> = [];
  private nextStreamId: number;
  private nextPingId: number;
  private lastPeerStreamId = 0;
  private closed = false;
  readonly streamHighWaterMark: number;

  constructor(
    private readonly socket: Duplex,
    readonly options: SpdyConnectionOptions,
    head?: Buffer,
  ) {
    super();
    this.parser = new SpdyFrameParser();
    this.decoder = new HeaderBlockDecoder({ maxDecompressedBytes: options.maxHeaderBlockBytes });
    this.streamHighWaterMark = options.streamHighWaterMark ?? DEFAULT_STREAM_HIGH_WATER_MARK;
    this.nextStreamId = options.role === 'client' ? 1 : 2;
    this.nextPingId = options.role === 'client' ? 1 : 2;
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('drain', () => this.releaseDrainWaiters());
    socket.on('error', () => {
      // 'close' follows; streams learn of the loss there.
    });
    socket.on('close', () => this.onSocketClose());
    socket.on('end', () => socket.end());
    if (head && head.length) queueMicrotask(() => this.receive(head));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /** Opens a stream at once; SPDY lets the peer's reply come later (client-go pipelines them). */
  openStream(headers: SpdyHeaders, options: { fin?: boolean } = {}): SpdyStream {
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    const stream = new SpdyStream(this, id, headers);
    this.streams.set(id, stream);
    this.writeFrame(encodeSynStream(id, this.encoder.encode(headers), { fin: options.fin }));
    return stream;
  }

  /** Round trip in milliseconds; rejects if the connection closes first. */
  ping(): Promise<number> {
    const id = this.nextPingId;
    this.nextPingId += 2;
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new Error('SPDY connection closed'));
        return;
      }
      this.pings.set(id, { sentAt: process.hrtime.bigint(), resolve, reject });
      this.writeFrame(encodePing(id));
    });
  }

  goAway(status: number = GoawayStatus.OK): void {
    this.writeFrame(encodeGoaway(this.lastPeerStreamId, status));
  }

  /**
   * Ends the socket after everything queued so far has been written — but a peer that has stopped
   * reading would hold the socket (and its buffered bytes) forever, so it is destroyed after `graceMs`.
   */
  close(graceMs = 5_000): void {
    if (this.closed) return;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), graceMs).unref();
  }

  destroy(error?: Error): void {
    this.socket.destroy(error);
  }

  /** @internal */
  sendReply(streamId: number, headers: SpdyHeaders): void {
    this.writeFrame(encodeSynReply(streamId, this.encoder.encode(headers)));
  }

  /** @internal */
  writeFrame(frame: Buffer): boolean {
    if (this.closed || !this.socket.writable) return true;
    return this.socket.write(frame);
  }

  /** @internal DATA frame header and payload written together; false means wait for drain. */
  writeData(streamId: number, payload: Buffer, fin: boolean): boolean {
    if (this.closed || !this.socket.writable) return true;
    this.bytesWritten += payload.length;
    this.socket.cork();
    this.socket.write(encodeDataFrameHeader(streamId, payload.length, fin));
    const flushed = payload.length ? this.socket.write(payload) : true;
    this.socket.uncork();
    return flushed;
  }

  /** @internal */
  whenDrained(callback: () => void): void {
    if (this.closed) callback();
    else this.drainWaiters.push(callback);
  }

  /** @internal */
  streamFull(stream: SpdyStream): void {
    this.fullStreams.add(stream);
    this.socket.pause();
  }

  /** @internal */
  streamWantsMore(stream: SpdyStream): void {
    if (!this.fullStreams.delete(stream)) return;
    if (this.fullStreams.size === 0 && !this.closed) this.socket.resume();
  }

  /** @internal */
  forget(stream: SpdyStream): void {
    this.streams.delete(stream.id);
    this.streamWantsMore(stream);
  }

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    let frames: SpdyFrame[];
    try {
      frames = this.parser.push(chunk);
      for (const frame of frames) this.handle(frame);
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private handle(frame: SpdyFrame): void {
    switch (frame.type) {
      case 'data': {
        this.bytesRead += frame.payload.length;
        this.streams.get(frame.streamId)?.receiveData(frame.payload, frame.fin);
        return;
      }
      case 'syn_stream': {
        const headers = this.decoder.decode(frame.headerBlock);
        if (this.isOurs(frame.streamId) || frame.streamId <= this.lastPeerStreamId) {
          throw new SpdyProtocolError(`invalid peer stream id ${frame.streamId}`);
        }
        this.lastPeerStreamId = frame.streamId;
        const stream = new SpdyStream(this, frame.streamId, headers);
        this.streams.set(frame.streamId, stream);
        if (frame.fin) stream.receiveData(Buffer.alloc(0), true);
        // Nobody to serve it: refuse rather than hold a stream whose errors no one would handle.
        if (this.listenerCount('stream') === 0) stream.reset(RstStatus.REFUSED_STREAM);
        else this.emit('stream', stream);
        return;
      }
      case 'syn_reply': {
        const headers = this.decoder.decode(frame.headerBlock);
        const stream = this.streams.get(frame.streamId);
        stream?.receiveReply(headers);
        if (frame.fin) stream?.receiveData(Buffer.alloc(0), true);
        return;
      }
      case 'headers': {
        // Decoded to keep the shared zlib context in step; Kubernetes sends no trailing headers.
        this.decoder.decode(frame.headerBlock);
        if (frame.fin) this.streams.get(frame.streamId)?.receiveData(Buffer.alloc(0), true);
        return;
      }
      case 'rst_stream':
        this.streams.get(frame.streamId)?.receiveReset(frame.status);
        return;
      case 'ping': {
        if (this.isOurs(frame.id)) {
          const pending = this.pings.get(frame.id);
          this.pings.delete(frame.id);
          pending?.resolve(Number(process.hrtime.bigint() - pending.sentAt) / 1e6);
        } else {
          this.writeFrame(encodePing(frame.id));
        }
        return;
      }
      case 'goaway':
        this.emit('goaway', frame.lastGoodStreamId, frame.status);
        return;
      case 'settings':
      case 'window_update':
        // Windows are deliberately not enforced either way: see the class comment.
        return;
    }
  }

  private isOurs(id: number): boolean {
    return (id % 2 === 1) === (this.options.role === 'client');
  }

  private fail(error: Error): void {
    const status = error instanceof SpdyProtocolError ? error.goawayStatus : GoawayStatus.INTERNAL_ERROR;
    this.writeFrame(encodeGoaway(this.lastPeerStreamId, status));
    if (this.listenerCount('error') > 0) this.emit('error', error);
    // Give the GOAWAY a chance to leave, but do not wait on a peer that sends garbage.
    this.socket.end();
    setImmediate(() => this.socket.destroy());
  }

  private releaseDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const waiter of waiters) waiter();
  }

  private onSocketClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.releaseDrainWaiters();
    for (const pending of this.pings.values()) pending.reject(new Error('SPDY connection closed'));
    this.pings.clear();
    for (const stream of [...this.streams.values()]) stream.connectionClosed();
    this.emit('close');
  }
}

/**
 * One SPDY stream as a Duplex: writes become DATA frames (≤ 32 KiB), end() sends FIN; the readable
 * side ends on the peer's FIN, or after every byte received before the peer's RST_STREAM.
 */
export class SpdyStream extends Duplex {
  replyHeaders: SpdyHeaders | undefined;
  private remoteEnded = false;
  private resetByPeer = false;
  private resetLocally = false;

  constructor(
    private readonly connection: SpdyConnection,
    readonly id: number,
    readonly headers: SpdyHeaders,
  ) {
    super({ readableHighWaterMark: connection.streamHighWaterMark, writableHighWaterMark: connection.streamHighWaterMark });
    this.on('close', () => connection.forget(this));
  }

  /** Whether the peer ended this stream with RST_STREAM. */
  get wasReset(): boolean {
    return this.resetByPeer;
  }

  reply(headers: SpdyHeaders = {}): void {
    this.connection.sendReply(this.id, headers);
  }

  /** Sends RST_STREAM and drops whatever is still buffered in either direction. */
  reset(status: number = RstStatus.CANCEL): void {
    if (this.resetLocally || this.resetByPeer) {
      this.destroy();
      return;
    }
    this.resetLocally = true;
    this.connection.writeFrame(encodeRstStream(this.id, status));
    this.destroy();
  }

  override _read(): void {
    this.connection.streamWantsMore(this);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.resetByPeer || this.resetLocally || this.connection.isClosed) {
      callback();
      return;
    }
    let flushed = true;
    for (let offset = 0; offset < chunk.length; offset += MAX_DATA_FRAME_PAYLOAD) {
      flushed = this.connection.writeData(this.id, chunk.subarray(offset, offset + MAX_DATA_FRAME_PAYLOAD), false);
    }
    if (flushed) callback();
    else this.connection.whenDrained(() => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.resetByPeer && !this.resetLocally) this.connection.writeData(this.id, Buffer.alloc(0), true);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.connection.forget(this);
    callback(error);
  }

  /** @internal */
  receiveData(payload: Buffer, fin: boolean): void {
    if (this.remoteEnded || this.destroyed) return;
    if (payload.length && !this.push(payload)) this.connection.streamFull(this);
    if (fin) {
      this.remoteEnded = true;
      this.push(null);
    }
  }

  /** @internal */
  receiveReply(headers: SpdyHeaders): void {
    this.replyHeaders = headers;
    this.emit('reply', headers);
  }

  /** @internal The peer's RST_STREAM: deliver what arrived before it, then end both sides quietly. */
  receiveReset(status: number): void {
    if (this.destroyed) return;
    this.resetByPeer = true;
    this.emit('reset', status);
    if (!this.remoteEnded) {
      this.remoteEnded = true;
      this.push(null);
    }
    if (!this.writableEnded) this.end();
  }

  /** @internal The socket is gone: a stream still expecting data has lost it. */
  connectionClosed(): void {
    if (this.destroyed) return;
    if (!this.remoteEnded) {
      // An 'error' nobody listens for would take the whole process down with it.
      this.destroy(this.listenerCount('error') > 0 ? new Error('SPDY connection closed') : undefined);
      return;
    }
    if (!this.writableEnded) this.end();
  }
}
