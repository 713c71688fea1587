// The Watch page's broadcaster: terminal output and resizes reach every watcher of that session only;
// a watcher that falls behind is dropped while the others (and the session) go on.
import t from 'tap';
import { SessionWatch, type Watcher } from '../../src/server/ui/session-watch.js';
import type { SessionTap, TappedSession } from '../../src/translators/bridge.js';
import type { SessionSubject } from '../../src/translators/session-log.js';

/** The tap the watch opens for a session of this kind and audit ID, as a translator asks for it. */
async function tapOf(watch: SessionWatch, kind: SessionSubject['kind'], auditID: string | null): Promise<SessionTap | undefined> {
  const subject = { kind, auditID } as SessionSubject;
  const session: TappedSession = { subject, tty: true, fail: () => undefined };
  return (await watch.tapFactory.open(session))?.tap;
}

class FakeWatcher implements Watcher {
  /** As handed over (a Buffer is kept, as a socket would keep it until written). */
  readonly messages: Array<{ data: Buffer | string; binary: boolean }> = [];
  backlog = 0;
  dropped: { code: number; reason: string } | undefined;
  send(data: Buffer | string, binary: boolean): void {
    this.messages.push({ data, binary });
  }
  get received(): Array<{ data: string; binary: boolean }> {
    return this.messages.map(({ data, binary }) => ({ data: data.toString(), binary }));
  }
  drop(code: number, reason: string): void {
    this.dropped = { code, reason };
  }
}

t.test('output and resizes go to the watchers of that session, input does not', async (t) => {
  const watch = new SessionWatch();
  const tap = (await tapOf(watch, 'exec', 'a'))!;
  const other = (await tapOf(watch, 'exec', 'b'))!;
  const watcher = new FakeWatcher();
  watch.watch('a', watcher);
  const payload = Buffer.from('$ ls\n');
  tap.bytes('to-client', 'stdout', payload);
  payload.write('XXXX');
  tap.bytes('to-client', 'stderr', Buffer.from('oops'));
  tap.bytes('to-upstream', 'stdin', Buffer.from('secret typed'));
  tap.bytes('to-upstream', 'resize', Buffer.from('{"Width":100,"Height":30}'));
  tap.bytes('to-upstream', 'resize', Buffer.from('{"Width":1'));
  other.bytes('to-client', 'stdout', Buffer.from('not yours'));
  t.same(watcher.received, [
    { data: '$ ls\n', binary: true },
    { data: 'oops', binary: true },
    { data: '{"resize":{"cols":100,"rows":30}}', binary: false },
  ], "a copy of the output (the socket's memory is not kept), resizes as JSON, never the input");
  t.equal(await tapOf(watch, 'portforward', 'c'), undefined, 'port-forward is not watched');
  t.equal(await tapOf(watch, 'exec', null), undefined, 'nor a session without an audit ID');
});

t.test('a slow watcher is dropped; the others keep receiving', async (t) => {
  const watch = new SessionWatch(1024);
  const tap = watch.tap('a');
  const slow = new FakeWatcher();
  const fast = new FakeWatcher();
  watch.watch('a', slow);
  watch.watch('a', fast);
  tap.bytes('to-client', 'stdout', Buffer.from('one'));
  slow.backlog = 1025;
  tap.bytes('to-client', 'stdout', Buffer.from('two'));
  tap.bytes('to-client', 'stdout', Buffer.from('three'));
  t.same(slow.received.map((message) => message.data), ['one'], 'nothing more is queued for the slow one');
  t.match(slow.dropped, { code: 1013, reason: /behind/ });
  t.same(fast.received.map((message) => message.data), ['one', 'two', 'three']);
  t.equal(watch.watcherCount('a'), 1);
});

t.test('the end of the session closes its watchers; unwatching leaves no entry', async (t) => {
  const watch = new SessionWatch();
  const first = new FakeWatcher();
  const second = new FakeWatcher();
  watch.watch('a', first);
  const unwatch = watch.watch('b', second);
  watch.ended('a', 'the session ended');
  t.match(first.dropped, { code: 1000, reason: 'the session ended' });
  unwatch();
  t.equal(watch.watcherCount('b'), 0);
  t.equal(second.dropped, undefined);
});
