import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import {
  GoawayStatus,
  MAX_DATA_FRAME_PAYLOAD,
  RstStatus,
  SpdyFrameParser,
  SpdyProtocolError,
  encodeDataFrame,
  encodeDataFrameHeader,
  encodeGoaway,
  encodePing,
  encodeRstStream,
  encodeSynReply,
  encodeSynStream,
  type SpdyFrame,
} from '../../codecs/spdy/frames.js';
import { HeaderBlockDecoder, HeaderBlockEncoder, type SpdyHeaders } from '../../codecs/spdy/header-block.js';
import { SMALL_WRITE_BYTES } from '../small-writes.js';
import type { PayloadReader } from '../stream.js';

export interface SpdyConnectionOptions {
  /** The side that sent the HTTP upgrade is the SPDY client and opens odd stream ids. */
  role: 'client' | 'server';
  /** Bound on one decompressed header block (zlib bombs fail at it). Default 256 KiB. */
  maxHeaderBlockBytes?: number;
  /** Bytes a stream buffers for its reader before the connection stops reading the socket. Default 256 KiB. */
  streamHighWaterMark?: number;
  /** How long a peer that floods PINGs without reading the answers stays paused before the connection fails. Default 30 s. */
  pingFloodTimeoutMs?: number;
}

/** The peer sent PINGs without reading the answers for longer than the bound: the connection fails with it. */
export class SpdyPingFloodError extends Error {
  override name = 'SpdyPingFloodError';
}

export interface SpdyConnectionEvents {
  stream: [stream: SpdyStream];
  goaway: [lastGoodStreamId: number, status: number];
  close: [];
  error: [error: Error];
}

type WriteCallback = (error?: Error | null) => void;

/** A quarter of the other half of the default session budget (limits.sessionBufferBytes, 1 MiB; session-budget.ts). */
const DEFAULT_STREAM_HIGH_WATER_MARK = 128 * 1024;
const DEFAULT_PING_FLOOD_TIMEOUT_MS = 30_000;
/**
 * PINGs answered by one coalesced answer (the latest id) while the previous answer has not reached
 * the kernel: past this many the peer is pinging without reading, and its socket is no longer read.
 */
const PING_FLOOD_COUNT = 64;
const MAX_ID = 0x7fffffff;
const EMPTY = Buffer.alloc(0);
const noop = (): void => undefined;

/**
 * SPDY/3.1 over one upgraded socket, speaking to moby/spdystream as Kubernetes ships it:
 * header-less SYN_REPLYs are fine, and flow-control windows are neither enforced on the peer nor
 * waited for — spdystream sends no WINDOW_UPDATE, so waiting past the initial 64 KiB would deadlock
 * (PROTOCOLS.md §7). Back-pressure is TCP's: while a stream's reader is behind, the socket is not
 * read; writes complete when the socket has taken them.
 */
export class SpdyConnection extends EventEmitter<SpdyConnectionEvents> {
  /** DATA payload bytes, for session logs. */
  bytesRead = 0;
  bytesWritten = 0;
  readonly streamHighWaterMark: number;
  private readonly parser = new SpdyFrameParser();
  private readonly encoder = new HeaderBlockEncoder();
  private readonly decoder: HeaderBlockDecoder;
  private readonly streams = new Map<number, SpdyStream>();
  /** Streams whose reader is behind; the socket is read only while this is empty. */
  private readonly fullStreams = new Set<SpdyStream>();
  private readonly pings = new Map<number, { sentAt: bigint; resolve: (ms: number) => void; reject: (error: Error) => void }>();
  private drainWaiters: WriteCallback[] = [];
  /** Input that arrived before the owner could attach its 'stream' listener. */
  private startQueue: Buffer[] | undefined;
  private nextStreamId: number;
  private nextPingId: number;
  private lastPeerStreamId = 0;
  private goneAway = false;
  private failed = false;
  private closed = false;
  private closeCause: Error | undefined;
  // At most one PING answer in the socket's queue; later PINGs only replace the id of the next one.
  private pingAnswerInFlight = false;
  private pendingPingAnswer: number | undefined;
  private pingsCoalesced = 0;
  private pingFloodTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: Duplex,
    readonly options: SpdyConnectionOptions,
    head?: Buffer,
  ) {
    super();
    this.decoder = new HeaderBlockDecoder({ maxDecompressedBytes: options.maxHeaderBlockBytes });
    this.streamHighWaterMark = options.streamHighWaterMark ?? DEFAULT_STREAM_HIGH_WATER_MARK;
    this.nextStreamId = options.role === 'client' ? 1 : 2;
    this.nextPingId = this.nextStreamId;
    this.startQueue = head?.length ? [head] : [];
    socket.on('data', (chunk: Buffer) => (this.startQueue ? this.startQueue.push(chunk) : this.receive(chunk)));
    socket.on('drain', () => this.releaseDrainWaiters());
    socket.on('error', (error: Error) => (this.closeCause ??= error)); // 'close' follows
    // Our side has usually finished first: end() on a finished socket only builds an error for nobody.
    socket.on('end', () => {
      if (!socket.writableEnded) socket.end();
    });
    socket.on('close', () => this.onSocketClose());
    socket.resume();
    // Frames are handled from the next turn on, so an owner that attaches its 'stream' listener
    // after an await still gets the streams in `head` (socket data waits in the queue until then).
    setImmediate(() => {
      const queued = this.startQueue ?? [];
      this.startQueue = undefined;
      for (const chunk of queued) this.receive(chunk);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Streams still open on the wire in at least one direction. */
  get openStreams(): number {
    return this.streams.size;
  }

  /** Sends SYN_STREAM at once; the reply comes later as the stream's 'reply' (client-go pipelines too). */
  openStream(headers: SpdyHeaders, options: { fin?: boolean } = {}): SpdyStream {
    const id = this.nextStreamId;
    if (id > MAX_ID) throw new Error('SPDY stream ids exhausted on this connection');
    this.nextStreamId += 2;
    const stream = new SpdyStream(this, id, headers, true);
    if (this.closed) {
      stream.connectionClosed(this.closeError());
      return stream;
    }
    this.streams.set(id, stream);
    this.writeFrame(encodeSynStream(id, this.encoder.encode(headers), { fin: options.fin }));
    if (options.fin) stream.closeWritable();
    return stream;
  }

  /** Round trip in milliseconds; rejects if the connection closes first. */
  ping(): Promise<number> {
    const id = this.nextPingId;
    // Ping ids are 32-bit and keep our parity (odd as client, even as server) when they wrap.
    this.nextPingId = id + 2 > 0xffffffff ? 2 - (id % 2) : id + 2;
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(this.closeError());
      this.pings.set(id, { sentAt: process.hrtime.bigint(), resolve, reject });
      this.writeFrame(encodePing(id));
    });
  }

  /** Tells the peer no new streams will be accepted; streams already open carry on. */
  goAway(status: number = GoawayStatus.OK): void {
    this.goneAway = true;
    this.writeFrame(encodeGoaway(this.lastPeerStreamId, status));
  }

  /**
   * Ends the socket after everything queued so far has been written — but a peer that has stopped
   * reading would hold the socket (and its buffered bytes) forever, so it is destroyed after `graceMs`.
   */
  close(graceMs = 5_000): void {
    if (this.closed) return;
    this.socket.end();
    const timer = setTimeout(() => this.socket.destroy(), graceMs).unref();
    // The timer would otherwise hold the socket (and its buffers) for the whole grace period.
    this.socket.once('close', () => clearTimeout(timer));
  }

  destroy(error?: Error): void {
    if (error) this.closeCause ??= error;
    this.socket.destroy();
  }

  /** @internal */
  sendReply(streamId: number, headers: SpdyHeaders): void {
    this.writeFrame(encodeSynReply(streamId, this.encoder.encode(headers)));
  }

  /** @internal */
  sendReset(streamId: number, status: number): void {
    this.writeFrame(encodeRstStream(streamId, status));
  }

  /**
   * @internal DATA frames of at most 32 KiB: each header written separately so the payload goes to
   * the socket as a subarray of the caller's buffer, corked into one writev (a small payload is
   * copied after its header instead: small-writes.ts). Returns false when the
   * socket is above its high-water mark (then wait for whenDrained).
   */
  writeData(streamId: number, data: Buffer, fin: boolean): boolean {
    if (this.closed || !this.socket.writable) return true;
    this.bytesWritten += data.length;
    if (data.length === 0) return this.socket.write(encodeDataFrameHeader(streamId, 0, fin));
    if (data.length <= SMALL_WRITE_BYTES) return this.socket.write(encodeDataFrame(streamId, data, fin));
    let flushed = true;
    this.socket.cork();
    for (let at = 0; at < data.length; at += MAX_DATA_FRAME_PAYLOAD) {
      const payload = data.subarray(at, at + MAX_DATA_FRAME_PAYLOAD);
      this.socket.write(encodeDataFrameHeader(streamId, payload.length, fin && at + payload.length === data.length));
      flushed = this.socket.write(payload);
    }
    this.socket.uncork();
    return flushed;
  }

  /** @internal */
  whenDrained(callback: WriteCallback): void {
    if (this.closed) callback();
    else this.drainWaiters.push(callback);
  }

  /** @internal The stream's reader is behind: stop reading the socket (TCP tells the peer). */
  streamFull(stream: SpdyStream): void {
    this.fullStreams.add(stream);
    this.socket.pause();
  }

  /** @internal The stream's reader wants more, or the stream will receive nothing more. */
  streamNotFull(stream: SpdyStream): void {
    if (this.fullStreams.delete(stream) && this.fullStreams.size === 0 && !this.closed && !this.pingFloodTimer) this.socket.resume();
  }

  /** @internal Both directions of the stream are done on the wire (FIN each way, or RST). */
  forget(stream: SpdyStream): void {
    if (this.streams.get(stream.id) === stream) this.streams.delete(stream.id);
    this.streamNotFull(stream);
  }

  private writeFrame(frame: Buffer): void {
    if (!this.closed && this.socket.writable) this.socket.write(frame);
  }

  private receive(chunk: Buffer): void {
    if (this.closed || this.failed) return;
    try {
      for (const frame of this.parser.push(chunk)) this.handle(frame);
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private handle(frame: SpdyFrame): void {
    switch (frame.type) {
      case 'data':
        this.bytesRead += frame.payload.length;
        // Frames for streams that are gone (reset, or never opened) are dropped, as spdystream does.
        this.streams.get(frame.streamId)?.receiveData(frame.payload, frame.fin);
        return;
      case 'syn_stream':
        return this.acceptStream(frame);
      case 'syn_reply': {
        // Always decoded: the header context must see every block in order.
        const headers = this.decoder.decode(frame.headerBlock);
        const stream = this.streams.get(frame.streamId);
        if (!stream?.local) return;
        stream.receiveReply(headers);
        if (frame.fin) stream.receiveData(EMPTY, true);
        return;
      }
      case 'headers': {
        const headers = this.decoder.decode(frame.headerBlock);
        const stream = this.streams.get(frame.streamId);
        stream?.emit('headers', headers);
        if (frame.fin) stream?.receiveData(EMPTY, true);
        return;
      }
      case 'rst_stream':
        this.streams.get(frame.streamId)?.receiveReset(frame.status);
        return;
      case 'ping':
        if (this.isOurs(frame.id)) {
          const pending = this.pings.get(frame.id);
          this.pings.delete(frame.id);
          pending?.resolve(Number(process.hrtime.bigint() - pending.sentAt) / 1e6);
        } else {
          this.answerPing(frame.id);
        }
        return;
      case 'goaway':
        this.emit('goaway', frame.lastGoodStreamId, frame.status);
        return;
      case 'settings':
      case 'window_update':
        // Windows are deliberately neither enforced nor waited for: see the class comment.
        return;
    }
  }

  /** One answer in the socket's queue at most: a peer that pings without reading is paused, then failed. */
  private answerPing(id: number): void {
    if (!this.pingAnswerInFlight) return this.writePingAnswer(id);
    this.pendingPingAnswer = id;
    if (++this.pingsCoalesced !== PING_FLOOD_COUNT) return;
    this.socket.pause();
    const ms = this.options.pingFloodTimeoutMs ?? DEFAULT_PING_FLOOD_TIMEOUT_MS;
    this.pingFloodTimer = setTimeout(() => this.fail(new SpdyPingFloodError(`the peer sent PINGs without reading the answers for ${ms / 1000} s`)), ms);
  }

  private writePingAnswer(id: number): void {
    if (this.closed || !this.socket.writable) return;
    this.pingAnswerInFlight = true;
    this.socket.write(encodePing(id), () => this.pingAnswerWritten());
  }

  private pingAnswerWritten(): void {
    this.pingAnswerInFlight = false;
    this.pingsCoalesced = 0;
    if (this.pingFloodTimer) {
      clearTimeout(this.pingFloodTimer);
      this.pingFloodTimer = undefined;
      if (this.fullStreams.size === 0 && !this.closed) this.socket.resume();
    }
    const next = this.pendingPingAnswer;
    this.pendingPingAnswer = undefined;
    if (next !== undefined) this.writePingAnswer(next);
  }

  private acceptStream(frame: Extract<SpdyFrame, { type: 'syn_stream' }>): void {
    const headers = this.decoder.decode(frame.headerBlock);
    const id = frame.streamId;
    // After our GOAWAY new streams are ignored (SPDY/3 §2.6.6, spdystream's checkStreamFrame).
    if (this.goneAway) return;
    // spdystream answers a stream id out of sequence with RST_STREAM PROTOCOL_ERROR, not GOAWAY.
    if (this.isOurs(id) || id <= this.lastPeerStreamId) return this.sendReset(id, RstStatus.PROTOCOL_ERROR);
    this.lastPeerStreamId = id;
    // Nobody to serve it: refuse rather than hold a stream whose errors no one would handle.
    if (this.listenerCount('stream') === 0) return this.sendReset(id, RstStatus.REFUSED_STREAM);
    const stream = new SpdyStream(this, id, headers, false);
    this.streams.set(id, stream);
    if (frame.fin) stream.receiveData(EMPTY, true);
    if (frame.unidirectional) stream.closeWritable();
    this.emit('stream', stream);
  }

  private isOurs(id: number): boolean {
    return (id % 2 === 1) === (this.options.role === 'client');
  }

  /** Protocol error: GOAWAY with its status, then the socket goes; other connections are untouched. */
  private fail(error: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.closeCause ??= error;
    const status = error instanceof SpdyProtocolError ? error.goawayStatus : GoawayStatus.INTERNAL_ERROR;
    this.writeFrame(encodeGoaway(this.lastPeerStreamId, status));
    // An 'error' nobody listens for would be thrown out of the socket's data handler.
    if (this.listenerCount('error') > 0) this.emit('error', error);
    this.socket.end();
    // Give the GOAWAY a moment to leave, but do not wait on a peer that sends garbage.
    setImmediate(() => this.socket.destroy());
  }

  private closeError(): Error {
    return new Error('SPDY connection closed', this.closeCause ? { cause: this.closeCause } : undefined);
  }

  private releaseDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const waiter of waiters) waiter();
  }

  private onSocketClose(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.pingFloodTimer);
    // One error for every stream and ping still waiting, built only if there is one: most sessions end with none.
    let error: Error | undefined;
    const closeError = (): Error => (error ??= this.closeError());
    for (const stream of [...this.streams.values()]) stream.connectionClosed(closeError());
    this.streams.clear();
    this.fullStreams.clear();
    this.releaseDrainWaiters();
    for (const pending of this.pings.values()) pending.reject(closeError());
    this.pings.clear();
    this.emit('close');
  }
}

/**
 * One SPDY stream as a Duplex: writes become DATA frames (≤ 32 KiB), end() sends FIN. The readable
 * side ends on the peer's FIN, or after every byte received before the peer's RST_STREAM.
 * Events beyond Duplex's: 'reply' (headers) on SYN_REPLY, 'headers' on HEADERS, 'reset' (status)
 * when the peer resets the stream.
 */
export class SpdyStream extends Duplex {
  replyHeaders: SpdyHeaders | undefined;
  /** Set by `readPayloads`: payloads go to it as they arrive, bypassing the Readable buffer. */
  private reader: PayloadReader | undefined;
  private readerPaused = false;
  /** Payloads that arrived while the reader was paused, in order. */
  private held: Buffer[] = [];
  private heldSize = 0;
  /** The peer's end arrived while payloads were held: it follows them. */
  private endHeld = false;
  /** The peer's RST_STREAM status, if it reset the stream. */
  resetStatus: number | undefined;
  private replied: boolean;
  private remoteDone = false;
  private localDone = false;
  /**
   * Why writes can no longer reach the peer; set once the writable side is closed under the writer.
   * A message until a write needs the Error: most streams close without a write after it.
   */
  private writeClosed: Error | string | undefined;

  constructor(
    private readonly connection: SpdyConnection,
    readonly id: number,
    readonly headers: SpdyHeaders,
    /** Opened by us (the peer replies) rather than by the peer (we reply). */
    readonly local: boolean,
  ) {
    super({ readableHighWaterMark: connection.streamHighWaterMark, writableHighWaterMark: connection.streamHighWaterMark });
    this.replied = local;
  }

  /**
   * Hands every received payload to `reader` as it arrives (the parser's views, no copy). Replaces the
   * Readable side for data ('end' still fires after the last payload); call before any data arrives.
   */
  readPayloads(reader: PayloadReader): void {
    this.reader = reader;
    // Flowing with nothing buffered: 'end' fires as soon as the readable side ends.
    this.resume();
  }

  /** The reader is behind: payloads are held (at most the high-water mark before the socket stops). */
  pauseReader(): void {
    this.readerPaused = true;
  }

  resumeReader(): void {
    if (!this.readerPaused) return;
    this.readerPaused = false;
    while (this.held.length > 0 && !this.readerPaused && this.reader) {
      const next = this.held.shift()!;
      this.heldSize -= next.length;
      this.reader(next);
    }
    if (this.held.length > 0) return;
    this.connection.streamNotFull(this);
    if (this.endHeld) {
      this.endHeld = false;
      this.endReadable();
    }
  }

  /** Bytes received and not yet read (the Readable buffer, or payloads held for a paused reader). */
  get unreadBytes(): number {
    return this.readableLength + this.heldSize;
  }

  /** Sends SYN_REPLY for a peer-initiated stream (once; writing replies first on its own). */
  reply(headers: SpdyHeaders = {}): void {
    if (this.replied || this.localDone) return;
    this.replied = true;
    this.connection.sendReply(this.id, headers);
  }

  /** Sends RST_STREAM and drops whatever is still buffered in either direction. */
  reset(status: number = RstStatus.CANCEL): void {
    if (!(this.localDone && this.remoteDone)) {
      this.localDone = this.remoteDone = true;
      this.connection.sendReset(this.id, status);
      this.connection.forget(this);
    }
    this.writeClosed ??= 'SPDY stream was reset';
    this.destroy();
  }

  /*
   * Writes after the writable side was closed under the writer (peer RST, lost connection) get an
   * error in their callback. Going through Writable would be "write after end", which destroys the
   * stream with an 'error' — fatal without a listener, and it would discard unread received data.
   */
  override write(chunk: unknown, encoding?: BufferEncoding | WriteCallback, callback?: WriteCallback): boolean {
    if (!this.writeClosed) return super.write(chunk, encoding as BufferEncoding, callback);
    const done = typeof encoding === 'function' ? encoding : callback;
    if (done) {
      if (typeof this.writeClosed === 'string') this.writeClosed = new Error(this.writeClosed);
      process.nextTick(done, this.writeClosed);
    }
    return false;
  }

  override end(chunk?: unknown, encoding?: BufferEncoding | (() => void), callback?: () => void): this {
    if (!this.writeClosed) return super.end(chunk, encoding as BufferEncoding, callback);
    const done = [chunk, encoding, callback].find((arg): arg is () => void => typeof arg === 'function');
    return super.end(done);
  }

  override _read(): void {
    if (this.heldSize < this.readableHighWaterMark) this.connection.streamNotFull(this);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: WriteCallback): void {
    // Chunks already queued when the writable side closed are dropped; the writer was told via 'reset'.
    if (this.writeClosed || chunk.length === 0) return callback();
    // spdystream drops DATA (and FIN) on a stream it has not seen replied to.
    if (!this.replied) this.reply();
    if (this.connection.writeData(this.id, chunk, false)) callback();
    else this.connection.whenDrained(callback);
  }

  override _final(callback: WriteCallback): void {
    if (!this.writeClosed) {
      if (!this.replied) this.reply();
      this.connection.writeData(this.id, EMPTY, true);
    }
    this.localDone = true;
    if (this.remoteDone) this.connection.forget(this);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Destroyed while still open on the wire (e.g. by a failed pipeline): tell the peer.
    if (!(this.localDone && this.remoteDone)) {
      this.localDone = this.remoteDone = true;
      this.connection.sendReset(this.id, RstStatus.CANCEL);
    }
    this.connection.forget(this);
    callback(error);
  }

  /** @internal */
  receiveData(payload: Buffer, fin: boolean): void {
    if (this.remoteDone || this.endHeld) return;
    if (this.reader) {
      if (payload.length > 0) this.deliver(payload);
    } else if (payload.length > 0 && !this.push(payload)) this.connection.streamFull(this);
    if (fin) this.endReadable();
  }

  private deliver(payload: Buffer): void {
    if (!this.readerPaused && this.held.length === 0) return this.reader!(payload);
    this.held.push(payload);
    this.heldSize += payload.length;
    if (this.heldSize >= this.readableHighWaterMark) this.connection.streamFull(this);
  }

  /** @internal */
  receiveReply(headers: SpdyHeaders): void {
    if (this.replyHeaders) return;
    this.replyHeaders = headers;
    this.emit('reply', headers);
  }

  /** @internal The peer's RST_STREAM: what arrived before it stays readable, then the stream ends. */
  receiveReset(status: number): void {
    this.resetStatus = status;
    this.localDone = true;
    this.endReadable();
    this.closeWritable(`SPDY stream reset by the peer (status ${status})`);
    this.emit('reset', status);
  }

  /** @internal The connection is gone. */
  connectionClosed(error: Error): void {
    if (this.destroyed) return;
    this.localDone = true;
    // endHeld: the FIN has arrived too, behind payloads a paused reader has not taken yet.
    if (this.remoteDone || this.endHeld) {
      // Everything the peer sent has arrived: keep it readable, only the writable side is lost.
      this.closeWritable(error);
      return;
    }
    // The error is the stream's outcome (stream.errored, pipeline); it must not crash an owner that
    // does not listen for it.
    if (this.listenerCount('error') === 0) this.on('error', noop);
    this.destroy(error);
  }

  /** @internal The writable side is over without a FIN from us (unidirectional, peer reset, lost connection). */
  closeWritable(reason: Error | string = 'SPDY stream is closed for writing'): void {
    this.localDone = true;
    this.writeClosed ??= reason;
    if (this.remoteDone) this.connection.forget(this);
    if (!this.writableEnded) super.end();
  }

  private endReadable(): void {
    if (this.remoteDone) return;
    if (this.held.length > 0) {
      this.endHeld = true;
      return;
    }
    this.remoteDone = true;
    this.push(null);
    // Nothing more will arrive for it, so its buffer can no longer hold the socket.
    if (this.localDone) this.connection.forget(this);
    else this.connection.streamNotFull(this);
  }
}
