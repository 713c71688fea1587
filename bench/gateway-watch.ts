import { openDescriptorsOf, type ServerProcess } from './processes.js';
import { spread, type Row } from './results.js';

/** What `alternate` reads over a path's run: its CPU seconds and full GCs, once its sessions are over. */
export interface PathMeter {
  measure<T>(sessions: number, run: () => Promise<T>): Promise<{ result: T; cpuSeconds: number; fullGcs: number }>;
}

/**
 * The gateway process seen through its logs: sessions started and ended (and the protocols each
 * client spoke), upgrades relayed untranslated. A row's CPU and GC count are read once the sessions it
 * opened have ended in the gateway, so teardown is counted and a GC line still on its way is not lost.
 */
export class GatewayWatch implements PathMeter {
  private started = 0;
  private ended = 0;
  private relayed = 0;
  private readonly clientProtocols = new Map<string, number>();
  /** How the gateway carried each session it started (`translated`, `tunnel`, `to-websocket`, …). */
  private readonly modes = new Map<string, number>();
  private waiters: Array<() => void> = [];

  constructor(readonly process: ServerProcess) {
    process.onLog((record) => {
      // A relayed upgrade logs session lines too (mode relay): counted apart, never as translated.
      if (record.mode === 'relay') {
        if (record.event !== 'session-start') return;
        this.relayed += 1;
      } else if (record.event === 'session-start') {
        // The start line names the client's protocol in every translator (the tunnel's end line does not).
        this.started += 1;
        const protocol = String(record.clientProtocol ?? 'unknown');
        this.clientProtocols.set(protocol, (this.clientProtocols.get(protocol) ?? 0) + 1);
        const mode = String(record.mode ?? 'unknown');
        this.modes.set(mode, (this.modes.get(mode) ?? 0) + 1);
      } else if (record.event === 'session-end') this.ended += 1;
      else return;
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /** Counts so far; `since` one taken earlier gives what happened in between. */
  mark(): WatchMark {
    return { started: this.started, ended: this.ended, relayed: this.relayed, clientProtocols: new Map(this.clientProtocols), modes: new Map(this.modes) };
  }

  /** The client protocols and modes of the sessions started since `mark`, with counts; sessions ended; relayed (untranslated) upgrades. */
  since(mark: WatchMark): { ended: number; relayed: number; clientProtocols: Record<string, number>; modes: Record<string, number> } {
    return { ended: this.ended - mark.ended, relayed: this.relayed - mark.relayed, clientProtocols: countsSince(this.clientProtocols, mark.clientProtocols), modes: countsSince(this.modes, mark.modes) };
  }

  /** Resolves once at least `count` sessions have ended since `mark` and none is still open (at most `timeoutMs`). */
  async untilEnded(mark: WatchMark, count: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.ended - mark.ended < count || this.started > this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the gateway logged ${this.ended - mark.ended} of ${count} session ends (${this.started - this.ended} still open) within ${timeoutMs / 1000} s`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1_000));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /**
   * Runs `run` and reads the gateway's CPU seconds and full GCs over it, up to the end of the
   * `sessions` it opens.
   */
  async measure<T>(sessions: number, run: () => Promise<T>): Promise<{ result: T; cpuSeconds: number; fullGcs: number }> {
    const mark = this.mark();
    const cpu = this.process.cpuSeconds();
    const gcs = this.process.fullGcs();
    const result = await run();
    await this.untilEnded(mark, sessions);
    return { result, cpuSeconds: this.process.cpuSeconds() - cpu, fullGcs: this.process.fullGcs() - gcs };
  }
}

/**
 * The floor's relay seen from outside: it logs nothing, so a run's connections are over when the
 * relay holds no more descriptors than before the run (at most 10 s); its CPU is read then, so the
 * teardown of what the run opened is counted, as the gateway's is.
 */
export class RelayWatch implements PathMeter {
  constructor(private readonly relay: ServerProcess) {}

  async measure<T>(_sessions: number, run: () => Promise<T>): Promise<{ result: T; cpuSeconds: number; fullGcs: number }> {
    const descriptors = openDescriptorsOf(this.relay.pid);
    const cpu = this.relay.cpuSeconds();
    const gcs = this.relay.fullGcs();
    const result = await run();
    await descriptorsBackTo(this.relay.pid, descriptors);
    return { result, cpuSeconds: this.relay.cpuSeconds() - cpu, fullGcs: this.relay.fullGcs() - gcs };
  }
}

/** Waits (10 ms polls, at most 10 s) until a process has no more descriptors open than `baseline`. */
export async function descriptorsBackTo(pid: number, baseline: number): Promise<void> {
  for (const deadline = Date.now() + 10_000; openDescriptorsOf(pid) > baseline; ) {
    if (Date.now() > deadline) throw new Error(`process ${pid} still has ${openDescriptorsOf(pid)} descriptors open, ${baseline} before`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export interface WatchMark {
  started: number;
  ended: number;
  relayed: number;
  clientProtocols: Map<string, number>;
  modes: Map<string, number>;
}

/** What each count grew by since `before`, leaving out those that did not. */
function countsSince(now: Map<string, number>, before: Map<string, number>): Record<string, number> {
  const grown: Record<string, number> = {};
  for (const [key, count] of now) {
    const delta = count - (before.get(key) ?? 0);
    if (delta > 0) grown[key] = delta;
  }
  return grown;
}

/**
 * `modern`: kubectl straight to a 1.31+ API server, its own translator (the translator part only);
 * `baseline`: a second gateway configured the other way (the recording part: recording off).
 */
export type PathName = 'gateway' | 'floor' | 'direct' | 'modern' | 'baseline';

export interface Alternated<T> {
  results: Partial<Record<PathName, T[]>>;
  /** The gateway's CPU seconds and full GCs over each of its runs. */
  gatewayCpu: number[];
  gatewayGcs: number[];
  /** The same for each other path measured with a watch of its own (`others`). */
  otherCpu: Partial<Record<PathName, number[]>>;
  otherGcs: Partial<Record<PathName, number[]>>;
}

/**
 * Each path's run `repeat` times, the order reversed every other round (direct, floor, modern,
 * gateway; then gateway, modern, floor, direct; …), so that whatever else the machine does falls on
 * every path alike. The gateway's runs are measured with `watch` (each opens at least `sessions`
 * sessions), and so are the runs of any path that `others` gives a watch of its own.
 */
export async function alternate<T>(
  repeat: number,
  runs: Partial<Record<PathName, () => Promise<T>>>,
  watch: GatewayWatch,
  sessions: number,
  onRound?: (round: number) => void,
  others: Partial<Record<PathName, PathMeter | undefined>> = {},
): Promise<Alternated<T>> {
  const order = (['direct', 'floor', 'modern', 'baseline', 'gateway'] as const).filter((path) => runs[path]);
  const alternated: Alternated<T> = { results: {}, gatewayCpu: [], gatewayGcs: [], otherCpu: {}, otherGcs: {} };
  for (let round = 1; round <= repeat; round++) {
    onRound?.(round);
    for (const path of round % 2 ? order : [...order].reverse()) {
      const run = runs[path]!;
      const results = (alternated.results[path] ??= []);
      const pathWatch = path === 'gateway' ? watch : others[path];
      if (!pathWatch) {
        results.push(await run());
        continue;
      }
      const measured = await pathWatch.measure(sessions, run);
      results.push(measured.result);
      if (path === 'gateway') {
        alternated.gatewayCpu.push(measured.cpuSeconds);
        alternated.gatewayGcs.push(measured.fullGcs);
      } else {
        (alternated.otherCpu[path] ??= []).push(measured.cpuSeconds);
        (alternated.otherGcs[path] ??= []).push(measured.fullGcs);
      }
    }
  }
  return alternated;
}

/** The floor's CPU and full GCs per GiB for a row, when its relay was measured (`gibPerRun`: GiB each run moved). */
export function floorPerGiB(measured: Alternated<unknown>, gibPerRun: number): Pick<Row, 'floorCpuPerGiB' | 'floorFullGcsPerGiB'> {
  const { floor: cpu } = measured.otherCpu;
  const { floor: gcs } = measured.otherGcs;
  return {
    ...(cpu ? { floorCpuPerGiB: spread(cpu.map((seconds) => seconds / gibPerRun)) } : {}),
    ...(gcs ? { floorFullGcsPerGiB: spread(gcs.map((count) => count / gibPerRun)) } : {}),
  };
}
