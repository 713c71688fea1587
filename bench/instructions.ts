import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { directExec, gatewayExec, TOKEN } from './clients.js';
import { nodeFlagsOf, startServer } from './processes.js';
import { printTable } from './table.js';
import { download, roundTrips, upload, type Open } from './transfers.js';
import { readCommandLine } from './command-line.js';
import { GATEWAY_MAIN as MAIN } from './repo.js';

/**
 * `npm run bench:instructions`: what the gateway's own user-space work costs per byte, counted by
 * valgrind's callgrind — instructions, not seconds, so two builds can be compared on a busy machine
 * where throughput ratios move by ±15 % between identical runs. The gateway (and, for the floor, the
 * raw TCP relay) runs under callgrind with instrumentation off; it is switched on only around each
 * measured transfer, after a warm-up, so start-up and the first optimising compiles are not counted.
 * Kernel work (the socket copies) is not counted either: read this next to `npm run bench`.
 */
const values = readCommandLine('bench:instructions', 'usage: npm run bench:instructions -- [--mib N (64)]', () =>
  parseArgs({ options: { mib: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }),
);
const MiB = 1024 * 1024;
const transferBytes = Number(values.mib ?? '64') * MiB;
/** One-byte echoes counted per hop: what a keystroke costs, the part of the added latency that is the gateway's own work. */
const ROUND_TRIPS = 2_000;
const RELAY = fileURLToPath(new URL('./tcp-relay.js', import.meta.url));
const say = (line: string): void => void process.stderr.write(`bench:instructions: ${line}\n`);

interface Instructions {
  /** The JavaScript thread: the data path, its copies, its share of garbage collection. */
  main: number;
  copyShare: number;
  /**
   * Of `main`, what Node's socket read path spent copying partial reads (calloc + memcpy per read that
   * did not fill its buffer). It depends on timing — how much had arrived when the socket was read —
   * so it moves between runs of the same build; the rest is the gateway's own.
   */
  readPathCopies: number;
  /** V8's helper threads: concurrent compiles and parallel GC. Compiles make this move between runs. */
  helpers: number;
}

interface Counted {
  url: string;
  /** Instructions executed while `during` ran: on the main thread (with the share in libc's memcpy/memset) and on the others. */
  count(during: () => Promise<void>): Promise<Instructions>;
  stop(): Promise<void>;
}

/** One of our processes under callgrind, instrumentation off until `count` switches it on. */
async function underCallgrind(dir: string, name: string, args: string[]): Promise<Counted> {
  const out = join(dir, `${name}.callgrind`);
  const child = spawn('valgrind', ['--tool=callgrind', '--separate-threads=yes', '--instr-atstart=no', `--callgrind-out-file=${out}`, process.execPath, ...args], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const match = /"url":"(http[^"]+)"/.exec(buffered);
      if (!match) return;
      child.stdout.removeAllListeners('data');
      child.stdout.resume();
      resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`${name} under valgrind exited with ${code} before listening`)));
  });
  const control = (...flags: string[]): void => void execFileSync('callgrind_control', [...flags, String(child.pid)], { stdio: 'ignore' });
  let dumps = 0;
  return {
    url,
    async count(during) {
      control('--zero');
      control('--instr=on');
      await during();
      control('--instr=off');
      control('--dump');
      dumps += 1;
      return readDumps(dir, `${name}.callgrind.${dumps}-`);
    },
    stop: () =>
      new Promise((done) => {
        child.once('exit', () => done());
        child.kill('SIGTERM');
      }),
  };
}

/** One dump per thread (`…-01` is the main thread): totals, and the main thread's copying split by who asked. */
function readDumps(dir: string, prefix: string): Instructions {
  const totalOf = (file: string): number => Number(/^totals: (\d+)/m.exec(readFileSync(file, 'utf8'))?.[1] ?? NaN);
  const files = readdirSync(dir).filter((file) => file.startsWith(prefix));
  const mainFile = join(dir, `${prefix}01`);
  const main = totalOf(mainFile);
  const helpers = files.filter((file) => !file.endsWith('-01')).reduce((sum, file) => sum + totalOf(join(dir, file)), 0);
  const tree = execFileSync('callgrind_annotate', ['--tree=caller', mainFile], { encoding: 'utf8', maxBuffer: 256 * MiB }).split('\n');
  let copying = 0;
  let readPath = 0;
  tree.forEach((line, index) => {
    if (!/^\s*[\d,]+ \([^)]*\)\s+\*\s+\S*(?:memcpy|memmove|memset)/.test(line)) return;
    copying += costOf(line);
    // Its callers are the '<' lines just above it. Node's read path copies a socket read that did not
    // fill its 64 KiB buffer into a right-sized, zero-filled one (calloc → memset, then memcpy).
    for (let at = index - 1; at >= 0 && tree[at]!.includes(' < '); at--) {
      if (/OnStreamRead|malloc\.c:calloc/.test(tree[at]!)) readPath += costOf(tree[at]!);
    }
  });
  return { main, copyShare: copying / main, readPathCopies: readPath, helpers };
}

function costOf(line: string): number {
  return Number(/^\s*([\d,]+)/.exec(line)?.[1]?.replaceAll(',', '') ?? 0);
}

async function main(): Promise<void> {
  if (!existsSync('/usr/bin/valgrind') && !existsSync('/usr/local/bin/valgrind')) {
    say('valgrind is not installed (Debian: apt-get install valgrind)');
    process.exit(2);
  }
  const dir = await mkdtemp(join(tmpdir(), 'ksg-instructions-'));
  const cluster = await startServer(['legacy-cluster', '--listen', '127.0.0.1:0', '--token', TOKEN]);
  const config = join(dir, 'gateway.yaml');
  await writeFile(
    config,
    stringify({ listen: '127.0.0.1:0', admin: { listen: 'off' }, upstreams: [{ name: 'default', server: cluster.url, allowInsecureHTTP: true }], shutdown: { gracePeriodSeconds: 0 } }),
  );
  const gateway = await underCallgrind(dir, 'gateway', [...nodeFlagsOf(MAIN), MAIN, 'serve', '--config', config]);
  const relay = await underCallgrind(dir, 'relay', [RELAY, cluster.url]);
  const rows: string[][] = [];
  const echoRows: string[][] = [];
  try {
    const viaGateway: Open = (command, stdin) => gatewayExec(gateway.url, command, stdin);
    const viaRelay: Open = (command, stdin) => directExec(relay.url, command, stdin);
    for (const [name, target, open] of [
      ['gateway', gateway, viaGateway],
      ['raw TCP relay (floor)', relay, viaRelay],
    ] as const) {
      // Long enough that the optimising compiler has finished with the data path: counted, its
      // compiles would be most of an upload's instructions, and they are a one-off.
      say(`${name}: warming up (8 × ${transferBytes / MiB} MiB each way, uncounted), then ${transferBytes / MiB} MiB each way and ${ROUND_TRIPS} round trips, counted`);
      for (let i = 0; i < 8; i++) {
        await download(open, transferBytes);
        await upload(open, transferBytes);
      }
      const down = await target.count(async () => void (await download(open, transferBytes)));
      const up = await target.count(async () => void (await upload(open, transferBytes)));
      for (const [direction, counted] of [['download', down], ['upload', up]] as const) {
        const perByte = (instructions: number): string => (instructions / transferBytes).toFixed(2);
        rows.push([`${name}, ${direction}`, perByte(counted.main - counted.readPathCopies), perByte(counted.readPathCopies), `${(counted.copyShare * 100).toFixed(0)} %`, perByte(counted.helpers)]);
      }
      await roundTrips(open, ROUND_TRIPS);
      const echoes = await target.count(async () => void (await roundTrips(open, ROUND_TRIPS)));
      const perEcho = (instructions: number): string => Math.round(instructions / ROUND_TRIPS).toLocaleString('en-US');
      echoRows.push([name, perEcho(echoes.main), perEcho(echoes.helpers)]);
    }
  } finally {
    await gateway.stop();
    await relay.stop();
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
  printTable([['instructions per byte moved', 'JS thread, own', "Node's partial-read copies", 'memcpy/memset share', 'helper threads'], ...rows]);
  process.stdout.write('\n');
  // One session's opening and closing are counted with its echoes: spread over 2,000, they add little.
  printTable([[`instructions per 1-byte round trip (${ROUND_TRIPS.toLocaleString('en-US')} on one session)`, 'JS thread', 'helper threads'], ...echoRows]);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:instructions: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
