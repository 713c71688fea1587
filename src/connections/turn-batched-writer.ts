import type { Writable } from 'node:stream';

/**
 * Writes to `sink` so that everything written in one turn of the event loop — the pieces of one
 * socket read — goes out as one writev. A relay that copies messages as they come would otherwise
 * make one syscall (and, over TLS, one record) per message, however small: kubectl's SPDY framer
 * sends every field of a frame as a WebSocket message of its own (protocols.md §5). Nothing waits
 * for later turns: the cork is lifted as soon as the current one's synchronous work is done.
 *
 * Returns what `sink.write` returns, so back-pressure is the caller's as before.
 */
export function turnBatchedWriter(sink: Writable): (chunk: Buffer) => boolean {
  let corked = false;
  const uncork = (): void => {
    corked = false;
    sink.uncork();
  };
  return (chunk) => {
    if (!corked) {
      corked = true;
      sink.cork();
      process.nextTick(uncork);
    }
    return sink.write(chunk);
  };
}
