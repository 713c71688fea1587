import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Bench } from './context.js';
import { alternate, GatewayWatch, type PathName } from './gateway-watch.js';
import { execDownloadRow, expectClientProtocol, kubectlWorkspace, KUBECTL_MINOR } from './kubectl-rows.js';
import { PLACEMENT, pinToCpu, startGatewayServer, startLegacyClusterServer, type ServerProcess } from './processes.js';
import { round, spread, type PartRows } from './results.js';
import { atLeast, atMost, TARGETS } from './targets.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/**
 * kubectl 1.33 exec download through two gateways in front of one legacy cluster, alternated round by
 * round: one with `recording.directory` set (every byte of stdout recorded: `maxBytesPerSession` above
 * the transfer) and one without. Each gateway's CPU per GiB is read over its own runs; after every
 * recorded run the recording is checked (all N bytes and its end line) and deleted.
 */
export async function recordingPart(bench: Bench, rows: PartRows): Promise<void> {
  const workspace = await kubectlWorkspace(bench, rows, 'recording');
  const started: ServerProcess[] = [];
  try {
    const bytes = bench.sizes.transfer;
    const directory = join(workspace.dir, 'recordings');
    await mkdir(directory);
    const cluster = await startLegacyClusterServer(bench.transport);
    started.push(cluster);
    const recorded = await startGatewayServer(cluster.url, bench.transport, { recording: { directory, maxBytesPerSession: bytes + MiB } });
    started.push(recorded);
    const unrecorded = await startGatewayServer(cluster.url, bench.transport);
    started.push(unrecorded);
    if (bench.pin) {
      pinToCpu(cluster.pid, PLACEMENT.clientsAndUpstream);
      for (const gateway of [recorded, unrecorded]) pinToCpu(gateway.pid, PLACEMENT.hop);
    }
    const watches = { on: new GatewayWatch(recorded), off: new GatewayWatch(unrecorded) };
    const calls = { on: await workspace.call('recorded', recorded.url), off: await workspace.call('unrecorded', unrecorded.url) };
    rows.note(
      `recording on: the gateway with recording.directory set (a scratch folder on this machine's disk) and recording.maxBytesPerSession ${(bytes + MiB) / MiB} MiB, so every byte of stdout is recorded (the raw framing); recording off: the same gateway without it; both kubectl 1.${KUBECTL_MINOR} over WebSocket, TLS on both legs, in front of one legacy cluster`,
    );

    const row = execDownloadRow(bytes);
    const runs: Partial<Record<PathName, () => Promise<number>>> = {
      gateway: () =>
        named('recording on', async () => {
          const seconds = await row.run(calls.on, 'gateway');
          await expectRecorded(directory, bytes);
          return seconds;
        }),
      baseline: () => named('recording off', () => row.run(calls.off, 'baseline')),
    };
    bench.say('recording: one small exec per gateway first (unmeasured)');
    const marks = { on: watches.on.mark(), off: watches.off.mark() };
    await execDownloadRow(1).run(calls.on, 'gateway');
    await execDownloadRow(1).run(calls.off, 'baseline');
    await watches.on.untilEnded(marks.on, 1);
    await watches.off.untilEnded(marks.off, 1);
    await expectRecorded(directory, 1);

    const mark = { on: watches.on.mark(), off: watches.off.mark() };
    const measured = await alternate(bench.repeat, runs, watches.on, 1, (n) => bench.say(`recording: ${row.name}, ${bytes / MiB} MiB, round ${n} of ${bench.repeat}`), { baseline: watches.off });
    rows.note(`recording on: ${expectClientProtocol(watches.on, mark.on, row)}`);
    rows.note(`recording off: ${expectClientProtocol(watches.off, mark.off, row)}`);
    const throughput = (seconds: number[]): number[] => seconds.map((s) => bytes / MiB / s);
    const perGiB = (values: number[]): number[] => values.map((value) => value / (bytes / GiB));
    const on = spread(throughput(measured.results.gateway!));
    const off = spread(throughput(measured.results.baseline!));
    const cpuOn = spread(perGiB(measured.gatewayCpu));
    const cpuOff = spread(perGiB(measured.otherCpu.baseline!));
    rows.add({
      name: `${row.name}: recording on vs off`,
      unit: 'MiB/s',
      better: 'higher',
      gateway: on,
      recordingOff: off,
      gatewayCpuPerGiB: cpuOn,
      recordingOffCpuPerGiB: cpuOff,
      fullGcsPerGiB: spread(perGiB(measured.gatewayGcs)),
      recordingOffFullGcsPerGiB: spread(perGiB(measured.otherGcs.baseline!)),
      targets: [
        atLeast('throughput on/off', TARGETS.recordingThroughputRatio, round(on.median / off.median, 3), '×'),
        atMost('CPU per GiB on/off', TARGETS.recordingCpuRatio, round(cpuOn.median / cpuOff.median, 3), '×'),
      ],
    });
  } finally {
    for (const server of started.reverse()) await server.stop();
    await workspace.dispose();
  }
}

/** `run`, its failure naming the path it failed on. */
async function named<T>(path: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`);
  }
}

/** How long a finished session's recording may take to reach its end line on disk. */
const RECORDING_SETTLE_MS = 30_000;

/**
 * Every recording in `directory` holds at least `bytes` of content and ends with its end line (a
 * bounded poll: the writer finishes in the background after the session's end); then it is deleted,
 * so the disk does not fill over the rounds.
 */
async function expectRecorded(directory: string, bytes: number): Promise<void> {
  const names = await readdir(directory);
  if (names.length === 0) throw new Error(`recording on: no recording in ${directory}`);
  for (const name of names) {
    const path = join(directory, name);
    const deadline = Date.now() + RECORDING_SETTLE_MS;
    while (!(await finished(path, bytes))) {
      if (Date.now() > deadline) throw new Error(`recording on: ${name} did not reach ${bytes} bytes and its end line within ${RECORDING_SETTLE_MS / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await rm(path);
  }
}

/** The recording has `bytes` of content at least and its last line is the end line. */
async function finished(path: string, bytes: number): Promise<boolean> {
  const { size } = await stat(path);
  if (size < bytes) return false;
  const handle = await open(path, 'r');
  try {
    const tail = Buffer.alloc(Math.min(512, size));
    await handle.read(tail, 0, tail.length, size - tail.length);
    return tail.toString('latin1').includes('"end":true');
  } finally {
    await handle.close();
  }
}
