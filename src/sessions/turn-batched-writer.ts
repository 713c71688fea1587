import type { Writable } from 'node:stream';

/**
 * Returns a function that corks `sink` until the end of the current turn of the event loop, however
 * often it is called in that turn: everything written meanwhile — the pieces of one socket read —
 * goes out as one writev. A relay that copies messages as they come would otherwise make one syscall
 * (and, over TLS, one record) per message, however small. Nothing waits for later turns: the cork is
 * lifted as soon as the current one's synchronous work is done.
 */
export function turnCork(sink: Writable): () => void {
  let corked = false;
  const uncork = (): void => {
    corked = false;
    sink.uncork();
  };
  return () => {
    if (corked) return;
    corked = true;
    sink.cork();
    process.nextTick(uncork);
  };
}

/**
 * Writes to `sink` batched per turn (turnCork): kubectl's SPDY framer sends every field of a frame as
 * a WebSocket message of its own (protocols.md §5), which the tunnel relays upstream.
 *
 * Returns what `sink.write` returns, so back-pressure is the caller's as before.
 */
export function turnBatchedWriter(sink: Writable): (chunk: Buffer) => boolean {
  const cork = turnCork(sink);
  return (chunk) => {
    cork();
    return sink.write(chunk);
  };
}
