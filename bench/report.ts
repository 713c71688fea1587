import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { cpus, hostname, release, totalmem } from 'node:os';
import { ratioChart } from './chart.js';
import type { PartResult, Row, Spread } from './results.js';
import { printTable } from './table.js';

/** What a run was: enough to say which run a published table is, and to repeat it. */
export interface RunMeta {
  startedAt: string;
  commit: string;
  machine: string;
  node: string;
  kubectl?: string;
  command: string;
  transport: 'tls' | 'plain';
  /** Which CPUs each path's processes had. */
  placement: string;
}

export interface RunOutputs {
  json?: string;
  markdown?: string;
  svg?: string;
}

/**
 * The run's results, written out after every part (JSON, markdown, chart) so that a part that fails
 * later — or a run that is stopped — loses only what had not finished.
 */
export class RunReport {
  readonly parts: PartResult[] = [];

  constructor(
    readonly meta: RunMeta,
    private readonly outputs: RunOutputs,
  ) {}

  async add(part: PartResult): Promise<void> {
    this.parts.push(part);
    printPart(part);
    await this.write();
  }

  async write(): Promise<void> {
    const { json, markdown, svg } = this.outputs;
    if (json) await writeFile(json, JSON.stringify({ meta: this.meta, parts: this.parts }, null, 2) + '\n');
    if (markdown) await writeFile(markdown, renderMarkdown(this.meta, this.parts));
    if (svg) {
      const rows = this.parts.flatMap((part) =>
        part.rows.flatMap((row) => {
          // A recording row has no direct path: its bar is recording on / off, named so.
          if (row.ratio !== undefined) return [{ name: `${row.name} [${part.part}]`, ratio: row.ratio, better: row.better }];
          if (row.recordingRatio !== undefined) return [{ name: `${row.name} (on / off) [${part.part}]`, ratio: row.recordingRatio, better: row.better }];
          return [];
        }),
      );
      await writeFile(svg, ratioChart(rows, `kube-stream-gateway: gateway / direct, medians (${this.meta.transport === 'tls' ? 'TLS on both legs' : 'plain HTTP'}, ${this.meta.commit}, ${this.meta.startedAt.slice(0, 16)}Z)`));
    }
  }
}

/** The run's identity: commit (with "+changes" when the tree differs from it), machine, Node and kubectl. */
export function describeRun(command: string, transport: RunMeta['transport'], placement: string, kubectl?: string): RunMeta {
  const git = (...args: string[]): string => {
    try {
      return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return '';
    }
  };
  const commit = git('rev-parse', '--short=12', 'HEAD') || 'unknown';
  const dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
  const cpu = cpus();
  return {
    startedAt: new Date().toISOString(),
    commit: dirty ? `${commit}+changes` : commit,
    machine: `${hostname()}: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}`,
    node: process.version,
    ...(kubectl ? { kubectl } : {}),
    command,
    transport,
    placement,
  };
}

const show = (value: Spread | undefined): string => (value ? (value.n > 1 ? `${value.median} (${value.min}–${value.max})` : String(value.median)) : '—');
const ratio = (value: number | undefined): string => (value === undefined ? '—' : `${value.toFixed(2)}×`);
const targets = (row: Row): string =>
  (row.targets ?? []).map((target) => `${target.met === undefined ? '' : target.met ? '✓ ' : '✗ '}${target.text}`).join('; ') || '—';

/** A column of a part's table: its heading and what a row shows in it. */
type Column = [heading: string, cell: (row: Row) => string];

const COLUMNS: Column[] = [
  ['measure', (row) => row.name],
  ['unit', (row) => `${row.unit} (${row.better} is better)`],
  ['gateway', (row) => show(row.gateway)],
  ['floor', (row) => show(row.floor)],
  ['direct', (row) => show(row.direct)],
  ['gateway/direct', (row) => ratio(row.ratio)],
  ['floor/direct', (row) => ratio(row.floorRatio)],
  ['gateway CPU s/GiB', (row) => show(row.gatewayCpuPerGiB)],
  ['floor CPU s/GiB', (row) => show(row.floorCpuPerGiB)],
  ['full GCs/GiB', (row) => show(row.fullGcsPerGiB)],
  ['floor full GCs/GiB', (row) => show(row.floorFullGcsPerGiB)],
  ['target', targets],
];

/** The translator part's table: the Go translator in the floor's place, and the CPU of each translating process. */
const TRANSLATOR_COLUMNS: Column[] = [
  ...COLUMNS.slice(0, 3),
  ['Go translator', (row) => show(row.goTranslator)],
  ['direct', (row) => show(row.direct)],
  ['gateway/Go translator', (row) => ratio(row.translatorRatio)],
  ['gateway/direct', (row) => ratio(row.ratio)],
  ['gateway CPU s/GiB', (row) => show(row.gatewayCpuPerGiB)],
  ['Go translator CPU s/GiB (with its kubelet)', (row) => show(row.goTranslatorCpuPerGiB)],
  ['legacy peer CPU s/GiB (kubelet side)', (row) => show(row.upstreamCpuPerGiB)],
  ['Go translator less kubelet side', (row) => show(row.goTranslatorLessKubeletCpuPerGiB)],
  ...COLUMNS.filter(([heading]) => heading === 'full GCs/GiB' || heading === 'target'),
];

/** The recording part's table: one gateway with recording on against the same without it. */
const RECORDING_COLUMNS: Column[] = [
  ...COLUMNS.slice(0, 2),
  ['recording on', (row) => show(row.gateway)],
  ['recording off', (row) => show(row.recordingOff)],
  ['on/off', (row) => ratio(row.recordingRatio)],
  ['CPU s/GiB on', (row) => show(row.gatewayCpuPerGiB)],
  ['CPU s/GiB off', (row) => show(row.recordingOffCpuPerGiB)],
  ['CPU on/off', (row) => ratio(row.recordingCpuRatio)],
  ['full GCs/GiB on', (row) => show(row.fullGcsPerGiB)],
  ['full GCs/GiB off', (row) => show(row.recordingOffFullGcsPerGiB)],
  COLUMNS.at(-1)!,
];

const columnsOf = (rows: Row[]): Column[] => (rows.some((row) => row.goTranslator) ? TRANSLATOR_COLUMNS : rows.some((row) => row.recordingOff) ? RECORDING_COLUMNS : COLUMNS);

/** The part's table: the heading line, then one line of cells per row. */
function tableOf(rows: Row[]): string[][] {
  const columns = columnsOf(rows);
  return [columns.map(([heading]) => heading), ...rows.map((row) => columns.map(([, cell]) => cell(row)))];
}

function printPart(part: PartResult): void {
  process.stdout.write(`\n== ${part.part}: ${part.status}${part.error ? ` — ${part.error}` : ''} (${part.seconds.toFixed(0)} s)\n`);
  if (part.rows.length) printTable(tableOf(part.rows), { rule: true });
  for (const note of part.notes) process.stdout.write(`  - ${note}\n`);
}

function renderMarkdown(meta: RunMeta, parts: PartResult[]): string {
  const lines = [
    '<!-- Generated by `npm run bench` (see docs/performance.md); do not edit by hand. -->',
    '',
    `One run of \`${meta.command}\`, started ${meta.startedAt}, commit ${meta.commit}; ${meta.machine}; Node ${meta.node}${meta.kubectl ? `; ${meta.kubectl}` : ''}.`,
    `Transport: ${meta.transport === 'tls' ? 'TLS on both legs (client → gateway and gateway → upstream), as deployed' : 'plain HTTP on both legs (`--plain`)'}. CPUs: ${meta.placement}.`,
    "Each cell is the median of the repetitions, with (min–max); ratios are of medians. ✓/✗: the row against its targets (issue 22; the translator part's from issue 23).",
    '',
  ];
  for (const part of parts) {
    lines.push(`### ${part.part}`, '', part.about, '');
    if (part.status === 'failed') lines.push(`**This part failed and has no (or only some) rows:** ${part.error ?? 'unknown error'}`, '');
    if (part.rows.length) {
      const [headings, ...body] = tableOf(part.rows);
      lines.push(`| ${headings!.join(' | ')} |`, `|${headings!.map(() => '---').join('|')}|`);
      for (const cells of body) lines.push(`| ${cells.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`);
      lines.push('');
    }
    for (const note of part.notes) lines.push(`- ${note}`);
    if (part.notes.length) lines.push('');
  }
  return lines.join('\n');
}
