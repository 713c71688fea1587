import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderKubeconfig } from '../config/kubeconfig.js';
import { TOKEN } from './clients.js';
import type { Bench } from './context.js';
import { alternate, type PathName } from './gateway-watch.js';
import { describeKubectl, echoThrough, kubectlBinary, runKubectl, startForward, type KubectlCall } from './kubectl.js';
import { spread, type PartRows } from './results.js';
import { startBenchStack, type BenchStack } from './stacks.js';
import { atLeast, perGiBTargets, TARGETS } from './targets.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
export const KUBECTL_MINOR = 33;

/** What kubectl speaks on each path: 1.33's defaults (WebSocket) to the gateway; SPDY straight away direct, as a pre-1.31 client or a 1.33 one against a 1.28 cluster after its fallback. */
const SPDY_ONLY = { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false', KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' };

interface KubectlRow {
  name: string;
  /** Bytes the gateway moves per run (both directions of an echo). */
  bytesThroughGateway: number;
  /** The client protocol the gateway must log for every session of the row. */
  clientProtocol: string;
  /** The gateway relays SPDY unchanged here (the tunnel): the relay's CPU target applies. */
  relay: boolean;
  run(call: KubectlCall, path: PathName): Promise<number>;
}

/**
 * kubectl 1.33 itself on every path: through the gateway (WebSocket over TLS, translated to SPDY
 * over TLS), direct to the legacy cluster (SPDY over TLS), and direct through the TLS relay (the
 * floor). Throughput is the transfer's bytes over kubectl's whole run (start to exit) for exec and
 * cp, over the echo from connect to the last byte back for port-forward. Each row checks from the
 * gateway's session lines that kubectl spoke WebSocket to it (a silent SPDY fallback would fail the row).
 */
export async function kubectlPart(bench: Bench, rows: PartRows): Promise<void> {
  if (bench.transport.kind !== 'tls') throw new Error('kubectl sends a bearer token only over TLS: the kubectl rows need TLS on both legs (run without --plain)');
  const { tls } = bench.transport;
  const binary = kubectlBinary(KUBECTL_MINOR);
  rows.note(`kubectl: ${describeKubectl(binary)}`);
  const dir = await mkdtemp(join(tmpdir(), 'ksg-bench-kubectl-'));
  const errors: string[] = [];
  let stack: BenchStack | undefined;
  try {
    stack = await startBenchStack(bench, 'legacy', true);
    const { upstream: cluster, gateway, relay, watch } = stack;

    const home = join(dir, 'home');
    await mkdir(home);
    const env = { PATH: process.env.PATH ?? '', HOME: home };
    const call = async (path: PathName, server: string, extra: Record<string, string>): Promise<KubectlCall> => {
      const kubeconfig = join(dir, `${path}.kubeconfig`);
      await writeFile(kubeconfig, renderKubeconfig({ server, caPem: tls.caPem, token: TOKEN }));
      return { binary, kubeconfig, env: { ...env, ...extra } };
    };
    const calls: Record<PathName, KubectlCall> = {
      gateway: await call('gateway', gateway.url, {}),
      direct: await call('direct', cluster.url, SPDY_ONLY),
      floor: await call('floor', relay!.url, SPDY_ONLY),
    };
    rows.note(`direct path and floor: kubectl with ${Object.entries(SPDY_ONLY).map(([key, value]) => `${key}=${value}`).join(' ')}, so it speaks SPDY/3.1 from the start (the legacy cluster refuses WebSocket upgrades in any case, as a 1.28 cluster does); the floor is the same kubectl through the TLS relay`);

    const bytes = bench.sizes.transfer;
    // The demo pod runs on this host, in a scratch folder of its own: the files cp reads and writes live here.
    const podDir = join(dir, 'pod-side');
    await mkdir(podDir);
    const localFile = join(dir, 'upload.bin');
    await writeFile(localFile, Buffer.alloc(bytes));
    await writeFile(join(podDir, 'download.bin'), Buffer.alloc(bytes));

    const definitions: KubectlRow[] = [
      {
        name: 'kubectl exec download (stdout of head -c N /dev/zero)',
        bytesThroughGateway: bytes,
        clientProtocol: 'v5.channel.k8s.io',
        relay: false,
        run: async (kubectl) => {
          const { seconds, stdoutBytes } = await runKubectl(kubectl, ['exec', 'demo', '--', 'head', '-c', String(bytes), '/dev/zero']);
          if (stdoutBytes !== bytes) throw new Error(`kubectl exec download: got ${stdoutBytes} of ${bytes} bytes`);
          return seconds;
        },
      },
      {
        name: "kubectl exec upload (stdin into sh -c 'cat > /dev/null')",
        bytesThroughGateway: bytes,
        clientProtocol: 'v5.channel.k8s.io',
        relay: false,
        run: async (kubectl) => (await runKubectl(kubectl, ['exec', '-i', 'demo', '--', 'sh', '-c', 'cat > /dev/null'], bytes)).seconds,
      },
      {
        name: 'kubectl cp upload (local file into the pod)',
        bytesThroughGateway: bytes,
        clientProtocol: 'v5.channel.k8s.io',
        relay: false,
        run: async (kubectl, path) => {
          const target = join(podDir, `up-${path}.bin`);
          const { seconds } = await runKubectl(kubectl, ['cp', localFile, `demo:${target}`]);
          await expectSize(target, bytes);
          await rm(target);
          return seconds;
        },
      },
      {
        name: 'kubectl cp download (pod file to a local one)',
        bytesThroughGateway: bytes,
        clientProtocol: 'v5.channel.k8s.io',
        relay: false,
        run: async (kubectl, path) => {
          const target = join(dir, `down-${path}.bin`);
          const { seconds } = await runKubectl(kubectl, ['cp', `demo:${join(podDir, 'download.bin')}`, target]);
          await expectSize(target, bytes);
          await rm(target);
          return seconds;
        },
      },
      {
        name: "kubectl port-forward echo (N bytes each way at once through the pod's echo port)",
        bytesThroughGateway: 2 * bytes,
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
      },
    ];

    bench.say('kubectl: one small exec per path first (unmeasured)');
    for (const path of ['direct', 'floor', 'gateway'] as const) await runKubectl(calls[path], ['exec', 'demo', '--', 'true']);

    for (const row of definitions) {
      try {
        const mark = watch.mark();
        const runs: Partial<Record<PathName, () => Promise<number>>> = {
          gateway: () => row.run(calls.gateway, 'gateway'),
          floor: () => row.run(calls.floor, 'floor'),
          direct: () => row.run(calls.direct, 'direct'),
        };
        const measured = await alternate(bench.repeat, runs, watch, 1, (round) => bench.say(`kubectl: ${row.name}, ${bytes / MiB} MiB, round ${round} of ${bench.repeat}`));
        const spoken = watch.since(mark);
        const protocols = Object.keys(spoken.clientProtocols);
        if (spoken.relayed > 0 || protocols.some((protocol) => protocol !== row.clientProtocol)) {
          throw new Error(`kubectl did not speak ${row.clientProtocol} to the gateway: ${JSON.stringify(spoken.clientProtocols)}, ${spoken.relayed} SPDY upgrades relayed`);
        }
        rows.note(`${row.name}: through the gateway kubectl spoke ${row.clientProtocol} in all ${spoken.clientProtocols[row.clientProtocol] ?? 0} sessions (none relayed as SPDY)`);
        const throughput = (seconds: number[]): number[] => seconds.map((s) => bytes / MiB / s);
        const cpu = spread(measured.gatewayCpu.map((seconds) => seconds / (row.bytesThroughGateway / GiB)));
        const gcs = spread(measured.gatewayGcs.map((count) => count / (row.bytesThroughGateway / GiB)));
        const direct = spread(throughput(measured.results.direct!));
        const gatewayThroughput = spread(throughput(measured.results.gateway!));
        rows.add({
          name: row.name,
          unit: 'MiB/s',
          better: 'higher',
          gateway: gatewayThroughput,
          floor: spread(throughput(measured.results.floor!)),
          direct,
          gatewayCpuPerGiB: cpu,
          fullGcsPerGiB: gcs,
          targets: [atLeast('gateway/direct', TARGETS.kubectlRatio, gatewayThroughput.median / direct.median, '×'), ...perGiBTargets(cpu, gcs, row.relay)],
        });
      } catch (error) {
        errors.push(`${row.name}: ${(error as Error).message}`);
        rows.note(`${row.name}: FAILED — ${(error as Error).message}`);
      }
    }
  } finally {
    await stack?.stop();
    await rm(dir, { recursive: true, force: true });
  }
  if (errors.length) throw new Error(`${errors.length} of the kubectl rows failed: ${errors.join('; ')}`);
}

async function expectSize(path: string, bytes: number): Promise<void> {
  const { size } = await stat(path);
  if (size !== bytes) throw new Error(`kubectl cp: ${path} has ${size} bytes, not ${bytes}`);
}
