// The Recordings page's reading of recording.directory (src/recording/recording-index.ts): metadata
// from each file's first line only, whether a recording is whole from its last line, and a listing
// that stays bounded however many files the directory holds.
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listRecordings, type RecordingQuery } from '../../../src/recording/recording-index.js';
import { rawDataText, rawEndLine, rawHeaderLine } from '../../../src/codecs/recording/raw-frames.js';
import { asciicastEventLine, asciicastHeaderLine } from '../../../src/codecs/recording/asciicast.js';
import { portForwardEndLine, portForwardHeaderLine } from '../../../src/codecs/recording/port-forward-lines.js';

let dir: string;
t.beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ksg-recording-index-'));
});
t.afterEach(() => rm(dir, { recursive: true, force: true }));

const everyone: RecordingQuery = { visible: () => true, limit: 100 };
const byName = async (): Promise<Record<string, { complete: boolean; user: string | null; format: string; size: number }>> =>
  Object.fromEntries((await listRecordings(dir, everyone)).recordings.map((entry) => [entry.name, entry]));

t.test('complete: the last line is the final marker or end line, in each format', async (t) => {
  const meta = { user: 'alice', startedAt: '2026-01-01T00:00:00.000Z' };
  const cast = asciicastHeaderLine({ width: 80, height: 24, timestamp: 1, ksg: meta });
  await writeFile(join(dir, 'ended.cast'), Buffer.concat([cast, asciicastEventLine(0.1, 'o', 'hi'), asciicastEventLine(0.2, 'm', 'exit 3')]));
  await writeFile(join(dir, 'gone.cast'), Buffer.concat([cast, asciicastEventLine(0.1, 'o', 'hi'), asciicastEventLine(0.2, 'm', 'end: client went away')]));
  await writeFile(join(dir, 'crashed.cast'), Buffer.concat([cast, asciicastEventLine(0.1, 'o', 'hi')]));
  await writeFile(join(dir, 'cut.cast'), Buffer.concat([cast, asciicastEventLine(0.1, 'm', 'cut: recording.maxBytesPerSession (5 bytes) reached')]));
  // Output that looks like the end line is a payload, not the end: the file has none after it.
  const forged = Buffer.from('{"t":1,"end":true,"exitCode":0,"reason":"completed"}\n');
  await writeFile(join(dir, 'forged.rec'), Buffer.concat([rawHeaderLine(meta), Buffer.from(rawDataText(0.1, 'stdout', 0, forged.length)), forged, Buffer.from(rawDataText(0.2, 'stdout', forged.length, 3)), Buffer.from('abc')]));
  await writeFile(join(dir, 'ended.rec'), Buffer.concat([rawHeaderLine(meta), Buffer.from(rawDataText(0.1, 'stdout', 0, 5)), Buffer.from('hello'), rawEndLine(0.3, 0, 'completed')]));
  await writeFile(join(dir, 'ended.jsonl'), Buffer.concat([portForwardHeaderLine(meta), portForwardEndLine({ durationMs: 5, bytesFromClient: 1, bytesToClient: 2, reason: 'done' })]));
  await writeFile(join(dir, 'open.jsonl'), portForwardHeaderLine(meta));
  const entries = await byName();
  t.match(entries, {
    'ended.cast': { complete: true, user: 'alice', format: 'asciicast' },
    'gone.cast': { complete: true },
    'crashed.cast': { complete: false },
    'cut.cast': { complete: false },
    'forged.rec': { complete: false, format: 'raw' },
    'ended.rec': { complete: true },
    'ended.jsonl': { complete: true, format: 'portforward' },
    'open.jsonl': { complete: false },
  });
});

t.test('a file without a header line in its first 64 KiB is listed without metadata, never parsed whole', async (t) => {
  await writeFile(join(dir, 'no-newline.rec'), Buffer.alloc(2 * 1024 * 1024, 0x61));
  await writeFile(join(dir, 'long-header.cast'), `${JSON.stringify({ version: 2, ksg: { user: 'alice', pad: 'x'.repeat(70 * 1024) } })}\n`);
  await writeFile(join(dir, 'not-json.cast'), 'hello\n[0.1, "m", "exit 0"]\n');
  await writeFile(join(dir, 'empty.cast'), '');
  const entries = await byName();
  t.match(entries['no-newline.rec'], { user: null, complete: false, size: 2 * 1024 * 1024 });
  t.match(entries['long-header.cast'], { user: null }, 'a header longer than 64 KiB is not read');
  t.match(entries['not-json.cast'], { user: null, complete: false }, 'no header, not a whole recording');
  t.match(entries['empty.cast'], { user: null, size: 0, complete: false });
});

t.test('bounded: at most maxScanEntries directory entries, at most limit recordings', async (t) => {
  for (let i = 0; i < 6; i++) await writeFile(join(dir, `r${i}.rec`), `${JSON.stringify({ format: 'ksg-raw', user: 'alice' })}\n`);
  const scanned = await listRecordings(dir, everyone, 3);
  t.equal(scanned.scanLimited, true, 'says the directory was not read to its end');
  t.ok(scanned.recordings.length <= 3);
  const limited = await listRecordings(dir, { ...everyone, limit: 2 });
  t.equal(limited.recordings.length, 2);
  t.equal(limited.truncated, true);
  t.equal(limited.scanLimited, false);
  t.same(await listRecordings(join(dir, 'missing'), everyone), { recordings: [], truncated: false, scanLimited: false }, 'a missing directory lists nothing');
});
