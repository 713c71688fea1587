// The file watcher sees Secret rotation the way the kubelet does it (a new timestamped folder and an
// atomic swap of the `..data` symlink), in-place rewrites, deletion and return; it reports a change
// once, not a swap to identical content, and nothing after close(). Waits are on its poll counter.
import t, { type Test } from 'tap';
import { mkdir, mkdtemp, open, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileWatcher, watchFiles } from '../../src/config/file-watcher.js';
import { until } from '../helpers/wait.js';

const INTERVAL_MS = 10;

/** A folder laid out as a mounted Secret: tls.crt → ..data/tls.crt, ..data → ..<version>. */
async function secretVolume(content: string): Promise<{ dir: string; file: string; rotate(content: string): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'ksg-watch-'));
  let version = 0;
  let current = '';
  const rotate = async (next: string): Promise<void> => {
    const folder = `..${++version}`;
    await mkdir(join(dir, folder));
    await writeFile(join(dir, folder, 'tls.crt'), next);
    await symlink(folder, join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    if (current) await rm(join(dir, current), { recursive: true });
    current = folder;
  };
  await rotate(content);
  await symlink(join('..data', 'tls.crt'), join(dir, 'tls.crt'));
  return { dir, file: join(dir, 'tls.crt'), rotate };
}

/** A file with `content` in a fresh folder, removed after the test. */
async function tempFile(t: Test, name: string, content: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ksg-watch-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, name), content);
  return join(dir, name);
}

/** Replaces a file's content at once (a poll never sees it empty or half written), as Secret updates do. */
async function replace(file: string, content: string): Promise<void> {
  await writeFile(`${file}.tmp`, content);
  await rename(`${file}.tmp`, file);
}

/** Overwrites a file in place (same inode) with content of the same size, without truncating it first. */
async function overwriteInPlace(file: string, content: string): Promise<void> {
  const handle = await open(file, 'r+');
  await handle.write(content, 0);
  await handle.close();
}

/** Waits until the watcher has completed `count` more polls. */
async function polls(watcher: FileWatcher, count: number): Promise<void> {
  const target = watcher.polls + count;
  await until(() => watcher.polls >= target, `${count} polls`);
}

t.test('a symlink swap of ..data is reported once with the new content; identical content is no change', async (t) => {
  const volume = await secretVolume('first');
  t.teardown(() => rm(volume.dir, { recursive: true, force: true }));
  const changes: Array<[string, string]> = [];
  const watcher = watchFiles([{ path: volume.file, content: 'first' }], { intervalMs: INTERVAL_MS, onChange: (path, content) => changes.push([path, content]) });
  t.teardown(() => watcher.close());
  await watcher.ready();

  await volume.rotate('first');
  await polls(watcher, 2);
  t.same(changes, [], 'a swap to the same content is not a change');

  await volume.rotate('second');
  await until(() => changes.length > 0, 'the rotation to be seen');
  await polls(watcher, 2);
  t.same(changes, [[volume.file, 'second']], 'reported once, with the path as given');

  await volume.rotate('third');
  await until(() => changes.length > 1, 'the second rotation');
  t.same(changes[1], [volume.file, 'third'], 'and again: the watch follows the symlinks on every poll');
});

t.test('in-place rewrites of the same size, deletion and return', async (t) => {
  const file = await tempFile(t, 'token', 'aaaa');
  const changes: string[] = [];
  const errors: string[] = [];
  const watcher = new FileWatcher([file, file], { intervalMs: INTERVAL_MS, onChange: (_, content) => changes.push(content), onError: (_, message) => errors.push(message) });
  t.teardown(() => watcher.close());
  await watcher.ready();
  t.same(changes, [], 'the first look only takes note');

  await overwriteInPlace(file, 'bbbb');
  await until(() => changes.length === 1, 'the rewrite');
  t.same(changes, ['bbbb'], 'same size, new content: seen (ctime), reported once though named twice');

  await unlink(file);
  await until(() => errors.length === 1, 'the deletion');
  await polls(watcher, 2);
  t.same(errors, ['no such file or directory'], 'reported once, not on every poll');
  await replace(file, 'cccc');
  await until(() => changes.length === 2, 'the return');
  t.same(changes, ['bbbb', 'cccc']);

  await writeFile(file, 'x'.repeat(100));
  const small = new FileWatcher([file], { intervalMs: INTERVAL_MS, maxBytes: 10, onChange: () => t.fail('not read'), onError: (_, message) => errors.push(message) });
  t.teardown(() => small.close());
  await small.ready();
  t.equal(errors.at(-1), 'larger than 10 bytes', 'files over maxBytes are refused, not read');
});

t.test('a known content that already changed is reported on the first look; close() stops reports', async (t) => {
  const file = await tempFile(t, 'ca.crt', 'on disk');
  const seen: string[] = [];
  const stale = watchFiles([{ path: file, content: 'loaded earlier' }], { intervalMs: INTERVAL_MS, onChange: (_, content) => seen.push(content) });
  await stale.ready();
  t.same(seen, ['on disk'], 'changed between loading and watching');
  stale.close();

  const closedChanges: string[] = [];
  const closed = watchFiles([file], { intervalMs: INTERVAL_MS, onChange: (_, content) => closedChanges.push(content) });
  await closed.ready();
  const witness: string[] = [];
  const open = watchFiles([file], { intervalMs: INTERVAL_MS, onChange: (_, content) => witness.push(content) });
  t.teardown(() => open.close());
  await open.ready();
  closed.close();
  const pollsAtClose = closed.polls;
  await replace(file, 'after close');
  await until(() => witness.length === 1, 'the open watcher to see the change');
  await polls(open, 2);
  t.same(closedChanges, [], 'a closed watcher reports nothing');
  t.ok(closed.polls <= pollsAtClose + 1, 'and stops polling');

  const failing = watchFiles([file], {
    intervalMs: INTERVAL_MS,
    onChange: () => {
      throw new Error('reload refused');
    },
    onError: (_, message) => witness.push(message),
  });
  t.teardown(() => failing.close());
  await failing.ready();
  await replace(file, 'again');
  await until(() => witness.includes('onChange failed: reload refused'), 'the failure to be reported');
  await replace(file, 'and again');
  await polls(failing, 3);
  t.equal(witness.filter((entry) => entry === 'onChange failed: reload refused').length, 2, 'polling goes on after a failed callback');
});
