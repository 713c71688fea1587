// `auto` with recording required, against an upstream that changes mode between sessions (the legacy
// cluster restarted on the same port): whichever way the gateway carries each SPDY session — bridged
// over SPDY, translated to WebSocket, or sent back over SPDY after a remembered WebSocket was refused —
// the session runs recorded, never relayed raw past the recording.
import t from 'tap';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, type Stack } from '../helpers/stack.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import { createLogger } from '../../src/observability/logger.js';
import { startLegacyCluster, type LegacyCluster } from '../../src/legacy-cluster/cluster.js';
import type { StreamingMode } from '../../src/legacy-cluster/websocket-upgrade.js';
import { RecordingTaps } from '../../src/recording/recording-taps.js';

let stack: Stack;
let cluster: LegacyCluster;
let directory: string;

t.before(async () => {
  directory = await mkdtemp(join(tmpdir(), 'ksg-auto-recorded-'));
  const recording = new RecordingTaps({ directory, rules: [], captureInput: true, maxBytesPerSession: 1024 * 1024, required: true }, createLogger({ level: 'silent' }));
  stack = await startStack({ gateway: { recording } });
  cluster = stack.cluster;
});
t.teardown(async () => {
  await stack.close();
  await cluster.close();
  await rm(directory, { recursive: true, force: true });
});

async function restartAs(streaming: StreamingMode): Promise<void> {
  await cluster.close();
  cluster = await startLegacyCluster({ listen: { host: '127.0.0.1', port: stack.cluster.port }, token: stack.token, tls: stack.serverTls, logger: createLogger({ level: 'silent' }), streaming });
}

/** The recordings that hold `text`. */
async function recordingsHolding(text: string): Promise<string[]> {
  const files = await readdir(directory);
  const holding = await Promise.all(files.map(async (file) => ((await readFile(join(directory, file), 'latin1')).includes(text) ? file : undefined)));
  return holding.filter((file): file is string => file !== undefined);
}

for (const [label, streaming] of [
  ['first-spdy', undefined],
  ['then-websocket', 'websocket'],
  ['back-to-spdy', 'spdy'],
] as const) {
  t.test(`${label}: kubectl 1.27 exec runs and is recorded`, async (t) => {
    if (streaming) await restartAs(streaming);
    const marker = `${label}-marker`;
    const result = await runKubectl(27, ['exec', '-i', 'demo', '--', 'sh', '-c', 'cat; exit 2'], { kubeconfig: stack.kubeconfig, stdin: `${marker}\n`, timeoutMs: 60_000 });
    t.equal(result.stdout.toString(), `${marker}\n`, result.stderr);
    t.equal(result.code, 2);
    const end = await stack.gatewayLogs.waitFor((r) => r.event === 'session-end' && typeof r.recording === 'string' && r.bytesFromClient === marker.length + 1);
    t.not(end.mode, 'relay', 'not relayed past the recording');
    t.same(await recordingsHolding(`${marker}\n`), [end.recording], 'its recording holds the bytes');
  });
}
