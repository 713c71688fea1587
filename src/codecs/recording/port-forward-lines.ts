/**
 * A port-forward session's recording: metadata only (docs/recording.md) — a JSON header line at the
 * start, and a JSON end line with the bytes each way and the duration. Pure: values in, bytes out.
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
