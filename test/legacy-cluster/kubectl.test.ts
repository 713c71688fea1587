// Real kubectl releases straight against the legacy cluster (no gateway): SPDY exec and attach as a
// 1.28 cluster serves them, and kubectl 1.33 falling back to SPDY after its WebSocket attempt is refused.
import t from 'tap';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startHarness, type Harness } from './harness.js';
import { runKubectl, type KubectlRun } from '../helpers/run-kubectl.js';

let h: Harness;
let local: string;
t.before(async () => {
  h = await startHarness({ tls: true });
  local = await mkdtemp(join(tmpdir(), 'ksg-legacy-kubectl-'));
});
t.teardown(async () => {
  await h.close();
  await rm(local, { recursive: true, force: true });
});

const run = (minor: number, args: string[], extra: Partial<KubectlRun> = {}): ReturnType<typeof runKubectl> =>
  runKubectl(minor, args, { kubeconfig: h.kubeconfig!, timeoutMs: 60_000, ...extra });

t.test('kubectl 1.27: echo hello | exec -i demo -- cat', async (t) => {
  const result = await run(27, ['exec', '-i', 'demo', '--', 'cat'], { stdin: 'hello\n' });
  t.equal(result.stderr, '');
  t.equal(result.code, 0);
  t.equal(result.stdout.toString(), 'hello\n');
  const end = await h.logs.waitFor((r) => r.event === 'session-end' && Array.isArray(r.command) && r.command.join(' ') === 'cat');
  t.match(end, { kind: 'exec', container: 'shell', protocol: 'v4.channel.k8s.io', exitCode: 0 });
});

t.test("kubectl 1.27: stdout, stderr and the command's exit code", async (t) => {
  const result = await run(27, ['exec', 'demo', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
  t.equal(result.code, 3);
  t.equal(result.stdout.toString(), 'out\n');
  t.equal(result.stderr, 'err\ncommand terminated with exit code 3\n');
});

t.test('kubectl 1.33: the WebSocket attempt is refused with 403, kubectl falls back to SPDY and gets a 101', async (t) => {
  const result = await run(33, ['-v=8', 'exec', '-i', 'demo', '--', 'sh', '-c', 'cat; exit 4'], { stdin: 'fallback works\n' });
  t.equal(result.stdout.toString(), 'fallback works\n');
  t.equal(result.code, 4);
  const stderr = result.stderr;
  const refused = stderr.search(/websocket: bad handshake \(403 Forbidden\)/);
  t.ok(refused >= 0, 'the WebSocket handshake was refused with 403');
  t.match(stderr, /RemoteCommand fallback/);
  const upgraded = stderr.search(/101 Switching Protocols/);
  t.ok(upgraded > refused, 'then a SPDY upgrade answered 101');
  t.match(stderr, /command terminated with exit code 4/);
  const end = await h.logs.waitFor((r) => r.event === 'session-end' && Array.isArray(r.command) && r.command.join(' ') === 'sh -c cat; exit 4');
  t.equal(end.protocol, 'v4.channel.k8s.io');
  t.equal(end.exitCode, 4);
});

t.test('attach: echo hi | kubectl attach -i demo -c echo, with kubectl 1.27 and 1.33', async (t) => {
  for (const minor of [27, 33]) {
    const result = await run(minor, ['attach', '-i', 'demo', '-c', 'echo'], { stdin: `hi ${minor}\n` });
    t.equal(result.code, 0, result.stderr);
    t.equal(result.stdout.toString(), `hi ${minor}\n`, `kubectl 1.${minor}`);
  }
  const attaches = h.logs.find((r) => r.event === 'session-end' && r.kind === 'attach');
  t.equal(attaches.length, 2);
  for (const end of attaches) t.match(end, { container: 'echo', command: ['cat'], exitCode: 0, protocol: 'v4.channel.k8s.io' });
  t.equal(h.logs.find((r) => r.event === 'container-start' && r.container === 'echo').length, 2, 'stdinOnce: each attach got a fresh cat');
});

t.test('a command that does not exist: the runtime error, kubectl exits 1', async (t) => {
  const result = await run(27, ['exec', 'demo', '--', 'nosuchcmd']);
  t.equal(result.code, 1);
  t.match(
    result.stderr,
    /^error: Internal error occurred: error executing command in container: failed to exec in container: failed to start exec "[0-9a-f]{64}": OCI runtime exec failed: exec failed: unable to start container process: exec: "nosuchcmd": executable file not found in \$PATH: unknown\n$/,
  );
});

t.test('kubectl cp into the pod and back (tar on this host, absolute paths are the host\'s)', async (t) => {
  const original = randomBytes(2 * 1024 * 1024);
  const source = join(local, 'up.bin');
  await writeFile(source, original);
  const podSide = join(local, 'pod-side');
  t.equal((await run(27, ['exec', 'demo', '--', 'mkdir', '-p', podSide])).code, 0);
  const up = await run(27, ['cp', source, `demo:${podSide}/copy.bin`]);
  t.equal(up.code, 0, up.stderr);
  t.ok((await readFile(join(podSide, 'copy.bin'))).equals(original), 'uploaded intact');
  const back = join(local, 'down.bin');
  const down = await run(33, ['cp', `demo:${podSide}/copy.bin`, back]);
  t.equal(down.code, 0, down.stderr);
  t.ok((await readFile(back)).equals(original), 'downloaded intact');
});

t.test('the working directory is the pod\'s scratch directory, shared by its containers', async (t) => {
  const write = await run(27, ['exec', 'demo', '-c', 'web', '--', 'sh', '-c', 'echo shared > note.txt; pwd']);
  t.equal(write.code, 0, write.stderr);
  const read = await run(27, ['exec', 'demo', '-c', 'shell', '--', 'cat', 'note.txt']);
  t.equal(read.stdout.toString(), 'shared\n');
  t.match(write.stdout.toString(), /default_demo\n$/);
});

t.test('kubectl get: the server-side printed tables of a 1.28 server', async (t) => {
  for (const minor of [27, 33]) {
    const pods = await run(minor, ['get', 'pods']);
    t.equal(pods.code, 0, pods.stderr);
    t.match(pods.stdout.toString(), /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\ndemo\s+3\/3\s+Running\s+\d+\s+\d+[smhdy]/);
  }
  const wide = await run(33, ['get', 'pod', 'demo', '-o', 'wide']);
  t.match(wide.stdout.toString(), /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES\ndemo\s+3\/3\s+Running\s+\d+\s+\S+\s+127\.0\.0\.1\s+legacy-node\s+<none>\s+<none>\n$/);
  const namespaces = await run(33, ['get', 'namespaces']);
  t.match(namespaces.stdout.toString(), /^NAME\s+STATUS\s+AGE\ndefault\s+Active\s+\S+\n$/);
  const json = await run(33, ['get', 'pod', 'demo', '-o', 'jsonpath={.spec.containers[*].name}']);
  t.equal(json.stdout.toString(), 'shell echo web');
});
