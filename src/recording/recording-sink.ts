import { open, type FileHandle } from 'node:fs/promises';

/** Where a recording's bytes go: a file, or in tests anything that can be slow or fail on demand. */
export interface RecordingSink {
  /** Writes the buffers in order; rejects on a write failure (disk full, EIO). Their memory is reused once it resolves: keep none of it. */
  write(buffers: Buffer[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * A new file, mode 0600 (recordings hold what people typed and saw); `wx`: an existing file (an
 * audit ID seen twice) is never overwritten.
 */
export async function openRecordingFile(path: string): Promise<RecordingSink> {
  const handle: FileHandle = await open(path, 'wx', 0o600);
  return {
    async write(buffers) {
      let total = 0;
      for (const buffer of buffers) total += buffer.length;
      let written = 0;
      // writev may write part of what it was given (a full disk at the edge); the rest is retried.
      while (written < total) {
        const { bytesWritten } = await handle.writev(remainder(buffers, written));
        if (bytesWritten === 0) throw new Error('the recording file took no bytes');
        written += bytesWritten;
      }
    },
    close: () => handle.close(),
  };
}

function remainder(buffers: Buffer[], skip: number): Buffer[] {
  if (skip === 0) return buffers;
  const rest: Buffer[] = [];
  for (const buffer of buffers) {
    if (skip >= buffer.length) skip -= buffer.length;
    else {
      rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
      skip = 0;
    }
  }
  return rest;
}
