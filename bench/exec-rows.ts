import type { Bench } from './context.js';
import { alternate, floorPerGiB, type GatewayWatch, type PathName, type RelayWatch } from './gateway-watch.js';
import { spread, type PartRows } from './results.js';
import { atMost, perGiBTargets, TARGETS } from './targets.js';
import { download, percentile, roundTrips, upload, type Open } from './transfers.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** The bench's own clients on each path: WebSocket v5 to the gateway, SPDY direct, SPDY through the relay (floor). */
export type ExecPaths = { gateway: Open; direct: Open; floor?: Open };

type Runs<T> = Partial<Record<PathName, () => Promise<T>>>;

function runsOf<T>(paths: ExecPaths, run: (open: Open) => Promise<T>): Runs<T> {
  const runs: Runs<T> = { gateway: () => run(paths.gateway), direct: () => run(paths.direct) };
  if (paths.floor) runs.floor = () => run(paths.floor!);
  return runs;
}

/** Maps each path's samples (undefined where the path was not run). */
function perPath<T>(results: Partial<Record<PathName, T[]>>, of: (samples: T[]) => number[]): { gateway: ReturnType<typeof spread>; direct?: ReturnType<typeof spread>; floor?: ReturnType<typeof spread> } {
  return {
    gateway: spread(of(results.gateway!)),
    ...(results.direct ? { direct: spread(of(results.direct)) } : {}),
    ...(results.floor ? { floor: spread(of(results.floor)) } : {}),
  };
}

/** `bytes` each way on every path, unmeasured: compiling the send paths is not what is measured. */
export async function warmUp(paths: ExecPaths, bytes: number): Promise<void> {
  for (const open of [paths.direct, paths.floor, paths.gateway]) {
    if (!open) continue;
    await download(open, bytes);
    await upload(open, bytes);
  }
}

/** Download and upload of `sizes.transfer` through exec on every path, alternated. */
export async function transferRows(bench: Bench, rows: PartRows, paths: ExecPaths, watch: GatewayWatch, label: string, floorWatch?: RelayWatch): Promise<void> {
  const bytes = bench.sizes.transfer;
  for (const [direction, run] of [
    ['download', (open: Open) => download(open, bytes)],
    ['upload', (open: Open) => upload(open, bytes)],
  ] as const) {
    const measured = await alternate(bench.repeat, runsOf(paths, run), watch, 1, (round) => bench.say(`${label}: exec ${direction} of ${bytes / MiB} MiB, round ${round} of ${bench.repeat}`), { floor: floorWatch });
    const cpu = spread(measured.gatewayCpu.map((seconds) => seconds / (bytes / GiB)));
    const gcs = spread(measured.gatewayGcs.map((count) => count / (bytes / GiB)));
    rows.add({
      name: `exec ${direction} (bench client)`,
      unit: 'MiB/s',
      better: 'higher',
      ...perPath(measured.results, (seconds) => seconds.map((s) => bytes / MiB / s)),
      gatewayCpuPerGiB: cpu,
      fullGcsPerGiB: gcs,
      ...floorPerGiB(measured, bytes / GiB),
      targets: perGiBTargets(cpu, gcs),
    });
  }
}

/** One-byte round trips through `cat` and sequential set-ups of `echo x`, on every path, alternated. */
export async function latencyRows(bench: Bench, rows: PartRows, paths: ExecPaths, watch: GatewayWatch, label: string, floorWatch?: RelayWatch): Promise<void> {
  const { roundTrips: count, setups: setupCount } = bench.sizes;
  const echoes = await alternate(bench.repeat, runsOf(paths, (open) => roundTrips(open, count)), watch, 1, (round) =>
    bench.say(`${label}: ${count} one-byte round trips, round ${round} of ${bench.repeat}`),
  );
  for (const p of [50, 99]) {
    rows.add({ name: `round trip p${p} (${count} on one session)`, unit: 'µs', better: 'lower', ...perPath(echoes.results, (runs) => runs.map((samples) => percentile(samples, p))) });
  }

  const opened = await alternate(
    bench.repeat,
    runsOf(paths, (open) => setups(open, setupCount)),
    watch,
    setupCount,
    (round) => bench.say(`${label}: ${setupCount} set-ups of "echo x" one after another, round ${round} of ${bench.repeat}`),
    { floor: floorWatch },
  );
  const p50 = perPath(opened.results, (runs) => runs.map((samples) => percentile(samples, 50)));
  const added = p50.direct ? p50.gateway.median - p50.direct.median : undefined;
  rows.add({ name: 'set-up to first byte p50, one after another', unit: 'ms', better: 'lower', ...p50, targets: [atMost('added (gateway − direct medians)', TARGETS.setupAddedP50Ms, added, ' ms')] });
  rows.add({ name: 'set-up to first byte p99, one after another', unit: 'ms', better: 'lower', ...perPath(opened.results, (runs) => runs.map((samples) => percentile(samples, 99))) });
  const cpuMs = spread(opened.gatewayCpu.map((seconds) => (seconds * 1000) / setupCount));
  const floorCpu = opened.otherCpu.floor;
  rows.add({
    name: 'gateway CPU per set-up, one after another',
    unit: 'ms',
    better: 'lower',
    gateway: cpuMs,
    ...(floorCpu ? { floor: spread(floorCpu.map((seconds) => (seconds * 1000) / setupCount)) } : {}),
    targets: [atMost('CPU per session', TARGETS.setupCpuMs, cpuMs, ' ms')],
  });
}

/** From starting the upgrade to the first stdout byte of `echo x`, in milliseconds, `count` one after another. */
async function setups(open: Open, count: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) samples.push(await setup(open));
  return samples;
}

/** One session of `echo x`: milliseconds to its first stdout byte; resolves when it is over. */
export async function setup(open: Open): Promise<number> {
  const started = process.hrtime.bigint();
  const session = await open(['echo', 'x'], false);
  await new Promise<void>((resolve) => session.onStdout(() => resolve()));
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  await session.finished;
  return elapsed;
}
