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
 * the transfer) and one without. Each gateway's CPU per GiB is read over its own runs, up to the
 * recording's end line on disk; after the rounds the recordings are read (their data and gap bytes
 * counted, for the row's note) and deleted.
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
    const kept: Recorded = { files: 0, dataBytes: 0, gapBytes: 0 };
    const runs: Partial<Record<PathName, () => Promise<number>>> = {
      gateway: () =>
        named('recording on', async () => {
          const seconds = await row.run(calls.on, 'gateway');
          // The writer's last bytes are recording work: the gateway's CPU is read once they are on disk.
          await untilEnded(directory);
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
    await collectRecordings(directory, { files: 0, dataBytes: 0, gapBytes: 0 });

    const mark = { on: watches.on.mark(), off: watches.off.mark() };
    const measured = await alternate(bench.repeat, runs, watches.on, 1, (n) => bench.say(`recording: ${row.name}, ${bytes / MiB} MiB, round ${n} of ${bench.repeat}`), { baseline: watches.off });
    // Read back after the rounds, not within one: the gateway idles meanwhile, and V8 collects an idle process.
    await collectRecordings(directory, kept);
    rows.note(`recording on: ${expectClientProtocol(watches.on, mark.on, row)}`);
    rows.note(`recording off: ${expectClientProtocol(watches.off, mark.off, row)}`);
    rows.note(
      `recording on: ${kept.files} recordings held ${kept.dataBytes} of the ${kept.files * bytes} bytes the sessions carried` +
        (kept.gapBytes > 0 ? `; ${kept.gapBytes} bytes were dropped and marked as gaps (the disk fell 8 MiB behind the session)` : ', none dropped'),
    );
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
const RECORDING_SETTLE_MS = 60_000;

/** What the recordings of a row held, over its rounds. */
interface Recorded {
  files: number;
  dataBytes: number;
  gapBytes: number;
}

/** Resolves once every recording in `directory` ends with its end line (a bounded poll: the writer finishes in the background after the session's end). */
async function untilEnded(directory: string): Promise<void> {
  const names = await readdir(directory);
  if (names.length === 0) throw new Error(`no recording in ${directory}`);
  for (const name of names) {
    const deadline = Date.now() + RECORDING_SETTLE_MS;
    while (!(await ended(join(directory, name)))) {
      if (Date.now() > deadline) throw new Error(`${name} had no end line within ${RECORDING_SETTLE_MS / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/**
 * Adds the data and gap bytes of every (ended) recording in `directory` to `recorded` and deletes it.
 * A recording that dropped bytes because the disk fell behind (gap lines) is counted, not failed: the
 * row's note says how much.
 */
async function collectRecordings(directory: string, recorded: Recorded): Promise<void> {
  await untilEnded(directory);
  for (const name of await readdir(directory)) {
    const path = join(directory, name);
    const counts = await countRecorded(path);
    recorded.files += 1;
    recorded.dataBytes += counts.dataBytes;
    recorded.gapBytes += counts.gapBytes;
    await rm(path);
  }
}

/** The recording's last line is its end line. */
async function ended(path: string): Promise<boolean> {
  const { size } = await stat(path);
  const handle = await open(path, 'r');
  try {
    const tail = Buffer.alloc(Math.min(512, size));
    await handle.read(tail, 0, tail.length, size - tail.length);
    return tail.toString('latin1').includes('"end":true');
  } finally {
    await handle.close();
  }
}

/** The raw framing's data bytes (records with `s`, their payloads skipped) and gap bytes, read through once. */
async function countRecorded(path: string): Promise<{ dataBytes: number; gapBytes: number }> {
  const handle = await open(path, 'r');
  const chunk = Buffer.alloc(1024 * 1024);
  let line = '';
  let skip = 0;
  let dataBytes = 0;
  let gapBytes = 0;
  try {
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      let at = 0;
      while (at < bytesRead) {
        if (skip > 0) {
          const take = Math.min(skip, bytesRead - at);
          skip -= take;
          at += take;
          continue;
        }
        const newline = chunk.indexOf(10, at);
        if (newline < 0 || newline >= bytesRead) {
          line += chunk.toString('latin1', at, bytesRead);
          break;
        }
        line += chunk.toString('latin1', at, newline);
        at = newline + 1;
        const record = JSON.parse(line) as { s?: string; gap?: string; n?: number };
        line = '';
        if (typeof record.s === 'string') {
          dataBytes += record.n ?? 0;
          skip = record.n ?? 0;
        } else if (typeof record.gap === 'string') gapBytes += record.n ?? 0;
      }
    }
  } finally {
    await handle.close();
  }
  return { dataBytes, gapBytes };
}
