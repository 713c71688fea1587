/**
 * Payloads up to this size are written as one buffer, frame header and payload copied together,
 * instead of a corked writev of the header and a view of the payload. A keystroke or a resize then
 * costs one write request instead of the stream machinery's gather of two; copying a kilobyte is
 * cheaper than that bookkeeping, and bulk transfers (64 KiB pieces) keep their copy-free path.
 */
export const SMALL_WRITE_BYTES = 1024;
