import { constants } from 'node:fs';
import { lstat, open, opendir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

/** How a recording is stored (docs/recording.md), by its file name's extension. */
export type RecordingFormat = 'asciicast' | 'raw' | 'portforward';

/** One recording as the Recordings page lists it: the metadata of its header, and its file. */
export interface RecordingEntry {
  /** The file name (`<auditID>.cast|.rec|.jsonl`): the recording's identifier in the API. */
  name: string;
  format: RecordingFormat;
  auditID: string | null;
  user: string | null;
  cluster: string | null;
  namespace: string | null;
  pod: string | null;
  container: string | null;
  kind: string | null;
  command: string[] | null;
  startedAt: string | null;
  size: number;
  modifiedAt: string;
  /** The file ends with its final line (the exit marker, or the end line): the session ended and the recording is whole. */
  complete: boolean;
}

/** What to list: every field matches exactly (`text` is a substring of any of them); times bound `startedAt`. */
export interface RecordingQuery {
  user?: string;
  cluster?: string;
  namespace?: string;
  pod?: string;
  text?: string;
  since?: number;
  until?: number;
  /** Who may see the entry (the caller's access rule), checked before any filter. */
  visible(entry: RecordingEntry): boolean;
  limit: number;
}

export interface RecordingListing {
  recordings: RecordingEntry[];
  /** More recordings matched than `limit`: narrow the filters or the time range. */
  truncated: boolean;
  /** The directory has more entries than one listing looks at: the oldest were not considered. */
  scanLimited: boolean;
}

const FORMATS: Record<string, RecordingFormat> = { cast: 'asciicast', rec: 'raw', jsonl: 'portforward' };

/** A recording's file name as the gateway writes it (recording-taps.ts): nothing else is ever opened. */
const RECORDING_FILE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}\.(cast|rec|jsonl)$/;

/** Directory entries one listing looks at at most: a huge directory costs a bounded pass. */
const MAX_SCAN_ENTRIES = 10_000;
/** The header line is read in steps up to this many bytes; a longer first line is not a recording's header. */
const HEADER_FIRST_READ = 4096;
const HEADER_MAX_BYTES = 64 * 1024;
/** The final line (marker or end line) is short: only this much of a file's end is read. */
const TAIL_BYTES = 4096;

/** A recording opened for reading; `size` is its length when opened (one being written grows past it). */
export interface OpenedRecording {
  handle: FileHandle;
  size: number;
  mtimeMs: number;
}

export function isRecordingName(name: string): boolean {
  return RECORDING_FILE.test(name);
}

function recordingFormat(name: string): RecordingFormat {
  return FORMATS[name.slice(name.lastIndexOf('.') + 1)]!;
}

/**
 * Opens one recording for reading: a name as the gateway writes it, a regular file in `directory`,
 * never through a symbolic link (O_NOFOLLOW) and never blocking on a FIFO (O_NONBLOCK). Undefined
 * when there is no such file.
 */
export async function openRecording(directory: string, name: string): Promise<OpenedRecording | undefined> {
  if (!isRecordingName(name)) return undefined;
  let handle: FileHandle;
  try {
    handle = await open(join(directory, name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  const info = await handle.stat().catch(() => undefined);
  if (!info?.isFile()) {
    await handle.close();
    return undefined;
  }
  return { handle, size: info.size, mtimeMs: info.mtimeMs };
}

/**
 * The recordings of `directory` that `query` selects, most recently written first, at most
 * `query.limit`. Bounded: at most MAX_SCAN_ENTRIES directory entries are looked at, and of each
 * file only its first line (the header) and its last few KiB (the final line) are read.
 */
export async function listRecordings(directory: string, query: RecordingQuery, maxScanEntries = MAX_SCAN_ENTRIES): Promise<RecordingListing> {
  const files: { name: string; size: number; mtimeMs: number }[] = [];
  let scanLimited = false;
  let seen = 0;
  let dir;
  try {
    dir = await opendir(directory);
  } catch {
    return { recordings: [], truncated: false, scanLimited: false };
  }
  for await (const entry of dir) {
    // Leaving the loop closes the directory (the iterator's return).
    if (++seen > maxScanEntries) {
      scanLimited = true;
      break;
    }
    // A symbolic link is not a file here (Dirent does not follow it): nothing outside the directory is listed.
    if (!entry.isFile() || !isRecordingName(entry.name)) continue;
    try {
      const info = await lstat(join(directory, entry.name));
      if (info.isFile()) files.push({ name: entry.name, size: info.size, mtimeMs: info.mtimeMs });
    } catch {
      // Deleted meanwhile (retention, another replica): not listed.
    }
  }
  files.sort((a, b) => b.mtimeMs - a.mtimeMs || (a.name < b.name ? -1 : 1));
  const recordings: RecordingEntry[] = [];
  let truncated = false;
  for (const file of files) {
    // A file that cannot be read now (an I/O error, deleted meanwhile) is left out, not the whole list.
    const entry = await readEntry(directory, file.name).catch(() => undefined);
    if (!entry || !query.visible(entry) || !matches(entry, query)) continue;
    if (recordings.length === query.limit) {
      truncated = true;
      break;
    }
    recordings.push(entry);
  }
  return { recordings, truncated, scanLimited };
}

function matches(entry: RecordingEntry, query: RecordingQuery): boolean {
  if (query.user !== undefined && entry.user !== query.user) return false;
  if (query.cluster !== undefined && entry.cluster !== query.cluster) return false;
  if (query.namespace !== undefined && entry.namespace !== query.namespace) return false;
  if (query.pod !== undefined && entry.pod !== query.pod) return false;
  const started = entry.startedAt === null ? Number.NaN : Date.parse(entry.startedAt);
  if (query.since !== undefined && !(started >= query.since)) return false;
  if (query.until !== undefined && !(started <= query.until)) return false;
  if (query.text !== undefined) {
    const needle = query.text.toLowerCase();
    const fields = [entry.name, entry.user, entry.cluster, entry.namespace, entry.pod, entry.container, entry.kind, ...(entry.command ?? [])];
    if (!fields.some((field) => field?.toLowerCase().includes(needle))) return false;
  }
  return true;
}

/** One file's entry from its header and its end; undefined when it vanished or is not a regular file. */
async function readEntry(directory: string, name: string): Promise<RecordingEntry | undefined> {
  const opened = await openRecording(directory, name);
  if (!opened) return undefined;
  try {
    return await describeRecording(name, opened);
  } finally {
    await opened.handle.close();
  }
}

/** An opened recording's entry (openRecording): its header's metadata, and whether it is whole. */
export async function describeRecording(name: string, opened: OpenedRecording): Promise<RecordingEntry> {
  const { handle, size, mtimeMs } = opened;
  const format = recordingFormat(name);
  const header = await readHeader(handle, size);
  const metadata = (format === 'asciicast' ? header?.ksg : header) ?? {};
  const tail = await readAt(handle, Math.max(0, size - TAIL_BYTES), Math.min(size, TAIL_BYTES));
  return {
    name,
    format,
    auditID: text(metadata.auditID),
    user: text(metadata.user),
    cluster: text(metadata.cluster),
    namespace: text(metadata.namespace),
    pod: text(metadata.pod),
    container: text(metadata.container),
    kind: text(metadata.kind),
    command: Array.isArray(metadata.command) && metadata.command.every((word) => typeof word === 'string') ? (metadata.command as string[]) : null,
    startedAt: text(metadata.startedAt),
    size,
    modifiedAt: new Date(mtimeMs).toISOString(),
    complete: header !== undefined && endsComplete(format, tail),
  };
}

/** The first line as a JSON object, read in bounded steps; undefined when there is none. */
async function readHeader(handle: FileHandle, size: number): Promise<Record<string, unknown> & { ksg?: Record<string, unknown> } | undefined> {
  let length = Math.min(size, HEADER_FIRST_READ);
  for (;;) {
    const head = await readAt(handle, 0, length);
    const end = head.indexOf(0x0a);
    if (end >= 0) {
      try {
        const value: unknown = JSON.parse(head.subarray(0, end).toString('utf8'));
        if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
        const header = value as Record<string, unknown>;
        return { ...header, ksg: typeof header.ksg === 'object' && header.ksg !== null ? (header.ksg as Record<string, unknown>) : undefined };
      } catch {
        return undefined;
      }
    }
    if (length >= Math.min(size, HEADER_MAX_BYTES)) return undefined;
    length = Math.min(size, HEADER_MAX_BYTES);
  }
}

/**
 * Whether the file's last line is its final one: the asciicast exit marker (`exit N` / `end: …`),
 * the raw framing's end line, or the port-forward end line (docs/recording.md).
 */
function endsComplete(format: RecordingFormat, tail: Buffer): boolean {
  if (tail.at(-1) !== 0x0a) return false;
  const body = tail.subarray(0, -1);
  // A raw record's payload is not newline-terminated: the end line starts right after the last payload byte.
  const start = format === 'raw' ? body.lastIndexOf('{"t":') : body.lastIndexOf(0x0a) + 1;
  if (start < 0) return false;
  try {
    const last: unknown = JSON.parse(body.subarray(start).toString('utf8'));
    if (format === 'asciicast') return Array.isArray(last) && last[1] === 'm' && typeof last[2] === 'string' && /^(exit -?\d+|end: )/.test(last[2]);
    return typeof last === 'object' && last !== null && (last as { end?: unknown }).end === true;
  } catch {
    return false;
  }
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}

function text(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}
