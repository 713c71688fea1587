// `auto` against an upstream that changes mode between sessions: the legacy cluster restarted on the
// same port with another `--streaming`. The documented rule (server/streaming-modes.ts): SPDY first;
// a 400 refusal of SPDY is retried over WebSocket in the same session and remembered; a WebSocket
// refusal while remembered forgets it and the same session goes SPDY, as before auto had learnt.
// Each session asserts what the client spoke, what the gateway asked upstream, and what the cluster saw.
import t, { type Test } from 'tap';
import { startStack, type Stack } from '../helpers/stack.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import { LogRecorder } from '../helpers/log-recorder.js';
import { createLogger } from '../../src/observability/logger.js';
import { startLegacyCluster, type LegacyCluster } from '../../src/legacy-cluster/cluster.js';
import type { StreamingMode } from '../../src/legacy-cluster/websocket-upgrade.js';

let stack: Stack;
let cluster: LegacyCluster;
let clusterLogs: LogRecorder;
t.before(async () => {
  // streaming unset: the upstream is `auto`, the default.
  stack = await startStack();
  cluster = stack.cluster;
  clusterLogs = stack.clusterLogs;
});
t.teardown(async () => {
  await stack.close();
  await cluster.close();
});

/** The cluster goes away and comes back on the same port serving `streaming`. */
async function restartAs(streaming: StreamingMode): Promise<void> {
  await cluster.close();
  clusterLogs = new LogRecorder();
  cluster = await startLegacyCluster({
    listen: { host: '127.0.0.1', port: stack.cluster.port },
    token: stack.token,
    tls: stack.serverTls,
    logger: createLogger({ destination: clusterLogs, level: 'debug' }),
    streaming,
  });
}

interface Seen {
  relayed: number;
  translated: number;
  spdyRefusedByCluster: number;
  clusterProtocol: unknown;
}

/** One kubectl 1.27 exec through the gateway; what each side spoke. */
async function session(t: Test, label: string): Promise<Seen> {
  const starts = (mode: string): number => stack.gatewayLogs.find((r) => r.event === 'session-start' && r.mode === mode).length;
  const [relayedBefore, translatedBefore] = [starts('relay'), starts('to-websocket')];
  const refusedBefore = clusterLogs.find((r) => r.event === 'upgrade-refused').length;
  const result = await runKubectl(27, ['exec', '-i', 'demo', '--', 'sh', '-c', `cat; exit 2 # ${label}`], { kubeconfig: stack.kubeconfig, stdin: `${label}\n`, timeoutMs: 60_000 });
  t.equal(result.stdout.toString(), `${label}\n`, `${label}: the session ran`);
  t.equal(result.code, 2, `${label}: exit code (${result.stderr.trim()})`);
  const clusterEnd = await clusterLogs.waitFor((r) => r.event === 'session-end' && Array.isArray(r.command) && (r.command as string[]).join(' ').includes(label));
  return {
    relayed: starts('relay') - relayedBefore,
    translated: starts('to-websocket') - translatedBefore,
    spdyRefusedByCluster: clusterLogs.find((r) => r.event === 'upgrade-refused').length - refusedBefore,
    clusterProtocol: clusterEnd.protocol,
  };
}

const SPDY_RELAYED = { relayed: 1, translated: 0, spdyRefusedByCluster: 0, clusterProtocol: 'v4.channel.k8s.io' };

t.test('spdy → websocket → spdy → both: every session succeeds, the gateway re-learns each change', async (t) => {
  t.same(await session(t, 'spdy-1'), SPDY_RELAYED, 'a SPDY cluster: SPDY relayed');

  await restartAs('websocket');
  t.same(await session(t, 'ws-1'), { relayed: 0, translated: 1, spdyRefusedByCluster: 1, clusterProtocol: 'v5.channel.k8s.io' }, 'now WebSocket-only: SPDY refused with 400, the same session went WebSocket');
  t.same(await session(t, 'ws-2'), { relayed: 0, translated: 1, spdyRefusedByCluster: 0, clusterProtocol: 'v5.channel.k8s.io' }, 'remembered: straight to WebSocket');

  await restartAs('spdy');
  const back = await session(t, 'spdy-2');
  t.same(back, SPDY_RELAYED, 'SPDY again: the remembered WebSocket was refused, the same session went SPDY');
  t.ok(stack.gatewayLogs.find((r) => r.event === 'session-refused' && r.mode === 'to-websocket').length >= 1, 'the WebSocket refusal is logged');
  t.same(await session(t, 'spdy-3'), SPDY_RELAYED, 'forgotten: SPDY first again');

  await restartAs('both');
  t.same(await session(t, 'both-1'), SPDY_RELAYED, 'a 1.31 cluster: SPDY is still served, SPDY relayed');
});
