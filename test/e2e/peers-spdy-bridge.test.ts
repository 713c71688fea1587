// SPDY clients bridged stream by stream (translators/spdy-bridge/, because a recording rule selects
// them) in front of the legacy Go peer: the kubelet's own streaming server (k8s.io/cri-streaming), so
// the bridge's stream mapping, half-closes and Status are checked against code the gateway did not
// write. Each session must be bridged (not relayed), reach the real kubelet, and be recorded.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/observability/logger.js';
import { RecordingTaps } from '../../src/recording/recording-taps.js';
import { startPeerStack, type PeerStack } from '../helpers/peer-stack.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import type { LogRecord } from '../helpers/log-recorder.js';

let stack: PeerStack;
let recordings: string;

t.before(async () => {
  recordings = await mkdtemp(join(tmpdir(), 'ksg-peers-spdy-bridge-'));
  const recording = new RecordingTaps({ directory: recordings, rules: [], captureInput: true, maxBytesPerSession: 64 * 1024 * 1024, required: true }, createLogger({ level: 'silent' }));
  stack = await startPeerStack({ gateway: { recording } });
});
t.teardown(async () => {
  await stack?.close();
  await rm(recordings, { recursive: true, force: true });
});

/** The session-end line of the bridged session that ran `marker`, once it is logged. */
async function bridgedEnd(marker: string): Promise<LogRecord> {
  return stack.gatewayLogs.waitFor((record) => record.event === 'session-end' && JSON.stringify(record.command ?? '').includes(marker));
}

for (const minor of [27, 28]) {
  t.test(`kubectl 1.${minor} exec -i: stdin to end-of-file, stdout, stderr and exit 3, bridged to the real kubelet and recorded`, async (t) => {
    const marker = `bridge-${minor}`;
    const result = await runKubectl(minor, ['exec', '-i', 'demo', '--', 'sh', '-c', `cat; echo ${marker} >&2; exit 3`], { kubeconfig: stack.kubeconfig, stdin: `input for ${minor}\n` });
    t.equal(result.stdout.toString(), `input for ${minor}\n`, 'stdout: stdin echoed, so stdin reached the kubelet and its end-of-file too');
    t.match(result.stderr, new RegExp(`^${marker}\\n`), 'stderr');
    t.equal(result.code, 3, 'the exit code from the kubelet\'s Status');
    const end = await bridgedEnd(marker);
    t.match(end, { mode: 'translated', clientTransport: 'spdy', upstreamTransport: 'spdy', clientProtocol: 'SPDY/3.1 v4.channel.k8s.io', upstreamProtocol: 'v4.channel.k8s.io', exitCode: 3 }, 'bridged, v4 on both sides');
    t.type(end.recording, 'string', 'the session names its recording');
    const recorded = await readFile(join(recordings, end.recording as string), 'latin1');
    t.ok(recorded.includes(`input for ${minor}\n`) && recorded.includes(`${marker}\n`), 'the recording holds stdin, stdout and stderr');
  });
}

t.test('kubectl 1.27 cp 4 MB each way through the bridge: the tar streams arrive whole', async (t) => {
  const payload = randomBytes(4 * 1024 * 1024);
  const local = join(stack.podDir, 'upload.bin');
  await writeFile(local, payload);
  const up = await runKubectl(27, ['cp', local, `demo:${stack.podDir}/bridged.bin`], { kubeconfig: stack.kubeconfig });
  t.equal(up.code, 0, up.stderr);
  const back = join(stack.podDir, 'download.bin');
  const down = await runKubectl(27, ['cp', `demo:${stack.podDir}/bridged.bin`, back], { kubeconfig: stack.kubeconfig });
  t.equal(down.code, 0, down.stderr);
  const digest = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
  t.equal(digest(await readFile(back)), digest(payload), 'the same sha256 after a round trip');
  const ends = stack.gatewayLogs.find((record) => record.event === 'session-end' && Array.isArray(record.command) && record.command[0] === 'tar');
  t.equal(ends.length, 2, 'both copies ran as sessions');
  for (const end of ends) t.match(end, { mode: 'translated', clientTransport: 'spdy', upstreamTransport: 'spdy', exitCode: 0 });
});
