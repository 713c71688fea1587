import type { Bench } from './context.js';
import { alternate, GatewayWatch, type PathName } from './gateway-watch.js';
import { runKubectl, type KubectlCall } from './kubectl.js';
import { execDownloadRow, execUploadRow, expectClientProtocol, kubectlWorkspace, type KubectlRow } from './kubectl-rows.js';
import { PLACEMENT, pinToCpu, startGatewayServer, startLegacyClusterServer, type ServerProcess } from './processes.js';
import { spread, type PartRows } from './results.js';
import { perGiBTargets } from './targets.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** The SPDY-only release these rows drive: it never tries WebSocket. */
export const SPDY_CLIENT_MINOR = 27;

/** What kubectl 1.27's exec looks like in the gateway's session lines when it is carried toward a WebSocket upstream. */
const TO_WEBSOCKET = { clientProtocol: 'SPDY/3.1 v4.channel.k8s.io', mode: 'to-websocket' } as const;

/**
 * kubectl 1.27 (SPDY only) exec through the gateway configured with `upstreams[].streaming:
 * websocket` toward a legacy cluster started with `--streaming websocket` (SPDY answered by the
 * gateway, v5.channel.k8s.io toward the cluster, TLS on both legs), against the same kubectl straight
 * to a legacy cluster serving SPDY. Each path has a cluster of its own, both on the upstream's CPU.
 * Each row checks from the gateway's session lines that every session was carried `to-websocket`.
 */
export async function toWebSocketPart(bench: Bench, rows: PartRows): Promise<void> {
  const workspace = await kubectlWorkspace(bench, rows, 'to-websocket', SPDY_CLIENT_MINOR);
  const started: ServerProcess[] = [];
  const errors: string[] = [];
  try {
    const webSocketCluster = await startLegacyClusterServer(bench.transport, 'websocket');
    started.push(webSocketCluster);
    const spdyCluster = await startLegacyClusterServer(bench.transport, 'spdy');
    started.push(spdyCluster);
    const gateway = await startGatewayServer(webSocketCluster.url, bench.transport, { streaming: 'websocket' });
    started.push(gateway);
    if (bench.pin) {
      for (const cluster of [webSocketCluster, spdyCluster]) pinToCpu(cluster.pid, PLACEMENT.clientsAndUpstream);
      pinToCpu(gateway.pid, PLACEMENT.hop);
    }
    const watch = new GatewayWatch(gateway);
    const calls: Record<'gateway' | 'direct', KubectlCall> = {
      gateway: await workspace.call('gateway', gateway.url),
      direct: await workspace.call('direct', spdyCluster.url),
    };
    rows.note(
      `gateway path: kubectl 1.${SPDY_CLIENT_MINOR} (SPDY only) → gateway (upstreams[].streaming: websocket) → legacy-cluster --streaming websocket (v5.channel.k8s.io; it refuses SPDY upgrades); direct path: the same kubectl → legacy-cluster --streaming spdy`,
    );

    bench.say('to-websocket: one small exec per path first (unmeasured)');
    const warmUp = watch.mark();
    for (const path of ['direct', 'gateway'] as const) await runKubectl(calls[path], ['exec', 'demo', '--', 'true']);
    await watch.untilEnded(warmUp, 1);

    const bytes = bench.sizes.transfer;
    const definitions: KubectlRow[] = [execDownloadRow(bytes), execUploadRow(bytes)].map((row) => ({ ...row, ...TO_WEBSOCKET, name: `${row.name}, kubectl 1.${SPDY_CLIENT_MINOR} SPDY → WebSocket upstream` }));
    for (const row of definitions) {
      try {
        const mark = watch.mark();
        const runs: Partial<Record<PathName, () => Promise<number>>> = { gateway: () => row.run(calls.gateway, 'gateway'), direct: () => row.run(calls.direct, 'direct') };
        const measured = await alternate(bench.repeat, runs, watch, 1, (round) => bench.say(`to-websocket: ${row.name}, ${bytes / MiB} MiB, round ${round} of ${bench.repeat}`));
        rows.note(expectClientProtocol(watch, mark, row));
        const throughput = (seconds: number[]): number[] => seconds.map((s) => bytes / MiB / s);
        const cpu = spread(measured.gatewayCpu.map((seconds) => seconds / (row.bytesMoved / GiB)));
        const gcs = spread(measured.gatewayGcs.map((count) => count / (row.bytesMoved / GiB)));
        rows.add({
          name: row.name,
          unit: 'MiB/s',
          better: 'higher',
          gateway: spread(throughput(measured.results.gateway!)),
          direct: spread(throughput(measured.results.direct!)),
          gatewayCpuPerGiB: cpu,
          fullGcsPerGiB: gcs,
          targets: perGiBTargets(cpu, gcs),
        });
      } catch (error) {
        errors.push(`${row.name}: ${(error as Error).message}`);
        rows.note(`${row.name}: FAILED — ${(error as Error).message}`);
      }
    }
  } finally {
    for (const server of started.reverse()) await server.stop();
    await workspace.dispose();
  }
  if (errors.length) throw new Error(`${errors.length} of the to-websocket rows failed: ${errors.join('; ')}`);
}
