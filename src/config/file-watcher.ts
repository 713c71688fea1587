/**
 * Watches the files the configuration names (certificates, CA bundles, token files) and reports new
 * contents, so that they can be used for new connections without a restart.
 *
 * Why polling, and not fs.watch: Kubernetes updates a mounted Secret or ConfigMap by writing a new
 * timestamped folder and swapping the `..data` symlink to it; `tls.crt` is a symlink to
 * `..data/tls.crt`. The file the gateway opened is never modified: its inode is simply abandoned.
 * inotify (fs.watch) watches inodes, so it reports nothing for the new file, or one `rename` on the
 * old one and then nothing ever again. stat() follows the symlinks each time, so polling sees the
 * new file. The poll compares a cheap stat signature (device, inode, size, mtime and ctime; ctime
 * changes on every write, even one that keeps the mtime) and only then reads the file and compares
 * a hash of its content, so that a swap to identical content is no change. (fs.watchFile would
 * also stat through the symlinks, but compares mtimes only and gives no bound on reads.)
 *
 * Bounded: one unref'd timer per watcher (it never keeps the process alive), the next poll is
 * scheduled only after the previous one finished, files are read one at a time and only up to
 * maxBytes.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { describeFsError } from './errors.js';

export interface FileWatcherOptions {
  /** Time between polls; kubelet syncs Secrets every minute or so, so seconds are plenty. Default 2000. */
  intervalMs?: number;
  /** Larger files are refused (reported through onError) rather than read. Default 1 MiB. */
  maxBytes?: number;
  /** A file now holds different content. Validate before use: a writer that is not atomic may be caught halfway. */
  onChange(path: string, content: string): void;
  /** A file cannot be read (once per distinct problem); the last content stays in use. */
  onError?(path: string, message: string): void;
}

/** A file to watch, with the content already in use when known (so that it is not reported as a change). */
export interface WatchedFile {
  path: string;
  content?: string;
}

interface FileState {
  path: string;
  signature?: string;
  hash?: string;
  problem?: string;
}

const DEFAULT_WATCH_INTERVAL_MS = 2_000;
const DEFAULT_WATCH_MAX_BYTES = 1024 * 1024;
const RACY_MS = 2_000;

export class FileWatcher {
  /** Polls completed so far: tests wait on it instead of sleeping. */
  polls = 0;
  private readonly files: FileState[];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly intervalMs: number;
  private readonly maxBytes: number;
  private readonly started: Promise<void>;

  constructor(
    files: readonly (WatchedFile | string)[],
    private readonly options: FileWatcherOptions,
  ) {
    this.intervalMs = options.intervalMs ?? DEFAULT_WATCH_INTERVAL_MS;
    this.maxBytes = options.maxBytes ?? DEFAULT_WATCH_MAX_BYTES;
    // One state per path, however often it is named (a CA used by two upstreams).
    const byPath = new Map<string, FileState>();
    for (const file of files) {
      const { path, content } = typeof file === 'string' ? { path: file, content: undefined } : file;
      if (!byPath.has(path)) byPath.set(path, { path, hash: content === undefined ? undefined : hashOf(content) });
    }
    this.files = [...byPath.values()];
    // The first look takes the stat signatures (and hashes unknown contents) without reporting.
    this.started = this.poll(false).then(() => this.schedule());
  }

  /** Resolves once the first look at the files is done. */
  ready(): Promise<void> {
    return this.started;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.poll(true).then(() => this.schedule()), this.intervalMs);
    this.timer.unref();
  }

  private async poll(report: boolean): Promise<void> {
    for (const file of this.files) {
      if (this.closed) return;
      await this.check(file, report);
    }
    this.polls++;
  }

  private async check(file: FileState, report: boolean): Promise<void> {
    let content: string;
    try {
      const stats = await stat(file.path);
      if (stats.size > this.maxBytes) throw new Error(`larger than ${this.maxBytes} bytes`);
      const signature = `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;
      if (signature === file.signature) return;
      content = await readFile(file.path, 'utf8');
      // A file changed within the timestamp granularity of some file systems (a second) could
      // change again without changing its signature ("racy" timestamps, as git calls them): such a
      // file is read again on the next poll, until its timestamps are old enough to trust.
      file.signature = Date.now() - Math.max(stats.mtimeMs, stats.ctimeMs) < RACY_MS ? undefined : signature;
    } catch (error) {
      const problem = (error as NodeJS.ErrnoException).code ? describeFsError(error) : (error as Error).message;
      // A file that comes back is read again, even with the signature it had.
      file.signature = undefined;
      if (problem !== file.problem && !this.closed) this.options.onError?.(file.path, problem);
      file.problem = problem;
      return;
    }
    file.problem = undefined;
    const hash = hashOf(content);
    if (hash === file.hash) return;
    const known = file.hash !== undefined;
    file.hash = hash;
    if ((report || known) && !this.closed) {
      try {
        this.options.onChange(file.path, content);
      } catch (error) {
        // The watcher keeps polling: one failed reload must not stop the next ones.
        this.options.onError?.(file.path, `onChange failed: ${(error as Error).message}`);
      }
    }
  }
}

/** Watches `files` until close(); see FileWatcher. */
export function watchFiles(files: readonly (WatchedFile | string)[], options: FileWatcherOptions): FileWatcher {
  return new FileWatcher(files, options);
}

function hashOf(content: string): string {
  return createHash('sha256').update(content).digest('hex');
}
