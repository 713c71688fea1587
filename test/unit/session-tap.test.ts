// Several tap factories as one (recording and the live views): whether the session's content is
// wanted — which decides whether a raw relay hands its bytes over at all — is any opened tap's.
import t from 'tap';
import { combineTapFactories } from '../../src/translators/session-tap.js';
import type { OpenedTap, SessionTapFactory, TappedSession } from '../../src/translators/bridge.js';

const session = { subject: { kind: 'portforward' }, tty: false, fail: () => undefined } as unknown as TappedSession;

/** A factory whose tap keeps what it is handed; `content` as a content recording says it. */
function keeping(content: boolean, name?: string): { factory: SessionTapFactory; kept: string[] } {
  const kept: string[] = [];
  const opened: OpenedTap = { tap: { bytes: (_direction, _route, payload) => void kept.push(payload.toString()), event: () => undefined }, ...(name ? { name } : {}), ...(content ? { content } : {}) };
  return { factory: { open: async () => opened }, kept };
}

t.test('combined, one content tap among others: the session tap wants the content and hands it to each', async (t) => {
  const live = keeping(false);
  const recording = keeping(true, 'a.rec');
  const opened = await combineTapFactories([live.factory, recording.factory])!.open(session);
  t.match(opened, { name: 'a.rec', content: true });
  opened!.tap.bytes('to-client', 'spdy to client', Buffer.from('x'));
  t.same([live.kept, recording.kept], [['x'], ['x']]);
});

t.test('combined, no content tap: the session tap does not want the content', async (t) => {
  const opened = await combineTapFactories([keeping(false).factory, keeping(false, 'a.jsonl').factory])!.open(session);
  t.equal(opened?.name, 'a.jsonl');
  t.notOk(opened?.content, 'only counts: a relay hands it no bytes');
});
