import { readFileSync } from 'node:fs';

/** The directory of raw captures between real kubectl and the kubelet's streaming code. */
export const CAPTURES_DIR = process.env.KSG_CAPTURES_DIR ?? new URL('../fixtures/captures/', import.meta.url).pathname;

/** One direction of a captured connection: the HTTP head and the SPDY bytes after it. */
export function readCapture(name: string): { head: string; spdy: Buffer } {
  const raw = readFileSync(CAPTURES_DIR + name);
  const end = raw.indexOf('\r\n\r\n') + 4;
  return { head: raw.subarray(0, end).toString('latin1'), spdy: raw.subarray(end) };
}
