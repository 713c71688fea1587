// The kubectl 1.27–1.33 matrix through the gateway, once to the embedded cluster and once to the
// legacy Go peer: the kubelet's own streaming server (k8s.io/cri-streaming) behind real
// upgrade-aware proxy hops, so nothing the gateway and the embedded cluster share decides the outcome.
import t, { type Test } from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPeerStack, type PeerStack } from '../helpers/peer-stack.js';
import { startStack } from '../helpers/stack.js';
import { runKubectl, type KubectlResult } from '../helpers/run-kubectl.js';
import { checkTerminalFollowsResize } from '../helpers/terminal-resize.js';
import { startPortForward } from '../helpers/port-forward.js';
import { echoThrough } from '../helpers/echo.js';
import type { LogRecord } from '../helpers/log-recorder.js';
import { until } from '../helpers/wait.js';

interface Release {
  minor: number;
  /** How this release does exec/attach/cp: WebSocket (translated by the gateway) or SPDY (relayed). */
  remoteCommand: 'websocket' | 'spdy';
  /** How it does port-forward: WebSocket tunneling (translated) or SPDY (relayed). */
  portForward: 'tunnel' | 'spdy';
  env: Record<string, string>;
}

// One line per release (PROTOCOLS.md §8: WebSocket exec from 1.29 with the opt-in, tunneling from 1.30 with it).
const RELEASES: Release[] = [
  { minor: 27, remoteCommand: 'spdy', portForward: 'spdy', env: {} },
  { minor: 28, remoteCommand: 'spdy', portForward: 'spdy', env: {} },
  { minor: 29, remoteCommand: 'websocket', portForward: 'spdy', env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'true' } },
  { minor: 30, remoteCommand: 'websocket', portForward: 'tunnel', env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'true', KUBECTL_PORT_FORWARD_WEBSOCKETS: 'true' } },
  { minor: 31, remoteCommand: 'websocket', portForward: 'tunnel', env: {} },
  { minor: 32, remoteCommand: 'websocket', portForward: 'tunnel', env: {} },
  { minor: 33, remoteCommand: 'websocket', portForward: 'tunnel', env: {} },
];
/** The terminal test drives kubectl under a pseudo-terminal: one SPDY and one WebSocket release. */
const TTY_RELEASES = [27, 33];

/** What the matrix needs of a gateway and the cluster behind it. */
type MatrixStack = Pick<PeerStack, 'gateway' | 'kubeconfig' | 'podDir' | 'gatewayLogs' | 'sessionEnds' | 'close'>;

/** The upstreams the whole matrix runs against, one after the other. */
const TARGETS: Array<{ name: string; start(): Promise<MatrixStack> }> = [
  {
    name: 'embedded cluster',
    async start() {
      // The embedded pod is this host: any local directory is inside it.
      const embedded = await startStack();
      return { ...embedded, podDir: local };
    },
  },
  { name: 'legacy Go peer (the kubelet’s own streaming code)', start: () => startPeerStack() },
];

let stack: MatrixStack;
let local: string;
t.before(async () => {
  local = await mkdtemp(join(tmpdir(), 'ksg-peers-kubectl-'));
});
t.teardown(() => rm(local, { recursive: true, force: true }));

const relayed = (): LogRecord[] => stack.gatewayLogs.find((r) => r.event === 'session-start' && r.mode === 'relay');
const ends = (): LogRecord[] => stack.sessionEnds();
const starts = (): LogRecord[] => stack.gatewayLogs.find((r) => r.event === 'session-start' && r.mode !== 'relay');
interface Mark {
  sessions: number;
  starts: number;
  relays: number;
}
const mark = (): Mark => ({ sessions: ends().length, starts: starts().length, relays: relayed().length });

/** Which path the gateway took: translated sessions (with their protocols) or raw SPDY relays. */
function assertPath(t: Test, before: Mark, release: Release, kind: 'remoteCommand' | 'portForward'): LogRecord[] {
  const sessions = ends().slice(before.sessions);
  const relays = relayed().slice(before.relays);
  const translated = kind === 'remoteCommand' ? release.remoteCommand === 'websocket' : release.portForward === 'tunnel';
  if (translated) {
    t.ok(sessions.length >= 1, 'translated by the gateway');
    t.equal(relays.length, 0, 'no SPDY fallback through the raw relay');
    // A tunnel's start line names its protocols; an exec's end line does.
    for (const s of kind === 'remoteCommand' ? sessions : starts().slice(before.starts)) {
      t.equal(s.clientProtocol, kind === 'remoteCommand' ? 'v5.channel.k8s.io' : 'SPDY/3.1+portforward.k8s.io');
      t.equal(s.upstreamProtocol, kind === 'remoteCommand' ? 'v4.channel.k8s.io' : 'portforward.k8s.io');
    }
  } else {
    t.equal(sessions.length, 0, 'not translated');
    t.ok(relays.length >= 1, 'SPDY relayed untouched');
    for (const r of relays) t.equal(r.upstreamProtocol, kind === 'remoteCommand' ? 'v4.channel.k8s.io' : 'portforward.k8s.io');
  }
  return sessions;
}

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

for (const target of TARGETS) {
  t.test(`the matrix against the ${target.name}`, async (t) => {
    stack = await target.start();
    t.teardown(() => stack.close());
    defineMatrix(t);
  });
}

function defineMatrix(t: Test): void {
  for (const release of RELEASES) {
    const { minor, env } = release;
    // Every run here ends in a second or two; a hang (e.g. stdin's end never reaching the kubelet) fails fast.
    const kubectl = (args: string[], stdin?: string | Buffer): Promise<KubectlResult> =>
      runKubectl(minor, args, { kubeconfig: stack.kubeconfig, env, stdin, timeoutMs: 20_000, hangHint: 'stdin end-of-file or the end of the session did not get through' });

    t.test(`kubectl 1.${minor} (${release.remoteCommand} exec, ${release.portForward} port-forward)`, async (t) => {
      t.test('stdin to stdout; stdin end-of-file ends cat', async (t) => {
        const before = mark();
        const result = await kubectl(['exec', '-i', 'demo', '--', 'cat'], 'hello from the matrix\n');
        t.equal(result.stderr, '');
        t.equal(result.code, 0);
        t.equal(result.stdout.toString(), 'hello from the matrix\n');
        for (const s of assertPath(t, before, release, 'remoteCommand')) t.equal(s.exitCode, 0);
      });

      t.test('stdout, stderr and exit code 3', async (t) => {
        const before = mark();
        const result = await kubectl(['exec', 'demo', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
        t.equal(result.code, 3);
        t.equal(result.stdout.toString(), 'out\n');
        t.equal(result.stderr, 'err\ncommand terminated with exit code 3\n');
        for (const s of assertPath(t, before, release, 'remoteCommand')) t.equal(s.exitCode, 3);
      });

      t.test('a process killed by SIGKILL exits 137', async (t) => {
        const before = mark();
        const result = await kubectl(['exec', 'demo', '--', 'sh', '-c', 'kill -9 $$']);
        t.equal(result.code, 137);
        t.match(result.stderr, /command terminated with exit code 137/);
        assertPath(t, before, release, 'remoteCommand');
      });

      t.test('attach -i joins the echo container', async (t) => {
        const before = mark();
        const result = await kubectl(['attach', '-i', 'demo', '-c', 'echo'], `attached ${minor}\n`);
        t.equal(result.code, 0, result.stderr);
        t.match(result.stdout.toString(), new RegExp(`attached ${minor}\\n`));
        for (const s of assertPath(t, before, release, 'remoteCommand')) t.equal(s.kind, 'attach');
      });

      t.test('cp into the pod and back', async (t) => {
        const original = randomBytes(512 * 1024);
        const source = join(local, `up-${minor}.bin`);
        await writeFile(source, original);
        const before = mark();
        const up = await kubectl(['cp', source, `demo:${stack.podDir}/copy-${minor}.bin`]);
        t.equal(up.code, 0, up.stderr);
        t.equal(sha(await readFile(join(stack.podDir, `copy-${minor}.bin`))), sha(original), 'upload intact');
        const back = join(local, `down-${minor}.bin`);
        const down = await kubectl(['cp', `demo:${stack.podDir}/copy-${minor}.bin`, back]);
        t.equal(down.code, 0, down.stderr);
        t.equal(sha(await readFile(back)), sha(original), 'download intact');
        assertPath(t, before, release, 'remoteCommand');
      });

      t.test('port-forward: HTTP and TCP echo through the forward', async (t) => {
        const before = mark();
        const http = await startPortForward(minor, stack.kubeconfig, 'demo', 80, env);
        const res = await fetch(`http://127.0.0.1:${http.localPort}/`);
        t.equal(await res.text(), 'Hello from pod default/demo\n');
        const echo = await startPortForward(minor, stack.kubeconfig, 'demo', 7, env);
        const payload = randomBytes(256 * 1024);
        t.equal(sha(await echoThrough(echo.localPort, payload)), sha(payload), 'echoed intact');
        t.equal(await http.stop(), 0);
        t.equal(await echo.stop(), 0);
        await until(() => stack.gateway.activeSessions === 0, 'the tunnels to end on the gateway');
        assertPath(t, before, release, 'portForward');
      });
    });
  }

  for (const minor of TTY_RELEASES) {
    t.test(`kubectl 1.${minor} exec -it: the pod's terminal follows resizes`, async (t) => {
      await checkTerminalFollowsResize(t, minor, stack.kubeconfig);
    });
  }
}

t.test('legacy Go peer: an idle session is ended by the gateway with a Status naming the limit (the embedded cluster: limits.test.ts)', async (t) => {
  const idle = await startPeerStack({ gateway: { limits: { idleTimeoutMs: 300 } } });
  t.teardown(() => idle.close());
  const result = await runKubectl(33, ['exec', 'demo', '--', 'sleep', '30'], { kubeconfig: idle.kubeconfig, timeoutMs: 20_000 });
  t.not(result.code, 0, 'kubectl fails');
  t.match(result.stderr, /idle \(no data either way\) for 0\.3 s \(limits\.idleTimeoutSeconds\)/);
  t.match(idle.sessionEnds().at(-1)!.reason, /limits\.idleTimeoutSeconds/);
});
