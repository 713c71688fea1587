import type { Direction, SessionTap } from '../translators/bridge.js';
import { portForwardEndLine, portForwardHeaderLine, portForwardUnreadableLine } from '../codecs/recording/port-forward-lines.js';
import type { RecordingWriter } from './recording-writer.js';
import { RawRecorder, type RecordingEnd, type SessionRecorderOptions } from './session-recorder.js';
import { PortForwardDemux } from './port-forward-demux.js';

/**
 * A port-forward session's recording: who, where, which ports at the start; bytes each way and the
 * duration at the end (the translator's counts, told with the end event). Content is not kept.
 */
export class PortForwardRecorder implements SessionTap {
  private readonly startedAt = performance.now();
  private done = false;

  constructor(
    private readonly writer: RecordingWriter,
    metadata: Record<string, unknown>,
  ) {
    writer.appendMarker(portForwardHeaderLine(metadata));
  }

  bytes(): void {
    // Metadata only: the bytes are counted by the translator.
  }

  event(name: string, detail?: Readonly<Record<string, unknown>>): void {
    if (name !== 'end' || this.done) return;
    this.done = true;
    const count = (value: unknown): number => (typeof value === 'number' ? value : 0);
    this.writer.appendMarker(
      portForwardEndLine({
        durationMs: performance.now() - this.startedAt,
        bytesFromClient: count(detail?.bytesFromClient),
        bytesToClient: count(detail?.bytesToClient),
        reason: String(detail?.reason ?? ''),
      }),
    );
    void this.writer.close();
  }
}

/**
 * A port-forward session recorded with its content (a recording rule with `content: true`): the
 * header, then each forwarded connection's bytes each way in the raw framing — stream
 * `connection:port:to-pod`, `…:from-pod`, `…:error` — up to `recording.maxBytesPerSession` in all
 * (the cut marked), then the same end line as the metadata-only recording.
 */
export class PortForwardContentRecorder extends RawRecorder {
  private readonly demux = new PortForwardDemux();

  constructor(options: SessionRecorderOptions) {
    super(options, portForwardHeaderLine(options.metadata));
  }

  override bytes(direction: Direction, route: string, payload: Buffer): void {
    // Past the cap nothing is recorded: the tunnel is not even parsed any more.
    if (this.done || this.cut) return;
    for (const piece of this.demux.push(direction, route, payload)) this.keep(piece.stream, piece.payload);
    if (this.demux.failure !== undefined) {
      this.cut = true;
      this.mark(portForwardUnreadableLine(this.seconds(), `the tunnel's SPDY could not be read: ${this.demux.failure}`));
    }
  }

  protected override endLine(end: RecordingEnd): Buffer {
    return portForwardEndLine({ durationMs: this.seconds() * 1000, bytesFromClient: end.bytesFromClient ?? 0, bytesToClient: end.bytesToClient ?? 0, reason: end.reason });
  }
}
