/**
 * asciicast v2 lines (https://docs.asciinema.org/manual/asciicast/v2/): a JSON header line, then one
 * JSON array per event, `[seconds, code, data]`. Pure: values in, bytes out. `asciinema play`/`cat`
 * and the web player read them; the gateway's own fields sit under the header's `ksg` key, which
 * players ignore.
 */

export interface AsciicastHeader {
  width: number;
  height: number;
  /** Unix seconds of the session's start. */
  timestamp: number;
  title?: string;
  env?: Record<string, string>;
  /** Who, where, what, from where: the gateway's metadata (docs/recording.md). */
  ksg?: Record<string, unknown>;
}

/** Event codes: output, input, resize, marker. */
export type AsciicastCode = 'o' | 'i' | 'r' | 'm';

export function asciicastHeaderLine(header: AsciicastHeader): Buffer {
  return Buffer.from(`${JSON.stringify({ version: 2, ...header })}\n`);
}

/** One event; `seconds` since the start, kept to microseconds as asciinema writes them. */
export function asciicastEventLine(seconds: number, code: AsciicastCode, data: string): Buffer {
  return Buffer.from(asciicastEventText(seconds, code, data));
}

/** The same line as text, for a writer that encodes it straight into its own buffer. */
export function asciicastEventText(seconds: number, code: AsciicastCode, data: string): string {
  return `[${formatSeconds(seconds)}, ${JSON.stringify(code)}, ${JSON.stringify(data)}]\n`;
}

/** A resize event's data: `COLSxROWS`. */
export function resizeData(width: number, height: number): string {
  return `${width}x${height}`;
}

/** The final marker naming the command's exit code (`exit 3`), or how the session ended without one. */
export function exitMarkerData(exitCode: number | undefined, reason: string): string {
  return exitCode === undefined ? `end: ${reason}` : `exit ${exitCode}`;
}

function formatSeconds(seconds: number): string {
  const rounded = Math.max(0, Math.round(seconds * 1e6) / 1e6);
  return Number.isInteger(rounded) ? `${rounded}.0` : String(rounded);
}
