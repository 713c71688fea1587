import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { directExec, directPortForward, gatewayExec, gatewayPortForward, gatewayTunnelPortForward, TOKEN, type EchoPipe, type ExecSession } from './clients.js';
import { rssOf, startGatewayServer, startServer, startTcpRelay } from './processes.js';
import { ratioChart } from './chart.js';

/**
 * `npm run bench`: the gateway path (WebSocket → gateway → SPDY → legacy cluster) measured side by
 * side with the direct path (SPDY → legacy cluster) in one run, on this machine. Gateway and cluster
 * run in processes of their own so the gateway's CPU and memory are its own.
 */
interface Result {
  name: string;
  unit: string;
  better: 'higher' | 'lower';
  gateway: number;
  direct: number;
  ratio: number;
}

const { values } = parseArgs({ options: { full: { type: 'boolean' }, json: { type: 'string' }, svg: { type: 'string' } } });
const full = values.full === true;
const MiB = 1024 * 1024;
const sizes = {
  transfer: (full ? 1024 : 256) * MiB,
  roundTrips: full ? 10_000 : 2_000,
  setups: full ? 500 : 100,
  idleSessions: full ? 10_000 : 500,
  /** Sessions streaming at once, and what each downloads. */
  concurrent: 1_000,
  concurrentBytes: (full ? 1024 : 256) * 1024,
};
const progress = (line: string): void => void process.stderr.write(`bench: ${line}\n`);

type Path = 'gateway' | 'direct';
type Open = (command: string[], stdin: boolean) => Promise<ExecSession>;

async function download(open: Open, bytes: number): Promise<number> {
  const started = process.hrtime.bigint();
  const session = await open(['head', '-c', String(bytes), '/dev/zero'], false);
  let received = 0;
  session.onStdout((chunk) => (received += chunk.length));
  await session.finished;
  if (received !== bytes) throw new Error(`download: got ${received} of ${bytes} bytes`);
  return seconds(started);
}

async function upload(open: Open, bytes: number): Promise<number> {
  const started = process.hrtime.bigint();
  const session = await open(['sh', '-c', 'cat > /dev/null'], true);
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  // Up to 1 MiB in flight on either path: the same pipelining for both transports.
  const pending: Array<Promise<void>> = [];
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    pending.push(session.write(chunk));
    if (pending.length >= 16) await pending.shift();
  }
  await Promise.all(pending);
  session.endStdin();
  await session.finished;
  return seconds(started);
}

/** 1-byte round trips through `cat`: returns each round trip in microseconds. */
async function roundTrips(open: Open, count: number): Promise<number[]> {
  const session = await open(['cat'], true);
  const samples: number[] = [];
  let resolveEcho: (() => void) | undefined;
  session.onStdout(() => resolveEcho?.());
  const byte = Buffer.from('x');
  for (let i = 0; i < count; i++) {
    const echoed = new Promise<void>((resolve) => (resolveEcho = resolve));
    const started = process.hrtime.bigint();
    await session.write(byte);
    await echoed;
    samples.push(Number(process.hrtime.bigint() - started) / 1000);
  }
  session.endStdin();
  await session.finished;
  return samples;
}

/** From starting the upgrade to the first stdout byte of `echo x`, in milliseconds. */
async function setups(open: Open, count: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = process.hrtime.bigint();
    const session = await open(['echo', 'x'], false);
    await new Promise<void>((resolve) => session.onStdout(() => resolve()));
    samples.push(Number(process.hrtime.bigint() - started) / 1e6);
    await session.finished;
  }
  return samples;
}

/** `bytes` through the pod's echo port and back, both directions at once; returns seconds. */
async function echoThroughput(open: () => Promise<EchoPipe>, bytes: number): Promise<number> {
  const pipe = await open();
  const started = process.hrtime.bigint();
  let received = 0;
  const done = new Promise<void>((resolve) =>
    pipe.onData((chunk) => {
      received += chunk.length;
      if (received >= bytes) resolve();
    }),
  );
  const chunk = Buffer.alloc(64 * 1024, 0x63);
  const pending: Array<Promise<void>> = [];
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    pending.push(pipe.write(chunk));
    if (pending.length >= 16) await pending.shift();
  }
  await Promise.all(pending);
  await done;
  const elapsed = seconds(started);
  pipe.close();
  return elapsed;
}

/**
 * `count` sessions streaming `bytes` each at the same moment: all are opened first (each command
 * waits for a line on stdin), then released together, so set-up queueing is not mistaken for
 * streaming unfairness. Aggregate MiB/s over the streaming wall time; fairness = the slowest
 * session's throughput over the fastest's (1 = perfectly fair).
 */
async function concurrentDownloads(open: Open, count: number, bytes: number): Promise<{ aggregate: number; fairness: number }> {
  const sessions = await Promise.all(Array.from({ length: count }, () => open(['sh', '-c', `read go; exec head -c ${bytes} /dev/zero`], true)));
  const received = sessions.map(() => 0);
  sessions.forEach((session, index) => session.onStdout((chunk) => (received[index]! += chunk.length)));
  const started = process.hrtime.bigint();
  const durations = await Promise.all(
    sessions.map(async (session, index) => {
      await session.write(Buffer.from('go\n'));
      await session.finished;
      if (received[index] !== bytes) throw new Error(`concurrent download: got ${received[index]} of ${bytes} bytes`);
      return seconds(started);
    }),
  );
  const wall = seconds(started);
  return { aggregate: (count * bytes) / MiB / wall, fairness: Math.min(...durations) / Math.max(...durations) };
}

function seconds(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  progress(`starting the legacy cluster and the gateway (${full ? 'full' : 'default'} run)`);
  const cluster = await startServer(['legacy-cluster', '--listen', '127.0.0.1:0', '--token', TOKEN]);
  const gateway = await startGatewayServer(cluster.url);
  const relay = await startTcpRelay(cluster.url);
  const paths: Record<Path, Open> = {
    gateway: (command, stdin) => gatewayExec(gateway.url, command, stdin),
    direct: (command, stdin) => directExec(cluster.url, command, stdin),
  };
  const throughRelay: Open = (command, stdin) => directExec(relay.url, command, stdin);
  const results: Result[] = [];
  const add = (name: string, unit: string, better: Result['better'], gatewayValue: number, directValue: number): void => {
    results.push({ name, unit, better, gateway: round(gatewayValue), direct: round(directValue), ratio: round(gatewayValue / directValue, 3) });
  };

  try {
    const transferMiB = sizes.transfer / MiB;
    // Warm both paths (JIT, process spawn caches) before measuring.
    for (const path of ['direct', 'gateway'] as const) await download(paths[path], 16 * MiB);

    const cpuBefore = gateway.cpuSeconds();
    progress(`download: ${transferMiB} MiB of stdout, each path`);
    const downloadDirect = await download(paths.direct, sizes.transfer);
    const downloadGatewayCpu = gateway.cpuSeconds();
    const downloadGateway = await download(paths.gateway, sizes.transfer);
    const downloadCpu = gateway.cpuSeconds() - downloadGatewayCpu;
    add('download throughput', 'MiB/s', 'higher', transferMiB / downloadGateway, transferMiB / downloadDirect);

    progress(`upload: ${transferMiB} MiB of stdin into cat > /dev/null, each path`);
    const uploadDirect = await upload(paths.direct, sizes.transfer);
    const uploadGatewayCpu = gateway.cpuSeconds();
    const uploadGateway = await upload(paths.gateway, sizes.transfer);
    const uploadCpu = gateway.cpuSeconds() - uploadGatewayCpu;
    add('upload throughput', 'MiB/s', 'higher', transferMiB / uploadGateway, transferMiB / uploadDirect);

    // The floor: the direct SPDY path through a process that only copies bytes. Its ratio is what any
    // extra process on the path costs here; the gateway's ratio is read against it.
    progress(`floor: ${transferMiB} MiB each way, direct SPDY through a raw TCP relay process vs direct`);
    const downloadRelay = await download(throughRelay, sizes.transfer);
    add('download, raw TCP relay instead of the gateway (floor)', 'MiB/s', 'higher', transferMiB / downloadRelay, transferMiB / downloadDirect);
    const uploadRelay = await upload(throughRelay, sizes.transfer);
    add('upload, raw TCP relay instead of the gateway (floor)', 'MiB/s', 'higher', transferMiB / uploadRelay, transferMiB / uploadDirect);

    progress(`port-forward: ${transferMiB} MiB each way through the pod's echo port (channel protocol vs direct SPDY)`);
    const forwardDirect = await echoThroughput(() => directPortForward(cluster.url, 7), sizes.transfer);
    const forwardGateway = await echoThroughput(() => gatewayPortForward(gateway.url, 7), sizes.transfer);
    add('port-forward throughput, each way (channels)', 'MiB/s', 'higher', transferMiB / forwardGateway, transferMiB / forwardDirect);

    progress(`port-forward: ${transferMiB} MiB each way through the tunnel (SPDY/3.1+portforward.k8s.io, relayed) vs direct SPDY`);
    const tunnelDirect = await echoThroughput(() => directPortForward(cluster.url, 7), sizes.transfer);
    const tunnelGateway = await echoThroughput(() => gatewayTunnelPortForward(gateway.url, 7), sizes.transfer);
    add('port-forward throughput, each way (tunnel)', 'MiB/s', 'higher', transferMiB / tunnelGateway, transferMiB / tunnelDirect);

    progress(`latency: ${sizes.roundTrips} one-byte round trips, each path`);
    const rttDirect = await roundTrips(paths.direct, sizes.roundTrips);
    const rttGateway = await roundTrips(paths.gateway, sizes.roundTrips);
    for (const p of [50, 99, 99.9]) add(`round trip p${p}`, 'µs', 'lower', percentile(rttGateway, p), percentile(rttDirect, p));

    progress(`set-up: ${sizes.setups} sessions of "echo x", each path`);
    const setupDirect = await setups(paths.direct, sizes.setups);
    const setupGateway = await setups(paths.gateway, sizes.setups);
    for (const p of [50, 99]) add(`set-up to first byte p${p}`, 'ms', 'lower', percentile(setupGateway, p), percentile(setupDirect, p));

    progress(`concurrency: ${sizes.concurrent} sessions streaming ${sizes.concurrentBytes / 1024} KiB each at once, each path`);
    const manyDirect = await concurrentDownloads(paths.direct, sizes.concurrent, sizes.concurrentBytes);
    const manyGateway = await concurrentDownloads(paths.gateway, sizes.concurrent, sizes.concurrentBytes);
    add(`${sizes.concurrent} concurrent downloads, aggregate`, 'MiB/s', 'higher', manyGateway.aggregate, manyDirect.aggregate);
    add(`${sizes.concurrent} concurrent downloads, fairness (slowest/fastest)`, 'ratio', 'higher', manyGateway.fairness, manyDirect.fairness);

    progress(`idle: ${sizes.idleSessions} concurrent exec sessions held open through the gateway`);
    const rssBefore = rssOf(gateway.pid);
    const idle: ExecSession[] = [];
    for (let i = 0; i < sizes.idleSessions; i++) {
      idle.push(await paths.gateway(['cat'], true));
      if ((i + 1) % 1000 === 0) progress(`  ${i + 1} open`);
    }
    const rssHeld = rssOf(gateway.pid);
    const idleCpuStart = gateway.cpuSeconds();
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const idleCpu = gateway.cpuSeconds() - idleCpuStart;
    for (const session of idle) session.endStdin();
    await Promise.all(idle.map((session) => session.finished));
    results.push({ name: `gateway memory per idle session (${sizes.idleSessions} held)`, unit: 'KiB', better: 'lower', gateway: round((rssHeld - rssBefore) / sizes.idleSessions / 1024), direct: 0, ratio: 0 });
    results.push({ name: 'gateway CPU while they idle', unit: '% of a core', better: 'lower', gateway: round((idleCpu / 2) * 100), direct: 0, ratio: 0 });

    const gib = (2 * sizes.transfer) / (1024 * MiB);
    results.push({ name: 'gateway CPU per GiB moved (download+upload)', unit: 's/GiB', better: 'lower', gateway: round((downloadCpu + uploadCpu) / gib), direct: 0, ratio: 0 });
    results.push({ name: 'gateway RSS after the run', unit: 'MiB', better: 'lower', gateway: round(rssOf(gateway.pid) / MiB), direct: 0, ratio: 0 });
    progress(`gateway used ${round(gateway.cpuSeconds() - cpuBefore)} CPU seconds in all`);
  } finally {
    await gateway.stop();
    await relay.stop();
    await cluster.stop();
  }

  printTable(results);
  if (values.json) await writeFile(values.json, JSON.stringify(results, null, 2) + '\n');
  if (values.svg) {
    const compared = results.filter((result) => result.ratio > 0);
    await writeFile(values.svg, ratioChart(compared, `kube-stream-gateway: gateway / direct SPDY (${full ? 'full' : 'default'} run, ${new Date().toISOString().slice(0, 10)})`));
  }
}

function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

function printTable(results: Result[]): void {
  const rows = [['measure', 'unit', 'gateway', 'direct', 'gateway/direct'], ...results.map((r) => [r.name, r.unit, String(r.gateway), r.direct ? String(r.direct) : '—', r.ratio ? r.ratio.toFixed(3) : '—'])];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const [index, row] of rows.entries()) {
    process.stdout.write(row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ') + '\n');
    if (index === 0) process.stdout.write(widths.map((width) => '-'.repeat(width)).join('  ') + '\n');
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
