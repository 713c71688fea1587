import { opendir, stat, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../observability/logger.js';

export interface RetentionLimits {
  /** 0: no age limit. */
  maxAgeDays: number;
  /** 0: no size limit. */
  maxTotalBytes: number;
}

/** @internal Exported for its unit tests (byte vectors, seams); the product does not import it. */
export interface SweepResult {
  deletedForAge: number;
  deletedForSize: number;
  /** Bytes of the recordings kept (finished ones and those being written). */
  keptBytes: number;
  /** Free bytes for an unprivileged writer on the directory's file system; undefined when unknown. */
  spaceAvailable?: number;
}

/** Entries one sweep looks at at most: a directory of millions of files costs a bounded pass, the rest waits. */
const MAX_SWEEP_ENTRIES = 100_000;

const RECORDING_NAME = /\.(cast|rec|jsonl)$/;

/**
 * One retention pass over `directory`: recordings older than the age limit go, then the oldest
 * until the rest fit the size limit. Recordings being written (`active`) are never deleted but count
 * toward the size. Only files named like recordings are touched.
 * @internal Exported for its unit tests (byte vectors, seams); the product does not import it.
 */
export async function sweepRecordings(directory: string, limits: RetentionLimits, active: ReadonlySet<string>, now = Date.now(), maxEntries = MAX_SWEEP_ENTRIES): Promise<SweepResult> {
  const files: { name: string; size: number; mtimeMs: number }[] = [];
  let seen = 0;
  const dir = await opendir(directory);
  for await (const entry of dir) {
    if (++seen > maxEntries) break;
    if (!entry.isFile() || !RECORDING_NAME.test(entry.name)) continue;
    try {
      const info = await stat(join(directory, entry.name));
      files.push({ name: entry.name, size: info.size, mtimeMs: info.mtimeMs });
    } catch {
      // Deleted meanwhile (another replica on a shared volume): nothing to keep or delete.
    }
  }
  const result: SweepResult = { deletedForAge: 0, deletedForSize: 0, keptBytes: 0 };
  const oldest = limits.maxAgeDays > 0 ? now - limits.maxAgeDays * 86_400_000 : -Infinity;
  const kept: typeof files = [];
  for (const file of files) {
    if (!active.has(file.name) && file.mtimeMs < oldest && (await remove(directory, file.name))) result.deletedForAge++;
    else kept.push(file);
  }
  result.keptBytes = kept.reduce((sum, file) => sum + file.size, 0);
  if (limits.maxTotalBytes > 0 && result.keptBytes > limits.maxTotalBytes) {
    kept.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const file of kept) {
      if (result.keptBytes <= limits.maxTotalBytes) break;
      if (active.has(file.name) || !(await remove(directory, file.name))) continue;
      result.deletedForSize++;
      result.keptBytes -= file.size;
    }
  }
  try {
    const fs = await statfs(directory);
    result.spaceAvailable = fs.bavail * fs.bsize;
  } catch {
    // Unknown: the gauge keeps its last value.
  }
  return result;
}

async function remove(directory: string, name: string): Promise<boolean> {
  try {
    await unlink(join(directory, name));
    return true;
  } catch {
    return false;
  }
}

export interface RetentionObserver {
  swept?(result: SweepResult): void;
}

/** Runs the sweep every `intervalMs` (and once at start), one pass at a time; stop() ends it. */
export function startRetention(directory: string, limits: RetentionLimits, active: ReadonlySet<string>, intervalMs: number, logger: Logger, observer: RetentionObserver = {}): { stop(): void; sweep(): Promise<void> } {
  let running: Promise<void> | undefined;
  const sweep = (): Promise<void> => {
    running ??= sweepRecordings(directory, limits, active)
      .then(
        (result) => {
          observer.swept?.(result);
          if (result.deletedForAge + result.deletedForSize > 0) logger.info({ event: 'recordings-deleted', ...result }, 'recording retention deleted old recordings');
        },
        (error: Error) => logger.warn({ event: 'recording-sweep-failed', err: error.message }, 'the recording retention sweep failed'),
      )
      .finally(() => (running = undefined));
    return running;
  };
  void sweep();
  const timer = setInterval(() => void sweep(), intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer), sweep };
}
