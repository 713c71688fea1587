// audit.k8s.io/v1 Events: shape and key order, microsecond timestamps, the JSON-lines writer's bounded queue.
import t from 'tap';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { auditEvent, createAuditWriter, microTime, nowMicros, type AuditEvent } from '../../../src/observability/audit/events.js';
import { requestAttributes } from '../../../src/auth/request-attributes.js';
import { until } from '../../helpers/wait.js';

const received = Date.UTC(2026, 10, 25, 9, 30, 0, 123) * 1000 + 456;

function execEvent(overrides: Partial<Parameters<typeof auditEvent>[0]> = {}): AuditEvent {
  return auditEvent({
    auditID: '9c4c6a2e-6f7e-4a8b-9a0e-4f3b7f1d2c11',
    stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/default/pods/web-1/exec?command=sh&stdin=true',
    attributes: requestAttributes({ method: 'GET', url: '/api/v1/namespaces/default/pods/web-1/exec?command=sh' }),
    user: { name: 'alice', uid: 'u1', groups: ['devs', 'system:authenticated'], extra: { scopes: ['a'] } },
    sourceIPs: ['10.0.0.7'],
    userAgent: 'kubectl/v1.33.0',
    responseStatus: { code: 101 },
    requestReceivedMicros: received,
    stageMicros: received + 2_000_001,
    ...overrides,
  });
}

t.test('an exec session event, byte for byte in Go field order', async (t) => {
  t.equal(
    JSON.stringify(execEvent({ impersonatedUser: { name: 'bob', groups: [], extra: {} }, annotations: { 'kube-stream-gateway/upstream': 'default' } })),
    '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"9c4c6a2e-6f7e-4a8b-9a0e-4f3b7f1d2c11","stage":"ResponseComplete",' +
      '"requestURI":"/api/v1/namespaces/default/pods/web-1/exec?command=sh&stdin=true","verb":"create",' +
      '"user":{"username":"alice","uid":"u1","groups":["devs","system:authenticated"],"extra":{"scopes":["a"]}},"impersonatedUser":{"username":"bob"},' +
      '"sourceIPs":["10.0.0.7"],"userAgent":"kubectl/v1.33.0",' +
      '"objectRef":{"resource":"pods","namespace":"default","name":"web-1","apiVersion":"v1","subresource":"exec"},' +
      '"responseStatus":{"metadata":{},"code":101},' +
      '"requestReceivedTimestamp":"2026-11-25T09:30:00.123456Z","stageTimestamp":"2026-11-25T09:30:02.123457Z",' +
      '"annotations":{"kube-stream-gateway/upstream":"default"}}',
  );
});

t.test('a denied request without a user; a non-resource request has no objectRef', async (t) => {
  const denied = auditEvent({
    stage: 'ResponseComplete',
    requestURI: '/healthz',
    attributes: requestAttributes({ method: 'GET', url: '/healthz' }),
    sourceIPs: [],
    responseStatus: { code: 401, status: 'Failure', reason: 'Unauthorized', message: 'Unauthorized' },
    requestReceivedMicros: received,
  });
  t.match(denied.auditID, /^[0-9a-f-]{36}$/);
  t.same(denied.user, {});
  t.notOk('objectRef' in denied);
  t.notOk('sourceIPs' in denied);
  t.same(denied.responseStatus, { metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
  t.match(denied.stageTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
});

t.test('microTime', async (t) => {
  t.equal(microTime(0), '1970-01-01T00:00:00.000000Z');
  t.equal(microTime(1_000_001), '1970-01-01T00:00:01.000001Z');
  t.equal(microTime(999), '1970-01-01T00:00:00.000999Z');
  t.ok(Math.abs(nowMicros() / 1000 - Date.now()) < 1000, 'nowMicros is wall-clock time');
});

t.test('the writer: JSON lines to a file, appended, closed cleanly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ksg-audit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'audit.log');
  const writer = createAuditWriter(path);
  t.ok(writer.write(execEvent()));
  t.ok(writer.write(execEvent({ stage: 'ResponseStarted' })));
  await writer.close();
  t.notOk(writer.write(execEvent()), 'closed writers drop');
  const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
  t.same(lines.map((l) => (JSON.parse(l) as AuditEvent).stage), ['ResponseComplete', 'ResponseStarted']);
  t.equal(writer.dropped, 1);
});

t.test('back-pressure: a slow destination fills a bounded queue, extra events are dropped and counted', async (t) => {
  const written: string[] = [];
  let release: (() => void) | undefined;
  const slow = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _encoding, callback) {
      written.push(chunk.toString());
      release = callback; // held until the test lets it go
    },
  });
  const writer = createAuditWriter(slow, { maxQueuedEvents: 3 });
  const results = Array.from({ length: 6 }, () => writer.write(execEvent()));
  // The first line went to the stream (which then reported back-pressure); three wait; two are dropped.
  t.same(results, [true, true, true, true, false, false]);
  t.equal(writer.dropped, 2);
  t.equal(written.length, 1);
  const closing = writer.close();
  for (let i = 0; i < 10 && release; i++) {
    const next = release;
    release = undefined;
    next();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await closing;
  t.equal(written.length, 4, 'every queued event written after the drain');
});

t.test('a failing destination: error kept, later events dropped', async (t) => {
  const broken = new Writable({
    write(_chunk, _encoding, callback) {
      callback(new Error('disk full'));
    },
  });
  const writer = createAuditWriter(broken);
  writer.write(execEvent());
  await until(() => writer.error !== undefined, 'the destination error');
  t.equal(writer.error?.message, 'disk full');
  t.notOk(writer.write(execEvent()));
  await writer.close();
});

t.test('"-" writes to stdout', async (t) => {
  const writes: string[] = [];
  const original = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => {
    writes.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    const writer = createAuditWriter('-');
    writer.write(execEvent());
    await writer.close();
  } finally {
    process.stdout.write = original;
  }
  t.equal(writes.length, 1);
  t.match(writes[0], /^\{"kind":"Event".*\}\n$/);
});

t.test('rotation: past maxSize the file becomes a timestamped backup; every event kept once, whole lines only', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ksg-audit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'audit.log');
  const line = JSON.stringify(execEvent()).length + 1;
  const writer = createAuditWriter(path, { rotation: { maxSizeBytes: Math.floor(line * 2.5), maxBackups: 0, maxAgeDays: 0, now: () => Date.UTC(2026, 11, 7, 3) } });
  for (let i = 0; i < 7; i++) writer.write(execEvent({ auditID: `id-${i}` }));
  await writer.close();
  const files = readdirSync(dir).sort();
  t.same(files, ['audit-2026-12-07T03-00-00.000.log', 'audit-2026-12-07T03-00-00.001.log', 'audit-2026-12-07T03-00-00.002.log', 'audit.log'], 'two events per file');
  const ids = files.flatMap((name) => readFileSync(join(dir, name), 'utf8').trimEnd().split('\n').map((l) => (JSON.parse(l) as AuditEvent).auditID));
  t.same(ids.sort(), ['id-0', 'id-1', 'id-2', 'id-3', 'id-4', 'id-5', 'id-6'], 'nothing lost, nothing twice');
  for (const name of files) t.ok(statSync(join(dir, name)).size <= line * 2.5, `${name} within maxSize`);
  t.equal((statSync(path).mode & 0o777).toString(8), '600', 'a new file is private');
});

t.test('rotation: a file already past maxSize at start rotates at the first write; two rotations in one millisecond keep both', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ksg-audit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'audit.jsonl');
  writeFileSync(path, 'x'.repeat(100) + '\n');
  const writer = createAuditWriter(path, { rotation: { maxSizeBytes: 50, maxBackups: 0, maxAgeDays: 0, now: () => Date.UTC(2026, 0, 1) } });
  writer.write(execEvent({ auditID: 'a' }));
  writer.write(execEvent({ auditID: 'b' }));
  await writer.close();
  t.same(readdirSync(dir).sort(), ['audit-2026-01-01T00-00-00.000.jsonl', 'audit-2026-01-01T00-00-00.001.jsonl', 'audit.jsonl']);
  t.equal(readFileSync(join(dir, 'audit-2026-01-01T00-00-00.000.jsonl'), 'utf8'), 'x'.repeat(100) + '\n');
  t.match(readFileSync(path, 'utf8'), /"auditID":"b"/, 'an event larger than maxSize still gets written, alone');
});

t.test('rotation: maxBackups keeps the newest, maxAgeDays deletes by the time in the name; other files untouched', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ksg-audit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'audit.log');
  const now = Date.UTC(2026, 11, 7);
  for (const name of ['audit-2026-11-01T00-00-00.000.log', 'audit-2026-12-05T00-00-00.000.log', 'audit-2026-12-06T00-00-00.000.log', 'audit-notes.log', 'other-2020-01-01T00-00-00.000.log']) {
    writeFileSync(join(dir, name), 'old\n');
  }
  writeFileSync(path, 'full\n');
  const byAge = createAuditWriter(path, { rotation: { maxSizeBytes: 10, maxBackups: 0, maxAgeDays: 30, now: () => now } });
  byAge.write(execEvent());
  await byAge.close();
  t.same(readdirSync(dir).sort(), ['audit-2026-12-05T00-00-00.000.log', 'audit-2026-12-06T00-00-00.000.log', 'audit-2026-12-07T00-00-00.000.log', 'audit-notes.log', 'audit.log', 'other-2020-01-01T00-00-00.000.log'], 'the 36-day-old backup is gone');

  const byCount = createAuditWriter(path, { rotation: { maxSizeBytes: 10, maxBackups: 2, maxAgeDays: 0, now: () => now + 60_000 } });
  byCount.write(execEvent());
  await byCount.close();
  t.same(readdirSync(dir).sort(), ['audit-2026-12-07T00-00-00.000.log', 'audit-2026-12-07T00-01-00.000.log', 'audit-notes.log', 'audit.log', 'other-2020-01-01T00-00-00.000.log']);
});

t.test('a path that cannot be opened fails at once', async (t) => {
  t.throws(() => createAuditWriter(join(tmpdir(), 'no-such-dir-ksg', 'audit.log')), { code: 'ENOENT' });
});

t.test('onWritten and onDropped count for metrics', async (t) => {
  let written = 0;
  let dropped = 0;
  const sink = new Writable({ highWaterMark: 1, write: (_chunk, _encoding, callback) => void callback }); // never completes
  const writer = createAuditWriter(sink, { maxQueuedEvents: 1, onWritten: () => written++, onDropped: (n) => (dropped += n) });
  for (let i = 0; i < 4; i++) writer.write(execEvent());
  t.equal(written, 1, 'one handed to the destination');
  t.equal(dropped, 2, 'one queued, two dropped');
});
