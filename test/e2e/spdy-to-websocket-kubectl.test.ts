// More SPDY clients through the gateway to a WebSocket-only cluster (`legacy-cluster --streaming
// websocket`): kubectl 1.27 cp of 50 MB each way, and kubectl 1.28 exec and port-forward. Each
// asserts from the gateway's session log that the client spoke SPDY and the upstream WebSocket,
// and from the cluster's that it never saw a SPDY upgrade.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Stack } from '../helpers/stack.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import { startPortForward } from '../helpers/port-forward.js';
import { hashedEcho } from '../helpers/hashed-echo.js';
import { until } from '../helpers/wait.js';
import { assertSpdyToWebSocket, towardWebSocket, startWebSocketOnlyStack } from '../helpers/to-websocket.js';

let stack: Stack;
let local: string;
t.before(async () => {
  stack = await startWebSocketOnlyStack();
  local = await mkdtemp(join(tmpdir(), 'ksg-cp-ws-'));
});
t.teardown(async () => {
  await stack.close();
  await rm(local, { recursive: true, force: true });
});

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const EXEC_V4 = { clientProtocol: 'SPDY/3.1 v4.channel.k8s.io', upstreamProtocol: 'v5.channel.k8s.io' };
const PORT_FORWARD = { clientProtocol: 'SPDY/3.1 portforward.k8s.io', upstreamProtocol: 'SPDY/3.1+portforward.k8s.io' };

t.test('kubectl 1.27 cp of 50 MB into the pod and back over v5 upstream, sha256 equal', async (t) => {
  const original = randomBytes(50 * 1024 * 1024);
  const source = join(local, 'upload.bin');
  await writeFile(source, original);
  // The demo pod runs on this host: its filesystem is the host's, so a directory of our own.
  const podDir = join(local, 'pod-side');
  await mkdir(podDir);

  const before = towardWebSocket(stack).length;
  const up = await runKubectl(27, ['cp', source, `demo:${podDir}/copy.bin`], { kubeconfig: stack.kubeconfig, timeoutMs: 180_000 });
  t.equal(up.code, 0, up.stderr);
  t.equal(sha256(await readFile(join(podDir, 'copy.bin'))), sha256(original), 'upload intact');
  const back = join(local, 'download.bin');
  const down = await runKubectl(27, ['cp', `demo:${podDir}/copy.bin`, back], { kubeconfig: stack.kubeconfig, timeoutMs: 180_000 });
  t.equal(down.code, 0, down.stderr);
  t.equal(sha256(await readFile(back)), sha256(original), 'download intact');

  // kubectl cp may exec small helpers too; every session was translated, and the tars carried the file.
  await until(() => towardWebSocket(stack).slice(before).filter((end) => (end.command as string[])[0] === 'tar').length === 2, 'both tar sessions to end');
  const ends = assertSpdyToWebSocket(t, stack, before, { ...EXEC_V4, sessions: towardWebSocket(stack).length - before });
  const tars = ends.filter((end) => (end.command as string[])[0] === 'tar');
  t.equal(tars[0]!.exitCode, 0, 'the upload tar exited 0');
  t.ok((tars[0]!.bytesFromClient as number) > original.length, 'the tar stream went up through the gateway');
  t.ok((tars[1]!.bytesToClient as number) > original.length, 'the tar stream came down through the gateway');
});

t.test('kubectl 1.28 exec: stdin EOF, stdout, stderr and exit 3 over v5 upstream', async (t) => {
  const before = towardWebSocket(stack).length;
  const result = await runKubectl(28, ['exec', '-i', 'demo', '--', 'sh', '-c', 'cat; echo err >&2; exit 3'], {
    kubeconfig: stack.kubeconfig,
    stdin: 'client 1.28\n',
    timeoutMs: 60_000,
    hangHint: 'stdin EOF never reached the upstream as a v5 CLOSE',
  });
  t.equal(result.stdout.toString(), 'client 1.28\n');
  t.equal(result.stderr, 'err\ncommand terminated with exit code 3\n');
  t.equal(result.code, 3);
  await stack.gatewayLogs.waitFor((r) => r.event === 'session-end' && r.mode === 'to-websocket' && r.exitCode === 3);
  assertSpdyToWebSocket(t, stack, before, { ...EXEC_V4, exitCode: 3 });
  const clusterEnd = await stack.clusterLogs.waitFor((r) => r.event === 'session-end' && r.exitCode === 3);
  t.equal(clusterEnd.protocol, 'v5.channel.k8s.io', 'the cluster served v5');
});

t.test('kubectl 1.28 port-forward: 4 parallel connections, 4 MB each way each, hashes equal', async (t) => {
  const before = towardWebSocket(stack).length;
  const forward = await startPortForward(28, stack.kubeconfig, 'demo', 7);
  const echoes = await Promise.all(Array.from({ length: 4 }, () => hashedEcho(forward.localPort, 4 * 1024 * 1024)));
  echoes.forEach((echo, i) => {
    t.equal(echo.receivedBytes, 4 * 1024 * 1024, `connection ${i}: every byte came back`);
    t.equal(echo.receivedSha256, echo.sentSha256, `connection ${i}: byte for byte`);
  });
  await forward.stop();
  await until(() => towardWebSocket(stack).length > before, 'the port-forward session-end line');
  assertSpdyToWebSocket(t, stack, before, PORT_FORWARD);
});
