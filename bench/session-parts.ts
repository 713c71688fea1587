import type { ExecSession } from './clients.js';
import type { Bench } from './context.js';
import { setup, warmUp } from './exec-rows.js';
import { alternate, descriptorsBackTo } from './gateway-watch.js';
import { descriptorLimitOf, openDescriptorsOf, rssOf } from './processes.js';
import { startBenchStack, type BenchStack } from './stacks.js';
import { round, spread, type PartRows } from './results.js';
import { atLeast, atMost, perGiBTargets, TARGETS } from './targets.js';
import { percentile, seconds, type Open } from './transfers.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** A synthetic upstream and a fresh gateway in front of it, with the bench's clients on both paths (no floor). */
const syntheticStack = (bench: Bench): Promise<BenchStack> => startBenchStack(bench, 'synthetic', false);

/** Opens `count` sessions, at most `inFlight` being set up at once, reporting every 1,000. */
async function openMany(count: number, inFlight: number, open: () => Promise<ExecSession>, say: (line: string) => void): Promise<ExecSession[]> {
  const sessions: ExecSession[] = [];
  let started = 0;
  const opener = async (): Promise<void> => {
    while (started < count) {
      started += 1;
      sessions.push(await open());
      if (sessions.length % 1000 === 0) say(`  ${sessions.length.toLocaleString('en-US')} open`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, opener));
  return sessions;
}

interface Streamed {
  mibPerSecond: number;
  /** Throughput of the 10th-percentile session over the 90th's (1 = all alike). */
  fairness: number;
}

/**
 * `count` sessions streaming `bytes` each at the same moment: all are opened first (each command
 * waits for a line on stdin; at most `inFlight` dialling at once), then released together, so set-up
 * queueing is not mistaken for streaming unfairness. Aggregate MiB/s over the streaming wall time;
 * fairness from the 10th/90th-percentile sessions' completion times (the slowest/fastest ratio rests
 * on the one session released first, finished before the rest got going). `onRelease` runs just
 * before the release, so that the gateway's CPU is read over the streaming only.
 */
async function streamTogether(open: Open, count: number, bytes: number, inFlight: number, say: (line: string) => void, onRelease?: () => void): Promise<Streamed> {
  const sessions = await openMany(count, inFlight, () => open(['sh', '-c', `read go; exec head -c ${bytes} /dev/zero`], true), say);
  const received = sessions.map(() => 0);
  sessions.forEach((session, index) => session.onStdout((chunk) => (received[index]! += chunk.length)));
  onRelease?.();
  const started = process.hrtime.bigint();
  const durations = await Promise.all(
    sessions.map(async (session, index) => {
      await session.write(Buffer.from('go\n'));
      await session.finished;
      if (received[index] !== bytes) throw new Error(`${count} sessions at once: one got ${received[index]} of ${bytes} bytes`);
      return seconds(started);
    }),
  );
  const wall = seconds(started);
  return { mibPerSecond: (count * bytes) / MiB / wall, fairness: percentile(durations, 10) / percentile(durations, 90) };
}

/**
 * The concurrency curve: 1, 10, 100 and 1,000 sessions streaming at once through the gateway, through
 * the floor's relay and directly, against the synthetic upstream (which spawns nothing, so the curve is
 * the gateway's and not the stand-in's process table). Each point moves the same bytes in all; the
 * gateway's and the relay's CPU per GiB are read over the streaming only (set-up is the arrival
 * part's), and the gateway's set against one session's.
 */
export async function concurrencyPart(bench: Bench, rows: PartRows): Promise<void> {
  const stack = await startBenchStack(bench, 'synthetic', true);
  const relay = stack.relay!;
  const errors: string[] = [];
  try {
    await warmUp(stack.paths, bench.sizes.warmUp);
    let oneSessionCpu: number | undefined;
    for (const count of bench.sizes.curve) {
      try {
        const bytes = Math.max(64 * 1024, Math.floor(bench.sizes.curveBytes / count));
        const results: Record<'gateway' | 'floor' | 'direct', Streamed[]> = { gateway: [], floor: [], direct: [] };
        const cpu: number[] = [];
        const gcs: number[] = [];
        const floorCpu: number[] = [];
        const floorGcs: number[] = [];
        for (let round = 1; round <= bench.repeat; round++) {
          bench.say(`concurrency: ${count} sessions streaming ${round < 2 ? `${(bytes / 1024).toFixed(0)} KiB each ` : ''}at once, round ${round} of ${bench.repeat}`);
          for (const path of round % 2 ? (['direct', 'floor', 'gateway'] as const) : (['gateway', 'floor', 'direct'] as const)) {
            if (path === 'direct') {
              results.direct.push(await streamTogether(stack.paths.direct, count, bytes, bench.sizes.inFlight, bench.say));
              continue;
            }
            if (path === 'floor') {
              const descriptors = openDescriptorsOf(relay.pid);
              let cpuAtRelease = 0;
              let gcsAtRelease = 0;
              results.floor.push(
                await streamTogether(stack.paths.floor!, count, bytes, bench.sizes.inFlight, bench.say, () => {
                  cpuAtRelease = relay.cpuSeconds();
                  gcsAtRelease = relay.fullGcs();
                }),
              );
              await descriptorsBackTo(relay.pid, descriptors);
              floorCpu.push((relay.cpuSeconds() - cpuAtRelease) / ((count * bytes) / GiB));
              floorGcs.push((relay.fullGcs() - gcsAtRelease) / ((count * bytes) / GiB));
              continue;
            }
            const mark = stack.watch.mark();
            let cpuAtRelease = 0;
            let gcsAtRelease = 0;
            results.gateway.push(
              await streamTogether(stack.paths.gateway, count, bytes, bench.sizes.inFlight, bench.say, () => {
                cpuAtRelease = stack.gateway.cpuSeconds();
                gcsAtRelease = stack.gateway.fullGcs();
              }),
            );
            await stack.watch.untilEnded(mark, count);
            cpu.push((stack.gateway.cpuSeconds() - cpuAtRelease) / ((count * bytes) / GiB));
            gcs.push((stack.gateway.fullGcs() - gcsAtRelease) / ((count * bytes) / GiB));
          }
        }
        const cpuSpread = spread(cpu);
        const gcSpread = spread(gcs);
        if (count === 1) oneSessionCpu = cpuSpread.median;
        const targets = perGiBTargets(cpuSpread, gcSpread);
        if (count > 1 && oneSessionCpu !== undefined) targets.push(atMost("CPU/GiB against one session's", TARGETS.concurrencyCpuRatio, round(cpuSpread.median / oneSessionCpu, 3), '×'));
        rows.add({
          name: `${count.toLocaleString('en-US')} session${count > 1 ? 's' : ''} streaming at once (${(bytes / 1024).toFixed(0)} KiB each), aggregate`,
          unit: 'MiB/s',
          better: 'higher',
          gateway: spread(results.gateway.map((r) => r.mibPerSecond)),
          floor: spread(results.floor.map((r) => r.mibPerSecond)),
          direct: spread(results.direct.map((r) => r.mibPerSecond)),
          gatewayCpuPerGiB: cpuSpread,
          floorCpuPerGiB: spread(floorCpu),
          fullGcsPerGiB: gcSpread,
          floorFullGcsPerGiB: spread(floorGcs),
          targets,
        });
        if (count > 1) {
          const fairness = spread(results.gateway.map((r) => r.fairness));
          rows.add({
            name: `${count.toLocaleString('en-US')} sessions streaming at once, fairness (p10/p90 sessions)`,
            unit: 'ratio',
            better: 'higher',
            gateway: fairness,
            floor: spread(results.floor.map((r) => r.fairness)),
            direct: spread(results.direct.map((r) => r.fairness)),
            targets: [atLeast('fairness', TARGETS.fairnessP10P90, fairness)],
          });
        }
      } catch (error) {
        errors.push(`${count} sessions: ${(error as Error).message}`);
        rows.note(`${count} sessions at once: FAILED — ${(error as Error).message}`);
      }
    }
  } finally {
    await stack.stop();
  }
  if (errors.length) throw new Error(`${errors.length} curve point(s) failed: ${errors.join('; ')}`);
}

/**
 * Sessions arriving at a steady rate (open loop: the next one starts on time whether or not the last
 * is done), each `echo x`: set-up latency to the first byte and the gateway's CPU per session, against
 * the synthetic upstream. Returns each session's milliseconds.
 */
async function arrivals(open: Open, rate: number, seconds: number): Promise<number[]> {
  const count = Math.round(rate * seconds);
  const started = Date.now();
  const sessions: Array<Promise<number>> = [];
  for (let i = 0; i < count; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    sessions.push(setup(open));
  }
  return Promise.all(sessions);
}

export async function arrivalPart(bench: Bench, rows: PartRows): Promise<void> {
  const stack = await syntheticStack(bench);
  const { arrivalRate: rate, arrivalSeconds } = bench.sizes;
  const count = Math.round(rate * arrivalSeconds);
  try {
    await warmUp(stack.paths, bench.sizes.warmUp);
    const measured = await alternate(bench.repeat, { gateway: () => arrivals(stack.paths.gateway, rate, arrivalSeconds), direct: () => arrivals(stack.paths.direct, rate, arrivalSeconds) }, stack.watch, count, (round) =>
      bench.say(`arrival: ${rate} sessions/s for ${arrivalSeconds} s, each path, round ${round} of ${bench.repeat}`),
    );
    const at = (p: number): { gateway: ReturnType<typeof spread>; direct: ReturnType<typeof spread> } => ({
      gateway: spread(measured.results.gateway!.map((samples) => percentile(samples, p))),
      direct: spread(measured.results.direct!.map((samples) => percentile(samples, p))),
    });
    const p50 = at(50);
    rows.add({ name: `set-up to first byte p50, ${rate} sessions/s arriving`, unit: 'ms', better: 'lower', ...p50, targets: [atMost('added (gateway − direct medians)', TARGETS.setupAddedP50Ms, round(p50.gateway.median - p50.direct.median), ' ms')] });
    rows.add({ name: `set-up to first byte p99, ${rate} sessions/s arriving`, unit: 'ms', better: 'lower', ...at(99) });
    const cpuMs = spread(measured.gatewayCpu.map((cpu) => (cpu * 1000) / count));
    rows.add({ name: `gateway CPU per session, ${rate} sessions/s arriving`, unit: 'ms', better: 'lower', gateway: cpuMs, targets: [atMost('CPU per session', TARGETS.setupCpuMs, cpuMs, ' ms')] });
  } finally {
    await stack.stop();
  }
}

/** Descriptors each process keeps free beyond what the idle sessions take (logs, listeners, stray sockets). */
const DESCRIPTOR_MARGIN = 100;

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
    const fits = Math.floor((limit - openDescriptorsOf(budget.pid) - DESCRIPTOR_MARGIN) / budget.perSession);
    if (fits < count) {
      count = fits;
      limitedBy = `${budget.name} fd limit ${limit.toLocaleString('en-US')}`;
    }
  }
  return { count: Math.max(0, count), ...(limitedBy ? { limitedBy } : {}) };
}

/**
 * Idle exec sessions (`cat`, stdin open) held through a fresh gateway in front of the synthetic
 * upstream, a fresh stack each round, so the RSS delta is the sessions' (after `idleWarmUp` sessions
 * opened and closed first, so compiling the path is not counted); then as many held through the
 * floor's relay (TLS accepted, TLS dialled, nothing else), its RSS delta the floor — what two idle TLS
 * connections cost a Node process before any gateway work. The two alternate which goes first. As
 * many as asked for, unless a descriptor limit says otherwise: the gateway and the relay hold two per
 * session, this process and the upstream one each. At most `IDLE_ROUNDS` rounds: each holds twice
 * 10,000 sessions and takes minutes, and RSS per session moves by about 1 % between rounds.
 */
const IDLE_ROUNDS = 3;

export async function idlePart(bench: Bench, rows: PartRows): Promise<void> {
  const memory: Record<'gateway' | 'floor', number[]> = { gateway: [], floor: [] };
  const idleCpu: Record<'gateway' | 'floor', number[]> = { gateway: [], floor: [] };
  let held = '';
  const rounds = Math.min(bench.repeat, IDLE_ROUNDS);
  for (let round = 1; round <= rounds; round++) {
    const stack = await startBenchStack(bench, 'synthetic', true);
    const relay = stack.relay!;
    try {
      const hops = { gateway: { process: stack.gateway, open: stack.paths.gateway }, floor: { process: relay, open: stack.paths.floor! } };
      const upstream = stack.upstream.pid;
      for (const hop of Object.values(hops)) await holdIdle([hop.process.pid, upstream], () => hop.open(['cat'], true), bench.sizes.idleWarmUp, bench);
      const { count, limitedBy } = sessionsThatFit(bench.sizes.idleSessions, [
        { name: 'gateway', pid: stack.gateway.pid, perSession: 2 },
        { name: 'relay', pid: relay.pid, perSession: 2 },
        { name: 'bench', pid: 'self', perSession: 1 },
        { name: 'synthetic upstream', pid: stack.upstream.pid, perSession: 1 },
      ]);
      held = `${count.toLocaleString('en-US')} of ${bench.sizes.idleSessions.toLocaleString('en-US')} asked for${limitedBy ? `: the ${limitedBy} leaves no room for more` : ''}`;
      const order = round % 2 ? (['gateway', 'floor'] as const) : (['floor', 'gateway'] as const);
      for (const path of order) {
        bench.say(`idle: ${held} held through ${path === 'gateway' ? 'a fresh gateway' : "the floor's relay"}, round ${round} of ${rounds}`);
        const { process, open } = hops[path];
        const measured = await holdIdle([process.pid, upstream], () => open(['cat'], true), count, bench, process);
        memory[path].push(measured.kibPerSession);
        idleCpu[path].push(measured.cpuPercent);
      }
    } finally {
      await stack.stop();
    }
  }
  const gatewayMemory = spread(memory.gateway);
  rows.add({ name: `memory per idle session (RSS delta; ${held})`, unit: 'KiB', better: 'lower', gateway: gatewayMemory, floor: spread(memory.floor), targets: [atMost('memory per session', TARGETS.idleKiB, gatewayMemory, ' KiB')] });
  rows.add({ name: `CPU while they idle (${bench.sizes.idleSeconds} s)`, unit: '% of a core', better: 'lower', gateway: spread(idleCpu.gateway), floor: spread(idleCpu.floor) });
}

/**
 * Opens `count` idle sessions through a hop (`pids`: the hop, then the upstream), reads the hop's RSS
 * delta per session and (with `measured`) its CPU over `idleSeconds`, releases them and waits until
 * neither process holds more descriptors than before: the next hop's sessions need the upstream's
 * descriptors back, or its accepts fail for want of them and the gateway answers 503.
 */
async function holdIdle(pids: [hop: number, upstream: number], open: () => Promise<ExecSession>, count: number, bench: Bench, measured?: { cpuSeconds(): number }): Promise<{ kibPerSession: number; cpuPercent: number }> {
  const [pid] = pids;
  const baselines = pids.map((each) => openDescriptorsOf(each));
  const rssBefore = rssOf(pid);
  const sessions = await openMany(count, bench.sizes.inFlight, open, bench.say);
  const rssHeld = rssOf(pid);
  let cpuPercent = 0;
  if (measured) {
    const cpuStart = measured.cpuSeconds();
    await new Promise((resolve) => setTimeout(resolve, bench.sizes.idleSeconds * 1000));
    cpuPercent = ((measured.cpuSeconds() - cpuStart) / bench.sizes.idleSeconds) * 100;
  }
  for (const session of sessions) session.endStdin();
  await Promise.all(sessions.map((session) => session.finished));
  for (const [index, each] of pids.entries()) await descriptorsBackTo(each, baselines[index]!);
  return { kibPerSession: (rssHeld - rssBefore) / count / 1024, cpuPercent };
}
