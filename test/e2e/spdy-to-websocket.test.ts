// SPDY clients (kubectl 1.27) through the gateway to a WebSocket-only cluster (`legacy-cluster
// --streaming websocket`): the gateway answers the SPDY upgrade itself and speaks v5 (exec) or the
// SPDY/3.1+portforward.k8s.io tunnel (port-forward) upstream. Each test asserts from the gateway's
// session log which protocol each side spoke, and from the cluster's that it never saw SPDY.
import t, { type Test } from 'tap';
import http from 'node:http';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { startStack, type Stack } from '../helpers/stack.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import { startPortForward } from '../helpers/port-forward.js';
import { echoThrough } from '../helpers/echo.js';
import { until } from '../helpers/wait.js';
import { handleCounts, noHandlesLeft } from '../helpers/handles.js';
import { checkTerminalFollowsResize } from '../helpers/terminal-resize.js';
import { webSocketAccept } from '../../src/codecs/websocket/handshake.js';
import { encodeCloseFrame } from '../../src/codecs/websocket/frames.js';
import type { Duplex } from 'node:stream';
import type { LogRecord } from '../helpers/log-recorder.js';
import type { LegacyCluster } from '../../src/legacy-cluster/cluster.js';
import { collect, dialSpdy, execPath, openStreams } from '../legacy-cluster/harness.js';
import { assertSpdyToWebSocket as assertAll, refusedByCluster, towardWebSocket, type SpdyToWebSocketExpectation, startWebSocketOnlyStack } from '../helpers/to-websocket.js';

/** One session, SPDY from the client and WebSocket upstream; the cluster saw no SPDY upgrade. */
const assertSpdyToWebSocket = (t: Test, s: Stack, before: number, expect: SpdyToWebSocketExpectation): LogRecord => assertAll(t, s, before, expect)[0]!;
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingTaps } from '../../src/recording/recording-taps.js';
import { createLogger } from '../../src/observability/logger.js';

let stack: Stack;
t.before(async () => {
  stack = await startWebSocketOnlyStack();
});
t.teardown(() => stack.close());

t.test('kubectl 1.27 exec: stdin EOF, stdout, stderr and exit 3 over v5 upstream', async (t) => {
  const before = towardWebSocket(stack).length;
  const result = await runKubectl(27, ['exec', '-i', 'demo', '--', 'sh', '-c', 'cat; echo err >&2; exit 3'], { kubeconfig: stack.kubeconfig, stdin: 'old client\n', timeoutMs: 60_000 });
  t.equal(result.stdout.toString(), 'old client\n');
  t.equal(result.stderr, 'err\ncommand terminated with exit code 3\n');
  t.equal(result.code, 3);
  await stack.gatewayLogs.waitFor((r) => r.event === 'session-end' && r.mode === 'to-websocket' && r.exitCode === 3);
  assertSpdyToWebSocket(t, stack, before, { clientProtocol: 'SPDY/3.1 v4.channel.k8s.io', upstreamProtocol: 'v5.channel.k8s.io', exitCode: 3 });
  const clusterEnd = await stack.clusterLogs.waitFor((r) => r.event === 'session-end' && r.exitCode === 3);
  t.equal(clusterEnd.protocol, 'v5.channel.k8s.io', 'the cluster served v5');
});

t.test('kubectl 1.27 exec: SIGKILL is exit 137', async (t) => {
  const before = towardWebSocket(stack).length;
  const result = await runKubectl(27, ['exec', 'demo', '--', 'sh', '-c', 'kill -9 $$'], { kubeconfig: stack.kubeconfig, timeoutMs: 60_000 });
  t.equal(result.code, 137);
  await stack.gatewayLogs.waitFor((r) => r.event === 'session-end' && r.mode === 'to-websocket' && r.exitCode === 137);
  assertSpdyToWebSocket(t, stack, before, { clientProtocol: 'SPDY/3.1 v4.channel.k8s.io', upstreamProtocol: 'v5.channel.k8s.io', exitCode: 137 });
});

t.test('kubectl 1.27 exec -it under a real pty: resize reaches the pod over channel 4, exit code', async (t) => {
  const before = towardWebSocket(stack).length;
  await checkTerminalFollowsResize(t, 27, stack.kubeconfig);
  await stack.gatewayLogs.waitFor((r) => r.event === 'session-end' && r.mode === 'to-websocket' && r.exitCode === 7);
  const end = assertSpdyToWebSocket(t, stack, before, { clientProtocol: 'SPDY/3.1 v4.channel.k8s.io', upstreamProtocol: 'v5.channel.k8s.io', exitCode: 7 });
  t.equal(end.tty, true);
});

t.test('kubectl 1.28 attach -i: the main process echoes the input, over v5 upstream', async (t) => {
  const before = towardWebSocket(stack).length;
  const result = await runKubectl(28, ['attach', '-i', 'demo', '-c', 'echo'], { kubeconfig: stack.kubeconfig, stdin: 'attached via 1.28\n', timeoutMs: 60_000 });
  t.equal(result.code, 0, result.stderr);
  t.equal(result.stdout.toString(), 'attached via 1.28\n');
  await stack.gatewayLogs.waitFor((r) => r.event === 'session-end' && r.mode === 'to-websocket' && r.kind === 'attach');
  assertSpdyToWebSocket(t, stack, before, { clientProtocol: 'SPDY/3.1 v4.channel.k8s.io', upstreamProtocol: 'v5.channel.k8s.io', exitCode: 0 });
});

t.test('kubectl 1.27 port-forward: 8 parallel connections, 2 MB each way each, bytes checked', async (t) => {
  const before = towardWebSocket(stack).length;
  const forward = await startPortForward(27, stack.kubeconfig, 'demo', 7);
  const payloads = Array.from({ length: 8 }, () => randomBytes(2 * 1024 * 1024));
  const echoes = await Promise.all(payloads.map((payload) => echoThrough(forward.localPort, payload)));
  echoes.forEach((echo, i) => t.ok(echo.equals(payloads[i]!), `connection ${i} byte for byte`));
  await forward.stop();
  // Its session has ended before the next test counts sessions.
  await until(() => towardWebSocket(stack).length > before, 'the port-forward session-end line');
  assertSpdyToWebSocket(t, stack, before, { clientProtocol: 'SPDY/3.1 portforward.k8s.io', upstreamProtocol: 'SPDY/3.1+portforward.k8s.io' });
});

t.test('kubectl 1.27 port-forward: echo through the tunnel, bytes checked', async (t) => {
  const before = towardWebSocket(stack).length;
  const forward = await startPortForward(27, stack.kubeconfig, 'demo', 7);
  const payload = randomBytes(512 * 1024);
  const echoed = await echoThrough(forward.localPort, payload);
  t.ok(echoed.equals(payload), 'the echo came back byte for byte');
  await forward.stop();
  // Not waitFor(kind: portforward): the previous test's line would match at once.
  await until(() => towardWebSocket(stack).length > before, 'the port-forward session-end line');
  assertSpdyToWebSocket(t, stack, before, { clientProtocol: 'SPDY/3.1 portforward.k8s.io', upstreamProtocol: 'SPDY/3.1+portforward.k8s.io' });
});

t.test('kubectl 1.33 through the same gateway: WebSocket relayed as it is', async (t) => {
  const relaysBefore = stack.gatewayLogs.find((r) => r.event === 'session-start' && r.mode === 'relay').length;
  const result = await runKubectl(33, ['exec', '-i', 'demo', '--', 'sh', '-c', 'cat; exit 4'], { kubeconfig: stack.kubeconfig, stdin: 'new client\n', timeoutMs: 60_000 });
  t.equal(result.stdout.toString(), 'new client\n');
  t.equal(result.code, 4);
  const relays = stack.gatewayLogs.find((r) => r.event === 'session-start' && r.mode === 'relay').slice(relaysBefore);
  t.equal(relays.length, 1, 'one relayed upgrade');
  t.equal(relays[0]!.clientProtocol, 'websocket', 'the client spoke WebSocket, relayed');
  t.equal((await stack.clusterLogs.waitFor((r) => r.event === 'session-end' && r.exitCode === 4)).protocol, 'v5.channel.k8s.io');
  t.equal(refusedByCluster(stack), 0);
});

/** Enough of an API server for kubectl to reach the exec (discovery, the pod); `upgrade` answers the exec itself. */
async function fakeUpstream(t: Test, upgrade: (req: http.IncomingMessage, socket: Duplex) => void): Promise<Stack> {
  const server = http.createServer((req, res) => {
    const bodies: Record<string, object> = {
      '/api': { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] },
      '/apis': { kind: 'APIGroupList', apiVersion: 'v1', groups: [] },
      '/api/v1': { kind: 'APIResourceList', groupVersion: 'v1', resources: [{ name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list'] }] },
      '/api/v1/namespaces/default/pods/demo': { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'demo', namespace: 'default' }, spec: { containers: [{ name: 'shell', image: 'x' }] }, status: { phase: 'Running' } },
    };
    const body = bodies[(req.url ?? '').split('?')[0]!];
    res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body ?? { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404 }));
  });
  server.on('upgrade', upgrade);
  // The gateway's idle pooled connections (kubectl's discovery, proxied) close soon after the session, not the handle check's 10 s later.
  server.keepAliveTimeout = 200;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const s = await startStack({ upstream: () => ({ url: new URL(`http://127.0.0.1:${port}`), insecureSkipTlsVerify: false, streaming: 'websocket' }) });
  t.teardown(() => s.close());
  return s;
}

/** After a bad session: no session or client connection on the gateway, and no more handles in this process than before it. */
async function nothingLeft(t: Test, s: Stack, baseline: Record<string, number>): Promise<void> {
  await until(() => s.gateway.activeSessions === 0 && s.gateway.openConnections === 0, 'no session or connection left on the gateway');
  await noHandlesLeft(t, baseline);
}

/** The 101 a v5 upstream answers with. */
const accepted = (req: http.IncomingMessage): string =>
  `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${webSocketAccept(String(req.headers['sec-websocket-key']))}\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n`;

t.test('an upstream that accepts the WebSocket then closes with no Status: the SPDY client gets an error Status', async (t) => {
  const s = await fakeUpstream(t, (req, socket) => {
    socket.write(accepted(req));
    socket.end();
  });
  const baseline = handleCounts();
  const result = await runKubectl(27, ['exec', 'demo', '--', 'true'], { kubeconfig: s.kubeconfig, timeoutMs: 60_000 });
  t.equal(result.code, 1);
  t.match(result.stderr, /the upstream closed the stream without a status/);
  const end = await s.gatewayLogs.waitFor((r) => r.event === 'session-end' && r.mode === 'to-websocket');
  t.equal(end.outcome, 'upstream-error');
  await nothingLeft(t, s, baseline);
});

t.test('an upstream that closes with 1009 and no Status: the client is told, with the code', async (t) => {
  const s = await fakeUpstream(t, (req, socket) => {
    socket.write(accepted(req));
    socket.end(encodeCloseFrame(1009, 'message too big'));
  });
  const baseline = handleCounts();
  const result = await runKubectl(27, ['exec', 'demo', '--', 'true'], { kubeconfig: s.kubeconfig, timeoutMs: 60_000 });
  t.equal(result.code, 1);
  t.match(result.stderr, /without a status \(close code 1009\)/);
  const end = await s.gatewayLogs.waitFor((r) => r.event === 'session-end' && r.mode === 'to-websocket');
  t.match(end, { outcome: 'upstream-error', upstreamCloseCode: 1009 });
  await nothingLeft(t, s, baseline);
});

t.test('an upstream refusal before the upgrade reaches the SPDY client as the same status and Status body', async (t) => {
  const status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'pods "demo" is forbidden: nope', reason: 'Forbidden', code: 403 };
  const s = await fakeUpstream(t, (_req, socket) => {
    const body = JSON.stringify(status);
    socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  });
  const result = await runKubectl(27, ['exec', 'demo', '--', 'true'], { kubeconfig: s.kubeconfig, timeoutMs: 60_000 });
  t.equal(result.code, 1);
  t.match(result.stderr, /pods "demo" is forbidden: nope/);
  const refused = await s.gatewayLogs.waitFor((r) => r.event === 'session-refused' && r.mode === 'to-websocket');
  t.equal(refused.status, 403);
});

t.test('auto against each --streaming mode', async (t) => {
  for (const mode of ['spdy', 'websocket', 'both'] as const) {
    const s = await startStack({ cluster: { streaming: mode } });
    t.teardown(() => s.close());
    for (const attempt of [1, 2]) {
      const result = await runKubectl(27, ['exec', '-i', 'demo', '--', 'sh', '-c', 'cat; exit 2'], { kubeconfig: s.kubeconfig, stdin: `${mode} ${attempt}\n`, timeoutMs: 60_000 });
      t.equal(result.stdout.toString(), `${mode} ${attempt}\n`, `${mode} #${attempt}`);
      t.equal(result.code, 2);
    }
    const relayed = s.gatewayLogs.find((r) => r.event === 'session-start' && r.mode === 'relay').length;
    const translated = s.gatewayLogs.find((r) => r.event === 'session-start' && r.mode === 'to-websocket').length;
    if (mode === 'websocket') {
      t.same({ relayed, translated }, { relayed: 0, translated: 2 }, 'websocket: both sessions translated');
      t.equal(refusedByCluster(s), 1, 'websocket: only the first session paid a SPDY refusal, the second went straight to WebSocket');
    } else {
      t.same({ relayed, translated }, { relayed: 2, translated: 0 }, `${mode}: SPDY relayed as before`);
      t.equal(refusedByCluster(s), 0);
    }
  }
});

t.test('auto, recording on: a SPDY exec a rule selects is bridged, and still falls back to WebSocket when SPDY is refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ksg-spdy-auto-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const recording = new RecordingTaps({ directory: dir, rules: [], captureInput: false, maxBytesPerSession: 1024 * 1024, required: false }, createLogger({ level: 'silent' }));
  for (const mode of ['spdy', 'websocket'] as const) {
    const s = await startStack({ cluster: { streaming: mode }, gateway: { recording } });
    t.teardown(() => s.close());
    const result = await runKubectl(27, ['exec', '-i', 'demo', '--', 'sh', '-c', 'cat; exit 2'], { kubeconfig: s.kubeconfig, stdin: `${mode}\n`, timeoutMs: 60_000 });
    t.equal(result.stdout.toString(), `${mode}\n`, result.stderr);
    t.equal(result.code, 2);
    const end = await s.gatewayLogs.waitFor((r) => r.event === 'session-end');
    t.match(end, mode === 'spdy' ? { mode: 'translated', clientTransport: 'spdy', upstreamTransport: 'spdy' } : { mode: 'to-websocket', upstreamTransport: 'websocket' }, mode);
  }
});

t.test('a raw SPDY client: streams in an unusual order and a second stdin, toward the WebSocket upstream', async (t) => {
  // The gateway as the harness's "cluster": the same raw SPDY client the stand-in's own tests use.
  const asCluster = { cluster: stack.gateway as unknown as LegacyCluster, token: stack.token, caPem: stack.caPem, logs: stack.gatewayLogs, close: async () => undefined };
  const before = towardWebSocket(stack).length;
  const baseline = handleCounts();
  const session = await dialSpdy(asCluster, execPath(['cat'], { container: 'shell', stdin: 'true', stdout: 'true' }));
  const first = openStreams(session.connection, ['stdout', 'stdin']);
  const second = openStreams(session.connection, ['stdin', 'error']);
  const [stdout, error] = [collect(first.stdout!), collect(second.error!)];
  first.stdin!.write('dropped\n');
  second.stdin!.end('kept\n');
  t.equal((await stdout).toString(), 'kept\n', 'the later stdin replaced the earlier one');
  t.equal((await error).toString(), '{"metadata":{},"status":"Success"}');
  await session.closed;
  await stack.gatewayLogs.waitFor((r) => r.event === 'session-end' && r.mode === 'to-websocket' && Array.isArray(r.command) && r.command[0] === 'cat');
  assertSpdyToWebSocket(t, stack, before, { clientProtocol: 'SPDY/3.1 v4.channel.k8s.io', upstreamProtocol: 'v5.channel.k8s.io', exitCode: 0 });
  await nothingLeft(t, stack, baseline);
});
