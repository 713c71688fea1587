// A gateway process killed with SIGKILL in the middle of two sessions (a terminal and a plain one):
// what was recorded up to the last flush is on disk and readable — the cast by `asciinema cat`, the
// raw recording by the documented framing — without the end line a clean end writes.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority } from '../../src/net/certificate-authority.js';
import { renderKubeconfig } from '../../src/config/kubeconfig.js';
import { CliProcess } from './cli-process.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import { kubectlPath } from '../helpers/kubectl.js';
import { startPtyTerminal } from '../helpers/pty-terminal.js';
import { until } from '../helpers/wait.js';
import { readRawRecording } from '../helpers/raw-recording.js';

let dir: string;
const token = randomBytes(24).toString('base64url');
let cluster: CliProcess;

t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ksg-crash-'));
  const ca = await createCertificateAuthority();
  const issued = await ca.issueServerCertificate(['127.0.0.1', 'localhost']);
  await writeFile(join(dir, 'tls.crt'), issued.certPem);
  await writeFile(join(dir, 'tls.key'), issued.keyPem);
  await writeFile(join(dir, 'ca.crt'), ca.caCertPem);
  await writeFile(join(dir, 'token'), `${token}\n`, { mode: 0o600 });
  await mkdir(join(dir, 'recordings'));
  cluster = new CliProcess(['legacy-cluster', '--listen', '127.0.0.1:0', '--token-file', join(dir, 'token'), '--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key')]);
  const clusterUrl = await cluster.listeningUrl();
  await writeFile(
    join(dir, 'gateway.yaml'),
    `listen: 127.0.0.1:0
tls: {cert: tls.crt, key: tls.key}
admin: {listen: "127.0.0.1:0"}
upstreams: [{name: legacy, server: "${clusterUrl}", ca: ca.crt}]
recording: {directory: recordings}
`,
  );
});
t.teardown(async () => {
  await cluster?.stop('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

/** The recording with this extension whose bytes so far satisfy `ready`. */
function recordingWith(extension: string, ready: (file: Buffer) => boolean): string | undefined {
  for (const name of readdirSync(join(dir, 'recordings'))) {
    if (name.endsWith(extension) && ready(readFileSync(join(dir, 'recordings', name)))) return join(dir, 'recordings', name);
  }
  return undefined;
}

t.test('SIGKILL of the gateway mid-session leaves readable recordings of what had passed', async (t) => {
  const gateway = new CliProcess(['serve', '--config', 'gateway.yaml'], { cwd: dir });
  t.teardown(() => gateway.stop('SIGKILL'));
  const url = await gateway.listeningUrl();
  const kubeconfig = join(dir, 'gateway.kubeconfig');
  await writeFile(kubeconfig, renderKubeconfig({ server: url, caPem: await readFile(join(dir, 'ca.crt'), 'utf8'), token }));

  const plain = runKubectl(33, ['exec', 'demo', '--', 'sh', '-c', 'echo before-crash; sleep 30'], { kubeconfig, timeoutMs: 60_000 });
  const terminal = startPtyTerminal(kubectlPath(33), ['--kubeconfig', kubeconfig, 'exec', '-it', 'demo', '--', 'sh']);
  await terminal.waitFor(/# $/);
  terminal.terminal.write('echo "typed-$((20+1))"\r');
  await terminal.waitFor(/typed-21/);

  // Nothing ends the sessions: the bytes reach the disk by the writer's periodic flush alone.
  let rawPath: string | undefined;
  let castPath: string | undefined;
  await until(() => (rawPath = recordingWith('.rec', (file) => file.includes('before-crash\n'))) !== undefined, 'the plain session\'s output on disk');
  await until(() => (castPath = recordingWith('.cast', (file) => file.includes('typed-21'))) !== undefined, 'the terminal session\'s output on disk');
  // The metrics count what was written, and the space left once the first sweep has run.
  const admin = (await gateway.waitForLog('the admin listening line', (line) => line.event === 'admin-listening')).address as string;
  const metrics = await (await fetch(`http://${admin}/metrics`)).text();
  const written = Number(/^kube_stream_gateway_recording_bytes_total (\d+)/m.exec(metrics)?.[1]);
  t.ok(written > 0, `recording bytes counted (${written})`);
  t.ok(Number(/^kube_stream_gateway_recording_space_available_bytes (\d+)/m.exec(metrics)?.[1]) > 0, 'space left measured');
  t.match(metrics, /^kube_stream_gateway_recordings_failed_total\{reason="open"\} 0$/m);
  t.equal(await gateway.stop('SIGKILL'), 'SIGKILL');

  const raw = readRawRecording(await readFile(rawPath!));
  t.match(raw.header, { format: 'ksg-raw', pod: 'demo', command: ['sh', '-c', 'echo before-crash; sleep 30'], tty: false });
  t.equal(raw.streams.get('stdout')!.toString(), 'before-crash\n', 'the plain session\'s output, exactly');
  t.notOk(raw.lines.some((line) => line.end === true), 'no end line: the process died');

  const castLines = (await readFile(castPath!, 'utf8')).trimEnd().split('\n').map((line) => JSON.parse(line) as unknown);
  t.match(castLines[0], { version: 2, ksg: { pod: 'demo', tty: true } }, 'every line of the cast is whole JSON');
  const player = startPtyTerminal('asciinema', ['cat', castPath!], 200, 50);
  t.equal(await player.exited, 0, 'asciinema cat reads it');
  t.match(player.screen(), /typed-21/, 'and replays what was shown');

  const killed = await plain;
  t.not(killed.code, 0, 'kubectl lost its session');
  terminal.terminal.kill('SIGKILL');
  t.ok((await readdir(join(dir, 'recordings'))).length >= 2);
});
