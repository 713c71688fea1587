// kubectl cp (tar over exec, both directions) and attach through the gateway.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, type Stack } from '../helpers/stack.js';
import { runKubectl } from '../helpers/run-kubectl.js';

let stack: Stack;
let local: string;
t.before(async () => {
  stack = await startStack();
  local = await mkdtemp(join(tmpdir(), 'ksg-cp-'));
});
t.teardown(async () => {
  await stack.close();
  await rm(local, { recursive: true, force: true });
});

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

t.test('kubectl cp of a 50 MB file into the pod and back, checksums equal', async (t) => {
  const original = randomBytes(50 * 1024 * 1024);
  const source = join(local, 'upload.bin');
  await writeFile(source, original);
  // The demo pod runs on this host: its /tmp is the host's, so use a directory of our own there.
  const podDir = join(local, 'pod-side');
  const mkdir = await runKubectl(33, ['exec', 'demo', '--', 'mkdir', '-p', podDir], { kubeconfig: stack.kubeconfig });
  t.equal(mkdir.code, 0, mkdir.stderr);

  const sessionsBefore = stack.sessionEnds().length;
  const up = await runKubectl(33, ['cp', source, `demo:${podDir}/copy.bin`], { kubeconfig: stack.kubeconfig, timeoutMs: 120_000 });
  t.equal(up.code, 0, up.stderr);
  t.equal(sha256(await readFile(join(podDir, 'copy.bin'))), sha256(original), 'upload intact');

  const back = join(local, 'download.bin');
  const down = await runKubectl(33, ['cp', `demo:${podDir}/copy.bin`, back], { kubeconfig: stack.kubeconfig, timeoutMs: 120_000 });
  t.equal(down.code, 0, down.stderr);
  t.equal(sha256(await readFile(back)), sha256(original), 'download intact');

  // kubectl cp also execs small helpers (e.g. `test -d` on the destination); every one of them must
  // have been translated, and the two tar streams carried the file.
  const sessions = stack.sessionEnds().slice(sessionsBefore);
  t.ok(sessions.length >= 2);
  for (const session of sessions) {
    t.equal(session.clientProtocol, 'v5.channel.k8s.io');
    t.equal(session.upstreamProtocol, 'v4.channel.k8s.io');
  }
  const tars = sessions.filter((session) => (session.command as string[])[0] === 'tar');
  t.equal(tars.length, 2, 'one tar session each way');
  t.equal(tars[0]!.exitCode, 0, 'the upload tar exited 0');
  // kubectl cp stops reading once the archive is complete and may close before the Status arrives
  // (as against a real cluster); then the session ends as closed by the client, never as a failure.
  t.ok(tars[1]!.exitCode === 0 || /client closed/.test(String(tars[1]!.reason)), `download tar: ${tars[1]!.exitCode} / ${tars[1]!.reason}`);
  t.ok((tars[0]!.bytesFromClient as number) > original.length, 'the tar stream went up through the gateway');
  t.ok((tars[1]!.bytesToClient as number) > original.length, 'the tar stream came down through the gateway');
});

t.test('kubectl attach -i to the echo container', async (t) => {
  const sessionsBefore = stack.sessionEnds().length;
  const result = await runKubectl(33, ['attach', '-i', 'demo', '-c', 'echo'], {
    kubeconfig: stack.kubeconfig,
    stdin: 'attached line\n',
  });
  t.equal(result.code, 0, result.stderr);
  t.match(result.stdout.toString(), /attached line\n/);
  const sessions = stack.sessionEnds().slice(sessionsBefore);
  t.equal(sessions.length, 1);
  t.equal(sessions[0]!.kind, 'attach');
  t.equal(sessions[0]!.clientProtocol, 'v5.channel.k8s.io');
});
