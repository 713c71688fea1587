// recording.required toward a WebSocket upstream (`upstreams[].streaming: websocket`): exec and attach
// pass the Bridge whatever the client speaks (a v5 client bridged v5 to v5, a SPDY client translated),
// so they run recorded; so does a channel-protocol port-forward (mapped into the upstream's tunnel).
// kubectl's port-forward there is carried unread, so where recording is required it does not run.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, type Stack } from '../helpers/stack.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import { connect, waitForMessage } from '../helpers/ws-client.js';
import { until } from '../helpers/wait.js';
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
  [27, 'kubectl 1.27 (SPDY, translated toward the WebSocket upstream)'],
  [33, 'kubectl 1.33 (WebSocket, bridged v5 to v5)'],
] as const) {
  t.test(`recording.required: ${client} exec runs, recorded`, async (t) => {
    const result = await runKubectl(minor, ['exec', 'demo', '--', 'echo', `recorded-${minor}`], { kubeconfig: stack.kubeconfig });
    t.equal(result.code, 0, result.stderr);
    t.equal(result.stdout.toString(), `recorded-${minor}\n`);
    const files = await readdir(settings.directory);
    const holding = await Promise.all(files.map(async (file) => (await readFile(join(settings.directory, file), 'latin1')).includes(`recorded-${minor}\n`)));
    t.ok(holding.some(Boolean), 'a recording holds the output');
  });

  t.test(`recording.required: ${client} port-forward is refused with a Status, not run unrecorded`, async (t) => {
    const before = sessionsAtCluster();
    const result = await runKubectl(minor, ['port-forward', 'pod/demo', ':80'], { kubeconfig: stack.kubeconfig });
    t.not(result.code, 0, 'kubectl fails');
    t.match(result.stderr, /session recording is required \(recording\.required\)/);
    t.equal(sessionsAtCluster(), before, 'nothing reached the cluster');
  });
}

t.test('recording.required: a v4.channel.k8s.io port-forward client runs, its metadata recorded', async (t) => {
  const before = new Set(await readdir(settings.directory));
  const outcome = await connect(stack, '/api/v1/namespaces/default/pods/demo/portforward?ports=7', ['v4.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail(`refused: ${outcome.statusCode} ${outcome.body}`);
  outcome.socket.send(Buffer.concat([Buffer.from([0]), Buffer.from('through the tunnel')]));
  await waitForMessage(outcome.socket, outcome.messages, (m) => m.data[0] === 0 && m.data.subarray(1).toString() === 'through the tunnel');
  outcome.socket.close();
  await outcome.closed;
  await stack.gatewayLogs.waitFor((r) => r.event === 'session-end' && r.mode === 'to-websocket' && Array.isArray(r.ports));
  const added = (await readdir(settings.directory)).filter((file) => !before.has(file) && file.endsWith('.jsonl'));
  t.equal(added.length, 1, 'one metadata recording');
  const lines = (): string[] => readFileSync(join(settings.directory, added[0]!), 'utf8').trim().split('\n');
  await until(() => lines().length === 2, 'the recording\'s end line');
  const [header, end] = lines().map((line) => JSON.parse(line) as Record<string, unknown>);
  t.match(header, { format: 'ksg-portforward', pod: 'demo', ports: [7] });
  t.match(end, { end: true, bytesFromClient: Number, bytesToClient: Number });
});
