import type { Spread, TargetCheck } from './results.js';

/**
 * The targets of issue 22 ("Fast where it runs"), for the table to compare against; each check reads
 * the row's median (the spread is in the row beside it).
 */
export const TARGETS = {
  /** Gateway CPU per GiB, TLS on both legs, on every exec, cp and port-forward row. */
  cpuPerGiB: 1.5,
  /** … and when the gateway relays SPDY unchanged (the port-forward tunnel kubectl ≥ 1.31 uses). */
  cpuPerGiBRelay: 1.2,
  fullGcsPerGiB: 2,
  /** kubectl 1.33 through the gateway over TLS against kubectl direct, every row. */
  kubectlRatio: 0.8,
  /** Issue 23: faster than the Go translator (kubectl 1.33 straight to a 1.31+ API server) on every row. */
  translatorRatio: 1,
  setupCpuMs: 1.5,
  setupAddedP50Ms: 1,
  /** CPU per GiB at 1,000 concurrent sessions against one session's. */
  concurrencyCpuRatio: 1.3,
  fairnessP10P90: 0.8,
  idleKiB: 32,
  /** Issue 21: recording must not cost more than 10 %: throughput on/off, and CPU per GiB on/off. */
  recordingThroughputRatio: 0.9,
  recordingCpuRatio: 1.1,
} as const;

/** A target against a row's median (`value` a spread or a number; undefined: the row cannot say). */
function check(text: string, value: Spread | number | undefined, met: (median: number) => boolean): TargetCheck {
  const median = typeof value === 'number' ? value : value?.median;
  return { text, ...(median === undefined ? {} : { met: met(median) }) };
}

export function atMost(what: string, limit: number, value: Spread | number | undefined, unit = ''): TargetCheck {
  return check(`${what} ≤ ${limit}${unit}`, value, (median) => median <= limit);
}

export function atLeast(what: string, limit: number, value: Spread | number | undefined, unit = ''): TargetCheck {
  return check(`${what} ≥ ${limit}${unit}`, value, (median) => median >= limit);
}

/** Strictly more: "faster than" is not met by a tie. */
export function above(what: string, limit: number, value: Spread | number | undefined, unit = ''): TargetCheck {
  return check(`${what} > ${limit}${unit}`, value, (median) => median > limit);
}

/** The per-GiB targets of a transfer row: CPU (`relay`: the SPDY-relay limit) and full GCs. */
export function perGiBTargets(cpu: Spread, gcs: Spread, relay = false): TargetCheck[] {
  return [atMost('CPU', relay ? TARGETS.cpuPerGiBRelay : TARGETS.cpuPerGiB, cpu, ' s/GiB'), atMost('full GCs', TARGETS.fullGcsPerGiB, gcs, '/GiB')];
}
