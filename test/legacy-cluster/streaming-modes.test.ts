// `legacy-cluster --streaming websocket|both`: real kubectl releases straight against the embedded
// cluster. WebSocket-only serves exec/attach over v5.channel.k8s.io and port-forward over the
// SPDY/3.1+portforward.k8s.io tunnel, and refuses SPDY with a 400 Status naming WebSocket; `both`
// serves each client in its own protocol, as a 1.31 API server.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { startHarness, type Harness } from './harness.js';
import { runKubectl, type KubectlRun } from '../helpers/run-kubectl.js';
import { startPortForward } from '../helpers/port-forward.js';
import { echoThrough } from '../helpers/echo.js';

let websocketOnly: Harness;
let both: Harness;
t.before(async () => {
  websocketOnly = await startHarness({ tls: true, streaming: 'websocket' });
  both = await startHarness({ tls: true, streaming: 'both' });
});
t.teardown(async () => {
  await websocketOnly.close();
  await both.close();
});

const run = (h: Harness, minor: number, args: string[], extra: Partial<KubectlRun> = {}): ReturnType<typeof runKubectl> =>
  runKubectl(minor, args, { kubeconfig: h.kubeconfig!, timeoutMs: 60_000, ...extra });

t.test('websocket: kubectl 1.33 exec over v5 — stdin EOF, stdout, stderr and exit 3', async (t) => {
  const result = await run(websocketOnly, 33, ['exec', '-i', 'demo', '--', 'sh', '-c', 'cat; echo err >&2; exit 3'], { stdin: 'over v5\n' });
  t.equal(result.code, 3);
  t.equal(result.stdout.toString(), 'over v5\n');
  t.equal(result.stderr, 'err\ncommand terminated with exit code 3\n');
  const end = await websocketOnly.logs.waitFor((r) => r.event === 'session-end' && Array.isArray(r.command) && r.command.join(' ') === 'sh -c cat; echo err >&2; exit 3');
  t.match(end, { protocol: 'v5.channel.k8s.io', exitCode: 3 });
  t.equal(websocketOnly.logs.find((r) => r.event === 'upgrade-refused').length, 0, 'kubectl 1.33 never tried SPDY');
});

t.test('websocket: a process killed by SIGKILL reports 137', async (t) => {
  const result = await run(websocketOnly, 33, ['exec', 'demo', '--', 'sh', '-c', 'kill -9 $$']);
  t.equal(result.code, 137);
  t.equal((await websocketOnly.logs.waitFor((r) => r.event === 'session-end' && r.exitCode === 137)).protocol, 'v5.channel.k8s.io');
});

t.test('websocket: kubectl 1.33 attach over v5', async (t) => {
  const result = await run(websocketOnly, 33, ['attach', '-i', 'demo', '-c', 'echo'], { stdin: 'attached\n' });
  t.equal(result.code, 0, result.stderr);
  t.equal(result.stdout.toString(), 'attached\n');
  const end = await websocketOnly.logs.waitFor((r) => r.event === 'session-end' && r.kind === 'attach');
  t.equal(end.protocol, 'v5.channel.k8s.io');
});

t.test('websocket: kubectl 1.27 (SPDY only) is refused with a 400 Status naming WebSocket', async (t) => {
  const before = websocketOnly.logs.find((r) => r.event === 'upgrade-refused').length;
  const result = await run(websocketOnly, 27, ['exec', 'demo', '--', 'true']);
  t.equal(result.code, 1);
  t.match(result.stderr, /SPDY\/3\.1 is not served by this cluster; use a WebSocket client/);
  t.equal(websocketOnly.logs.find((r) => r.event === 'upgrade-refused').length, before + 1);
  t.equal(websocketOnly.logs.find((r) => r.event === 'session-start' && Array.isArray(r.command) && r.command.join(' ') === 'true').length, 0, 'nothing ran');
});

t.test('websocket: kubectl 1.33 port-forward over the SPDY/3.1+portforward.k8s.io tunnel, bytes checked', async (t) => {
  const forward = await startPortForward(33, websocketOnly.kubeconfig!, 'demo', 7);
  t.teardown(() => forward.stop());
  const payload = randomBytes(256 * 1024);
  t.ok((await echoThrough(forward.localPort, payload)).equals(payload), 'the echo came back byte for byte');
  const identity = await websocketOnly.logs.waitFor((r) => r.event === 'session-identity' && r.kind === 'portforward');
  t.equal(identity.protocol, 'SPDY/3.1+portforward.k8s.io');
  t.equal(websocketOnly.logs.find((r) => r.event === 'upgrade-refused').length, 1, 'only the 1.27 exec above was refused');
});

t.test('websocket: kubectl 1.27 port-forward (SPDY) is refused before it listens', async (t) => {
  // kubectl 1.27 upgrades once at start: the refusal ends it with the Status message.
  await t.rejects(startPortForward(27, websocketOnly.kubeconfig!, 'demo', 7), /SPDY\/3\.1 is not served by this cluster/);
  await websocketOnly.logs.waitFor((r) => r.event === 'upgrade-refused' && String(r.path).endsWith('/portforward'));
});

t.test('both: kubectl 1.27 speaks SPDY, kubectl 1.33 WebSocket, each served', async (t) => {
  const old = await run(both, 27, ['exec', '-i', 'demo', '--', 'sh', '-c', 'cat; exit 5'], { stdin: 'old\n' });
  t.equal(old.code, 5);
  t.equal(old.stdout.toString(), 'old\n');
  const fresh = await run(both, 33, ['exec', '-i', 'demo', '--', 'sh', '-c', 'cat; exit 6'], { stdin: 'new\n' });
  t.equal(fresh.code, 6);
  t.equal(fresh.stdout.toString(), 'new\n');
  t.equal((await both.logs.waitFor((r) => r.event === 'session-end' && r.exitCode === 5)).protocol, 'v4.channel.k8s.io');
  t.equal((await both.logs.waitFor((r) => r.event === 'session-end' && r.exitCode === 6)).protocol, 'v5.channel.k8s.io');
  const forward = await startPortForward(33, both.kubeconfig!, 'demo', 7);
  t.teardown(() => forward.stop());
  const payload = randomBytes(4096);
  t.ok((await echoThrough(forward.localPort, payload)).equals(payload));
  t.equal((await both.logs.waitFor((r) => r.event === 'session-identity' && r.kind === 'portforward')).protocol, 'SPDY/3.1+portforward.k8s.io');
});
