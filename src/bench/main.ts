import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { directExec, directPortForward, gatewayExec, gatewayPortForward, gatewayTunnelPortForward, TOKEN, type EchoPipe, type ExecSession } from './clients.js';
import { descriptorLimitOf, openDescriptorsOf, PLACEMENT, pinToCpu, rssOf, startGatewayServer, startServer, startSyntheticUpstreamServer, startTcpRelay, type ServerProcess } from './processes.js';
import { ratioChart } from './chart.js';
import { printTable } from './table.js';
import { download, percentile, roundTrips, seconds, upload, writePipelined, type Open } from './transfers.js';

/**
 * `npm run bench`: the gateway path (WebSocket → gateway → SPDY → legacy cluster) measured side by
 * side with the direct path (SPDY → legacy cluster) in one run, on this machine. Gateway and cluster
 * run in processes of their own so the gateway's CPU and memory are its own. A second part does the
 * same against the synthetic upstream (synthetic-upstream.ts), which runs the commands in-process, so
 * the stand-in's processes and pipes are not what is measured; the idle sessions are held there.
 * `--only legacy|synthetic|idle` runs one part.
 */
interface Result {
  name: string;
  unit: string;
  better: 'higher' | 'lower';
  gateway: number;
  direct: number;
  ratio: number;
}

const { values } = parseArgs({
  options: { full: { type: 'boolean' }, json: { type: 'string' }, svg: { type: 'string' }, only: { type: 'string' }, pin: { type: 'boolean' }, repeat: { type: 'string' } },
});
const full = values.full === true;
const pin = values.pin === true;
/** Each transfer is measured this many times, alternating the paths; the median is reported. */
const repeat = Number(values.repeat ?? '3');
if (!Number.isInteger(repeat) || repeat < 1) {
  process.stderr.write(`bench: --repeat takes a whole number ≥ 1, not ${values.repeat}\n`);
  process.exit(2);
}
if (pin && availableParallelism() < 2) {
  process.stderr.write('bench: --pin needs two CPUs (clients and upstream on one, the gateway on the other)\n');
  process.exit(2);
}
const PARTS = ['legacy', 'synthetic', 'idle'] as const;
type Part = (typeof PARTS)[number];
if (values.only !== undefined && !PARTS.includes(values.only as Part)) {
  process.stderr.write(`bench: --only takes one of ${PARTS.join(', ')}, not ${values.only}\n`);
  process.exit(2);
}
const parts: readonly Part[] = values.only ? [values.only as Part] : PARTS;
const MiB = 1024 * 1024;
const sizes = {
  transfer: (full ? 1024 : 256) * MiB,
  roundTrips: full ? 10_000 : 2_000,
  setups: full ? 500 : 100,
  idleSessions: full ? 10_000 : 500,
  /** Sessions streaming at once, and what each downloads. */
  concurrent: 1_000,
  concurrentBytes: (full ? 1024 : 256) * 1024,
  /** Idle sessions being opened at once. */
  idleInFlight: 200,
};
/** Descriptors each process keeps free beyond what the idle sessions take (logs, listeners, stray sockets). */
const DESCRIPTOR_MARGIN = 100;
const progress = (line: string): void => void process.stderr.write(`bench: ${line}\n`);

type Path = 'gateway' | 'direct';
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
  await writePipelined((chunk) => pipe.write(chunk), bytes, 0x63);
  await done;
  const elapsed = seconds(started);
  pipe.close();
  return elapsed;
}

/** Port-forward echoes on both paths, `repeat` times alternating direct and gateway as transfers() does; median seconds. */
async function echoMedians(gateway: () => Promise<EchoPipe>, direct: () => Promise<EchoPipe>, label: string): Promise<Record<Path, number>> {
  const times: Record<Path, number[]> = { direct: [], gateway: [] };
  for (let round = 1; round <= repeat; round++) {
    progress(`port-forward: ${sizes.transfer / MiB} MiB each way through the pod's echo port, ${label} vs direct SPDY, round ${round} of ${repeat}`);
    times.direct.push(await echoThroughput(direct, sizes.transfer));
    times.gateway.push(await echoThroughput(gateway, sizes.transfer));
  }
  return { direct: percentile(times.direct, 50), gateway: percentile(times.gateway, 50) };
}

/**
 * `count` sessions streaming `bytes` each at the same moment: all are opened first (each command
 * waits for a line on stdin), then released together, so set-up queueing is not mistaken for
 * streaming unfairness. Aggregate MiB/s over the streaming wall time; fairness = the slowest
 * session's throughput over the fastest's (1 = perfectly fair). That ratio rests on two sessions, and
 * the fastest is usually one of the first few released, finished before the rest got going (seen on
 * both paths: p10–p90 of completion times within 10 % while the first one took a fifth as long), so
 * the 10th/90th-percentile sessions' ratio is reported too.
 */
async function concurrentDownloads(open: Open, count: number, bytes: number): Promise<{ aggregate: number; fairness: number; fairnessP10P90: number }> {
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
  // Equal bytes per session, so throughput ratios are inverse duration ratios.
  return { aggregate: (count * bytes) / MiB / wall, fairness: Math.min(...durations) / Math.max(...durations), fairnessP10P90: percentile(durations, 10) / percentile(durations, 90) };
}

class Results {
  readonly all: Result[] = [];

  /** A figure measured on both paths; ratio = gateway / direct. */
  compare(name: string, unit: string, better: Result['better'], gatewayValue: number, directValue: number): void {
    this.all.push({ name, unit, better, gateway: round(gatewayValue), direct: round(directValue), ratio: round(gatewayValue / directValue, 3) });
  }

  /** A figure of the gateway alone (no direct counterpart). */
  gatewayOnly(name: string, unit: string, value: number): void {
    this.all.push({ name, unit, better: 'lower', gateway: round(value), direct: 0, ratio: 0 });
  }
}

/**
 * Download and upload on both paths, each measured `repeat` times alternating direct and gateway (the
 * machine's other work then falls on both alike); medians, and the gateway's CPU per pair of transfers.
 */
async function transfers(
  paths: Record<Path, Open>,
  gateway: ServerProcess,
  upstream: ServerProcess,
  label: string,
): Promise<{ downloadGateway: number; downloadDirect: number; uploadGateway: number; uploadDirect: number; gatewayCpu: number; uploadClientCpu: Record<Path, number> }> {
  const transferMiB = sizes.transfer / MiB;
  const upstreamCpu = upstream.cpuSeconds();
  const times = { downloadDirect: [] as number[], downloadGateway: [] as number[], uploadDirect: [] as number[], uploadGateway: [] as number[] };
  let gatewayCpu = 0;
  // The clients run in this process: its CPU during an upload is the client's.
  const uploadClientCpu: Record<Path, number[]> = { direct: [], gateway: [] };
  for (let round = 1; round <= repeat; round++) {
    progress(`download and upload: ${transferMiB} MiB each way, each path (${label}), round ${round} of ${repeat}`);
    times.downloadDirect.push(await download(paths.direct, sizes.transfer));
    let before = gateway.cpuSeconds();
    times.downloadGateway.push(await download(paths.gateway, sizes.transfer));
    gatewayCpu += gateway.cpuSeconds() - before;
    let clientBefore = process.cpuUsage();
    times.uploadDirect.push(await upload(paths.direct, sizes.transfer));
    uploadClientCpu.direct.push(cpuSecondsSince(clientBefore));
    before = gateway.cpuSeconds();
    clientBefore = process.cpuUsage();
    times.uploadGateway.push(await upload(paths.gateway, sizes.transfer));
    uploadClientCpu.gateway.push(cpuSecondsSince(clientBefore));
    gatewayCpu += gateway.cpuSeconds() - before;
  }
  progress(`  the ${label} used ${round(upstream.cpuSeconds() - upstreamCpu)} CPU seconds for the ${4 * repeat} transfers; the gateway ${round(gatewayCpu)} for its ${2 * repeat}`);
  return {
    downloadDirect: percentile(times.downloadDirect, 50),
    downloadGateway: percentile(times.downloadGateway, 50),
    uploadDirect: percentile(times.uploadDirect, 50),
    uploadGateway: percentile(times.uploadGateway, 50),
    gatewayCpu: gatewayCpu / repeat,
    uploadClientCpu: { direct: percentile(uploadClientCpu.direct, 50), gateway: percentile(uploadClientCpu.gateway, 50) },
  };
}

/** 16 MiB each way, unmeasured: the first upload would otherwise also pay for compiling the client's send path. */
async function warmUp(open: Open): Promise<void> {
  await download(open, 16 * MiB);
  await upload(open, 16 * MiB);
}

function cpuSecondsSince(before: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(before);
  return (user + system) / 1e6;
}

/**
 * Round trips, set-up and many sessions streaming at once, on both paths; `suffix` tells the upstream
 * in row names. With `floor` (the direct path through the raw TCP relay), round trips through it too:
 * what one more process on the path adds to a keystroke here before any translation.
 */
async function sessionMeasures(paths: Record<Path, Open>, results: Results, suffix: string, floor?: Open): Promise<void> {
  progress(`latency: ${sizes.roundTrips} one-byte round trips, each path${floor ? ' and through the raw TCP relay' : ''}${suffix}`);
  const rttDirect = await roundTrips(paths.direct, sizes.roundTrips);
  const rttGateway = await roundTrips(paths.gateway, sizes.roundTrips);
  for (const p of [50, 99, 99.9]) results.compare(`round trip p${p}${suffix}`, 'µs', 'lower', percentile(rttGateway, p), percentile(rttDirect, p));
  if (floor) {
    const rttRelay = await roundTrips(floor, sizes.roundTrips);
    for (const p of [50, 99]) results.compare(`round trip p${p}, raw TCP relay instead of the gateway (floor)${suffix}`, 'µs', 'lower', percentile(rttRelay, p), percentile(rttDirect, p));
  }

  progress(`set-up: ${sizes.setups} sessions of "echo x", each path${suffix}`);
  const setupDirect = await setups(paths.direct, sizes.setups);
  const setupGateway = await setups(paths.gateway, sizes.setups);
  for (const p of [50, 99]) results.compare(`set-up to first byte p${p}${suffix}`, 'ms', 'lower', percentile(setupGateway, p), percentile(setupDirect, p));

  progress(`concurrency: ${sizes.concurrent} sessions streaming ${sizes.concurrentBytes / 1024} KiB each at once, each path${suffix}`);
  const manyDirect = await concurrentDownloads(paths.direct, sizes.concurrent, sizes.concurrentBytes);
  const manyGateway = await concurrentDownloads(paths.gateway, sizes.concurrent, sizes.concurrentBytes);
  results.compare(`${sizes.concurrent} concurrent downloads, aggregate${suffix}`, 'MiB/s', 'higher', manyGateway.aggregate, manyDirect.aggregate);
  results.compare(`${sizes.concurrent} concurrent downloads, fairness (slowest/fastest)${suffix}`, 'ratio', 'higher', manyGateway.fairness, manyDirect.fairness);
  results.compare(`${sizes.concurrent} concurrent downloads, fairness (p10/p90 sessions)${suffix}`, 'ratio', 'higher', manyGateway.fairnessP10P90, manyDirect.fairnessP10P90);
}

/** The gateway path against the legacy cluster (real processes per exec), with the floor, port-forward, latency, set-up and concurrency. */
async function legacyPart(results: Results): Promise<void> {
  progress(`starting the legacy cluster and the gateway (${full ? 'full' : 'default'} run)`);
  const cluster = await startServer(['legacy-cluster', '--listen', '127.0.0.1:0', '--token', TOKEN]);
  const gateway = await startGatewayServer(cluster.url);
  const relay = await startTcpRelay(cluster.url);
  place(cluster, [gateway, relay]);
  const paths: Record<Path, Open> = {
    gateway: (command, stdin) => gatewayExec(gateway.url, command, stdin),
    direct: (command, stdin) => directExec(cluster.url, command, stdin),
  };
  const throughRelay: Open = (command, stdin) => directExec(relay.url, command, stdin);

  try {
    const transferMiB = sizes.transfer / MiB;
    // Warm both paths, both ways (JIT, process spawn caches) before measuring.
    for (const path of ['direct', 'gateway'] as const) await warmUp(paths[path]);

    const cpuBefore = gateway.cpuSeconds();
    const moved = await transfers(paths, gateway, cluster, 'legacy cluster');
    results.compare('download throughput', 'MiB/s', 'higher', transferMiB / moved.downloadGateway, transferMiB / moved.downloadDirect);
    results.compare('upload throughput', 'MiB/s', 'higher', transferMiB / moved.uploadGateway, transferMiB / moved.uploadDirect);
    compareUploadClients(results, moved.uploadClientCpu, '');

    // The floor: the direct SPDY path through a process that only copies bytes. Its ratio is what any
    // extra process on the path costs here; the gateway's ratio is read against it.
    progress(`floor: ${transferMiB} MiB each way, direct SPDY through a raw TCP relay process vs direct`);
    const downloadRelay = await download(throughRelay, sizes.transfer);
    results.compare('download, raw TCP relay instead of the gateway (floor)', 'MiB/s', 'higher', transferMiB / downloadRelay, transferMiB / moved.downloadDirect);
    const uploadRelay = await upload(throughRelay, sizes.transfer);
    results.compare('upload, raw TCP relay instead of the gateway (floor)', 'MiB/s', 'higher', transferMiB / uploadRelay, transferMiB / moved.uploadDirect);

    const forward = await echoMedians(() => gatewayPortForward(gateway.url, 7), () => directPortForward(cluster.url, 7), 'the channel protocol');
    results.compare('port-forward throughput, each way (channels)', 'MiB/s', 'higher', transferMiB / forward.gateway, transferMiB / forward.direct);
    const tunnel = await echoMedians(() => gatewayTunnelPortForward(gateway.url, 7), () => directPortForward(cluster.url, 7), 'the tunnel, SPDY/3.1+portforward.k8s.io relayed');
    results.compare('port-forward throughput, each way (tunnel)', 'MiB/s', 'higher', transferMiB / tunnel.gateway, transferMiB / tunnel.direct);

    await sessionMeasures(paths, results, '', throughRelay);

    results.gatewayOnly('gateway CPU per GiB moved (download+upload)', 's/GiB', moved.gatewayCpu / ((2 * sizes.transfer) / (1024 * MiB)));
    results.gatewayOnly('gateway RSS after the run', 'MiB', rssOf(gateway.pid) / MiB);
    progress(`gateway used ${round(gateway.cpuSeconds() - cpuBefore)} CPU seconds in all`);
  } finally {
    await gateway.stop();
    await relay.stop();
    await cluster.stop();
  }
}

/**
 * Download, upload, round trips, set-up and many sessions at once against the synthetic upstream,
 * which spawns nothing: the gateway path (client → gateway → synthetic upstream) vs the direct one
 * (client → synthetic upstream). Without a process per exec on either path, what is left of the
 * difference is the gateway's.
 */
async function syntheticPart(results: Results): Promise<void> {
  progress('starting the synthetic upstream and a gateway in front of it');
  const synthetic = await startSyntheticUpstreamServer();
  const gateway = await startGatewayServer(synthetic.url);
  place(synthetic, [gateway]);
  const paths: Record<Path, Open> = {
    gateway: (command, stdin) => gatewayExec(gateway.url, command, stdin),
    direct: (command, stdin) => directExec(synthetic.url, command, stdin),
  };
  try {
    const transferMiB = sizes.transfer / MiB;
    for (const path of ['direct', 'gateway'] as const) await warmUp(paths[path]);
    const moved = await transfers(paths, gateway, synthetic, 'synthetic upstream');
    results.compare('download throughput (synthetic upstream)', 'MiB/s', 'higher', transferMiB / moved.downloadGateway, transferMiB / moved.downloadDirect);
    results.compare('upload throughput (synthetic upstream)', 'MiB/s', 'higher', transferMiB / moved.uploadGateway, transferMiB / moved.uploadDirect);
    compareUploadClients(results, moved.uploadClientCpu, ' (synthetic upstream)');
    results.gatewayOnly('gateway CPU per GiB moved, synthetic upstream', 's/GiB', moved.gatewayCpu / ((2 * sizes.transfer) / (1024 * MiB)));
    await sessionMeasures(paths, results, ' (synthetic upstream)');
  } finally {
    await gateway.stop();
    await synthetic.stop();
  }
}

/**
 * The client's CPU per GiB uploaded, WebSocket against SPDY: a WebSocket client copies and masks every
 * byte it sends (RFC 6455 §5.3), a SPDY client neither; and under `--pin` its writes wake the gateway
 * on the other CPU while the direct client's wake the upstream on its own, cross-CPU wake-ups this VM
 * charges to the writer's system time. The client shares its CPU with the upstream, so this — not the
 * gateway — can be what holds an upload's ratio down.
 */
function compareUploadClients(results: Results, cpu: Record<Path, number>, suffix: string): void {
  const gib = sizes.transfer / (1024 * MiB);
  results.compare(`client CPU per GiB uploaded${suffix}`, 's/GiB', 'lower', cpu.gateway / gib, cpu.direct / gib);
}

/** With `--pin`: the upstream on the clients' CPU, the hops (gateway, relay) on the other (processes.ts PLACEMENT). */
function place(upstream: ServerProcess, hops: ServerProcess[]): void {
  if (!pin) return;
  pinToCpu(upstream.pid, PLACEMENT.clientsAndUpstream);
  for (const hop of hops) pinToCpu(hop.pid, PLACEMENT.hop);
}

/** A process that holds `perSession` descriptors for each idle session. */
interface DescriptorBudget {
  name: string;
  pid: number | 'self';
  perSession: number;
}

/**
 * How many of `requested` sessions every process can hold within its open-files limit, keeping a
 * margin; `limitedBy` names the process and limit that set the count when it is below `requested`.
 */
function sessionsThatFit(requested: number, budgets: DescriptorBudget[]): { count: number; limitedBy?: string } {
  let count = requested;
  let limitedBy: string | undefined;
  for (const budget of budgets) {
    const limit = descriptorLimitOf(budget.pid);
    const open = openDescriptorsOf(budget.pid);
    const fits = Math.floor((limit - open - DESCRIPTOR_MARGIN) / budget.perSession);
    progress(`  ${budget.name}: ${open} descriptors open, limit ${limit}, ${budget.perSession} per session → room for ${fits.toLocaleString('en-US')}`);
    if (fits < count) {
      count = fits;
      limitedBy = `${budget.name} fd limit ${limit.toLocaleString('en-US')}`;
    }
  }
  return { count: Math.max(0, count), ...(limitedBy ? { limitedBy } : {}) };
}

/** Waits (10 ms polls, at most 10 s) until a process has no more descriptors open than `baseline`. */
async function descriptorsBackTo(pid: number, baseline: number): Promise<void> {
  for (const deadline = Date.now() + 10_000; openDescriptorsOf(pid) > baseline; ) {
    if (Date.now() > deadline) throw new Error(`process ${pid} still has ${openDescriptorsOf(pid)} descriptors open, ${baseline} before`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Opens `count` sessions, at most `inFlight` being set up at once, reporting every 1,000. */
async function openMany(count: number, inFlight: number, open: () => Promise<ExecSession>): Promise<ExecSession[]> {
  const sessions: ExecSession[] = [];
  let started = 0;
  const opener = async (): Promise<void> => {
    while (started < count) {
      started += 1;
      sessions.push(await open());
      if (sessions.length % 1000 === 0) progress(`  ${sessions.length.toLocaleString('en-US')} open`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, opener));
  return sessions;
}

/**
 * Idle exec sessions (`cat`, stdin open) held through a gateway in front of the synthetic upstream.
 * The gateway is fresh and serves nothing else, so the RSS delta is the sessions' (after 200 sessions
 * opened and closed first, so compiling the path is not counted). As many as requested, unless a
 * descriptor limit says otherwise: the gateway holds two per session (client and upstream socket),
 * this process and the upstream one each.
 */
async function idlePart(results: Results): Promise<void> {
  progress('starting the synthetic upstream and a fresh gateway for the idle sessions');
  const synthetic = await startSyntheticUpstreamServer();
  const gateway = await startGatewayServer(synthetic.url);
  place(synthetic, [gateway]);
  const open = (): Promise<ExecSession> => gatewayExec(gateway.url, ['cat'], true);
  const release = async (sessions: ExecSession[]): Promise<void> => {
    for (const session of sessions) session.endStdin();
    await Promise.all(sessions.map((session) => session.finished));
  };
  try {
    const baseline = openDescriptorsOf(gateway.pid);
    await release(await openMany(200, sizes.idleInFlight, open));
    // The client sees its close before the gateway has closed its upstream sockets: wait for them.
    await descriptorsBackTo(gateway.pid, baseline);
    const { count, limitedBy } = sessionsThatFit(sizes.idleSessions, [
      { name: 'gateway', pid: gateway.pid, perSession: 2 },
      { name: 'bench', pid: 'self', perSession: 1 },
      { name: 'synthetic upstream', pid: synthetic.pid, perSession: 1 },
    ]);
    if (limitedBy) progress(`idle: holding ${count.toLocaleString('en-US')} of the ${sizes.idleSessions.toLocaleString('en-US')} sessions asked for: the ${limitedBy} leaves no room for more (margin ${DESCRIPTOR_MARGIN})`);
    progress(`idle: ${count.toLocaleString('en-US')} concurrent exec sessions held open through the gateway (${sizes.idleInFlight} opening at once)`);
    const rssBefore = rssOf(gateway.pid);
    const descriptorsBefore = openDescriptorsOf(gateway.pid);
    const idle = await openMany(count, sizes.idleInFlight, open);
    const rssHeld = rssOf(gateway.pid);
    progress(`  gateway descriptors: ${descriptorsBefore} before, ${openDescriptorsOf(gateway.pid)} holding them; RSS ${round(rssBefore / MiB)} → ${round(rssHeld / MiB)} MiB`);
    const idleCpuStart = gateway.cpuSeconds();
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const idleCpu = gateway.cpuSeconds() - idleCpuStart;
    await release(idle);
    const held = `${count.toLocaleString('en-US')} held${limitedBy ? `; ${limitedBy}` : ''}`;
    results.gatewayOnly(`gateway memory per idle session (${held})`, 'KiB', (rssHeld - rssBefore) / count / 1024);
    results.gatewayOnly('gateway CPU while they idle', '% of a core', (idleCpu / 2) * 100);
  } finally {
    await gateway.stop();
    await synthetic.stop();
  }
}

async function main(): Promise<void> {
  const results = new Results();
  if (pin) {
    pinToCpu('self', PLACEMENT.clientsAndUpstream);
    progress(`pinned: clients and upstream on CPU ${PLACEMENT.clientsAndUpstream}, the gateway (and the relay) on CPU ${PLACEMENT.hop}`);
  }
  if (parts.includes('legacy')) await legacyPart(results);
  if (parts.includes('synthetic')) await syntheticPart(results);
  if (parts.includes('idle')) await idlePart(results);

  printResults(results.all);
  if (values.json) await writeFile(values.json, JSON.stringify(results.all, null, 2) + '\n');
  if (values.svg) {
    const compared = results.all.filter((result) => result.ratio > 0);
    await writeFile(values.svg, ratioChart(compared, `kube-stream-gateway: gateway / direct SPDY (${full ? 'full' : 'default'} run${pin ? ', gateway on its own CPU' : ''}, ${new Date().toISOString().slice(0, 10)})`));
  }
}

function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

function printResults(results: Result[]): void {
  const rows = [['measure', 'unit', 'gateway', 'direct', 'gateway/direct'], ...results.map((r) => [r.name, r.unit, String(r.gateway), r.direct ? String(r.direct) : '—', r.ratio ? r.ratio.toFixed(3) : '—'])];
  printTable(rows, { rule: true });
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
