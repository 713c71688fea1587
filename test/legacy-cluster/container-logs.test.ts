// The embedded cluster's container log: lines from process output, bounded memory, the kubelet's
// timestamp format, and PodLogOptions parsed with the API server's messages.
import t from 'tap';
import { ContainerLog, parseLogOptions, rfc3339Nano } from '../../src/legacy-cluster/container-logs.js';

t.test('process output becomes whole lines; a partial line waits for its newline', async (t) => {
  const log = new ContainerLog();
  const followed: string[] = [];
  const unfollow = log.follow((line) => followed.push(line.text));
  log.write('one\ntw');
  t.same(followed, ['one\n']);
  log.write('o\nthree\n');
  t.same(followed, ['one\n', 'two\n', 'three\n']);
  unfollow();
  log.appendLine('four');
  t.same(followed.length, 3, 'no lines after unfollowing');
  t.same(log.snapshot(undefined, 2).map((line) => line.text), ['three\n', 'four\n']);
  t.same(log.snapshot(undefined, 0), []);
  t.equal(log.followerCount, 0);
});

t.test('memory is bounded: a line without newline is cut, old lines go', async (t) => {
  const log = new ContainerLog();
  log.write('x'.repeat(40 * 1024));
  const lines = log.snapshot(undefined, undefined);
  t.ok(lines.length >= 2, 'the long run was cut into lines');
  t.ok(lines.every((line) => Buffer.byteLength(line.text) <= 16 * 1024 + 1));
  for (let i = 0; i < 10_050; i++) log.appendLine(`line ${i}`);
  const kept = log.snapshot(undefined, undefined);
  t.equal(kept.length, 10_000);
  t.equal(kept.at(-1)!.text, 'line 10049\n');
});

t.test('since filters by the time a line was written', async (t) => {
  const log = new ContainerLog();
  log.appendLine('old', new Date('2026-01-01T00:00:00Z'));
  log.appendLine('new', new Date('2026-06-01T00:00:00Z'));
  t.same(log.snapshot(new Date('2026-03-01T00:00:00Z'), undefined).map((line) => line.text), ['new\n']);
});

t.test('timestamps as Go prints time.RFC3339Nano', async (t) => {
  t.equal(rfc3339Nano(new Date('2026-12-07T03:45:00.120Z')), '2026-12-07T03:45:00.12Z');
  t.equal(rfc3339Nano(new Date('2026-12-07T03:45:00.000Z')), '2026-12-07T03:45:00Z');
});

t.test('PodLogOptions', async (t) => {
  const now = new Date('2026-12-07T04:00:00Z');
  t.same(parseLogOptions(new URLSearchParams('follow=true&tailLines=5&timestamps=true'), now), { follow: true, timestamps: true, tailLines: 5 });
  t.same(parseLogOptions(new URLSearchParams('sinceSeconds=60'), now), { follow: false, timestamps: false, since: new Date('2026-12-07T03:59:00Z') });
  t.same(parseLogOptions(new URLSearchParams('sinceTime=2026-12-07T03:00:00Z'), now).since, new Date('2026-12-07T03:00:00Z'));
  t.throws(() => parseLogOptions(new URLSearchParams('follow=maybe')), /invalid value for follow/);
  t.throws(() => parseLogOptions(new URLSearchParams('tailLines=1.5')), /invalid value for tailLines/);
  t.throws(() => parseLogOptions(new URLSearchParams('sinceTime=yesterday')), /invalid value for sinceTime/);
});
