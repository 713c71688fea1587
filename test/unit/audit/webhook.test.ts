// The batching audit webhook against a real HTTP receiver on 127.0.0.1: batches by size and by
// wait, EventList shape, retries with backoff on 5xx/429/transport errors (bounded), no retry on
// other 4xx, a bounded buffer with drops counted, and a shutdown flush that ends on time.
import t, { type Test } from 'tap';
import { auditEvent, type AuditEvent } from '../../../src/observability/audit/events.js';
import { createAuditWebhook, type AuditWebhookOptions } from '../../../src/observability/audit/webhook.js';
import { requestAttributes } from '../../../src/auth/request-attributes.js';
import { postJson } from '../../../src/upstream/api-client.js';
import { startAuditReceiver, type AuditReceiver } from '../../helpers/audit-receiver.js';
import { closedPort } from '../../helpers/closed-port.js';
import { until } from '../../helpers/wait.js';

function event(id: string): AuditEvent {
  return auditEvent({
    auditID: id,
    stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/default/pods',
    attributes: requestAttributes({ method: 'GET', url: '/api/v1/namespaces/default/pods' }),
    user: { name: 'alice', groups: [], extra: {} },
    sourceIPs: ['127.0.0.1'],
    responseStatus: { code: 200 },
    requestReceivedMicros: 1_000_000,
  });
}

async function receiver(t: Test): Promise<AuditReceiver> {
  const started = await startAuditReceiver();
  t.teardown(() => started.close());
  return started;
}

function webhook(url: string, overrides: Partial<AuditWebhookOptions> = {}) {
  const counts = { written: 0, dropped: 0, errors: [] as string[] };
  const target = { url: new URL(url), insecureSkipTlsVerify: false };
  const sink = createAuditWebhook({
    post: async (list) => (await postJson({ ...target, url: new URL(target.url.origin) }, `${target.url.pathname}`, list, 30_000)).status,
    batchMaxSize: 3,
    batchMaxWaitMs: 60_000,
    bufferSize: 100,
    initialBackoffMs: 10,
    maxAttempts: 3,
    onWritten: (n) => (counts.written += n),
    onDropped: (n) => (counts.dropped += n),
    onError: (message) => counts.errors.push(message),
    ...overrides,
  });
  return { sink, counts };
}

const ids = (events: AuditEvent[]): string[] => events.map((e) => e.auditID);

t.test('a full batch goes at once; the rest waits for batchMaxWait or the shutdown flush', async (t) => {
  const r = await receiver(t);
  const { sink, counts } = webhook(`${r.url}/audit/events`);
  for (let i = 0; i < 7; i++) t.ok(sink.write(event(`e${i}`)));
  await until(() => r.posts.length === 2, 'two full batches');
  t.same(r.posts.map((p) => p.body.items.length), [3, 3]);
  t.match(r.posts[0], { path: '/audit/events', headers: { 'content-type': 'application/json' }, body: { kind: 'EventList', apiVersion: 'audit.k8s.io/v1' } });
  await sink.close(5_000);
  t.same(ids(r.events), ['e0', 'e1', 'e2', 'e3', 'e4', 'e5', 'e6'], 'the last one flushed at close, order kept');
  t.equal(counts.written, 7);
  t.equal(counts.dropped, 0);
  t.notOk(sink.write(event('late')), 'closed: dropped');
});

t.test('batchMaxWait: a partial batch goes after the wait, without a shutdown', async (t) => {
  const r = await receiver(t);
  const { sink } = webhook(r.url, { batchMaxSize: 100, batchMaxWaitMs: 50 });
  sink.write(event('a'));
  sink.write(event('b'));
  await until(() => r.events.length === 2, 'the timed batch');
  t.equal(r.posts.length, 1, 'one batch');
  t.equal(r.posts[0]!.path, '/', 'a server URL without a path posts to /');
  await sink.close(1_000);
});

t.test('5xx and 429 are retried with the same events until accepted', async (t) => {
  const r = await receiver(t);
  r.answers = [503, 429];
  const { sink, counts } = webhook(r.url, { batchMaxSize: 2 });
  sink.write(event('a'));
  sink.write(event('b'));
  // The receiver holds the events before its answer reaches the sink: wait for the sink to count them.
  await until(() => r.events.length === 2 && counts.written === 2, 'delivery after two failures, counted');
  t.same(r.posts.map((p) => ids(p.body.items)), [['a', 'b'], ['a', 'b'], ['a', 'b']]);
  t.equal(counts.written, 2);
  t.match(counts.errors, [/answered 503; retrying in 10 ms/, /answered 429; retrying in 15 ms/]);
  await sink.close(1_000);
});

t.test('attempts are bounded: a receiver that keeps failing loses the batch, counted', async (t) => {
  const r = await receiver(t);
  r.answers = [500, 500, 500, 500, 500];
  const { sink, counts } = webhook(r.url, { batchMaxSize: 2 });
  sink.write(event('a'));
  sink.write(event('b'));
  await until(() => counts.dropped === 2, 'the batch dropped');
  t.equal(r.posts.length, 3, 'maxAttempts posts, no more');
  t.match(counts.errors.at(-1), /answered 500; 2 events dropped after 3 attempts/);
  sink.write(event('c'));
  await sink.close(1_000);
  t.same(ids(r.events), ['c'], 'later events still go');
});

t.test('another 4xx is not retried: the receiver refused the batch', async (t) => {
  const r = await receiver(t);
  r.answers = [400];
  const { sink, counts } = webhook(r.url, { batchMaxSize: 1 });
  sink.write(event('a'));
  await until(() => counts.dropped === 1, 'the batch dropped');
  t.equal(r.posts.length, 1);
  await sink.close(1_000);
});

t.test('an unreachable receiver: transport errors are retried, then the batch is dropped', async (t) => {
  const { sink, counts } = webhook(`http://127.0.0.1:${await closedPort()}`, { batchMaxSize: 1 });
  sink.write(event('a'));
  await until(() => counts.dropped === 1, 'the batch dropped');
  t.equal(counts.errors.length, 3);
  t.match(counts.errors[0], /ECONNREFUSED|refused/);
  await sink.close(1_000);
});

t.test('a receiver that never answers: memory stays bounded (buffer + one batch), shutdown ends on time', async (t) => {
  const r = await receiver(t);
  r.hold = true;
  const { sink, counts } = webhook(r.url, { batchMaxSize: 2, bufferSize: 5 });
  const accepted = Array.from({ length: 20 }, (_, i) => sink.write(event(`e${i}`))).filter(Boolean).length;
  await until(() => r.held === 1, 'one batch in flight');
  t.equal(r.posts.length, 1, 'one batch at a time');
  t.equal(accepted, 2 + 5, 'one batch in flight, the buffer full, the rest refused');
  t.equal(counts.dropped, 13);
  const started = Date.now();
  await sink.close(200);
  t.ok(Date.now() - started < 2_000, `close returned after ${Date.now() - started} ms`);
  t.equal(counts.dropped, 18, 'what never left is dropped and counted');
});
