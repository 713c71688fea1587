import { EventEmitter } from 'node:events';
import type { ClientWebSocket } from './client-websocket.js';

export interface WebSocketPeerOptions {
  /** Bytes sent but not yet written to the kernel above which `send` asks the caller to pause. */
  highWaterMark?: number;
  /** Interval of pings toward the client; keeps load balancers' idle timers (60–90 s) from firing. */
  pingIntervalMs?: number;
}

const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;
const DEFAULT_PING_INTERVAL_MS = 30_000;

/**
 * Sending side of one WebSocket with back-pressure and keep-alive: bytes are counted from `send`
 * until the socket reports them written, `send` returns false above the high-water mark and `'drain'` fires
 * when everything is out; a client that does not answer a ping by the next one is cut off.
 */
export class WebSocketPeer extends EventEmitter<{ drain: []; close: [code: number, reason: string] }> {
  private unflushed = 0;
  private needDrain = false;
  private readonly highWaterMark: number;
  private readonly pingTimer: NodeJS.Timeout;
  private pongSinceLastPing = true;

  constructor(
    readonly socket: ClientWebSocket,
    options: WebSocketPeerOptions = {},
  ) {
    super();
    this.highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    socket.on('pong', () => (this.pongSinceLastPing = true));
    socket.on('close', (code, reason) => {
      clearInterval(this.pingTimer);
      this.emit('close', code, reason);
    });
    this.pingTimer = setInterval(() => this.ping(), options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS);
    this.pingTimer.unref();
  }

  /** Bytes sent and not yet written to the kernel. */
  get unflushedBytes(): number {
    return this.unflushed;
  }

  get isOpen(): boolean {
    return this.socket.isOpen;
  }

  /** Sends one message; false means "stop producing until 'drain'". */
  send(data: Buffer | string, binary: boolean): boolean {
    if (!this.isOpen) return true;
    const size = data.length;
    this.unflushed += size;
    this.socket.send(data, binary, () => this.flushed(size));
    if (this.unflushed >= this.highWaterMark) {
      this.needDrain = true;
      return false;
    }
    return true;
  }

  pauseIncoming(): void {
    this.socket.pause();
  }

  resumeIncoming(): void {
    this.socket.resume();
  }

  /** Starts the closing handshake, which waits (bounded by closeTimeoutMs) for the client's close frame. */
  close(code: number, reason: string): void {
    this.socket.close(code, reason);
  }

  terminate(): void {
    this.socket.terminate();
  }

  private flushed(size: number): void {
    this.unflushed -= size;
    if (this.unflushed > 0) return;
    if (this.needDrain) {
      this.needDrain = false;
      this.emit('drain');
    }
  }

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
