/**
 * Buffers handed out with one byte in front of them, in the same memory, that nobody reads again:
 * a DATA payload's preceding byte is the last byte of the frame header the parser has already read.
 * A channel message can then be made by writing the channel byte there, instead of copying the whole
 * payload behind a fresh byte — on a download that copy (and the fresh ArrayBuffer each message
 * needed) was the gateway's largest piece of JavaScript work.
 *
 * A WeakSet rather than a flag on the buffer: only the exact Buffer object the parser handed out is
 * trusted, never one derived from it (a concat or a slice may sit in someone else's memory), and the
 * byte can be taken once only, since a second message written there would change the first.
 */
const spareBytes = new WeakSet<Buffer>();

/** Records that the byte before `buffer` (same ArrayBuffer) is free for its reader to overwrite. */
export function markSpareByteBefore(buffer: Buffer): void {
  if (buffer.byteOffset > 0) spareBytes.add(buffer);
}

/** True once per marked buffer: the caller may now write `buffer.byteOffset - 1`. */
export function takeSpareByteBefore(buffer: Buffer): boolean {
  return spareBytes.delete(buffer);
}
