// Failed-authentication limiter: N per minute per address, refill, bounded address map.
import t from 'tap';
import { createFailedAuthLimiter } from '../../../src/auth/rate-limit.js';

t.test('N failures a minute, then blocked with a Retry-After, refilled over time', async (t) => {
  let clock = 0;
  const limiter = createFailedAuthLimiter({ perMinute: 3, now: () => clock });
  for (let i = 0; i < 3; i++) {
    t.equal(limiter.blocked('10.0.0.1'), 0, `attempt ${i + 1} allowed`);
    limiter.recordFailure('10.0.0.1');
  }
  t.equal(limiter.blocked('10.0.0.1'), 20, 'blocked: one attempt refills in 20 s');
  t.equal(limiter.blocked('10.0.0.2'), 0, 'other addresses unaffected');
  clock = 19_000;
  t.equal(limiter.blocked('10.0.0.1'), 1);
  clock = 20_000;
  t.equal(limiter.blocked('10.0.0.1'), 0, 'one attempt back');
  limiter.recordFailure('10.0.0.1');
  t.ok(limiter.blocked('10.0.0.1') > 0);
  clock = 200_000;
  t.equal(limiter.blocked('10.0.0.1'), 0);
  t.equal(limiter.size, 0, 'a full bucket carries no state');
});

t.test('the address map is bounded: the least recently failing address goes first', async (t) => {
  const limiter = createFailedAuthLimiter({ perMinute: 1, maxAddresses: 2, now: () => 0 });
  limiter.recordFailure('a');
  limiter.recordFailure('b');
  limiter.recordFailure('a'); // a is now the most recent
  limiter.recordFailure('c');
  t.equal(limiter.size, 2);
  t.ok(limiter.blocked('a') > 0);
  t.equal(limiter.blocked('b'), 0, 'b forgotten');
  t.ok(limiter.blocked('c') > 0);
  t.throws(() => createFailedAuthLimiter({ perMinute: 0 }), /at least 1/);
});
