// The recording writer and the session recorders: flushing, the bound on what waits for a slow
// disk (gap or fail), the size cap's cut marker, write failures, rules and fail-closed opening.
import t from 'tap';
import { mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingWriter } from '../../../src/recording/recording-writer.js';
import type { RecordingSink } from '../../../src/recording/recording-sink.js';
import { AsciicastRecorder, RawRecorder, type SessionRecorderOptions } from '../../../src/recording/session-recorder.js';
import { RECORDING_FAILED, RECORDING_UNAVAILABLE, RecordingTaps } from '../../../src/recording/recording-taps.js';
import { startRetention, sweepRecordings, type SweepResult } from '../../../src/recording/retention.js';
import { SessionTapRefusal, type TappedSession } from '../../../src/translators/bridge.js';
import { createLogger } from '../../../src/observability/logger.js';
import { until } from '../../helpers/wait.js';

/** A sink that keeps what it is given; `hold` makes writes wait until `release`. */
class MemorySink implements RecordingSink {
  bytes = Buffer.alloc(0);
  writes = 0;
  closed = false;
  held: (() => void)[] = [];
  hold = false;
  failWith: Error | undefined;
  private waiters: (() => void)[] = [];

  async write(buffers: Buffer[]): Promise<void> {
    if (this.failWith) throw this.failWith;
    if (this.hold) await new Promise<void>((resolve) => this.held.push(resolve));
    this.bytes = Buffer.concat([this.bytes, ...buffers]);
    this.writes++;
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  release(): void {
    this.hold = false;
    for (const resolve of this.held.splice(0)) resolve();
  }

  nextWrite(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  text(): string {
    return this.bytes.toString();
  }
}

const silent = createLogger({ level: 'silent' });

function recorderOptions(sink: MemorySink, overrides: Partial<SessionRecorderOptions> = {}, maxPendingBytes = 4096): SessionRecorderOptions {
  let clock = 0;
  return {
    writer: new RecordingWriter(sink, { onFailure: () => undefined, maxPendingBytes, flushAtBytes: 1 << 20, flushIntervalMs: 3_600_000 }),
    metadata: { user: 'alice' },
    captureInput: false,
    maxBytes: 1 << 20,
    required: false,
    onFailure: () => undefined,
    now: () => (clock += 100),
    ...overrides,
  };
}

t.test('the writer writes what was appended within its flush interval, without being asked', async (t) => {
  // The writer's timer does not hold the process open (unref): this test does, meanwhile.
  const keepAlive = setInterval(() => undefined, 1000);
  t.teardown(() => clearInterval(keepAlive));
  const sink = new MemorySink();
  const writer = new RecordingWriter(sink, { onFailure: () => undefined, flushIntervalMs: 20 });
  const written = sink.nextWrite();
  t.ok(writer.append(Buffer.from('abc')));
  t.equal(sink.writes, 0, 'batched, not written per append');
  await written;
  t.equal(sink.text(), 'abc');
  await writer.close();
  t.ok(sink.closed);
});

t.test('the writer holds at most maxPendingBytes while the sink is behind, and says no past it', async (t) => {
  const sink = new MemorySink();
  sink.hold = true;
  const writer = new RecordingWriter(sink, { onFailure: () => undefined, maxPendingBytes: 100, flushAtBytes: 10, flushIntervalMs: 3_600_000 });
  let taken = 0;
  for (let i = 0; i < 1000; i++) if (writer.append(Buffer.alloc(10, 'x'))) taken++;
  t.equal(taken, 10, 'ten 10-byte appends fit a 100-byte bound; the other 990 are refused');
  sink.release();
  await writer.close();
  t.equal(sink.bytes.length, 100, 'everything taken is written in the end');
});

t.test('appendCopy packs small records into a slab, copied, in order with other appends; large ones get their own copy', async (t) => {
  const sink = new MemorySink();
  const writer = new RecordingWriter(sink, { onFailure: () => undefined, flushIntervalMs: 3_600_000, flushAtBytes: 1 << 30, maxPendingBytes: 1 << 30 });
  const reused = Buffer.from('aa');
  writer.appendCopy(Buffer.from('1:'), reused);
  reused.fill('z');
  writer.appendCopy(Buffer.from('2:'), Buffer.from('bb'));
  writer.appendMarker(Buffer.from('|M|'));
  const large = Buffer.alloc(100_000, 'L');
  writer.appendCopy(Buffer.from('3:'), large);
  large.fill('z');
  writer.appendCopy(Buffer.from('4:'), Buffer.from('cc'));
  await writer.close();
  t.equal(sink.text(), `1:aa2:bb|M|3:${'L'.repeat(100_000)}4:cc`);
  t.equal(sink.writes, 1, 'one write for all of it');
});

t.test('written slabs are reused only once their write is done: a held write keeps its bytes while another recording takes slabs', async (t) => {
  const options = { onFailure: () => undefined, flushIntervalMs: 3_600_000, flushAtBytes: 1 << 30, maxPendingBytes: 1 << 30 };
  const held = new MemorySink();
  held.hold = true;
  const first = new RecordingWriter(held, options);
  const expected: Buffer[] = [];
  // 40 records of 16 KiB: more than two 256 KiB slabs, all in one write the sink holds.
  for (let i = 0; i < 40; i++) {
    const payload = Buffer.alloc(16 * 1024, i);
    first.appendCopy(`a${i}:`, payload);
    expected.push(Buffer.from(`a${i}:`), payload);
  }
  first.flush();
  const other = new MemorySink();
  const second = new RecordingWriter(other, options);
  for (let i = 0; i < 40; i++) second.appendCopy(`b${i}:`, Buffer.alloc(16 * 1024, 0xee));
  await second.close();
  held.release();
  await first.close();
  t.ok(held.bytes.equals(Buffer.concat(expected)), 'the held write wrote what was appended, not what another recording put in a reused slab');
  t.equal(other.bytes.length, 40 * (16 * 1024) + 40 * 'b0:'.length + 30, 'the other recording complete');
});

t.test('a write failure is reported once, the sink is closed, later appends are refused', async (t) => {
  const sink = new MemorySink();
  sink.failWith = new Error('ENOSPC: no space left on device');
  const failures: Error[] = [];
  const writer = new RecordingWriter(sink, { onFailure: (error) => failures.push(error), flushAtBytes: 1 });
  writer.append(Buffer.from('a'));
  await writer.close();
  t.same(failures.map((error) => error.message), ['ENOSPC: no space left on device']);
  t.ok(sink.closed);
  t.notOk(writer.append(Buffer.from('b')));
});

t.test('asciicast: header sized by the first resize, output and resizes as events, input left out, exit marker last', async (t) => {
  const sink = new MemorySink();
  const recorder = new AsciicastRecorder(recorderOptions(sink));
  recorder.event('resize', { width: 100, height: 30 });
  recorder.bytes('to-client', 'stdout', Buffer.from('$ '));
  recorder.bytes('to-upstream', 'stdin', Buffer.from('secret\r'));
  // A UTF-8 character split over two payloads is one character in the cast.
  recorder.bytes('to-client', 'stdout', Buffer.from([0xc3]));
  recorder.bytes('to-client', 'stdout', Buffer.from([0xa9, 0x0d, 0x0a]));
  recorder.event('resize', { width: 90, height: 20 });
  recorder.event('end', { exitCode: 3, reason: 'completed' });
  await new Promise((resolve) => setImmediate(resolve));
  const lines = sink.text().trimEnd().split('\n').map((line) => JSON.parse(line) as unknown);
  t.match(lines[0], { version: 2, width: 100, height: 30, ksg: { user: 'alice' } });
  t.same(lines.slice(1).map((line) => (line as unknown[]).slice(1)), [
    ['o', '$ '],
    ['o', 'é\r\n'],
    ['r', '90x20'],
    ['m', 'exit 3'],
  ]);
  t.notMatch(sink.text(), /secret/, 'stdin is not recorded without captureInput');
});

t.test('asciicast: input recorded with captureInput; output before any resize gets the default size', async (t) => {
  const sink = new MemorySink();
  const recorder = new AsciicastRecorder(recorderOptions(sink, { captureInput: true }));
  recorder.bytes('to-client', 'stdout', Buffer.from('x'));
  recorder.bytes('to-upstream', 'stdin', Buffer.from('ls\r'));
  recorder.event('end', { reason: 'client closed' });
  await new Promise((resolve) => setImmediate(resolve));
  const lines = sink.text().trimEnd().split('\n').map((line) => JSON.parse(line) as unknown[]);
  t.match(lines[0], { width: 80, height: 24 });
  t.same(lines.slice(1).map((line) => line.slice(1)), [['o', 'x'], ['i', 'ls\r'], ['m', 'end: client closed']]);
});

t.test('raw: bytes kept exactly up to maxBytes, then a cut line naming the stream and offset; the session end still written', async (t) => {
  const sink = new MemorySink();
  const recorder = new RawRecorder(recorderOptions(sink, { maxBytes: 10 }));
  const payload = Buffer.from('0123456');
  recorder.bytes('to-client', 'stdout', payload);
  payload.fill('z'); // the socket reuses its memory: the recording kept a copy
  recorder.bytes('to-client', 'stdout', Buffer.from('789abc'));
  recorder.bytes('to-client', 'stderr', Buffer.from('late'));
  recorder.event('end', { exitCode: 0, reason: 'completed' });
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(
    sink.text(),
    '{"format":"ksg-raw","version":1,"user":"alice"}\n' +
      '{"t":0.1,"s":"stdout","o":0,"n":7}\n0123456' +
      '{"t":0.2,"s":"stdout","o":7,"n":3}\n789' +
      '{"t":0.3,"cut":"stdout","o":10}\n' +
      '{"t":0.4,"end":true,"exitCode":0,"reason":"completed"}\n',
  );
});

t.test('a slow disk: without required the overflow is dropped and marked as a gap; with required the session is failed once', async (t) => {
  const sink = new MemorySink();
  sink.hold = true;
  const options = recorderOptions(sink, {}, 128);
  const recorder = new RawRecorder(options);
  options.writer.flush(); // the header's write starts, and the disk holds it
  // The header (48 bytes) is in flight: a 100-byte record does not fit the 128-byte bound; it is dropped.
  recorder.bytes('to-client', 'stdout', Buffer.alloc(100, 'a'));
  // A small one fits: the gap is marked, then its bytes follow.
  recorder.bytes('to-client', 'stdout', Buffer.alloc(2, 'b'));
  t.equal(sink.text(), '', 'nothing written yet');
  sink.release();
  recorder.event('end', { exitCode: 0, reason: 'completed' });
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.match(sink.text(), /\{"t":0\.2,"gap":"stdout","o":0,"n":100\}\n\{"t":0\.2,"s":"stdout","o":100,"n":2\}\nbb\{"t":0\.3,"end"/, 'the gap says which bytes are missing');
  t.notMatch(sink.text(), /aaaa/, 'the dropped bytes are not there');

  const required = new MemorySink();
  required.hold = true;
  const reasons: string[] = [];
  const strictOptions = recorderOptions(required, { required: true, onFailure: (reason) => reasons.push(reason) }, 128);
  const strict = new RawRecorder(strictOptions);
  strictOptions.writer.flush();
  for (let i = 0; i < 5; i++) strict.bytes('to-client', 'stdout', Buffer.alloc(100, 'a'));
  t.same(reasons, ['the recording fell behind the session']);
  required.release();
});

function tapped(overrides: Partial<TappedSession> = {}, failed: string[] = []): TappedSession {
  return {
    subject: { kind: 'exec', mode: 'translated', upstream: 'prod', auditID: 'f0e1d2c3-0000-4000-8000-000000000001', user: 'alice', namespace: 'ns', pod: 'web-1', container: 'c', command: ['sh'], clientAddress: '127.0.0.1', userAgent: 'kubectl/v1.33.0' },
    tty: false,
    identity: { user: { name: 'alice', groups: ['dev'], extra: {} }, attributes: { verb: 'create', resourceRequest: true, apiGroup: '', apiVersion: 'v1', resource: 'pods', subresource: 'exec', namespace: 'ns', name: 'web-1', path: '/api/v1/namespaces/ns/pods/web-1/exec' } as never },
    fail: (message) => failed.push(message),
    ...overrides,
  };
}

t.test('RecordingTaps: one file per session named by its audit ID, mode 0600, with the metadata header', async (t) => {
  const directory = await mkdtemp(join(tmpdir(), 'ksg-rec-'));
  t.teardown(() => rm(directory, { recursive: true, force: true }));
  const taps = new RecordingTaps({ directory, rules: [], captureInput: false, maxBytesPerSession: 1024, required: false }, silent);
  const opened = await taps.open(tapped());
  t.equal(opened?.name, 'f0e1d2c3-0000-4000-8000-000000000001.rec');
  t.ok(taps.active.has(opened!.name!));
  opened!.tap.event('end', { exitCode: 0, reason: 'completed' });
  await new Promise((resolve) => setTimeout(resolve, 50));
  const file = await readFile(join(directory, opened!.name!), 'utf8');
  t.match(JSON.parse(file.split('\n')[0]!), { format: 'ksg-raw', user: 'alice', groups: ['dev'], cluster: 'prod', namespace: 'ns', pod: 'web-1', container: 'c', command: ['sh'], clientAddress: '127.0.0.1', userAgent: 'kubectl/v1.33.0' });
  t.notOk(taps.active.has(opened!.name!), 'no longer active once closed');
  const { mode } = await import('node:fs/promises').then((fs) => fs.stat(join(directory, opened!.name!)));
  t.equal(mode & 0o777, 0o600);
  const forward = await taps.open(tapped({ subject: { ...tapped().subject, kind: 'portforward', auditID: 'pf-1' }, ports: [8080] }));
  t.equal(forward?.name, 'pf-1.jsonl', 'a port-forward gets a metadata recording');
  forward!.tap.bytes('to-client', 'port 8080 to client', Buffer.from('secret-bytes'));
  forward!.tap.event('end', { reason: 'client closed', bytesFromClient: 10, bytesToClient: 7 });
  await until(() => !taps.active.has('pf-1.jsonl'), 'the port-forward recording closed');
  const [header, end] = (await readFile(join(directory, 'pf-1.jsonl'), 'utf8')).trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  t.match(header, { format: 'ksg-portforward', version: 1, kind: 'portforward', ports: [8080], pod: 'web-1' });
  t.match(end, { end: true, bytesFromClient: 10, bytesToClient: 7, reason: 'client closed' });
  t.notMatch(await readFile(join(directory, 'pf-1.jsonl'), 'utf8'), /secret-bytes/, 'no content');
});

t.test('RecordingTaps: rules select sessions like the edge policy', async (t) => {
  const directory = await mkdtemp(join(tmpdir(), 'ksg-rec-'));
  t.teardown(() => rm(directory, { recursive: true, force: true }));
  const taps = new RecordingTaps({ directory, rules: [{ groups: ['ops'], verbs: ['exec'], namespaces: ['*'], pods: ['*'], clusters: ['*'] }], captureInput: false, maxBytesPerSession: 1024, required: false }, silent);
  t.equal(await taps.open(tapped()), undefined, 'alice (group dev) is not selected');
  const ops = tapped({ identity: { ...tapped().identity!, user: { name: 'bob', groups: ['ops'], extra: {} } } });
  t.ok(await taps.open(ops), 'bob (group ops) is');
});

t.test('RecordingTaps: an unopenable recording refuses the session when required, and is only counted otherwise', async (t) => {
  const missing = join(tmpdir(), `ksg-no-such-dir-${process.pid}`);
  const failures: string[] = [];
  const strict = new RecordingTaps({ directory: missing, rules: [], captureInput: false, maxBytesPerSession: 1024, required: true }, silent, { failed: (reason) => failures.push(reason) });
  await t.rejects(strict.open(tapped()), new SessionTapRefusal(RECORDING_UNAVAILABLE));
  t.notMatch(RECORDING_UNAVAILABLE, missing, 'the path is not told to the client');
  const lenient = new RecordingTaps({ directory: missing, rules: [], captureInput: false, maxBytesPerSession: 1024, required: false }, silent, { failed: (reason) => failures.push(reason) });
  t.equal(await lenient.open(tapped()), undefined);
  t.same(failures, ['open', 'open']);
});

t.test('RecordingTaps: a write failure ends a required session with a Status message, and not an optional one', async (t) => {
  for (const required of [true, false]) {
    const sink = new MemorySink();
    sink.failWith = new Error('EIO: i/o error');
    const failed: string[] = [];
    const taps = new RecordingTaps({ directory: '/unused', rules: [], captureInput: false, maxBytesPerSession: 1 << 20, required }, silent, {}, async () => sink);
    const opened = await taps.open(tapped({}, failed));
    opened!.tap.bytes('to-client', 'stdout', Buffer.alloc(300_000, 'x'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    t.same(failed, required ? [RECORDING_FAILED] : [], `required: ${required}`);
    t.notOk(taps.active.has(opened!.name!), 'the failed file is closed');
  }
});

t.test('retention: old recordings go, then the oldest until the rest fit; recordings being written and other files stay', async (t) => {
  const directory = await mkdtemp(join(tmpdir(), 'ksg-ret-'));
  t.teardown(() => rm(directory, { recursive: true, force: true }));
  const now = Date.now();
  const day = 86_400_000;
  const files: [string, number, number][] = [
    ['ancient.cast', 10, now - 40 * day],
    ['active-old.rec', 10, now - 40 * day],
    ['old.rec', 100, now - 3 * day],
    ['middle.cast', 100, now - 2 * day],
    ['new.cast', 100, now - 1 * day],
    ['notes.txt', 10, now - 40 * day],
  ];
  for (const [name, size, mtime] of files) {
    await writeFile(join(directory, name), Buffer.alloc(size));
    await utimes(join(directory, name), mtime / 1000, mtime / 1000);
  }
  const result = await sweepRecordings(directory, { maxAgeDays: 30, maxTotalBytes: 250 }, new Set(['active-old.rec']), now);
  t.equal(result.deletedForAge, 1);
  t.equal(result.deletedForSize, 1);
  t.equal(result.keptBytes, 210);
  t.ok(result.spaceAvailable! > 0);
  t.same((await readdir(directory)).sort(), ['active-old.rec', 'middle.cast', 'new.cast', 'notes.txt']);
});

t.test('RecordingTaps.close: a stopping gateway writes what recordings still hold, within a bound', async (t) => {
  const directory = await mkdtemp(join(tmpdir(), 'ksg-rec-'));
  t.teardown(() => rm(directory, { recursive: true, force: true }));
  const taps = new RecordingTaps({ directory, rules: [], captureInput: false, maxBytesPerSession: 1024, required: false }, silent);
  const opened = await taps.open(tapped());
  opened!.tap.bytes('to-client', 'stdout', Buffer.from('pending'));
  await taps.close();
  t.match(await readFile(join(directory, opened!.name!), 'utf8'), /"n":7\}\npending$/, 'the bytes waiting for the next flush are written');
  t.equal(taps.active.size, 0);

  const stuck = new MemorySink();
  stuck.hold = true;
  const slow = new RecordingTaps({ directory: '/unused', rules: [], captureInput: false, maxBytesPerSession: 1024, required: false }, silent, {}, async () => stuck);
  (await slow.open(tapped()))!.tap.bytes('to-client', 'stdout', Buffer.from('x'));
  const started = Date.now();
  await slow.close(50);
  t.ok(Date.now() - started < 5_000, 'a stuck disk does not hold the stop');
  stuck.release();
});

t.test('startRetention sweeps at once and then on its interval, reports each pass, and logs a failed one', async (t) => {
  const directory = await mkdtemp(join(tmpdir(), 'ksg-ret-'));
  t.teardown(() => rm(directory, { recursive: true, force: true }));
  await writeFile(join(directory, 'old.cast'), 'x');
  await utimes(join(directory, 'old.cast'), 1, 1);
  const results: SweepResult[] = [];
  const retention = startRetention(directory, { maxAgeDays: 1, maxTotalBytes: 0 }, new Set(), 3_600_000, silent, { swept: (result) => results.push(result) });
  await until(() => results.length === 1, 'the first sweep');
  retention.stop();
  t.equal(results[0]!.deletedForAge, 1);
  t.same(await readdir(directory), []);
  await retention.sweep();
  t.equal(results.length, 2, 'a sweep on demand');

  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) } as never });
  const missing = startRetention(join(directory, 'missing'), { maxAgeDays: 1, maxTotalBytes: 0 }, new Set(), 3_600_000, logger);
  await missing.sweep();
  missing.stop();
  t.ok(lines.some((line) => line.event === 'recording-sweep-failed'), 'a failed sweep is logged, not thrown');
});

t.test('RecordingTaps: a port-forward under a content rule records each channel-protocol port each way; unreadable tunnel bytes stop the content, marked', async (t) => {
  const directory = await mkdtemp(join(tmpdir(), 'ksg-rec-'));
  t.teardown(() => rm(directory, { recursive: true, force: true }));
  const taps = new RecordingTaps({ directory, rules: [{ users: ['*'], verbs: ['*'], content: true }], captureInput: false, maxBytesPerSession: 1024, required: false }, silent);
  const forward = await taps.open(tapped({ subject: { ...tapped().subject, kind: 'portforward', auditID: 'pf-2' }, ports: [8080, 9090] }));
  t.equal(forward?.name, 'pf-2.rec');
  forward!.tap.bytes('to-upstream', 'port 8080 to upstream', Buffer.from('GET /'));
  forward!.tap.bytes('to-client', 'port 8080 to client', Buffer.from('200 OK'));
  forward!.tap.bytes('to-client', 'port 9090 error', Buffer.from('refused'));
  // A control frame of SPDY version 7: no SPDY/3 parser reads past it.
  forward!.tap.bytes('to-upstream', 'spdy to upstream', Buffer.from([0x80, 0x07, 0x00, 0x01, 0, 0, 0, 0]));
  forward!.tap.bytes('to-upstream', 'port 8080 to upstream', Buffer.from('after'));
  forward!.tap.event('end', { reason: 'client closed', bytesFromClient: 33, bytesToClient: 13 });
  await until(() => !taps.active.has('pf-2.rec'), 'the port-forward recording closed');
  const file = await readFile(join(directory, 'pf-2.rec'));
  const lines = file.toString('latin1').split('\n');
  t.match(JSON.parse(lines[0]!), { format: 'ksg-portforward', content: true, ports: [8080, 9090] });
  t.match(file.toString(), /"s":"0:8080:to-pod","o":0,"n":5}\nGET \//);
  t.match(file.toString(), /"s":"0:8080:from-pod","o":0,"n":6}\n200 OK/);
  t.match(file.toString(), /"s":"0:9090:error","o":0,"n":7}\nrefused/);
  t.match(file.toString(), /"unreadable":"the tunnel's SPDY could not be read/);
  t.notMatch(file.toString(), /after/, 'nothing after the tunnel could not be read');
  t.match(JSON.parse(lines.at(-2)!), { end: true, bytesFromClient: 33, bytesToClient: 13, reason: 'client closed' });
});
