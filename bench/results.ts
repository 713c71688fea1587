import { percentile } from './transfers.js';

/** Every repetition of a measure, summarised: the row shows min, median and max, never one chosen run. */
export interface Spread {
  min: number;
  median: number;
  max: number;
  /** How many repetitions. */
  n: number;
}

export function spread(samples: number[]): Spread {
  if (samples.length === 0) throw new Error('spread: no samples');
  return { min: round(Math.min(...samples)), median: round(percentile(samples, 50)), max: round(Math.max(...samples)), n: samples.length };
}

/** A target from issue 22 (or 23), and whether this row meets it (undefined: the row cannot say). */
export interface TargetCheck {
  text: string;
  met?: boolean;
}

/** One row of the results: the gateway path, and where measured the direct path and the floor. */
export interface Row {
  name: string;
  unit: string;
  better: 'higher' | 'lower';
  gateway: Spread;
  /** The same with the relay that only copies bytes in the gateway's place. */
  floor?: Spread;
  direct?: Spread;
  /** Median gateway / median direct. */
  ratio?: number;
  /** Median floor / median direct. */
  floorRatio?: number;
  /** The gateway process's user + system CPU seconds per GiB it moved, per repetition. */
  gatewayCpuPerGiB?: Spread;
  /** The floor's relay process's user + system CPU seconds per GiB it moved, per repetition (TLS both sides, a copy between). */
  floorCpuPerGiB?: Spread;
  /** The same for the floor's relay: its full collections per GiB it moved. */
  floorFullGcsPerGiB?: Spread;
  /** The gateway's full (mark-compact) collections per GiB it moved, per repetition. */
  fullGcsPerGiB?: Spread;
  /** The translator part: kubectl straight to the modern peer, the API server's own (Go) translator. */
  goTranslator?: Spread;
  /** Median gateway / median Go translator. */
  translatorRatio?: number;
  /** The modern peer process's CPU seconds per GiB: its translator and its in-process kubelet and runtime. */
  goTranslatorCpuPerGiB?: Spread;
  /** The upstream's CPU seconds per GiB on the gateway path (the legacy peer: the kubelet side of the work). */
  upstreamCpuPerGiB?: Spread;
  /** Go translator CPU less the upstream's, round by round: the modern peer without its kubelet side. */
  goTranslatorLessKubeletCpuPerGiB?: Spread;
  /** The recording part: the same gateway without `recording.directory` (the gateway column is recording on). */
  recordingOff?: Spread;
  recordingOffCpuPerGiB?: Spread;
  recordingOffFullGcsPerGiB?: Spread;
  /** Median recording on / median recording off: throughput, and CPU per GiB. */
  recordingRatio?: number;
  recordingCpuRatio?: number;
  targets?: TargetCheck[];
}

/** One part of a run: its rows as measured, or why it failed (the run goes on without it). */
export interface PartResult {
  part: string;
  /** What the part measures and against what, in a sentence or two. */
  about: string;
  status: 'ok' | 'failed';
  error?: string;
  seconds: number;
  rows: Row[];
  /** What was checked or observed on the way (protocols spoken, sessions held, limits met). */
  notes: string[];
}

/** Collects a part's rows as it measures them. */
export class PartRows {
  readonly rows: Row[] = [];
  readonly notes: string[] = [];

  add(row: Omit<Row, 'ratio' | 'floorRatio' | 'translatorRatio' | 'recordingRatio' | 'recordingCpuRatio'>): Row {
    const full: Row = { ...row };
    if (row.direct && row.direct.median !== 0) full.ratio = round(row.gateway.median / row.direct.median, 3);
    if (row.floor && row.direct && row.direct.median !== 0) full.floorRatio = round(row.floor.median / row.direct.median, 3);
    if (row.goTranslator && row.goTranslator.median !== 0) full.translatorRatio = round(row.gateway.median / row.goTranslator.median, 3);
    if (row.recordingOff && row.recordingOff.median !== 0) full.recordingRatio = round(row.gateway.median / row.recordingOff.median, 3);
    if (row.gatewayCpuPerGiB && row.recordingOffCpuPerGiB && row.recordingOffCpuPerGiB.median !== 0) full.recordingCpuRatio = round(row.gatewayCpuPerGiB.median / row.recordingOffCpuPerGiB.median, 3);
    this.rows.push(full);
    return full;
  }

  note(line: string): void {
    this.notes.push(line);
  }
}

export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
