import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

const MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));

export interface ServerProcess {
  url: string;
  pid: number;
  /** User + system CPU seconds the process has used so far (from /proc). */
  cpuSeconds(): number;
  /** The same split, with the minor page faults so far. */
  usage(): ProcessUsage;
  stop(): Promise<void>;
}

/**
 * Runs one of our commands in its own process, so the gateway's CPU and memory are its own, and
 * resolves with the URL from its "listening" log line.
 */
export function startServer(args: string[], script = MAIN): Promise<ServerProcess> {
  // Logs stay at info, as in production: two lines per session are part of the cost measured.
  const child: ChildProcess = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const match = /"url":"(http[^"]+)"/.exec(buffered);
      if (!match) return;
      child.stdout!.removeAllListeners('data');
      child.stdout!.resume();
      resolve({
        url: match[1]!,
        pid: child.pid!,
        cpuSeconds: () => {
          const { userSeconds, systemSeconds } = usageOf(child.pid!);
          return userSeconds + systemSeconds;
        },
        usage: () => usageOf(child.pid!),
        stop: () =>
          new Promise((done) => {
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      });
    });
    child.once('exit', (code) => reject(new Error(`${args[0] ?? script} exited with ${code} before listening`)));
  });
}

/**
 * The gateway as the benchmark and the soak run it: `serve` in front of `upstream`, without the admin
 * listener (runs must not compete for its port) and with limits far above what a run opens from one
 * address (the production defaults would refuse the 10,000 idle sessions), no idle or age limit, and
 * no drain on stop. `main` is another build's CLI for `npm run bench:ab`.
 */
/**
 * Connection caps lifted like the session limits, for this build only: a reference build from
 * before they existed (bench:ab) would refuse the keys, and has no caps anyway.
 */
function connectionCaps(main: string): Record<string, number> {
  return main === MAIN ? { maxConnections: 1_000_000, maxConnectionsPerClient: 1_000_000 } : {};
}

export async function startGatewayServer(upstream: string, main = MAIN): Promise<ServerProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'ksg-bench-'));
  const config = join(dir, 'gateway.yaml');
  await writeFile(
    config,
    stringify({
      listen: '127.0.0.1:0',
      admin: { listen: 'off' },
      upstreams: [{ name: 'default', server: upstream, allowInsecureHTTP: true }],
      limits: { maxSessions: 1_000_000, maxSessionsPerUser: 1_000_000, idleTimeoutSeconds: 0, maxSessionSeconds: 0, ...connectionCaps(main) },
      shutdown: { gracePeriodSeconds: 0 },
    }),
  );
  const server = await startServer(['serve', '--config', config], main);
  return {
    ...server,
    stop: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A raw TCP relay in front of `upstream` (tcp-relay.ts), in its own process like the gateway. */
export function startTcpRelay(upstream: string): Promise<ServerProcess> {
  return startServer([upstream], fileURLToPath(new URL('./tcp-relay.js', import.meta.url)));
}

/** The synthetic SPDY upstream (synthetic-upstream.ts) in its own process, like the legacy cluster. */
export function startSyntheticUpstreamServer(): Promise<ServerProcess> {
  return startServer([], fileURLToPath(new URL('./synthetic-upstream-main.js', import.meta.url)));
}

export interface ProcessUsage {
  userSeconds: number;
  systemSeconds: number;
  minorFaults: number;
}

/** utime, stime (seconds; Linux /proc clock ticks are 100 Hz) and minflt of a process. */
function usageOf(pid: number): ProcessUsage {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { userSeconds: Number(fields[11]) / 100, systemSeconds: Number(fields[12]) / 100, minorFaults: Number(fields[7]) };
}

/** Resident memory of a process in bytes. */
export function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0) * 1024;
}

/** File descriptors a process has open now (Linux /proc). */
export function openDescriptorsOf(pid: number | 'self'): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** A process's soft limit on open files ("Max open files" in /proc/PID/limits); Infinity if unlimited. */
export function descriptorLimitOf(pid: number | 'self'): number {
  const match = /^Max open files\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return match && match[1] !== 'unlimited' ? Number(match[1]) : Infinity;
}

/**
 * Where `--pin` puts each process: the clients (this process) and the upstream (with the commands
 * it spawns, which inherit its affinity) on the first CPU, the gateway or relay on the second — a
 * hop with a CPU of its own, as in production, where the gateway does not run on kubectl's machine
 * nor on the cluster's. Both paths then give client and upstream the same CPU.
 */
export const PLACEMENT = { clientsAndUpstream: 0, hop: 1 } as const;

/** Binds every thread of a process to one CPU (util-linux taskset). */
export function pinToCpu(pid: number | 'self', cpu: number): void {
  execFileSync('taskset', ['--all-tasks', '--pid', '--cpu-list', String(cpu), String(pid === 'self' ? process.pid : pid)], { stdio: 'ignore' });
}
