// A gateway chain (docs/deployment.md "Old clients across a WebSocket-only hop"): kubectl 1.27 →
// gateway A (`streaming: websocket` toward B) → gateway B (`streaming: spdy`) → legacy-cluster
// (`--streaming spdy`). A turns SPDY into WebSocket, B turns it back. Each test asserts from both
// gateways' session logs which protocol each hop spoke.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, type Stack } from '../helpers/stack.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import { startPortForward } from '../helpers/port-forward.js';
import { echoThrough } from '../helpers/echo.js';
import { LogRecorder, type LogRecord } from '../helpers/log-recorder.js';
import { until } from '../helpers/wait.js';
import { createLogger } from '../../src/observability/logger.js';
import { renderKubeconfig } from '../../src/config/kubeconfig.js';
import { startGateway, type Gateway } from '../../src/server/gateway.js';

let b: Stack;
let a: Gateway;
const aLogs = new LogRecorder();
let kubeconfig: string;
let dir: string;

t.before(async () => {
  // B and the cluster: B speaks SPDY upstream, as toward any legacy cluster.
  b = await startStack({ upstream: (cluster, caPem) => ({ url: new URL(cluster.url), ca: caPem, insecureSkipTlsVerify: false, streaming: 'spdy' }) });
  // A in front of B, told that B (the far side of a WebSocket-only hop) speaks WebSocket only.
  a = await startGateway({
    listen: { host: '127.0.0.1', port: 0 },
    tls: b.serverTls,
    upstream: { url: new URL(b.gateway.url), ca: b.caPem, insecureSkipTlsVerify: false, streaming: 'websocket' },
    logger: createLogger({ destination: aLogs, level: 'debug' }),
  });
  dir = await mkdtemp(join(tmpdir(), 'ksg-chain-'));
  kubeconfig = join(dir, 'chain.kubeconfig');
  await writeFile(kubeconfig, renderKubeconfig({ server: a.url, caPem: b.caPem, token: b.token }));
});
t.teardown(async () => {
  await a?.close();
  await b?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const ends = (logs: LogRecorder, mode: string): LogRecord[] => logs.find((r) => r.event === 'session-end' && r.mode === mode);
const starts = (logs: LogRecorder): LogRecord[] => logs.find((r) => r.event === 'session-start');

t.test('kubectl 1.27 exec across the chain: stdin, stdout, stderr, exit code', async (t) => {
  const [aBefore, bBefore] = [starts(aLogs).length, starts(b.gatewayLogs).length];
  const result = await runKubectl(27, ['exec', '-i', 'demo', '--', 'sh', '-c', 'cat; echo err >&2; exit 3'], { kubeconfig, stdin: 'across two gateways\n', timeoutMs: 60_000 });
  t.equal(result.stdout.toString(), 'across two gateways\n');
  t.equal(result.stderr, 'err\ncommand terminated with exit code 3\n');
  t.equal(result.code, 3);
  const aEnd = await aLogs.waitFor((r) => r.event === 'session-end' && r.mode === 'to-websocket' && r.exitCode === 3);
  t.match(aEnd, { clientTransport: 'spdy', upstreamTransport: 'websocket', clientProtocol: 'SPDY/3.1 v4.channel.k8s.io', upstreamProtocol: 'v5.channel.k8s.io' }, 'A: SPDY from kubectl, v5 toward B');
  const bEnd = await b.gatewayLogs.waitFor((r) => r.event === 'session-end' && r.exitCode === 3);
  t.match(bEnd, { clientProtocol: 'v5.channel.k8s.io' }, 'B: v5 from A');
  t.not(bEnd.mode, 'to-websocket', 'B: translated toward SPDY, not toward WebSocket');
  t.equal(starts(aLogs).length - aBefore, 1, 'one session at A');
  t.equal(starts(b.gatewayLogs).length - bBefore, 1, 'one session at B');
  const clusterEnd = await b.clusterLogs.waitFor((r) => r.event === 'session-end' && r.exitCode === 3);
  t.match(String(clusterEnd.protocol), /v4\.channel\.k8s\.io/, 'the cluster served SPDY');
  t.equal(b.clusterLogs.find((r) => r.event === 'upgrade-refused').length, 0);
});

t.test('kubectl 1.27 port-forward across the chain: 4 connections, 1 MB each way each, bytes checked', async (t) => {
  const aBefore = ends(aLogs, 'to-websocket').length;
  const forward = await startPortForward(27, kubeconfig, 'demo', 7);
  const payloads = Array.from({ length: 4 }, () => randomBytes(1024 * 1024));
  const echoes = await Promise.all(payloads.map((payload) => echoThrough(forward.localPort, payload)));
  echoes.forEach((echo, i) => t.ok(echo.equals(payloads[i]!), `connection ${i} byte for byte`));
  await forward.stop();
  await until(() => ends(aLogs, 'to-websocket').length > aBefore, 'A logging the port-forward session end');
  const aEnd = ends(aLogs, 'to-websocket').at(-1)!;
  t.match(aEnd, { kind: 'portforward', clientTransport: 'spdy', upstreamTransport: 'websocket', clientProtocol: 'SPDY/3.1 portforward.k8s.io', upstreamProtocol: 'SPDY/3.1+portforward.k8s.io' }, 'A: SPDY from kubectl, the tunnel toward B');
  const bStart = await b.gatewayLogs.waitFor((r) => r.event === 'session-start' && r.kind === 'portforward');
  t.match(bStart, { clientProtocol: 'SPDY/3.1+portforward.k8s.io' }, 'B: the tunnel from A');
  t.not(bStart.mode, 'to-websocket');
});
