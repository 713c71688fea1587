/**
 * A port-forward session's recording (docs/recording.md): a JSON header line at the start, and a JSON
 * end line with the bytes each way and the duration; between them, when a rule asks for content, the
 * raw framing's records (raw-frames.ts), one stream per connection and direction. Pure: values in, bytes out.
 */

export function portForwardHeaderLine(metadata: Record<string, unknown>): Buffer {
  return Buffer.from(`${JSON.stringify({ format: 'ksg-portforward', version: 1, ...metadata })}\n`);
}

export interface PortForwardEnd {
  durationMs: number;
  bytesFromClient: number;
  bytesToClient: number;
  reason: string;
}

export function portForwardEndLine(end: PortForwardEnd): Buffer {
  return Buffer.from(`${JSON.stringify({ end: true, durationMs: Math.round(end.durationMs), bytesFromClient: end.bytesFromClient, bytesToClient: end.bytesToClient, reason: end.reason })}\n`);
}

/** Content recording stopped here: the tunnel's SPDY could not be read any further (the session goes on). */
export function portForwardUnreadableLine(seconds: number, reason: string): Buffer {
  return Buffer.from(`${JSON.stringify({ t: Math.max(0, Math.round(seconds * 1e6) / 1e6), unreadable: reason })}\n`);
}
