/** remotecommand.TerminalSize, with its Go field names as JSON keys. */
export interface TerminalSize {
  Width: number;
  Height: number;
}

export function encodeTerminalSize(size: TerminalSize): Buffer {
  return Buffer.from(JSON.stringify({ Width: size.Width, Height: size.Height }));
}

export class TerminalSizeError extends Error {
  override name = 'TerminalSizeError';
}

/** One size object is ~30 bytes; an unfinished value longer than this is not a size. */
const MAX_PENDING_BYTES = 4096;

/**
 * Reads the resize stream: JSON objects one after another, optionally separated by whitespace, as
 * Go's json.Decoder consumes it (kubelet httpstream.go handleResizeEvents). Objects may be split
 * across chunks; garbage or an endless value is an error rather than unbounded buffering.
 */
export class TerminalSizeDecoder {
  private pending = '';

  push(chunk: Buffer): TerminalSize[] {
    this.pending += chunk.toString('utf8');
    const sizes: TerminalSize[] = [];
    for (;;) {
      this.pending = this.pending.replace(/^\s+/, '');
      if (this.pending.length === 0) break;
      if (this.pending[0] !== '{') throw new TerminalSizeError('resize stream: expected a JSON object');
      const end = this.pending.indexOf('}');
      if (end < 0) break;
      const text = this.pending.slice(0, end + 1);
      this.pending = this.pending.slice(end + 1);
      sizes.push(toSize(text));
    }
    if (this.pending.length > MAX_PENDING_BYTES) throw new TerminalSizeError('resize stream: value too long');
    return sizes;
  }
}

function toSize(text: string): TerminalSize {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new TerminalSizeError(`resize stream: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null) throw new TerminalSizeError('resize stream: expected a JSON object');
  // encoding/json matches field names case-insensitively.
  const fields = new Map(Object.entries(value).map(([key, field]) => [key.toLowerCase(), field as unknown]));
  const Width = fields.get('width');
  const Height = fields.get('height');
  if (!isDimension(Width) || !isDimension(Height)) throw new TerminalSizeError('resize stream: Width and Height must be 0…65535');
  return { Width, Height };
}

/** uint16 in Go's TerminalSize. */
function isDimension(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffff;
}
