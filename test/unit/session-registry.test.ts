// The session registry: concurrency limits at admission, idle and age limits by sweep, metering, drain.
import t from 'tap';
import { SessionRegistry, type SessionObserver } from '../../src/server/session-registry.js';
import type { EndedFromOutside, LiveSession, SessionOutcome } from '../../src/translators/live-session.js';
import type { Status } from '../../src/codecs/k8s/status.js';
import { HttpStatusError } from '../../src/net/http-answers.js';

class FakeSession implements LiveSession {
  kind = 'exec' as const;
  clientProtocol = 'v5.channel.k8s.io';
  bytesFromClient = 0;
  bytesToClient = 0;
  bufferedBytes = 0;
  endedWith: { status: Status; outcome: string } | undefined;
  private resolve!: (outcome: SessionOutcome) => void;
  done = new Promise<SessionOutcome>((resolve) => (this.resolve = resolve));
  end(status: Status, outcome: EndedFromOutside): void {
    this.endedWith ??= { status, outcome };
    this.resolve(outcome);
  }
  finish(): void {
    this.resolve('completed');
  }
}

const limits = { maxSessions: 3, maxSessionsPerUser: 2, idleTimeoutMs: 0, maxSessionMs: 0 };

t.test('per-user and total limits refuse with a 429 naming the limit; ending a session frees its place', async (t) => {
  const registry = new SessionRegistry(limits);
  t.teardown(() => registry.close());
  const first = new FakeSession();
  registry.reserve('alice').track(first, { upstream: 'default' });
  registry.reserve('alice').release();
  const second = registry.reserve('alice');
  const perUser = t.throws(() => registry.reserve('alice')) as HttpStatusError;
  t.equal(perUser.code, 429);
  t.match(perUser.message, /user "alice" is at the limit of 2 concurrent sessions \(limits\.maxSessionsPerUser\)/);
  registry.reserve('bob');
  const total = t.throws(() => registry.reserve('carol')) as HttpStatusError;
  t.match(total.message, /limit of 3 concurrent sessions \(limits\.maxSessions\)/);
  second.release();
  second.release();
  registry.reserve('carol');
  first.finish();
  const byAddress = new SessionRegistry({ ...limits, maxSessions: 0, maxSessionsPerUser: 1 });
  byAddress.reserve(undefined, '10.0.0.1');
  t.match((t.throws(() => byAddress.reserve(undefined, '10.0.0.1')) as HttpStatusError).message, /client address 10\.0\.0\.1 is at the limit of 1/, 'passthrough: counted per client address');
  t.doesNotThrow(() => byAddress.reserve(undefined, '10.0.0.2'));
  t.doesNotThrow(() => byAddress.reserve('alice', '10.0.0.1'), 'a user is counted as the user');
  await first.done;
  await Promise.resolve();
  t.doesNotThrow(() => registry.reserve('alice'), 'a finished session frees its user and total place');
});

t.test('idle sessions end with a Status naming the limit; active ones do not', async (t) => {
  let now = 0;
  const registry = new SessionRegistry({ ...limits, idleTimeoutMs: 1_000 }, undefined, () => now);
  t.teardown(() => registry.close());
  const idle = new FakeSession();
  const busy = new FakeSession();
  registry.reserve(undefined).track(idle, { upstream: 'default' });
  registry.reserve(undefined).track(busy, { upstream: 'default' });
  for (now = 100; now <= 1_500; now += 100) {
    busy.bytesToClient += 1;
    registry.sweep();
  }
  t.equal(idle.endedWith?.outcome, 'idle-timeout', 'the idle limit ends it under its own outcome');
  t.equal(idle.endedWith?.status.code, 408);
  t.match(idle.endedWith?.status.message, /idle \(no data either way\) for 1 s \(limits\.idleTimeoutSeconds\)/);
  t.equal(busy.endedWith, undefined, 'a session moving bytes is not idle');
});

t.test('sessions older than the maximum duration end', async (t) => {
  let now = 0;
  const registry = new SessionRegistry({ ...limits, maxSessionMs: 5_000 }, undefined, () => now);
  t.teardown(() => registry.close());
  const session = new FakeSession();
  registry.reserve(undefined).track(session, { upstream: 'default' });
  now = 4_999;
  session.bytesFromClient = 10;
  registry.sweep();
  t.equal(session.endedWith, undefined);
  now = 5_000;
  session.bytesFromClient = 20;
  registry.sweep();
  t.match(session.endedWith?.status.message, /maximum duration of 5 s \(limits\.maxSessionSeconds\)/);
  t.equal(session.endedWith?.outcome, 'max-duration', 'the age limit ends it under its own outcome');
});

t.test('the observer sees starts, byte deltas and the outcome', async (t) => {
  const seen: string[] = [];
  const observer: SessionObserver = {
    started: (_s, labels) => seen.push(`start ${labels.upstream}`),
    moved: (_s, fromClient, toClient) => seen.push(`moved ${fromClient}/${toClient}`),
    ended: (_s, _labels, outcome) => seen.push(`end ${outcome}`),
  };
  const registry = new SessionRegistry(limits, observer);
  const session = new FakeSession();
  registry.reserve(undefined).track(session, { upstream: 'beta' });
  session.bytesFromClient = 5;
  session.bytesToClient = 7;
  registry.sweep();
  registry.sweep();
  session.bytesToClient = 10;
  session.finish();
  await session.done;
  await Promise.resolve();
  t.same(seen, ['start beta', 'moved 5/7', 'moved 0/3', 'end completed'], 'no delta reported twice; the last bytes counted at the end');
  t.equal(registry.size, 0);
});

t.test('drain waits for sessions up to a bound; endAll ends the rest', async (t) => {
  const registry = new SessionRegistry(limits);
  t.teardown(() => registry.close());
  t.equal(await registry.drained(10), true, 'nothing to wait for');
  const session = new FakeSession();
  registry.reserve(undefined).track(session, { upstream: 'default' });
  t.equal(await registry.drained(20), false, 'still running after the grace period');
  await registry.endAll({ metadata: {}, status: 'Failure', message: 'the gateway is shutting down', code: 503 });
  t.equal(session.endedWith?.outcome, 'shutdown');
  const later = new FakeSession();
  registry.reserve(undefined).track(later, { upstream: 'default' });
  const drained = registry.drained(10_000);
  later.finish();
  t.equal(await drained, true, 'resolves as soon as the last session ends');
});
