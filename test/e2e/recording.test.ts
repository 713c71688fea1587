// Session recording through the gateway with real kubectl 1.33: a terminal session recorded as
// asciicast v2 that `asciinema cat` replays to what kubectl printed, with its resize and exit
// marker; a 50 MB `kubectl cp` recorded byte-exact; the size cap's cut marker; and
// recording.required refusing a session whose recording cannot be opened, with a Status. The same
// for SPDY clients (kubectl 1.27, 1.30 without WebSocket), bridged instead of relayed when recorded.
import t, { type Test } from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, type Stack } from '../helpers/stack.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import { kubectlPath } from '../helpers/kubectl.js';
import { until } from '../helpers/wait.js';
import { startPtyTerminal } from '../helpers/pty-terminal.js';
import { createLogger } from '../../src/observability/logger.js';
import { RECORDING_UNAVAILABLE, RecordingTaps, type RecordingSettings } from '../../src/recording/recording-taps.js';
import type { SessionTapFactory } from '../../src/translators/bridge.js';
import { RECORDING_FAILED } from '../../src/recording/recording-taps.js';
import { openRecordingFile, type RecordingSink } from '../../src/recording/recording-sink.js';
import { readRawRecording } from '../helpers/raw-recording.js';
import { collect, dialSpdy, execPath, openStreams } from '../legacy-cluster/harness.js';
import type { LegacyCluster } from '../../src/legacy-cluster/cluster.js';
import { startPortForward } from '../helpers/port-forward.js';
import { echoThrough } from '../helpers/echo.js';
import { RequestAuditor } from '../../src/observability/audit/request-audit.js';
import { DEFAULT_AUDIT_POLICY } from '../../src/observability/audit/policy.js';
import type { AuditEvent } from '../../src/observability/audit/events.js';

let stack: Stack;
const auditEvents: AuditEvent[] = [];
let dir: string;
/** The recording settings of the next session (each test sets what it needs). */
let settings: RecordingSettings;
/** How the next recording's file is opened (a test makes its writes fail); undefined: the real file. */
let openSink: ((path: string) => Promise<RecordingSink>) | undefined;
const taps: SessionTapFactory = {
  open: (session) => new RecordingTaps(settings, createLogger({ destination: stack.gatewayLogs, level: 'debug' }), {}, openSink).open(session),
  get failClosed() {
    return settings.required;
  },
};

t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ksg-recording-'));
  settings = { directory: join(dir, 'recordings'), rules: [], captureInput: false, maxBytesPerSession: 64 * 1024 * 1024, required: false };
  await mkdir(settings.directory);
  stack = await startStack({ gateway: { recording: taps, audit: new RequestAuditor({ policy: DEFAULT_AUDIT_POLICY, write: (event) => auditEvents.push(event) }) } });
});
t.teardown(async () => {
  await stack.close();
  await rm(dir, { recursive: true, force: true });
});

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** The session-end line of the next session after `before`, and its recording's path once the file is complete. */
async function recordedSession(t: Test, before: number, complete: (file: Buffer) => boolean): Promise<{ end: Record<string, unknown>; path: string; file: Buffer }> {
  await until(() => stack.sessionEnds().length > before, 'the session-end line');
  const end = stack.sessionEnds()[before]!;
  t.type(end.recording, 'string', 'the session log line names its recording');
  const path = join(settings.directory, end.recording as string);
  let file: Buffer = Buffer.alloc(0);
  // The writer closes the file just after the session ends: wait for its last line.
  await until(() => {
    file = readFileOrEmpty(path);
    return complete(file);
  }, `the complete recording ${path}`);
  return { end, path, file };
}

function readFileOrEmpty(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch {
    return Buffer.alloc(0);
  }
}

/** `asciinema cat` needs a terminal (/dev/tty): run it under one and collect what it prints. */
async function asciinemaCat(path: string): Promise<string> {
  const player = startPtyTerminal('asciinema', ['cat', path], 200, 50);
  await player.exited;
  return player.screen();
}

/**
 * The text as a terminal shows it, for comparing two captures: carriage returns before a newline
 * dropped (a pty turns the pod's `\r\n` into `\r\r\n` when asciinema's own terminal translates `\n`),
 * and a lone trailing `\r` kept.
 */
const normalise = (text: string): string => text.replace(/\r+\n/g, '\n');

/** kubectl 1.30 with its WebSocket client turned off speaks SPDY, as kubectl ≤ 1.29 does (and 1.30 after a fallback). */
const SPDY_ONLY = { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' };

/** How each side of the session spoke, from its session-end line: the SPDY ones are bridged, no longer relayed. */
const SPDY_BRIDGED = { mode: 'translated', clientTransport: 'spdy', upstreamTransport: 'spdy', clientProtocol: 'SPDY/3.1 v4.channel.k8s.io', upstreamProtocol: 'v4.channel.k8s.io' };

t.test('kubectl exec -it: the cast replays to what kubectl printed, with the resize and the exit marker', (t) => recordedTerminal(t, 33));
t.test('kubectl 1.27 exec -it (SPDY): bridged, not relayed — the cast replays, with the resize and the exit marker', (t) => recordedTerminal(t, 27, {}, SPDY_BRIDGED));
t.test('kubectl 1.30 exec -it over SPDY: bridged — the cast replays, with the resize and the exit marker', (t) => recordedTerminal(t, 30, SPDY_ONLY, SPDY_BRIDGED));

async function recordedTerminal(t: Test, release: number, env: Record<string, string> = {}, protocols: Record<string, string> = { mode: 'translated', clientProtocol: 'v5.channel.k8s.io' }): Promise<void> {
  const before = stack.sessionEnds().length;
  const { terminal, screen: printed, waitFor, exited } = startPtyTerminal(kubectlPath(release), ['--kubeconfig', stack.kubeconfig, 'exec', '-it', 'demo', '--', 'sh'], 80, 24, env);
  const killer = setTimeout(() => terminal.kill('SIGKILL'), 60_000);

  // The shell's prompt: kubectl has put its terminal in raw mode, so nothing typed is echoed locally.
  await waitFor(/# $/);
  terminal.write('echo "first-$((40+2))"\r');
  await waitFor(/first-42/);
  terminal.write('echo "second-$((1+1)):$(stty size)"\r');
  await waitFor(/second-2:24 80/);
  terminal.resize(100, 30);
  let reported = '';
  for (let marker = 100; reported !== '30 100' && marker < 150; marker++) {
    terminal.write(`echo "size-$((${marker - 1}+1)):$(stty size)"\r`);
    const pattern = new RegExp(`size-${marker}:(\\d+ \\d+)`);
    await waitFor(pattern);
    reported = pattern.exec(printed())![1]!;
  }
  t.equal(reported, '30 100', 'the resize reached the pod');
  terminal.write('exit 3\r');
  t.equal(await exited, 3, 'kubectl exits with the shell exit code');
  clearTimeout(killer);

  const { end, path, file } = await recordedSession(t, before, (bytes) => bytes.toString().includes('"m", "exit'));
  t.equal(end.exitCode, 3);
  t.match(end, protocols, 'each side spoke its protocol');
  t.match(path, /\.cast$/);
  t.equal(end.recording, `${end.auditID as string}.cast`, 'named by the audit ID');
  await until(() => auditEvents.some((event) => event.auditID === end.auditID && event.stage === 'ResponseComplete'), 'the session\'s last audit event');
  const complete = auditEvents.find((event) => event.auditID === end.auditID && event.stage === 'ResponseComplete')!;
  t.equal(complete.annotations?.['kube-stream-gateway/recording'], end.recording, 'the audit event names the recording');
  const lines = file.toString().trimEnd().split('\n').map((line) => JSON.parse(line) as unknown);
  t.match(lines[0], { version: 2, width: 80, height: 24, ksg: { kind: 'exec', pod: 'demo', namespace: 'default', command: ['sh'], tty: true, userAgent: /kubectl/ } }, 'header: the first size, who, where, what');
  const events = lines.slice(1) as [number, string, string][];
  t.ok(events.some(([, code, data]) => code === 'r' && data === '100x30'), 'the resize is an "r" event');
  t.same(events.at(-1)!.slice(1), ['m', 'exit 3'], 'the exit status is the last event, a marker');
  t.notOk(events.some(([, code]) => code === 'i'), 'no input without recording.captureInput');
  for (let i = 1; i < events.length; i++) t.ok(events[i]![0] >= events[i - 1]![0], `event ${i} in time order`);

  const replayed = await asciinemaCat(path);
  // What kubectl printed is the session's output and, after it, kubectl's own line for a non-zero
  // exit (stderr, not the session's): without that line the replay must be exactly what the user saw.
  const kubectlOwn = /command terminated with exit code 3\r?\n$/;
  const screen = printed();
  t.match(screen, kubectlOwn);
  t.equal(normalise(replayed), normalise(screen.replace(kubectlOwn, '')), 'asciinema cat prints what kubectl printed');
  t.match(replayed, /first-42[\s\S]*size-\d+:30 100/);
}

t.test('kubectl cp of 50 MB out of the pod: the tar stream is recorded byte-exact', async (t) => {
  // The disk may fall behind a loopback copy on a loaded machine: room for the whole file, so this
  // test sees the recording's bytes, not the gap a full buffer would leave (tested in the unit tests).
  settings = { ...settings, maxPendingBytes: 64 * 1024 * 1024 };
  t.teardown(() => (settings = { ...settings, maxPendingBytes: undefined }));
  const original = randomBytes(50 * 1024 * 1024);
  const podDir = join(dir, 'pod-side');
  await mkdir(podDir);
  await writeFile(join(podDir, 'big.bin'), original);
  const before = stack.sessionEnds().length;
  const local = join(dir, 'download.bin');
  const down = await runKubectl(33, ['cp', `demo:${podDir}/big.bin`, local], { kubeconfig: stack.kubeconfig, timeoutMs: 120_000 });
  t.equal(down.code, 0, down.stderr);
  t.equal(sha256(await readFile(local)), sha256(original), 'the copy itself is intact');
  await until(() => stack.sessionEnds().slice(before).some((end) => (end.command as string[])[0] === 'tar'), 'the tar session');
  const index = stack.sessionEnds().findIndex((end, i) => i >= before && (end.command as string[])[0] === 'tar');
  const { end, file } = await recordedSession(t, index, (bytes) => bytes.includes('"end":true'));
  const recording = readRawRecording(file);
  t.match(recording.header, { format: 'ksg-raw', kind: 'exec', pod: 'demo', tty: false, command: ['tar', 'cf', '-', `${podDir}/big.bin`] });
  const stdout = recording.streams.get('stdout')!;
  const stderr = recording.streams.get('stderr') ?? Buffer.alloc(0);
  t.equal(stdout.length + stderr.length, end.bytesToClient, `every byte the client got is in the recording (${stdout.length} + ${stderr.length}, ${String(end.bytesToClient)}; ${String(end.reason)})`);
  t.notOk(recording.lines.some((line) => 'cut' in line || 'gap' in line), 'neither cut nor gap');
  // The recorded stream is the tar archive: unpacked, it is the file.
  const unpacked = join(dir, 'unpacked');
  await mkdir(unpacked);
  await writeFile(join(dir, 'recorded.tar'), stdout);
  await new Promise<void>((resolve, reject) => execFile('tar', ['xf', join(dir, 'recorded.tar'), '-C', unpacked], (error) => (error ? reject(error) : resolve())));
  t.equal(sha256(await readFile(join(unpacked, podDir, 'big.bin'))), sha256(original), 'the recorded tar holds the file byte-exact');
});

t.test('a small maxBytesPerSession: the session goes on, the recording keeps the first bytes exactly and says where it was cut', async (t) => {
  settings = { ...settings, maxBytesPerSession: 4096 };
  t.teardown(() => (settings = { ...settings, maxBytesPerSession: 64 * 1024 * 1024 }));
  const content = randomBytes(100_000).toString('hex');
  const before = stack.sessionEnds().length;
  const cat = await runKubectl(33, ['exec', '-i', 'demo', '--', 'cat'], { kubeconfig: stack.kubeconfig, stdin: content });
  t.equal(cat.code, 0, cat.stderr);
  t.equal(cat.stdout.toString(), content, 'the whole output reached kubectl');
  const { file } = await recordedSession(t, before, (bytes) => bytes.includes('"end":true'));
  const recording = readRawRecording(file);
  t.equal(recording.streams.get('stdout')!.toString(), content.slice(0, 4096), 'the first 4096 bytes, exactly');
  t.match(recording.lines.find((line) => 'cut' in line), { cut: 'stdout', o: 4096 }, 'the cut line says where');
  t.match(recording.lines.at(-1), { end: true, exitCode: 0 });
  t.notOk(recording.streams.has('stdin'), 'stdin is not recorded without captureInput');
});

t.test('recording.required with a directory that cannot be written: kubectl is refused with a Status, nothing reaches the cluster', async (t) => {
  const notADirectory = join(dir, 'a-file');
  await writeFile(notADirectory, '');
  settings = { ...settings, directory: join(notADirectory, 'recordings'), required: true };
  t.teardown(() => (settings = { ...settings, directory: join(dir, 'recordings'), required: false }));
  const refusedBefore = stack.gatewayLogs.find((record) => record.event === 'session-refused').length;
  const execsBefore = stack.clusterLogs.find((record) => record.event === 'session-identity').length;
  const result = await runKubectl(33, ['exec', 'demo', '--', 'echo', 'should-not-run'], { kubeconfig: stack.kubeconfig });
  t.not(result.code, 0, 'kubectl fails');
  t.match(result.stderr, RECORDING_UNAVAILABLE, 'kubectl prints the Status message');
  t.notMatch(result.stderr, notADirectory, 'the path stays in the log');
  t.equal(result.stdout.toString(), '', 'the command never ran');
  const refused = stack.gatewayLogs.find((record) => record.event === 'session-refused').slice(refusedBefore);
  t.equal(refused.length, 1, 'one refusal, over the WebSocket (no SPDY retry)');
  t.equal(refused[0]!.reason, RECORDING_UNAVAILABLE);
  t.equal(stack.clusterLogs.find((record) => record.event === 'session-identity').length, execsBefore, 'the upstream was never dialled');
});

t.test('recording.required and a write failure mid-session (EIO): the session is ended with a Status kubectl prints', (t) => recordingFailsMidSession(t, 33));
t.test('recording.required and a write failure mid-session (EIO), kubectl 1.27 (SPDY): ended with a Status on its error stream', (t) => recordingFailsMidSession(t, 27));

async function recordingFailsMidSession(t: Test, release: number): Promise<void> {
  settings = { ...settings, required: true };
  // The file opens; its first write fails as a failing disk does.
  openSink = async (path) => {
    const file = await openRecordingFile(path);
    return { write: async () => Promise.reject(new Error('EIO: i/o error, write')), close: () => file.close() };
  };
  t.teardown(() => {
    settings = { ...settings, required: false };
    openSink = undefined;
  });
  const before = stack.sessionEnds().length;
  // Enough output to start a write at once (the writer writes at 256 KiB without waiting for its timer).
  const result = await runKubectl(release, ['exec', '-i', 'demo', '--', 'cat'], { kubeconfig: stack.kubeconfig, stdin: randomBytes(2 * 1024 * 1024) });
  t.not(result.code, 0, 'kubectl fails');
  t.match(result.stderr, RECORDING_FAILED, 'kubectl prints why');
  t.notMatch(result.stderr, /EIO/, 'the errno stays in the log');
  await until(() => stack.sessionEnds().length > before, 'the session-end line');
  t.match(stack.sessionEnds()[before], { outcome: 'recording-failed', mode: 'translated', clientProtocol: release < 31 ? 'SPDY/3.1 v4.channel.k8s.io' : 'v5.channel.k8s.io' });
  t.ok(stack.gatewayLogs.find((record) => record.event === 'recording-failed' && /EIO/.test(String(record.err))).length > 0, 'the log has the error');
}

t.test('kubectl 1.27 exec -i (SPDY, no tty), exit 3: stdin and stdout recorded byte-exact, the exit code at the end', async (t) => {
  settings = { ...settings, captureInput: true };
  t.teardown(() => (settings = { ...settings, captureInput: false }));
  const content = randomBytes(300_000);
  const before = stack.sessionEnds().length;
  const result = await runKubectl(27, ['exec', '-i', 'demo', '--', 'sh', '-c', 'cat; exit 3'], { kubeconfig: stack.kubeconfig, stdin: content });
  t.equal(result.code, 3, result.stderr);
  t.equal(sha256(result.stdout), sha256(content), 'kubectl got every byte back');
  const { end, file } = await recordedSession(t, before, (bytes) => bytes.includes('"end":true'));
  t.match(end, { ...SPDY_BRIDGED, exitCode: 3, bytesToClient: content.length, bytesFromClient: content.length });
  const recording = readRawRecording(file);
  t.match(recording.header, { format: 'ksg-raw', kind: 'exec', tty: false, userAgent: /v1\.27\./ });
  t.equal(sha256(recording.streams.get('stdin')!), sha256(content), 'stdin recorded byte-exact');
  t.equal(sha256(recording.streams.get('stdout')!), sha256(content), 'stdout recorded byte-exact');
  t.match(recording.lines.at(-1), { end: true, exitCode: 3 });
});

t.test('kubectl 1.28 attach -i (SPDY): bridged, the main process\'s echo recorded', async (t) => {
  const before = stack.sessionEnds().length;
  const result = await runKubectl(28, ['attach', '-i', 'demo', '-c', 'echo'], { kubeconfig: stack.kubeconfig, stdin: 'attached via 1.28\n', timeoutMs: 60_000 });
  t.equal(result.code, 0, result.stderr);
  t.equal(result.stdout.toString(), 'attached via 1.28\n');
  const { end, file } = await recordedSession(t, before, (bytes) => bytes.includes('"end":true'));
  t.match(end, { ...SPDY_BRIDGED, kind: 'attach' });
  const recording = readRawRecording(file);
  t.match(recording.header, { kind: 'attach', container: 'echo' });
  t.equal(recording.streams.get('stdout')!.toString(), 'attached via 1.28\n');
});

t.test('kubectl 1.27 exec -i cat of 16 MB (SPDY): back-pressure both ways through the bridge, recorded byte-exact', async (t) => {
  settings = { ...settings, maxPendingBytes: 64 * 1024 * 1024 };
  t.teardown(() => (settings = { ...settings, maxPendingBytes: undefined }));
  const content = randomBytes(16 * 1024 * 1024);
  const before = stack.sessionEnds().length;
  const result = await runKubectl(27, ['exec', '-i', 'demo', '--', 'cat'], { kubeconfig: stack.kubeconfig, stdin: content, timeoutMs: 120_000 });
  t.equal(result.code, 0, result.stderr);
  t.equal(sha256(result.stdout), sha256(content), 'every byte came back');
  const { end, file } = await recordedSession(t, before, (bytes) => bytes.includes('"end":true'));
  t.match(end, { ...SPDY_BRIDGED, exitCode: 0, bytesFromClient: content.length, bytesToClient: content.length });
  t.equal(sha256(readRawRecording(file).streams.get('stdout')!), sha256(content), 'stdout recorded byte-exact');
  t.equal(stack.gateway.bufferedBytes, 0, 'nothing left buffered');
});

/** The gateway as the legacy-cluster harness's "cluster", for a raw SPDY client. */
const viaGateway = (): Parameters<typeof dialSpdy>[0] => ({ cluster: stack.gateway as unknown as LegacyCluster, token: stack.token, caPem: stack.caPem, logs: stack.gatewayLogs, close: async () => undefined });

t.test('a raw SPDY client offering only v3: the upstream\'s choice reaches it, its text Status unchanged, the exit code read from it', async (t) => {
  const before = stack.sessionEnds().length;
  const session = await dialSpdy(viaGateway(), execPath(['sh', '-c', 'echo out; exit 4'], { stdout: 'true' }), ['v3.channel.k8s.io']);
  t.same(session.response.header('x-stream-protocol-version'), ['v3.channel.k8s.io'], 'the version both sides speak');
  const streams = openStreams(session.connection, ['error', 'stdout']);
  const [stdout, error] = [collect(streams.stdout!), collect(streams.error!)];
  t.equal((await stdout).toString(), 'out\n');
  t.match((await error).toString(), /^command terminated with non-zero exit code: .*exit status 4$/, 'v3: the kubelet\'s text, as it wrote it');
  await session.closed;
  const { end } = await recordedSession(t, before, (bytes) => bytes.includes('"end":true'));
  t.match(end, { mode: 'translated', clientTransport: 'spdy', upstreamTransport: 'spdy', clientProtocol: 'SPDY/3.1 v3.channel.k8s.io', upstreamProtocol: 'v3.channel.k8s.io', exitCode: 4 });
});

t.test('a SPDY client that goes away mid-session: the bridged session ends, the upstream is let go, the recording ends', async (t) => {
  const before = stack.sessionEnds().length;
  const clusterEnds = stack.clusterLogs.find((record) => record.event === 'session-end').length;
  const clusterStarts = stack.clusterLogs.find((record) => record.event === 'session-start').length;
  const session = await dialSpdy(viaGateway(), execPath(['sleep', '30'], { stdout: 'true' }));
  openStreams(session.connection, ['error', 'stdout']);
  await until(() => stack.clusterLogs.find((record) => record.event === 'session-start').length > clusterStarts, 'the command runs');
  session.socket.destroy();
  const { end, file } = await recordedSession(t, before, (bytes) => bytes.includes('"end":true'));
  t.match(end, { mode: 'translated', outcome: 'client-error', reason: 'the client closed the connection' });
  t.match(readRawRecording(file).lines.at(-1), { end: true, reason: 'the client closed the connection' });
  await until(() => stack.clusterLogs.find((record) => record.event === 'session-end').length > clusterEnds, 'the cluster\'s session-end');
  t.equal(stack.gateway.activeSessions, 0);
});

t.test('a SPDY exec no recording rule selects: relayed raw, as before', async (t) => {
  settings = { ...settings, rules: [{ verbs: ['*'], namespaces: ['elsewhere'] }], required: true };
  t.teardown(() => (settings = { ...settings, rules: [], required: false }));
  const ends = (): Record<string, unknown>[] => stack.gatewayLogs.find((record) => record.event === 'session-end');
  const before = ends().length;
  const result = await runKubectl(27, ['exec', 'demo', '--', 'echo', 'relayed'], { kubeconfig: stack.kubeconfig });
  t.equal(result.code, 0, `required, but not selected: it runs (${result.stderr})`);
  t.equal(result.stdout.toString(), 'relayed\n');
  await until(() => ends().length > before, 'the session-end line');
  const end = ends()[before]!;
  t.match(end, { mode: 'relay', clientProtocol: 'SPDY/3.1' }, 'relayed byte for byte');
  t.notOk('recording' in end, 'nothing recorded');
});

t.test('recording.required, a directory that cannot be written: kubectl 1.27 (SPDY) is refused with a Status, nothing reaches the cluster', async (t) => {
  const notADirectory = join(dir, 'a-file-too');
  await writeFile(notADirectory, '');
  settings = { ...settings, directory: join(notADirectory, 'recordings'), required: true };
  t.teardown(() => (settings = { ...settings, directory: join(dir, 'recordings'), required: false }));
  const identities = stack.clusterLogs.find((record) => record.event === 'session-identity').length;
  const result = await runKubectl(27, ['exec', 'demo', '--', 'echo', 'should-not-run'], { kubeconfig: stack.kubeconfig });
  t.not(result.code, 0);
  t.match(result.stderr, RECORDING_UNAVAILABLE, 'kubectl prints the Status message');
  t.notMatch(result.stderr, notADirectory, 'the path stays in the log');
  t.equal(result.stdout.toString(), '');
  t.equal(stack.clusterLogs.find((record) => record.event === 'session-identity').length, identities, 'nothing reached the cluster');
});

t.test('recording.required: a SPDY exec runs, recorded, where it used to be refused', async (t) => {
  settings = { ...settings, required: true };
  t.teardown(() => (settings = { ...settings, required: false }));
  const before = stack.sessionEnds().length;
  const result = await runKubectl(30, ['exec', 'demo', '--', 'echo', 'recorded'], { kubeconfig: stack.kubeconfig, env: SPDY_ONLY });
  t.equal(result.code, 0, result.stderr);
  t.equal(result.stdout.toString(), 'recorded\n');
  const { end, file } = await recordedSession(t, before, (bytes) => bytes.includes('"end":true'));
  t.match(end, SPDY_BRIDGED);
  t.equal(readRawRecording(file).streams.get('stdout')!.toString(), 'recorded\n');
});

t.test('kubectl port-forward: metadata only — who, where, bytes each way and duration, no content', async (t) => {
  const before = stack.gatewayLogs.find((record) => record.event === 'session-end' && record.kind === 'portforward').length;
  const forward = await startPortForward(33, stack.kubeconfig, 'demo', 80, { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'true' });
  const response = await fetch(`http://127.0.0.1:${forward.localPort}/`);
  t.equal(await response.text(), 'Hello from pod default/demo\n');
  await forward.stop();
  await until(() => stack.gatewayLogs.find((record) => record.event === 'session-end' && record.kind === 'portforward').length > before, 'the port-forward session-end line');
  const end = stack.gatewayLogs.find((record) => record.event === 'session-end' && record.kind === 'portforward')[before]!;
  t.equal(end.recording, `${end.auditID as string}.jsonl`);
  const path = join(settings.directory, end.recording as string);
  let text = '';
  await until(() => (text = readFileOrEmpty(path).toString()).includes('"end":true'), 'the complete port-forward recording');
  const [header, last] = text.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  t.match(header, { format: 'ksg-portforward', kind: 'portforward', pod: 'demo', namespace: 'default', userAgent: /kubectl/ });
  t.match(last, { end: true, bytesFromClient: end.bytesFromClient, bytesToClient: end.bytesToClient });
  t.type(last!.durationMs, 'number');
  t.notMatch(text, /Hello from pod/, 'no content');
  t.match(header, { content: false }, 'the header says the content is not recorded');
});

/**
 * The next port-forward session's end line and its complete recording, once `work` has run through a
 * forward to pod port `podPort` (7: echo): kubectl 1.33 tunnels its SPDY through the gateway, kubectl
 * 1.27 speaks SPDY, relayed raw.
 */
async function recordedForward(t: Test, work: (localPort: number) => Promise<void>, minor: 33 | 27 = 33, podPort = 7): Promise<{ end: Record<string, unknown>; file: Buffer }> {
  const ends = (): Record<string, unknown>[] => stack.gatewayLogs.find((record) => record.event === 'session-end' && record.kind === 'portforward');
  const before = ends().length;
  const forward = await startPortForward(minor, stack.kubeconfig, 'demo', podPort, minor === 33 ? { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'true' } : {});
  try {
    await work(forward.localPort);
  } finally {
    await forward.stop();
  }
  await until(() => ends().length > before, 'the port-forward session-end line');
  const end = ends()[before]!;
  if (minor === 33) t.equal(end.mode, 'tunnel', 'kubectl 1.33 tunnelled its SPDY through the gateway');
  else t.match(end, { mode: 'relay', clientProtocol: 'SPDY/3.1' }, 'kubectl 1.27 spoke SPDY, relayed raw');
  let file: Buffer = Buffer.alloc(0);
  await until(() => (file = readFileOrEmpty(join(settings.directory, end.recording as string))).subarray(-400).includes('"end":true'), 'the complete port-forward recording');
  return { end, file };
}

const CONTENT_RULE = { users: ['*'], verbs: ['portforward'], content: true };

t.test('port-forward with a content rule: every connection recorded byte-exact each way, apart', (t) => recordedConnections(t, 33));
t.test('kubectl 1.27 port-forward (SPDY, relayed) with a content rule: every connection recorded byte-exact each way, apart', (t) => recordedConnections(t, 27));

/** Two connections at once through a forward that a content rule selects: each recorded apart, exactly, both ways. */
async function recordedConnections(t: Test, minor: 33 | 27): Promise<void> {
  settings = { ...settings, rules: [CONTENT_RULE, { users: ['*'], verbs: ['*'] }] };
  t.teardown(() => void (settings = { ...settings, rules: [] }));
  const payloads = [randomBytes(300 * 1024), randomBytes(70 * 1024 + 13)];
  const { end, file } = await recordedForward(
    t,
    async (localPort) => {
      // Two connections at once: kubectl gives each a stream pair of its own (its requestID).
      const echoed = await Promise.all(payloads.map((payload) => echoThrough(localPort, payload)));
      echoed.forEach((back, index) => t.ok(back.equals(payloads[index]!), `connection ${index} echoed`));
    },
    minor,
  );
  t.equal(end.recording, `${end.auditID as string}.rec`, 'content goes to a .rec file');
  const recording = readRawRecording(file);
  t.match(recording.header, { format: 'ksg-portforward', kind: 'portforward', pod: 'demo', content: true });
  const names = [...recording.streams.keys()].sort();
  const connections = [...new Set(names.map((name) => name.split(':')[0]))];
  t.equal(connections.length, 2, `two connections recorded: ${names.join(', ')}`);
  for (const connection of connections) {
    const toPod = recording.streams.get(`${connection}:7:to-pod`);
    const fromPod = recording.streams.get(`${connection}:7:from-pod`);
    const payload = payloads.find((candidate) => toPod?.equals(candidate));
    t.ok(payload, `connection ${connection}: what the client sent, exactly (${toPod?.length} bytes)`);
    t.ok(payload && fromPod?.equals(payload), `connection ${connection}: what the pod sent back, exactly`);
  }
  t.match(recording.lines.at(-1), { end: true, bytesFromClient: end.bytesFromClient, bytesToClient: end.bytesToClient });
}

t.test('kubectl 1.27 port-forward (SPDY, relayed) with a content rule: what the client sent and what the pod answered, each exactly', async (t) => {
  settings = { ...settings, rules: [CONTENT_RULE] };
  t.teardown(() => void (settings = { ...settings, rules: [] }));
  const request = Buffer.from('GET /relayed HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n');
  let response: Buffer = Buffer.alloc(0);
  const { file } = await recordedForward(t, async (localPort) => void (response = await exchange(localPort, request)), 27, 80);
  t.match(response.toString(), /Hello from pod default\/demo/, 'the pod answered');
  const recording = readRawRecording(file);
  t.same([...recording.streams.keys()].sort(), ['0:80:from-pod', '0:80:to-pod'], 'one connection, both ways');
  t.ok(recording.streams.get('0:80:to-pod')?.equals(request), 'to-pod: the request, exactly');
  t.ok(recording.streams.get('0:80:from-pod')?.equals(response), 'from-pod: the answer, exactly');
});

/** Sends `request` to a local port and returns everything that came back until the peer closed (`Connection: close`). */
async function exchange(port: number, request: Buffer): Promise<Buffer> {
  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.write(request);
  await once(socket, 'close');
  return Buffer.concat(chunks);
}

t.test('port-forward without a content rule: metadata only, even when another rule asks for content elsewhere', (t) => metadataOnlyForward(t, 33));
t.test('kubectl 1.27 port-forward (SPDY, relayed) without a content rule: metadata only, even when another rule asks for content elsewhere', (t) => metadataOnlyForward(t, 27));

async function metadataOnlyForward(t: Test, minor: 33 | 27): Promise<void> {
  settings = { ...settings, rules: [{ ...CONTENT_RULE, pods: ['other-*'] }, { users: ['*'], verbs: ['*'] }] };
  t.teardown(() => void (settings = { ...settings, rules: [] }));
  const payload = randomBytes(20 * 1024);
  const { end, file } = await recordedForward(t, async (localPort) => void t.ok((await echoThrough(localPort, payload)).equals(payload)), minor);
  t.equal(end.recording, `${end.auditID as string}.jsonl`);
  const lines = file.toString().trimEnd().split('\n');
  t.equal(lines.length, 2, 'the header and the end line, nothing between');
  t.match(JSON.parse(lines[0]!), { format: 'ksg-portforward', content: false });
  t.equal(file.indexOf(payload.subarray(0, 64)), -1, 'none of the bytes');
}

t.test('port-forward content stops at recording.maxBytesPerSession, marked; the connection goes on', (t) => cappedForward(t, 33));
t.test('kubectl 1.27 port-forward (SPDY, relayed) content stops at recording.maxBytesPerSession, marked; the connection goes on', (t) => cappedForward(t, 27));

async function cappedForward(t: Test, minor: 33 | 27): Promise<void> {
  settings = { ...settings, rules: [CONTENT_RULE], maxBytesPerSession: 4096 };
  t.teardown(() => void (settings = { ...settings, rules: [], maxBytesPerSession: 64 * 1024 * 1024 }));
  const payload = randomBytes(64 * 1024);
  const { end, file } = await recordedForward(t, async (localPort) => void t.ok((await echoThrough(localPort, payload)).equals(payload), 'the whole echo, past the cap'), minor);
  const recording = readRawRecording(file);
  let recorded = 0;
  for (const [name, bytes] of recording.streams) {
    recorded += bytes.length;
    t.ok(payload.subarray(0, bytes.length).equals(bytes), `${name}: a prefix of what passed, exactly`);
  }
  t.equal(recorded, 4096, 'exactly the cap');
  const cut = recording.lines.find((line) => typeof line.cut === 'string');
  t.ok(cut, 'the cut is marked');
  t.match(recording.lines.at(-1), { end: true, bytesFromClient: end.bytesFromClient, bytesToClient: end.bytesToClient });
}

t.test('kubectl 1.27 port-forward (SPDY, relayed): its metadata recorded, the bytes those the relay carried', async (t) => {
  const portForwardEnds = (): Record<string, unknown>[] => stack.gatewayLogs.find((record) => record.event === 'session-end' && record.kind === 'portforward');
  const before = portForwardEnds().length;
  const forward = await startPortForward(27, stack.kubeconfig, 'demo', 80);
  const response = await fetch(`http://127.0.0.1:${forward.localPort}/`);
  t.equal(await response.text(), 'Hello from pod default/demo\n');
  await forward.stop();
  await until(() => portForwardEnds().length > before, 'the port-forward session-end line');
  const end = portForwardEnds()[before]!;
  t.match(end, { mode: 'relay', clientProtocol: 'SPDY/3.1' }, 'still relayed raw');
  t.equal(end.recording, `${end.auditID as string}.jsonl`);
  let text = '';
  await until(() => (text = readFileOrEmpty(join(settings.directory, end.recording as string)).toString()).includes('"end":true'), 'the complete port-forward recording');
  const [header, last] = text.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  t.match(header, { format: 'ksg-portforward', kind: 'portforward', pod: 'demo', userAgent: /v1\.27\./ });
  t.match(last, { end: true, bytesFromClient: end.bytesFromClient, bytesToClient: end.bytesToClient });
  t.ok((last!.bytesToClient as number) > 0, 'bytes counted');
  t.notMatch(text, /Hello from pod/, 'no content');
});

t.test('recording.required, a directory that cannot be written: kubectl 1.27 port-forward (SPDY) is refused with a Status', async (t) => {
  const notADirectory = join(dir, 'a-file-for-port-forward');
  await writeFile(notADirectory, '');
  settings = { ...settings, directory: join(notADirectory, 'recordings'), required: true };
  t.teardown(() => (settings = { ...settings, directory: join(dir, 'recordings'), required: false }));
  const result = await runKubectl(27, ['port-forward', 'demo', ':80'], { kubeconfig: stack.kubeconfig, timeoutMs: 60_000 });
  t.not(result.code, 0);
  t.match(result.stderr, RECORDING_UNAVAILABLE, 'kubectl prints the Status message');
  t.notMatch(result.stderr, notADirectory, 'the path stays in the log');
});

t.test('recording.required: kubectl 1.27 port-forward (SPDY) runs, its metadata recorded, where it used to be refused', async (t) => {
  settings = { ...settings, required: true };
  t.teardown(() => (settings = { ...settings, required: false }));
  const portForwardEnds = (): Record<string, unknown>[] => stack.gatewayLogs.find((record) => record.event === 'session-end' && record.kind === 'portforward');
  const before = portForwardEnds().length;
  const forward = await startPortForward(27, stack.kubeconfig, 'demo', 80);
  t.equal(await (await fetch(`http://127.0.0.1:${forward.localPort}/`)).text(), 'Hello from pod default/demo\n');
  await forward.stop();
  await until(() => portForwardEnds().length > before, 'the port-forward session-end line');
  t.match(portForwardEnds()[before], { mode: 'relay', recording: /\.jsonl$/ });
});
