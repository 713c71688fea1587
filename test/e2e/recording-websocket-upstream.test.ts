// recording.required toward a WebSocket upstream (`upstreams[].streaming: websocket`): the gateway
// relays WebSocket clients there as they are and carries SPDY clients without a tap, so neither is
// recorded — where recording is required, neither may run.
import t from 'tap';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, type Stack } from '../helpers/stack.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import { createLogger } from '../../src/observability/logger.js';
import { RecordingTaps, type RecordingSettings } from '../../src/recording/recording-taps.js';
import type { SessionTapFactory } from '../../src/translators/bridge.js';

let stack: Stack;
let dir: string;
let settings: RecordingSettings;
const taps: SessionTapFactory = {
  open: (session) => new RecordingTaps(settings, createLogger({ destination: stack.gatewayLogs, level: 'debug' })).open(session),
  get failClosed() {
    return settings.required;
  },
};

t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ksg-recording-ws-'));
  settings = { directory: join(dir, 'recordings'), rules: [], captureInput: false, maxBytesPerSession: 1024 * 1024, required: true };
  await mkdir(settings.directory);
  stack = await startStack({
    cluster: { streaming: 'websocket' },
    upstream: (cluster, caPem) => ({ url: new URL(cluster.url), ca: caPem, insecureSkipTlsVerify: false, streaming: 'websocket' }),
    gateway: { recording: taps },
  });
});
t.teardown(async () => {
  await stack.close();
  await rm(dir, { recursive: true, force: true });
});

const sessionsAtCluster = (): number => stack.clusterLogs.find((record) => record.event === 'session-identity').length;

for (const [minor, client] of [
  [27, 'kubectl 1.27 (SPDY, carried toward the WebSocket upstream)'],
  [33, 'kubectl 1.33 (WebSocket, relayed to the WebSocket upstream)'],
] as const) {
  t.test(`recording.required: ${client} is refused with a Status, not run unrecorded`, async (t) => {
    const before = sessionsAtCluster();
    const result = await runKubectl(minor, ['exec', 'demo', '--', 'echo', 'should-not-run'], { kubeconfig: stack.kubeconfig });
    t.not(result.code, 0, 'kubectl fails');
    t.match(result.stderr, /session recording is required \(recording\.required\)/);
    t.equal(result.stdout.toString(), '', 'the command did not run');
    t.equal(sessionsAtCluster(), before, 'nothing reached the cluster');
  });
}
