import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderKubeconfig } from '../src/config/kubeconfig.js';
import { TOKEN } from './clients.js';
import type { Bench } from './context.js';
import type { GatewayWatch, PathName, WatchMark } from './gateway-watch.js';
import { describeKubectl, echoThrough, kubectlBinary, runKubectl, startForward, type KubectlCall } from './kubectl.js';
import type { PartRows } from './results.js';
import type { BenchTls } from './tls-material.js';

export const KUBECTL_MINOR = 33;

/** What kubectl speaks where SPDY is wanted: SPDY straight away, as a pre-1.31 client or a 1.33 one against a 1.28 cluster after its fallback. */
export const SPDY_ONLY = { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false', KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' };

/** One measured kubectl workload, run the same way on every path of a part. */
export interface KubectlRow {
  name: string;
  /** Bytes the hop on the path (the gateway, the Go translator) moves per run: both directions of an echo. */
  bytesMoved: number;
  /** The client protocol the gateway must log for every session of the row. */
  clientProtocol: string;
  /** How the gateway must log having carried every session of the row (`mode`), when the row says. */
  mode?: string;
  /** The gateway relays SPDY unchanged here (the tunnel): the relay's CPU target applies. */
  relay: boolean;
  run(call: KubectlCall, path: PathName): Promise<number>;
}

/** `kubectl exec demo -- head -c N /dev/zero`: N bytes on stdout, counted. */
export function execDownloadRow(bytes: number): KubectlRow {
  return {
    name: 'kubectl exec download (stdout of head -c N /dev/zero)',
    bytesMoved: bytes,
    clientProtocol: 'v5.channel.k8s.io',
    relay: false,
    run: async (kubectl) => {
      const { seconds, stdoutBytes } = await runKubectl(kubectl, ['exec', 'demo', '--', 'head', '-c', String(bytes), '/dev/zero']);
      if (stdoutBytes !== bytes) throw new Error(`kubectl exec download: got ${stdoutBytes} of ${bytes} bytes`);
      return seconds;
    },
  };
}

/** N bytes on `kubectl exec -i` stdin into `sh -c 'cat > /dev/null'`. */
export function execUploadRow(bytes: number): KubectlRow {
  return {
    name: "kubectl exec upload (stdin into sh -c 'cat > /dev/null')",
    bytesMoved: bytes,
    clientProtocol: 'v5.channel.k8s.io',
    relay: false,
    run: async (kubectl) => (await runKubectl(kubectl, ['exec', '-i', 'demo', '--', 'sh', '-c', 'cat > /dev/null'], bytes)).seconds,
  };
}

/** `kubectl port-forward pod/demo :7`, N bytes each way at once through the pod's echo port. */
export function portForwardEchoRow(bytes: number): KubectlRow {
  return {
    name: "kubectl port-forward echo (N bytes each way at once through the pod's echo port)",
    bytesMoved: 2 * bytes,
    clientProtocol: 'SPDY/3.1+portforward.k8s.io',
    relay: true,
    run: async (kubectl) => {
      const forward = await startForward(kubectl, 'demo', 7);
      try {
        return await echoThrough(forward.localPort, bytes);
      } finally {
        await forward.stop();
      }
    },
  };
}

/**
 * Checks from the gateway's session lines since `mark` that kubectl spoke the row's protocol in
 * every session (a silent SPDY fallback, or an untranslated relay, fails the row); returns the note.
 */
export function expectClientProtocol(watch: GatewayWatch, mark: WatchMark, row: KubectlRow): string {
  const spoken = watch.since(mark);
  const protocols = Object.keys(spoken.clientProtocols);
  if (spoken.relayed > 0 || protocols.some((protocol) => protocol !== row.clientProtocol)) {
    throw new Error(`kubectl did not speak ${row.clientProtocol} to the gateway: ${JSON.stringify(spoken.clientProtocols)}, ${spoken.relayed} SPDY upgrades relayed`);
  }
  if (row.mode !== undefined && Object.keys(spoken.modes).some((mode) => mode !== row.mode)) {
    throw new Error(`the gateway did not carry every session as ${row.mode}: ${JSON.stringify(spoken.modes)}`);
  }
  const carried = row.mode === undefined ? '' : `, carried as ${row.mode}`;
  return `${row.name}: through the gateway kubectl spoke ${row.clientProtocol} in all ${spoken.clientProtocols[row.clientProtocol] ?? 0} sessions${carried} (none relayed as SPDY)`;
}

/** A scratch folder for a part's kubectl runs: a HOME of its own, and one kubeconfig per server. */
export interface KubectlWorkspace {
  dir: string;
  /** The run's certificates: a workspace exists only with TLS on both legs. */
  tls: BenchTls;
  /** kubectl toward `server` with the bench's token and CA, `env` added to its environment. */
  call(name: string, server: string, env?: Record<string, string>): Promise<KubectlCall>;
  dispose(): Promise<void>;
}

/**
 * kubectl 1.33 (or release 1.`minor`) for a part's rows: it needs TLS on both legs (kubectl sends a bearer token only over
 * TLS); the release is noted in the part, and its runs get a workspace of their own.
 */
export async function kubectlWorkspace(bench: Bench, rows: PartRows, part: string, minor = KUBECTL_MINOR): Promise<KubectlWorkspace> {
  if (bench.transport.kind !== 'tls') throw new Error(`kubectl sends a bearer token only over TLS: the ${part} rows need TLS on both legs (run without --plain)`);
  const { tls } = bench.transport;
  const binary = kubectlBinary(minor);
  rows.note(`kubectl: ${describeKubectl(binary)}`);
  const dir = await mkdtemp(join(tmpdir(), `ksg-bench-${part}-`));
  const home = join(dir, 'home');
  await mkdir(home);
  const base = { PATH: process.env.PATH ?? '', HOME: home };
  return {
    dir,
    tls,
    call: async (name, server, env = {}) => {
      const kubeconfig = join(dir, `${name}.kubeconfig`);
      await writeFile(kubeconfig, renderKubeconfig({ server, caPem: tls.caPem, token: TOKEN }));
      return { binary, kubeconfig, env: { ...base, ...env } };
    },
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}
