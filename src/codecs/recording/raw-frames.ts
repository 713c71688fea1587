/**
 * The framing of a non-terminal session's recording (docs/recording.md): a JSON header line, then
 * records, each a JSON line followed by exactly `n` raw bytes when it carries data:
 *
 *   {"t":0.012,"s":"stdout","o":0,"n":5}\n hello
 *   {"t":0.5,"cut":"stdout","o":1048576}\n        (the size cap was reached: nothing more of that stream)
 *   {"t":0.6,"gap":"stdout","o":2048,"n":4096}\n   (bytes not recorded: the disk fell behind)
 *   {"t":1.2,"end":true,"exitCode":3,"reason":"completed"}\n
 *
 * `o` is the stream's offset of the record's first byte, so a reader rebuilds each stream byte-exact
 * by concatenating its records' bytes. Pure: values in, bytes out; the payload is never copied here.
 */

export function rawHeaderLine(header: Record<string, unknown>): Buffer {
  return Buffer.from(`${JSON.stringify({ format: 'ksg-raw', version: 1, ...header })}\n`);
}

/** The line before a data record (the payload follows it as is), as text: the writer encodes it straight into its slab, no Buffer per record. */
export function rawDataText(seconds: number, stream: string, offset: number, length: number): string {
  return `{"t":${roundSeconds(seconds)},"s":${JSON.stringify(stream)},"o":${offset},"n":${length}}\n`;
}

/** Nothing more of `stream` past `offset` is in the recording: the size cap. */
export function rawCutLine(seconds: number, stream: string, offset: number): Buffer {
  return Buffer.from(`{"t":${roundSeconds(seconds)},"cut":${JSON.stringify(stream)},"o":${offset}}\n`);
}

/** `length` bytes of `stream` from `offset` were not recorded (the disk fell behind). */
export function rawGapLine(seconds: number, stream: string, offset: number, length: number): Buffer {
  return Buffer.from(`{"t":${roundSeconds(seconds)},"gap":${JSON.stringify(stream)},"o":${offset},"n":${length}}\n`);
}

export function rawEndLine(seconds: number, exitCode: number | undefined, reason: string): Buffer {
  return Buffer.from(`${JSON.stringify({ t: roundSeconds(seconds), end: true, exitCode: exitCode ?? null, reason })}\n`);
}

function roundSeconds(seconds: number): number {
  return Math.max(0, Math.round(seconds * 1e6) / 1e6);
}
