import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Bench } from './context.js';
import { alternate, floorPerGiB, type PathName } from './gateway-watch.js';
import { runKubectl, type KubectlCall } from './kubectl.js';
import { execDownloadRow, execUploadRow, expectClientProtocol, kubectlWorkspace, portForwardEchoRow, SPDY_ONLY, type KubectlRow } from './kubectl-rows.js';
import { spread, type PartRows } from './results.js';
import { startBenchStack, type BenchStack } from './stacks.js';
import { atLeast, perGiBTargets, TARGETS } from './targets.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/**
 * kubectl 1.33 itself on every path: through the gateway (WebSocket over TLS, translated to SPDY
 * over TLS), direct to the legacy cluster (SPDY over TLS), and direct through the TLS relay (the
 * floor). Throughput is the transfer's bytes over kubectl's whole run (start to exit) for exec and
 * cp, over the echo from connect to the last byte back for port-forward. Each row checks from the
 * gateway's session lines that kubectl spoke WebSocket to it (a silent SPDY fallback would fail the row).
 */
export async function kubectlPart(bench: Bench, rows: PartRows): Promise<void> {
  const workspace = await kubectlWorkspace(bench, rows, 'kubectl');
  const { dir } = workspace;
  const errors: string[] = [];
  let stack: BenchStack | undefined;
  try {
    stack = await startBenchStack(bench, 'legacy', true);
    const { upstream: cluster, gateway, relay, watch, floorWatch } = stack;
    const calls: Record<'gateway' | 'direct' | 'floor', KubectlCall> = {
      gateway: await workspace.call('gateway', gateway.url),
      direct: await workspace.call('direct', cluster.url, SPDY_ONLY),
      floor: await workspace.call('floor', relay!.url, SPDY_ONLY),
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
      execDownloadRow(bytes),
      execUploadRow(bytes),
      {
        name: 'kubectl cp upload (local file into the pod)',
        bytesMoved: bytes,
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
        bytesMoved: bytes,
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
      portForwardEchoRow(bytes),
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
        const measured = await alternate(bench.repeat, runs, watch, 1, (round) => bench.say(`kubectl: ${row.name}, ${bytes / MiB} MiB, round ${round} of ${bench.repeat}`), { floor: floorWatch });
        rows.note(expectClientProtocol(watch, mark, row));
        const throughput = (seconds: number[]): number[] => seconds.map((s) => bytes / MiB / s);
        const cpu = spread(measured.gatewayCpu.map((seconds) => seconds / (row.bytesMoved / GiB)));
        const gcs = spread(measured.gatewayGcs.map((count) => count / (row.bytesMoved / GiB)));
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
          ...floorPerGiB(measured, row.bytesMoved / GiB),
          targets: [atLeast('gateway/direct', TARGETS.kubectlRatio, gatewayThroughput.median / direct.median, '×'), ...perGiBTargets(cpu, gcs, row.relay)],
        });
      } catch (error) {
        errors.push(`${row.name}: ${(error as Error).message}`);
        rows.note(`${row.name}: FAILED — ${(error as Error).message}`);
      }
    }
  } finally {
    await stack?.stop();
    await workspace.dispose();
  }
  if (errors.length) throw new Error(`${errors.length} of the kubectl rows failed: ${errors.join('; ')}`);
}

async function expectSize(path: string, bytes: number): Promise<void> {
  const { size } = await stat(path);
  if (size !== bytes) throw new Error(`kubectl cp: ${path} has ${size} bytes, not ${bytes}`);
}
