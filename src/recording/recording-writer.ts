import type { RecordingSink } from './recording-sink.js';

export interface RecordingWriterOptions {
  /** Pending bytes are written at least this often, so a crash keeps all but the last interval. */
  flushIntervalMs?: number;
  /** Pending bytes past which a write starts at once, without waiting for the timer. */
  flushAtBytes?: number;
  /** Pending bytes the writer holds at most while the sink is behind; `append` refuses past it. */
  maxPendingBytes?: number;
  /** Once, when a write fails: nothing more is written. */
  onFailure(error: Error): void;
  /** Bytes handed to the sink, for metrics. */
  onWritten?(bytes: number): void;
}

const DEFAULT_FLUSH_INTERVAL_MS = 1000;
/** Copies of small records are packed into slabs this large: one allocation and one iovec for many records. */
const SLAB_BYTES = 256 * 1024;
const DEFAULT_MAX_PENDING_BYTES = 8 * 1024 * 1024;
/**
 * Written slabs kept for reuse, shared by every recording (at most this many: 4 MiB). A new 256 KiB
 * slab per 256 KiB recorded is external memory V8 counts toward its next full collection: a bulk
 * recording without reuse cost over a hundred full GCs per GiB.
 */
const MAX_SPARE_SLABS = 16;
const spareSlabs: Buffer[] = [];

function takeSlab(): Buffer {
  return spareSlabs.pop() ?? Buffer.allocUnsafeSlow(SLAB_BYTES);
}

function returnSlabs(slabs: Buffer[]): void {
  for (const slab of slabs) if (spareSlabs.length < MAX_SPARE_SLABS) spareSlabs.push(slab);
}

/**
 * Appends a recording's bytes to its sink in the background: batched, one write in flight at a
 * time, flushed on a timer, and bounded — when the sink falls `maxPendingBytes` behind, `append`
 * says no and the caller decides (end the session, or drop and mark a gap).
 */
export class RecordingWriter {
  private pending: Buffer[] = [];
  private slab: Buffer | undefined;
  private slabStart = 0;
  private slabEnd = 0;
  /** Slabs filled and replaced since the last flush: free once the write that holds their last bytes is done. */
  private retired: Buffer[] = [];
  private pendingBytes = 0;
  private writing: Promise<void> | undefined;
  private failed = false;
  private closed = false;
  private sinkClosed: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly flushAtBytes: number;
  private readonly maxPendingBytes: number;

  constructor(
    private readonly sink: RecordingSink,
    private readonly options: RecordingWriterOptions,
  ) {
    this.flushAtBytes = options.flushAtBytes ?? 256 * 1024;
    this.maxPendingBytes = options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
    this.timer = setInterval(() => this.flush(), options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  /** Whether `bytes` more would fit; false while the sink is that far behind. */
  hasRoom(bytes: number): boolean {
    return this.pendingBytes + bytes <= this.maxPendingBytes;
  }

  get usable(): boolean {
    return !this.failed && !this.closed;
  }

  /**
   * Queues `buffers` (kept as they are: the caller hands over buffers it will not change) unless
   * the writer failed or is full; returns whether they were taken.
   */
  append(...buffers: Buffer[]): boolean {
    return this.queue(buffers, false);
  }

  /**
   * Queues `line` (text: encoded as UTF-8, straight into the slab) and a copy of `payload` (memory
   * the caller may reuse once this returns), packed into the current slab when they fit; returns
   * whether they were taken (false: failed or full).
   */
  appendCopy(line: Buffer | string, payload: Buffer): boolean {
    const lineBytes = typeof line === 'string' ? Buffer.byteLength(line) : line.length;
    const size = lineBytes + payload.length;
    if (!this.usable || !this.hasRoom(size)) return false;
    if (size > SLAB_BYTES / 4) return this.queue([typeof line === 'string' ? Buffer.from(line) : line, Buffer.from(payload)], false);
    const slab = this.slabFor(size);
    if (typeof line === 'string') slab.write(line, this.slabEnd);
    else line.copy(slab, this.slabEnd);
    payload.copy(slab, this.slabEnd + lineBytes);
    this.slabEnd += size;
    this.pendingBytes += size;
    if (this.pendingBytes >= this.flushAtBytes) this.flush();
    return true;
  }

  /** Queues `text` as UTF-8, encoded straight into the slab when it fits (no buffer of its own). */
  appendText(text: string): boolean {
    const size = Buffer.byteLength(text);
    if (!this.usable || !this.hasRoom(size)) return false;
    if (size > SLAB_BYTES / 4) return this.queue([Buffer.from(text)], false);
    this.slabFor(size).write(text, this.slabEnd);
    this.slabEnd += size;
    this.pendingBytes += size;
    if (this.pendingBytes >= this.flushAtBytes) this.flush();
    return true;
  }

  /** The current slab, or a new one when `size` more bytes would not fit it. */
  private slabFor(size: number): Buffer {
    if (!this.slab || this.slabEnd + size > this.slab.length) {
      this.sealSlab();
      if (this.slab) this.retired.push(this.slab);
      this.slab = takeSlab();
      this.slabStart = this.slabEnd = 0;
    }
    return this.slab;
  }

  /** What the slab holds since it was last sealed joins the pending list (in order with other appends). */
  private sealSlab(): void {
    if (!this.slab || this.slabEnd === this.slabStart) return;
    this.pending.push(this.slab.subarray(this.slabStart, this.slabEnd));
    this.slabStart = this.slabEnd;
  }

  /**
   * Queues a marker line past the bound: the header, the cut, the gap and the end lines are few
   * and small, and a recording must say where it is incomplete even while the disk is behind.
   */
  appendMarker(line: Buffer): boolean {
    return this.queue([line], true);
  }

  private queue(buffers: Buffer[], marker: boolean): boolean {
    if (!this.usable) return false;
    let size = 0;
    for (const buffer of buffers) size += buffer.length;
    if (!marker && !this.hasRoom(size)) return false;
    this.sealSlab();
    for (const buffer of buffers) this.pending.push(buffer);
    this.pendingBytes += size;
    if (this.pendingBytes >= this.flushAtBytes) this.flush();
    return true;
  }

  /** Writes what is pending, unless a write is in flight (its end writes the rest). */
  flush(): void {
    if (this.writing || this.pendingBytes === 0 || this.failed) return;
    this.sealSlab();
    const batch = this.pending;
    const bytes = this.pendingBytes;
    const retired = this.retired;
    this.pending = [];
    this.retired = [];
    this.writing = this.sink.write(batch).then(
      () => {
        this.pendingBytes -= bytes;
        this.writing = undefined;
        // Writes go one at a time, in order: every earlier part of these slabs is written too.
        returnSlabs(retired);
        this.options.onWritten?.(bytes);
        if (this.pendingBytes >= this.flushAtBytes || (this.closed && this.pendingBytes > 0)) this.flush();
      },
      (error: Error) => {
        this.writing = undefined;
        this.fail(error);
      },
    );
  }

  /** Writes everything pending, then closes the sink; resolves once done (never rejects). */
  close(): Promise<void> {
    this.closing ??= this.finish();
    return this.closing;
  }

  private async finish(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    // Bounded: every pass either writes the pending batch or fails, which empties it.
    while (!this.failed && (this.writing || this.pendingBytes > 0)) {
      this.flush();
      await this.writing;
    }
    await this.closeSink();
  }

  /** The sink is closed once, whether the writer ended or failed (a failed file is not left open). */
  private closeSink(): Promise<void> {
    this.sinkClosed ??= this.sink.close().catch(() => undefined);
    return this.sinkClosed;
  }

  private fail(error: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.pending = [];
    this.pendingBytes = 0;
    this.slab = undefined;
    this.retired = [];
    clearInterval(this.timer);
    void this.closeSink();
    this.options.onFailure(error);
  }
}
