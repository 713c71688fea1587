import { EventEmitter } from 'node:events';
import type { WebSocket, RawData } from 'ws';
import type { RemoteCommandProtocol } from '../codecs/channels/protocols.js';
import { ChannelProtocolError, decodeChannelMessage, encodeChannelMessage } from '../codecs/channels/framing.js';

export interface WebSocketChannelsOptions {
  /** Bytes handed to the socket but not yet flushed above which `send` asks the caller to pause. */
  highWaterMark?: number;
  /** Interval of WebSocket pings toward the client; keeps load balancers' idle timers (60–90 s) from firing. */
  pingIntervalMs?: number;
}

export interface WebSocketChannelsEvents {
  data: [channel: number, payload: Buffer];
  /** The v5 CLOSE signal: the client will send nothing more on that channel. */
  'channel-close': [channel: number];
  /** Unflushed bytes fell to zero after `send` had returned false. */
  drain: [];
  'protocol-error': [error: ChannelProtocolError];
  /** The WebSocket is closed (by either side); code and reason as received or sent. */
  close: [code: number, reason: string];
}

const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;
const DEFAULT_PING_INTERVAL_MS = 30_000;

/**
 * Kubernetes channel framing over one WebSocket, with back-pressure: outgoing bytes are counted
 * until ws reports them written to the socket, and incoming messages can be paused.
 */
export class WebSocketChannels extends EventEmitter<WebSocketChannelsEvents> {
  private unflushed = 0;
  private needDrain = false;
  private flushWaiters: Array<() => void> = [];
  private readonly highWaterMark: number;
  private readonly pingTimer: NodeJS.Timeout;
  private pongSinceLastPing = true;

  constructor(
    readonly socket: WebSocket,
    readonly protocol: RemoteCommandProtocol,
    options: WebSocketChannelsOptions = {},
  ) {
    super();
    this.highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    socket.on('message', (data, isBinary) => this.receive(data, isBinary));
    socket.on('pong', () => (this.pongSinceLastPing = true));
    socket.on('close', (code, reason) => {
      clearInterval(this.pingTimer);
      this.releaseFlushWaiters();
      this.emit('close', code, reason.toString());
    });
    socket.on('error', () => {
      // ws closes the socket after an error and emits 'close'; the session ends there.
    });
    this.pingTimer = setInterval(() => this.ping(), options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS);
    this.pingTimer.unref();
  }

  get isOpen(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }

  /** Sends one message on a channel; false means "stop producing until 'drain'". */
  send(channel: number, payload: Buffer): boolean {
    if (!this.isOpen) return true;
    const message = encodeChannelMessage(channel, payload, this.protocol);
    const size = typeof message.data === 'string' ? message.data.length : message.data.length;
    this.unflushed += size;
    this.socket.send(message.data, { binary: message.binary }, () => this.flushed(size));
    if (this.unflushed >= this.highWaterMark) {
      this.needDrain = true;
      return false;
    }
    return true;
  }

  /** Resolves once every message sent so far has been handed to the kernel (or the socket is gone). */
  whenFlushed(): Promise<void> {
    if (this.unflushed === 0 || !this.isOpen) return Promise.resolve();
    return new Promise((resolve) => this.flushWaiters.push(resolve));
  }

  pauseIncoming(): void {
    this.socket.pause();
  }

  resumeIncoming(): void {
    this.socket.resume();
  }

  /** Starts the closing handshake; ws then waits (bounded) for the client's close frame. */
  close(code: number, reason: string): void {
    if (this.socket.readyState === this.socket.CLOSED || this.socket.readyState === this.socket.CLOSING) return;
    this.socket.close(code, truncateReason(reason));
  }

  terminate(): void {
    this.socket.terminate();
  }

  private receive(data: RawData, isBinary: boolean): void {
    const buffer = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    let message;
    try {
      message = decodeChannelMessage(buffer, isBinary, this.protocol);
    } catch (error) {
      if (error instanceof ChannelProtocolError) {
        this.emit('protocol-error', error);
        return;
      }
      throw error;
    }
    if (message.kind === 'data') {
      this.emit('data', message.channel, message.payload);
    } else if (message.kind === 'close') {
      this.emit('channel-close', message.channel);
    }
  }

  private flushed(size: number): void {
    this.unflushed -= size;
    if (this.unflushed > 0) return;
    this.releaseFlushWaiters();
    if (this.needDrain) {
      this.needDrain = false;
      this.emit('drain');
    }
  }

  private releaseFlushWaiters(): void {
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** A client that has not answered the previous ping is gone (or its path is): end it. */
  private ping(): void {
    if (!this.isOpen) return;
    if (!this.pongSinceLastPing) {
      this.socket.terminate();
      return;
    }
    this.pongSinceLastPing = false;
    this.socket.ping();
  }
}

/** RFC 6455 §5.5: a control frame payload is at most 125 bytes, 2 of them the close code. */
function truncateReason(reason: string): string {
  let text = reason;
  while (Buffer.byteLength(text) > 123) text = text.slice(0, -1);
  return text;
}
