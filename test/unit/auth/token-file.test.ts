// kube-apiserver --token-auth-file: CSV rules, authentication, reload keeping the last good contents.
import t from 'tap';
import { appendFileSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTokenFileAuthenticator, parseTokenFile, TokenFileError } from '../../../src/auth/token-file.js';

t.test('CSV as Go encoding/csv reads it: quotes, groups, variable columns, blank lines', async (t) => {
  const parsed = parseTokenFile('t1,alice,u1,"devs,ops"\r\n\nt2,bob,,\n"t,3","carol ""c""",u3,solo,extra\nt4,dave,u4');
  t.same(parsed.entries, [
    { token: 't1', user: { name: 'alice', uid: 'u1', groups: ['devs', 'ops'], extra: {} } },
    { token: 't2', user: { name: 'bob', groups: [], extra: {} } },
    { token: 't,3', user: { name: 'carol "c"', uid: 'u3', groups: ['solo'], extra: {} } },
    { token: 't4', user: { name: 'dave', uid: 'u4', groups: [], extra: {} } },
  ]);
  t.same(parsed.warnings, []);
  t.same(parseTokenFile('"multi\nline",u,1').entries[0]?.token, 'multi\nline');
});

t.test('empty tokens are skipped, duplicates keep the last record, both with warnings', async (t) => {
  const parsed = parseTokenFile(',nobody,0\nt,first,1\nt,second,2\n');
  t.same(parsed.entries.map((e) => e.user.name), ['second']);
  t.same(parsed.warnings, ['empty token in token file, record number 1', 'duplicate token in token file, record number 3']);
});

t.test('invalid files throw with the line', async (t) => {
  t.throws(() => parseTokenFile('t1,alice,u1\nt2,bob\n', 'tokens.csv'), new TokenFileError('tokens.csv line 2: must have at least 3 columns (token, user name, user uid), found 2'));
  t.throws(() => parseTokenFile('t1,al"ice,u1'), /line 1: bare " in non-quoted-field/);
  t.throws(() => parseTokenFile('"t1"x,alice,u1'), /line 1: extraneous or missing " in quoted-field/);
  t.throws(() => parseTokenFile('"t1,alice,u1'), /line 1: extraneous or missing " in quoted-field/);
});

t.test('authenticate, and reload() keeps the last good contents on an error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ksg-tokens-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'tokens.csv');
  writeFileSync(path, 'secret-a,alice,u1,"devs"\nsecret-b,bob,u2\n');
  const auth = await createTokenFileAuthenticator(path);
  t.equal(auth.name, 'token-file');

  t.same(await auth.authenticate({ bearerToken: 'secret-a' }), { outcome: 'authenticated', user: { name: 'alice', uid: 'u1', groups: ['devs'], extra: {} }, by: 'token-file' });
  t.same(await auth.authenticate({ bearerToken: 'secret-c' }), { outcome: 'rejected', reason: 'token is not in the token file' });
  t.same(await auth.authenticate({}), { outcome: 'no-credential' });

  writeFileSync(path, 'secret-a,alice,u1\nbroken\n');
  const failed = await auth.reload();
  t.equal(failed.ok, false);
  t.match(failed, { error: /keeping the previous contents: .*line 2: must have at least 3 columns/ });
  t.match(await auth.authenticate({ bearerToken: 'secret-b' }), { outcome: 'authenticated', user: { name: 'bob' } }, 'old contents still in force');

  writeFileSync(path, 'secret-c,carol,u3\n,x,y\n');
  t.same(await auth.reload(), { ok: true, tokens: 1, warnings: [`empty token in ${path}, record number 2`] });
  t.match(await auth.authenticate({ bearerToken: 'secret-c' }), { outcome: 'authenticated', user: { name: 'carol' } });
  t.match(await auth.authenticate({ bearerToken: 'secret-a' }), { outcome: 'rejected' }, 'removed tokens stop working');

  rmSync(path);
  t.match(await auth.reload(), { ok: false, result: 'unreadable', error: /ENOENT/ });
  t.match(await auth.authenticate({ bearerToken: 'secret-c' }), { outcome: 'authenticated' });
});

t.test('a file rewritten in place: a truncated or half-written file never replaces the tokens in force', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ksg-tokens-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'tokens.csv');
  writeFileSync(path, 'secret-a,alice,u1\nsecret-b,bob,u2\n');
  const auth = await createTokenFileAuthenticator(path, { settleMs: 5 });
  // `printf '…' > tokens.csv`: the shell truncates first, then the writes arrive in pieces.
  const handle = await open(path, 'w');
  t.teardown(() => handle.close());
  t.match(await auth.reload(), { ok: false, result: 'empty', error: /no tokens.*keeping the previous 2 tokens/ }, 'the truncated file is refused');
  t.match(await auth.authenticate({ bearerToken: 'secret-a' }), { outcome: 'authenticated' }, 'alice still gets in');
  await handle.write('secret-a,alice,u1\nsecret-b,bo');
  t.match(await auth.reload(), { ok: false, result: 'invalid' }, 'half a record is refused');
  t.match(await auth.authenticate({ bearerToken: 'secret-b' }), { outcome: 'authenticated' }, 'bob too: the empty file was never kept');
  await handle.write('b,u2\nsecret-c,carol,u3\n');
  t.match(await auth.reload(), { ok: true, tokens: 3 }, 'the complete file is taken');
  t.match(await auth.authenticate({ bearerToken: 'secret-c' }), { outcome: 'authenticated', user: { name: 'carol' } });

  const emptyAtStart = join(dir, 'empty.csv');
  writeFileSync(emptyAtStart, '');
  const none = await createTokenFileAuthenticator(emptyAtStart);
  writeFileSync(emptyAtStart, '\n');
  t.match(await none.reload(), { ok: true, tokens: 0 }, 'a file that had no tokens may stay empty');
});

t.test('a file still being written is read until two reads agree, and given up when it never settles', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ksg-tokens-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'tokens.csv');
  writeFileSync(path, 'secret-a,alice,u1\n');
  const auth = await createTokenFileAuthenticator(path, { settleMs: 30, maxReads: 4 });
  // A writer that appends a record every few milliseconds: no two reads 30 ms apart agree.
  let n = 0;
  const writer = setInterval(() => appendFileSync(path, `secret-${n},user-${n++},u\n`), 2);
  const unsettled = await auth.reload();
  clearInterval(writer);
  t.match(unsettled, { ok: false, result: 'unstable', error: /kept changing over 4 reads; keeping the previous 1 token/ });
  t.match(await auth.authenticate({ bearerToken: 'secret-a' }), { outcome: 'authenticated' });
  t.match(await auth.reload(), { ok: true, tokens: n + 1 }, 'once the writer is done, the whole file is taken');
});

t.test('the first load must succeed', async (t) => {
  await t.rejects(createTokenFileAuthenticator(join(tmpdir(), 'ksg-no-such-token-file.csv')), /ENOENT/);
});

t.test('a returned user is a copy: callers cannot change the stored identity', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ksg-tokens-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 't.csv'), 's,alice,1,devs\n');
  const auth = await createTokenFileAuthenticator(join(dir, 't.csv'));
  const first = await auth.authenticate({ bearerToken: 's' });
  if (first.outcome === 'authenticated') first.user.groups.push('system:masters');
  t.match(await auth.authenticate({ bearerToken: 's' }), { user: { groups: ['devs'] } });
});
