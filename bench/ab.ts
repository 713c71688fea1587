import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gatewayExec } from './clients.js';
import { PLACEMENT, pinToCpu, startGatewayServer, startSyntheticUpstreamServer, trustOf, type ProcessUsage, type ServerProcess, type Transport } from './processes.js';
import { printTable } from './table.js';
import { readCommandLine } from './command-line.js';
import { REPO } from './repo.js';
import { createBenchTls } from './tls-material.js';
import { download, percentile, roundTrips, upload, type Open } from './transfers.js';

/**
 * `npm run bench:ab -- --against REF`: this build's gateway and the gateway of git ref REF, side by
 * side in front of one synthetic upstream, measured in alternating order round after round, on a
 * host where throughput moves by ±15 % between runs. Syscall and instruction counts are not enough
 * on their own: two changes that cut both (batching a turn's writes, sending output without a copy)
 * showed no gain here, through system time and page faults (docs/performance.md). Run it against
 * HEAD first: identical builds differ too. Both gateways get the second CPU, the clients and the
 * upstream the first, as `npm run bench -- --pin` does. TLS on both legs, as deployed (`--plain`: plain
 * HTTP on both).
 */
const USAGE = 'usage: npm run bench:ab -- --against <git ref> [--rounds N (6)] [--mib N (256)] [--round-trips N (1000)] [--plain (plain HTTP instead of TLS on both legs)]';
const values = readCommandLine('bench:ab', USAGE, () =>
  parseArgs({ options: { against: { type: 'string' }, rounds: { type: 'string' }, mib: { type: 'string' }, 'round-trips': { type: 'string' }, plain: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } }),
);
const say = (line: string): void => void process.stderr.write(`bench:ab: ${line}\n`);
if (!values.against) {
  say(USAGE);
  process.exit(2);
}
if (availableParallelism() < 2) {
  say('needs two CPUs (clients and upstream on one, the gateways on the other)');
  process.exit(2);
}
const rounds = Number(values.rounds ?? '6');
const MiB = 1024 * 1024;
const bytes = Number(values.mib ?? '256') * MiB;
const echoes = Number(values['round-trips'] ?? '1000');

interface Samples {
  download: Sample[];
  upload: Sample[];
  /** Every round trip of every round, and each round's p50. */
  roundTrips: number[];
  roundTripP50s: number[];
}

interface Sample {
  mibPerSecond: number;
  userPerGiB: number;
  systemPerGiB: number;
  faultsPerGiB: number;
  fullGcsPerGiB: number;
}

/** `ref` checked out beside this one and built, with this checkout's node_modules; removed by `dispose`. */
function buildOf(ref: string): { main: string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'ksg-ab-'));
  const git = (...args: string[]): string => execFileSync('git', ['-C', REPO, ...args], { encoding: 'utf8' });
  git('worktree', 'add', '--detach', dir, ref);
  const dispose = (): void => {
    git('worktree', 'remove', '--force', dir);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
    execFileSync(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], { stdio: 'inherit' });
    const main = join(dir, 'dist/cli/main.js');
    if (!existsSync(main)) throw new Error(`${ref} has no dist/cli/main.js after building`);
    return { main, dispose };
  } catch (error) {
    dispose();
    throw error;
  }
}

async function measured(gateway: ServerProcess, transfer: () => Promise<number>): Promise<Sample> {
  const before: ProcessUsage = gateway.usage();
  const gcsBefore = gateway.fullGcs();
  const seconds = await transfer();
  const after = gateway.usage();
  const gcs = gateway.fullGcs() - gcsBefore;
  const gib = bytes / (1024 * MiB);
  return {
    mibPerSecond: bytes / MiB / seconds,
    userPerGiB: (after.userSeconds - before.userSeconds) / gib,
    systemPerGiB: (after.systemSeconds - before.systemSeconds) / gib,
    faultsPerGiB: (after.minorFaults - before.minorFaults) / gib,
    fullGcsPerGiB: gcs / gib,
  };
}

async function main(): Promise<void> {
  const ref = values.against!;
  say(`building ${ref} in a worktree`);
  const other = buildOf(ref);
  const processes: ServerProcess[] = [];
  const tls = values.plain ? undefined : await createBenchTls();
  const transport: Transport = tls ? { kind: 'tls', tls } : { kind: 'plain' };
  const ca = trustOf(transport);
  say(transport.kind === 'tls' ? 'TLS on both legs' : 'plain HTTP on both legs');
  try {
    pinToCpu('self', PLACEMENT.clientsAndUpstream);
    const upstream = await startSyntheticUpstreamServer(transport);
    processes.push(upstream);
    pinToCpu(upstream.pid, PLACEMENT.clientsAndUpstream);
    const builds = { this: await startGatewayServer(upstream.url, transport), [ref]: await startGatewayServer(upstream.url, transport, { main: other.main }) };
    for (const gateway of Object.values(builds)) {
      processes.push(gateway);
      pinToCpu(gateway.pid, PLACEMENT.hop);
    }
    const names = Object.keys(builds);
    const open = (name: string): Open => (command, stdin) => gatewayExec(builds[name]!.url, command, stdin, ca);
    say('warming both up: 3 × 32 MiB each way and 1,000 round trips each');
    for (const name of names) {
      for (let i = 0; i < 3; i++) {
        await download(open(name), 32 * MiB);
        await upload(open(name), 32 * MiB);
      }
      await roundTrips(open(name), 1_000);
    }
    const samples: Record<string, Samples> = {};
    for (const name of names) samples[name] = { download: [], upload: [], roundTrips: [], roundTripP50s: [] };
    for (let round = 1; round <= rounds; round++) {
      say(`round ${round} of ${rounds}: ${bytes / MiB} MiB each way and ${echoes} one-byte round trips through each build`);
      for (const name of round % 2 ? names : [...names].reverse()) {
        const gateway = builds[name]!;
        samples[name]!.download.push(await measured(gateway, () => download(open(name), bytes)));
        samples[name]!.upload.push(await measured(gateway, () => upload(open(name), bytes)));
        const echoed = await roundTrips(open(name), echoes);
        samples[name]!.roundTrips.push(...echoed);
        samples[name]!.roundTripP50s.push(percentile(echoed, 50));
      }
    }
    report(names, samples);
  } finally {
    for (const server of processes) await server.stop();
    other.dispose();
    await tls?.dispose();
  }
}

/**
 * Medians per build, their ratio, and in how many rounds the first build came out ahead — the
 * consistency a ratio of medians hides. Run it against HEAD itself first: what identical builds
 * differ by on this machine is the noise any change must clear.
 */
function report(names: string[], samples: Record<string, Samples>): void {
  const [first, second] = names as [string, string];
  const median = (values: number[]): number => percentile(values, 50);
  const rows: string[][] = [['measure (median of rounds)', first, second, `${first} / ${second}`, `rounds ${first} ahead`]];
  const add = (label: string, of: (name: string) => number[], digits: number, better?: 'higher' | 'lower', pooled?: (name: string) => number): void => {
    const [a, b] = [first, second].map((name) => (pooled ? pooled(name) : median(of(name)))) as [number, number];
    const perRound = of(first).map((value, round) => [value, of(second)[round]!] as const);
    const ahead = better ? perRound.filter(([x, y]) => (better === 'higher' ? x > y : x < y)).length : undefined;
    rows.push([label, a.toFixed(digits), b.toFixed(digits), b === 0 ? (a === 0 ? '1.000' : '–') : (a / b).toFixed(3), ahead === undefined ? '' : `${ahead} of ${perRound.length}`]);
  };
  for (const direction of ['download', 'upload'] as const) {
    add(`${direction} MiB/s`, (name) => samples[name]![direction].map((s) => s.mibPerSecond), 0, 'higher');
    add(`${direction} gateway user CPU s/GiB`, (name) => samples[name]![direction].map((s) => s.userPerGiB), 2, 'lower');
    add(`${direction} gateway system CPU s/GiB`, (name) => samples[name]![direction].map((s) => s.systemPerGiB), 2, 'lower');
    add(`${direction} gateway minor page faults per GiB`, (name) => samples[name]![direction].map((s) => s.faultsPerGiB), 0, 'lower');
    add(`${direction} gateway full GCs per GiB`, (name) => samples[name]![direction].map((s) => s.fullGcsPerGiB), 1, 'lower');
  }
  add('round trip p50 µs (median of rounds\' p50)', (name) => samples[name]!.roundTripP50s, 1, 'lower');
  add('round trip p99 µs (all rounds pooled)', (name) => samples[name]!.roundTrips, 1, undefined, (name) => percentile(samples[name]!.roundTrips, 99));
  printTable(rows);
}

main().catch((error: unknown) => {
  say((error as Error).stack ?? String(error));
  process.exit(1);
});
