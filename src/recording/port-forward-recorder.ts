import type { SessionTap } from '../translators/bridge.js';
import { portForwardEndLine, portForwardHeaderLine } from '../codecs/recording/port-forward-lines.js';
import type { RecordingWriter } from './recording-writer.js';

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
