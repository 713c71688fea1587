/**
 * How one session's buffer budget (`limits.sessionBufferBytes`) is shared: half for what waits in
 * the client's WebSocket send queue, half for the SPDY streams' read buffers, split evenly. Past
 * its share each side stops reading its source, so a session never holds much more than the budget
 * (one chunk over each share at most). The default, 1 MiB, gives 512 KiB and 4 × 128 KiB.
 */
export function splitSessionBudget(totalBytes: number | undefined, streams: number): { webSocketHighWaterMark?: number; streamHighWaterMark?: number } {
  if (totalBytes === undefined) return {};
  return { webSocketHighWaterMark: Math.floor(totalBytes / 2), streamHighWaterMark: Math.max(1024, Math.floor(totalBytes / 2 / Math.max(1, streams))) };
}
