import { StringDecoder } from 'node:string_decoder';
import type { Direction, SessionTap } from '../translators/bridge.js';
import { asciicastEventLine, asciicastEventText, asciicastHeaderLine, exitMarkerData, resizeData } from '../codecs/recording/asciicast.js';
import { rawCutLine, rawDataText, rawEndLine, rawGapLine, rawHeaderLine } from '../codecs/recording/raw-frames.js';
import type { RecordingWriter } from './recording-writer.js';

/** A terminal's size before the client's first resize says otherwise. */
const DEFAULT_TERMINAL = { width: 80, height: 24 };

export interface SessionRecorderOptions {
  writer: RecordingWriter;
  /** Who, where, what, when: the header's metadata. */
  metadata: Record<string, unknown>;
  /** Whether stdin is recorded (`recording.captureInput`). */
  captureInput: boolean;
  /** Content bytes recorded at most; past them the recording says where it was cut. */
  maxBytes: number;
  /**
   * The disk fell behind by the writer's bound: `required` recordings end the session (this is
   * called, once), others drop what does not fit and mark the gap.
   */
  required: boolean;
  /** The recording cannot go on (a write failed, or it fell behind while required). */
  onFailure(reason: string): void;
  /** Time source in ms (tests). */
  now?: () => number;
}

/** How a recording ended, for its last line. */
export interface RecordingEnd {
  exitCode?: number;
  reason: string;
  /** The bytes the session carried each way, when its translator tells them (port-forward). */
  bytesFromClient?: number;
  bytesToClient?: number;
}

/**
 * The tap of one recorded session. It copies what it keeps (the bridge's payloads are the socket's),
 * formats it with the pure codecs, and hands it to the writer. Subclasses choose the format.
 */
abstract class SessionRecorder implements SessionTap {
  protected readonly startedAt: number;
  protected recordedBytes = 0;
  /** The size cap was reached, or the recording ended: nothing more is recorded. */
  protected cut = false;
  protected done = false;
  private readonly now: () => number;

  constructor(protected readonly options: SessionRecorderOptions) {
    this.now = options.now ?? (() => performance.now());
    this.startedAt = this.now();
  }

  bytes(direction: Direction, route: string, payload: Buffer): void {
    if (direction === 'to-upstream' && (route !== 'stdin' || !this.options.captureInput)) return;
    if (direction === 'to-client' && route !== 'stdout' && route !== 'stderr') return;
    this.keep(route, payload);
  }

  /** Records `payload` as bytes of `stream` up to the size cap, and marks the cut where it is reached. */
  protected keep(stream: string, payload: Buffer): void {
    if (this.done || this.cut || payload.length === 0) return;
    const room = this.options.maxBytes - this.recordedBytes;
    const kept = payload.length > room ? payload.subarray(0, room) : payload;
    if (kept.length > 0) this.record(stream, kept);
    if (kept.length < payload.length) {
      this.cut = true;
      this.markCut(stream);
    }
  }

  event(name: string, detail?: Readonly<Record<string, unknown>>): void {
    if (this.done) return;
    if (name === 'resize' && typeof detail?.width === 'number' && typeof detail.height === 'number') this.resize(detail.width, detail.height);
    else if (name === 'end') {
      this.done = true;
      const count = (value: unknown): number | undefined => (typeof value === 'number' ? value : undefined);
      this.finish({ exitCode: count(detail?.exitCode), reason: String(detail?.reason ?? ''), bytesFromClient: count(detail?.bytesFromClient), bytesToClient: count(detail?.bytesToClient) });
      void this.options.writer.close();
    }
  }

  protected seconds(): number {
    return (this.now() - this.startedAt) / 1000;
  }

  /**
   * Hands lines to the writer; when it is full, a required recording fails and any other drops
   * them, returning false so the caller can account for the gap.
   */
  protected append(...buffers: Buffer[]): boolean {
    return this.taken(this.options.writer.usable && this.options.writer.append(...buffers));
  }

  /** `append` for a record whose payload must be copied (into the writer's slab). */
  protected appendCopy(line: string, payload: Buffer): boolean {
    return this.taken(this.options.writer.usable && this.options.writer.appendCopy(line, payload));
  }

  /** `append` for a line of text (encoded into the writer's slab). */
  protected appendText(text: string): boolean {
    return this.taken(this.options.writer.usable && this.options.writer.appendText(text));
  }

  /** Whether the writer took a record; a refusal by a full writer fails a required recording. */
  private taken(accepted: boolean): boolean {
    if (accepted || !this.options.writer.usable) return accepted;
    if (this.options.required) {
      this.done = true;
      this.options.onFailure('the recording fell behind the session');
    }
    return false;
  }

  /** A marker line (header, cut, gap, end): taken even while the writer is full (RecordingWriter.appendMarker). */
  protected mark(line: Buffer): boolean {
    return this.options.writer.appendMarker(line);
  }

  protected abstract record(route: string, payload: Buffer): void;
  protected abstract markCut(route: string): void;
  protected abstract resize(width: number, height: number): void;
  protected abstract finish(end: RecordingEnd): void;
}

/** A terminal session as asciicast v2: output, input when captured, resizes, and the exit marker. */
export class AsciicastRecorder extends SessionRecorder {
  private headerWritten = false;
  private readonly decoders = new Map<string, StringDecoder>();
  private droppedBytes = 0;

  protected record(route: string, payload: Buffer): void {
    this.header(DEFAULT_TERMINAL.width, DEFAULT_TERMINAL.height);
    let decoder = this.decoders.get(route);
    if (!decoder) this.decoders.set(route, (decoder = new StringDecoder('utf8')));
    const text = decoder.write(payload);
    if (text.length === 0) return;
    this.recordedBytes += payload.length;
    const line = asciicastEventText(this.seconds(), route === 'stdin' ? 'i' : 'o', text);
    if (this.droppedBytes > 0 && this.options.writer.hasRoom(line.length) && this.mark(asciicastEventLine(this.seconds(), 'm', `gap: ${this.droppedBytes} bytes not recorded`))) this.droppedBytes = 0;
    if (!this.appendText(line)) this.droppedBytes += payload.length;
  }

  protected markCut(): void {
    this.mark(asciicastEventLine(this.seconds(), 'm', `cut: recording.maxBytesPerSession (${this.options.maxBytes} bytes) reached`));
  }

  protected resize(width: number, height: number): void {
    if (!this.headerWritten) this.header(width, height);
    else this.append(asciicastEventLine(this.seconds(), 'r', resizeData(width, height)));
  }

  protected finish(end: RecordingEnd): void {
    this.header(DEFAULT_TERMINAL.width, DEFAULT_TERMINAL.height);
    if (this.droppedBytes > 0) this.mark(asciicastEventLine(this.seconds(), 'm', `gap: ${this.droppedBytes} bytes not recorded`));
    this.mark(asciicastEventLine(this.seconds(), 'm', exitMarkerData(end.exitCode, end.reason)));
  }

  private header(width: number, height: number): void {
    if (this.headerWritten) return;
    this.headerWritten = true;
    this.mark(asciicastHeaderLine({ width, height, timestamp: Math.floor(Date.now() / 1000), ksg: this.options.metadata }));
  }
}

/** A non-terminal session: each stream's bytes exactly, framed as codecs/recording/raw-frames.ts says. */
export class RawRecorder extends SessionRecorder {
  private readonly offsets = new Map<string, number>();
  private readonly gaps = new Map<string, { offset: number; length: number }>();

  /** `header`: the first line (default: the raw framing's, with the metadata). */
  constructor(options: SessionRecorderOptions, header: Buffer = rawHeaderLine(options.metadata)) {
    super(options);
    this.mark(header);
  }

  protected record(route: string, payload: Buffer): void {
    const offset = this.offsets.get(route) ?? 0;
    this.offsets.set(route, offset + payload.length);
    this.recordedBytes += payload.length;
    const gap = this.gaps.get(route);
    const seconds = this.seconds();
    const line = rawDataText(seconds, route, offset, payload.length);
    // The gap is told just before the next bytes that fit, so it stays in order with them.
    if (gap && this.options.writer.hasRoom(Buffer.byteLength(line) + payload.length) && this.mark(rawGapLine(seconds, route, gap.offset, gap.length))) this.gaps.delete(route);
    // The one copy (into the writer's slab): the payload's memory is the socket's once this call returns.
    if (this.appendCopy(line, payload)) return;
    if (gap && this.gaps.has(route)) gap.length += payload.length;
    else this.gaps.set(route, { offset, length: payload.length });
  }

  protected markCut(route: string): void {
    this.mark(rawCutLine(this.seconds(), route, this.offsets.get(route) ?? 0));
  }

  protected resize(): void {
    // A non-terminal session has no size.
  }

  protected finish(end: RecordingEnd): void {
    for (const [route, gap] of this.gaps) this.mark(rawGapLine(this.seconds(), route, gap.offset, gap.length));
    this.mark(this.endLine(end));
  }

  protected endLine(end: RecordingEnd): Buffer {
    return rawEndLine(this.seconds(), end.exitCode, end.reason);
  }
}
