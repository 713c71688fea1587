/**
 * An append-only file that rotates itself as lumberjack does for kube-apiserver's audit log:
 * when a write would take it past `maxSizeBytes`, the file is renamed to
 * `name-2006-01-02T15-04-05.000.ext` (UTC, the time of rotation) and a new one is started; backups
 * beyond `maxBackups` (newest kept) or older than `maxAgeDays` (by the time in their name) are
 * deleted. 0 disables each bound.
 *
 *   new RotatingFileStream(path, { maxSizeBytes, maxBackups, maxAgeDays, now? })   (a Writable)
 *
 * The file is opened synchronously, so a path that cannot be written fails at start, and so a
 * rename never races an open in flight. Writes are serialized by Writable: a rotation happens
 * between two writes, never inside one, and a line is never split across files.
 */
import { closeSync, fstatSync, openSync, renameSync, write as fsWrite } from 'node:fs';
import { readdir, unlink } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { Writable } from 'node:stream';

export interface RotationOptions {
  /** Rotate before a write that would make the file larger than this; 0 = never. */
  maxSizeBytes: number;
  /** Rotated files kept, newest first; 0 = all. */
  maxBackups: number;
  /** Rotated files older than this are deleted; 0 = never. */
  maxAgeDays: number;
  /** Wall-clock milliseconds (tests pass their own). */
  now?: () => number;
}

const DAY_MS = 86_400_000;

export class RotatingFileStream extends Writable {
  private fd: number;
  private size: number;
  private lastRotationMs = 0;
  private pruning: Promise<void> = Promise.resolve();
  private readonly now: () => number;
  private readonly prefix: string;
  private readonly ext: string;

  constructor(
    readonly path: string,
    private readonly options: RotationOptions,
  ) {
    super();
    this.now = options.now ?? Date.now;
    this.ext = extname(path);
    this.prefix = `${basename(path, this.ext)}-`;
    this.fd = openSync(path, 'a', 0o600);
    this.size = fstatSync(this.fd).size;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const max = this.options.maxSizeBytes;
    if (max > 0 && this.size > 0 && this.size + chunk.length > max) this.rotate();
    this.writeAll(chunk, 0, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.pruning.then(() => {
      this.closeFile();
      callback();
    }, callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.closeFile();
    callback(error);
  }

  /** Once only: a descriptor number closed twice could by then belong to another file. */
  private closeFile(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }

  private writeAll(chunk: Buffer, offset: number, callback: (error?: Error | null) => void): void {
    fsWrite(this.fd, chunk, offset, chunk.length - offset, null, (error, written) => {
      if (error) return callback(error);
      this.size += written;
      if (offset + written < chunk.length) this.writeAll(chunk, offset + written, callback);
      else callback();
    });
  }

  private rotate(): void {
    // Two rotations within one millisecond (tiny test sizes) must not overwrite each other's backup.
    const at = Math.max(this.now(), this.lastRotationMs + 1);
    try {
      renameSync(this.path, join(dirname(this.path), `${this.prefix}${backupTime(at)}${this.ext}`));
      const next = openSync(this.path, 'a', 0o600);
      closeSync(this.fd);
      this.fd = next;
      this.size = 0;
      this.lastRotationMs = at;
    } catch {
      // An audit record outweighs a size bound: keep appending to the current file, try again at the next write.
      return;
    }
    this.pruning = this.pruning.then(() => this.prune()).catch(() => undefined);
  }

  private async prune(): Promise<void> {
    const { maxBackups, maxAgeDays } = this.options;
    if (maxBackups === 0 && maxAgeDays === 0) return;
    const pattern = /^(\d{4})-(\d\d)-(\d\d)T(\d\d)-(\d\d)-(\d\d)\.(\d{3})$/;
    const backups: Array<{ name: string; at: number }> = [];
    for (const name of await readdir(dirname(this.path))) {
      if (!name.startsWith(this.prefix) || !name.endsWith(this.ext)) continue;
      const match = pattern.exec(name.slice(this.prefix.length, name.length - this.ext.length));
      if (!match) continue;
      const [, y, mo, d, h, mi, s, ms] = match.map(Number) as number[];
      backups.push({ name, at: Date.UTC(y!, mo! - 1, d!, h!, mi!, s!, ms!) });
    }
    backups.sort((a, b) => b.at - a.at);
    const oldest = this.now() - maxAgeDays * DAY_MS;
    const doomed = backups.filter((backup, index) => (maxBackups > 0 && index >= maxBackups) || (maxAgeDays > 0 && backup.at < oldest));
    await Promise.all(doomed.map((backup) => unlink(join(dirname(this.path), backup.name)).catch(() => undefined)));
  }
}

/** lumberjack's backup time format, 2006-01-02T15-04-05.000, in UTC. */
function backupTime(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/:/g, '-').replace(/Z$/, '');
}
