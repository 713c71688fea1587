import type { Logger } from '../observability/logger.js';
import { TerminalSizeDecoder, TerminalSizeError, type TerminalSize } from '../codecs/k8s/terminal-size.js';
import type { SessionTap } from './bridge.js';

/**
 * A session's resize stream read as sizes, each told to the tap (recordings, the Watch page). Like
 * Kubernetes, a bad size stops resizing, not the session; the sizes before it still count.
 */
export class ResizeSizes {
  private readonly decoder = new TerminalSizeDecoder();
  private failed = false;

  constructor(
    private readonly logger: Logger,
    private readonly tap?: SessionTap,
  ) {}

  push(payload: Buffer): TerminalSize[] {
    if (this.failed) return [];
    let sizes;
    try {
      sizes = this.decoder.push(payload);
    } catch (error) {
      this.failed = true;
      sizes = error instanceof TerminalSizeError ? error.sizes : [];
      this.logger.warn({ event: 'resize-error', err: (error as Error).message }, 'invalid resize message; resizing stopped');
    }
    for (const size of sizes) this.tap?.event('resize', { width: size.Width, height: size.Height });
    return sizes;
  }
}
