// TokenReview delegation: allowed, denied, upstream down; positive and negative caches, bounded.
import t from 'tap';
import { createTokenReviewAuthenticator, TOKEN_REVIEW_PATH, type PostJson } from '../../../src/auth/token-review.js';
import { TtlCache } from '../../../src/auth/ttl-cache.js';

interface Upstream {
  postJson: PostJson;
  calls: Array<{ path: string; body: unknown }>;
}

/** A fake upstream: tokens it knows, or a failure mode. */
function upstream(answer: (token: string) => { status: number; body: unknown } | Error): Upstream {
  const calls: Upstream['calls'] = [];
  return {
    calls,
    async postJson(path, body) {
      calls.push({ path, body });
      const result = answer((body as { spec: { token: string } }).spec.token);
      if (result instanceof Error) throw result;
      return result;
    },
  };
}

const review = (status: unknown) => ({ status: 201, body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', status } });
const known = upstream((token) =>
  token === 'good'
    ? review({ authenticated: true, user: { username: 'system:serviceaccount:ns:sa', uid: 'u-1', groups: ['system:serviceaccounts'], extra: { 'authentication.kubernetes.io/pod-name': ['p'] } }, audiences: ['https://kubernetes.default.svc'] })
    : review({ authenticated: false, error: 'invalid bearer token' }),
);

t.test('allowed: the user from status.user; the request is a TokenReview', async (t) => {
  const auth = createTokenReviewAuthenticator({ postJson: known.postJson, audiences: ['https://kubernetes.default.svc'] });
  t.same(await auth.authenticate({ bearerToken: 'good' }), {
    outcome: 'authenticated',
    user: { name: 'system:serviceaccount:ns:sa', uid: 'u-1', groups: ['system:serviceaccounts'], extra: { 'authentication.kubernetes.io/pod-name': ['p'] } },
    by: 'token-review',
  });
  t.same(known.calls.at(-1), {
    path: TOKEN_REVIEW_PATH,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'good', audiences: ['https://kubernetes.default.svc'] } },
  });
  t.same(await auth.authenticate({}), { outcome: 'no-credential' });
});

t.test('audiences: sent as spec.audiences; an answer whose status.audiences misses them is rejected', async (t) => {
  const issuedFor = (audiences: string[] | undefined) =>
    upstream(() => review({ authenticated: true, user: { username: 'system:serviceaccount:ns:sa' }, ...(audiences ? { audiences } : {}) }));
  const wanted = ['https://cluster-b.example'];
  const other = issuedFor(['https://cluster-a.example']);
  const result = await createTokenReviewAuthenticator({ postJson: other.postJson, audiences: wanted }).authenticate({ bearerToken: 'sa-token' });
  t.match(result, { outcome: 'rejected', reason: /not for audiences https:\/\/cluster-b\.example/ });
  t.same((other.calls[0]!.body as { spec: { audiences: string[] } }).spec.audiences, wanted);
  t.match(await createTokenReviewAuthenticator({ postJson: issuedFor(undefined).postJson, audiences: wanted }).authenticate({ bearerToken: 'x' }), { outcome: 'rejected' }, 'no audiences in the answer');
  t.match(
    await createTokenReviewAuthenticator({ postJson: issuedFor(['https://cluster-a.example', ...wanted]).postJson, audiences: wanted }).authenticate({ bearerToken: 'y' }),
    { outcome: 'authenticated' },
    'one audience in common is enough',
  );
  t.match(await createTokenReviewAuthenticator({ postJson: issuedFor(undefined).postJson }).authenticate({ bearerToken: 'z' }), { outcome: 'authenticated' }, 'without audiences configured, none is checked');
});

t.test('denied: rejected with the upstream error', async (t) => {
  const auth = createTokenReviewAuthenticator({ postJson: known.postJson });
  t.same(await auth.authenticate({ bearerToken: 'bad' }), { outcome: 'rejected', reason: 'token review: invalid bearer token' });
  const quiet = upstream(() => review({ authenticated: false }));
  t.same(await createTokenReviewAuthenticator({ postJson: quiet.postJson }).authenticate({ bearerToken: 'x' }), { outcome: 'rejected', reason: 'token review: token not authenticated' });
});

t.test('upstream down or answering oddly: unavailable, never cached', async (t) => {
  let mode: 'down' | 'forbidden' | 'garbage' | 'up' = 'down';
  const flaky = upstream(() => {
    if (mode === 'down') return new Error('connect ECONNREFUSED 127.0.0.1:6443');
    if (mode === 'forbidden') return { status: 403, body: { kind: 'Status' } };
    if (mode === 'garbage') return { status: 201, body: null };
    return review({ authenticated: true, user: { username: 'alice' } });
  });
  const auth = createTokenReviewAuthenticator({ postJson: flaky.postJson });
  t.same(await auth.authenticate({ bearerToken: 't' }), { outcome: 'unavailable', reason: 'token review: upstream unreachable: connect ECONNREFUSED 127.0.0.1:6443' });
  mode = 'forbidden';
  t.same(await auth.authenticate({ bearerToken: 't' }), { outcome: 'unavailable', reason: 'token review: upstream answered HTTP 403' });
  mode = 'garbage';
  t.same(await auth.authenticate({ bearerToken: 't' }), { outcome: 'unavailable', reason: 'token review: the answer has no status' });
  mode = 'up';
  t.same(await auth.authenticate({ bearerToken: 't' }), { outcome: 'authenticated', user: { name: 'alice', groups: [], extra: {} }, by: 'token-review' });
  t.equal(flaky.calls.length, 4);
});

t.test('positive answers cached cacheTTLSeconds, negative ones negativeCacheTTLSeconds', async (t) => {
  let clock = 1_000_000;
  const counting = upstream((token) => (token === 'good' ? review({ authenticated: true, user: { username: 'alice' } }) : review({ authenticated: false })));
  const auth = createTokenReviewAuthenticator({ postJson: counting.postJson, cacheTTLSeconds: 120, negativeCacheTTLSeconds: 10, now: () => clock });
  await auth.authenticate({ bearerToken: 'good' });
  await auth.authenticate({ bearerToken: 'bad' });
  t.equal(counting.calls.length, 2);
  clock += 9_000;
  t.match(await auth.authenticate({ bearerToken: 'good' }), { outcome: 'authenticated' });
  t.match(await auth.authenticate({ bearerToken: 'bad' }), { outcome: 'rejected' });
  t.equal(counting.calls.length, 2, 'both from the cache');
  clock += 2_000;
  await auth.authenticate({ bearerToken: 'bad' });
  t.equal(counting.calls.length, 3, 'negative answer expired after 10 s');
  clock += 110_000;
  await auth.authenticate({ bearerToken: 'good' });
  t.equal(counting.calls.length, 4, 'positive answer expired after 120 s');
});

t.test('the cache is bounded', async (t) => {
  const counting = upstream(() => review({ authenticated: true, user: { username: 'u' } }));
  const auth = createTokenReviewAuthenticator({ postJson: counting.postJson, maxCacheEntries: 2 });
  for (const token of ['a', 'b', 'c']) await auth.authenticate({ bearerToken: token });
  await auth.authenticate({ bearerToken: 'c' });
  t.equal(counting.calls.length, 3, 'newest kept');
  await auth.authenticate({ bearerToken: 'a' });
  t.equal(counting.calls.length, 4, 'oldest evicted');
});

t.test('TtlCache: expiry, eviction of expired entries first, size', async (t) => {
  let clock = 0;
  const cache = new TtlCache<string, number>(2, () => clock);
  cache.set('short', 1, 10);
  cache.set('long', 2, 1000);
  cache.set('ignored', 3, 0);
  t.equal(cache.size, 2);
  clock = 20;
  cache.set('new', 4, 1000);
  t.equal(cache.get('long'), 2, 'the expired entry went, not the oldest live one');
  t.equal(cache.get('short'), undefined);
  t.equal(cache.get('new'), 4);
  clock = 2000;
  t.equal(cache.get('new'), undefined);
  t.throws(() => new TtlCache(0));
});
