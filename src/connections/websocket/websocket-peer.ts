import { EventEmitter } from 'node:events';
import type { ClientWebSocket, ClientWebSocketCut } from './client-websocket.js';

export interface WebSocketPeerOptions {
  /** Bytes sent but not yet written to the kernel above which `send` asks the caller to pause. */
  highWaterMark?: number;
  /** Interval of pings toward the client (limits.pingIntervalSeconds); keeps load balancers' idle timers from firing. */
  pingIntervalMs?: number;
}

/** Half of the default session budget (limits.sessionBufferBytes, 1 MiB; session-budget.ts). */
const DEFAULT_HIGH_WATER_MARK = 512 * 1024;
/** Kubernetes' own WebSocket heartbeat period (client-go's pingPeriod). */
const DEFAULT_PING_INTERVAL_MS = 5_000;

/**
 * How long a client may send nothing at all before it is cut: twelve ping intervals and a second,
 * the read deadline client-go gives the API server (pingReadDeadline = 12 × pingPeriod + 1 s: 61 s at 5 s).
 */
function silenceTimeoutMs(pingIntervalMs: number): number {
  return 12 * pingIntervalMs + 1_000;
}

/** A client that sent nothing for the silence timeout is told so with 1008 (policy violation). */
const POLICY_VIOLATION = 1008;

/**
 * Sending side of one WebSocket with back-pressure and keep-alive: bytes are counted from `send`
 * until the socket reports them written, `send` returns false above the high-water mark and `'drain'` fires
 * when everything is out. A ping goes out every interval; anything from the client (data, ping, pong,
 * close) proves it alive, and only a client silent for `silenceTimeoutMs` is cut.
 */
export class WebSocketPeer extends EventEmitter<{ drain: []; close: [code: number, reason: string, cut: ClientWebSocketCut | undefined] }> {
  private unflushed = 0;
  private needDrain = false;
  private readonly highWaterMark: number;
  private readonly pingTimer: NodeJS.Timeout;
  private readonly silenceMs: number;
  private lastHeardAt = Date.now();

  constructor(
    readonly socket: ClientWebSocket,
    options: WebSocketPeerOptions = {},
  ) {
    super();
    this.highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    socket.on('close', (code, reason, cut) => {
      clearInterval(this.pingTimer);
      this.emit('close', code, reason, cut);
    });
    const intervalMs = options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
    this.silenceMs = silenceTimeoutMs(intervalMs);
    this.pingTimer = setInterval(() => this.ping(), intervalMs);
    this.pingTimer.unref();
  }

  /** Bytes sent (messages, and our pongs and pings) and not yet written to the kernel. */
  get unflushedBytes(): number {
    return this.unflushed + this.socket.queuedControlBytes;
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
    return this.belowHighWater();
  }

  /** Sends one binary message of `prefix` (one byte) then `payload`, the payload never copied when large. */
  sendPrefixed(prefix: number, payload: Buffer): boolean {
    if (!this.isOpen) return true;
    const size = payload.length + 1;
    this.unflushed += size;
    this.socket.sendPrefixed(prefix, payload, () => this.flushed(size));
    return this.belowHighWater();
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

  /** True below the high-water mark; else false, and 'drain' is owed once everything is written. */
  private belowHighWater(): boolean {
    if (this.unflushed < this.highWaterMark) return true;
    this.needDrain = true;
    return false;
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
    const now = Date.now();
    if (this.socket.takeHeard()) this.lastHeardAt = now;
    else if (now - this.lastHeardAt >= this.silenceMs) {
      const reason = `nothing received from the client for ${this.silenceMs / 1000} s (12 × limits.pingIntervalSeconds + 1 s)`;
      this.socket.cutOff({ outcome: 'ping-timeout', reason }, POLICY_VIOLATION);
      return;
    }
    this.socket.ping();
  }
}
