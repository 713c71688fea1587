import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import { stringify } from 'yaml';
import { TOKEN } from './clients.js';
import { FULL_GC_LINE } from './gc-counter-line.js';
import type { BenchTls } from './tls-material.js';
import { GATEWAY_MAIN as MAIN } from './repo.js';

const GC_COUNTER = new URL('./gc-counter.js', import.meta.url).href;
const MiB = 1024 * 1024;

export interface ServerProcess {
  url: string;
  pid: number;
  /** User + system CPU seconds the process has used so far (from /proc). */
  cpuSeconds(): number;
  /** The same split, with the minor page faults so far. */
  usage(): ProcessUsage;
  /** Full (mark-compact) collections so far; 0 for a process started without the GC counter. */
  fullGcs(): number;
  /** Called with every JSON log line the process prints on stdout after its `listening` line. */
  onLog(listener: (record: Record<string, unknown>) => void): void;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** The script to run; our CLI by default. */
  script?: string;
  /** Count full GCs (gc-counter.ts loaded before the script). */
  countGcs?: boolean;
}

/**
 * Runs one of our commands in its own process, so the gateway's CPU and memory are its own, and
 * resolves with the URL from its "listening" log line. Later log lines go to `onLog` listeners; the
 * GC counter's lines on stderr are counted, anything else there is passed on to ours.
 */
export function startServer(args: string[], options: StartOptions = {}): Promise<ServerProcess> {
  const script = options.script ?? MAIN;
  const nodeArgs = [...nodeFlagsOf(script), ...(options.countGcs ? ['--import', GC_COUNTER] : [])];
  // Logs stay at info, as in production: two lines per session are part of the cost measured.
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let fullGcs = 0;
  eachLine(child.stderr!, (line) => {
    if (line === FULL_GC_LINE) fullGcs += 1;
    else process.stderr.write(`${line}\n`);
  });
  const listeners: Array<(record: Record<string, unknown>) => void> = [];
  let url: string | undefined;
  return new Promise((resolve, reject) => {
    eachLine(child.stdout!, (line) => {
      if (url === undefined) {
        const match = /"url":"(http[^"]+)"/.exec(line);
        if (!match) return;
        url = match[1]!;
        resolve({
          url,
          pid: child.pid!,
          cpuSeconds: () => cpuSecondsOf(child.pid!),
          usage: () => usageOf(child.pid!),
          fullGcs: () => fullGcs,
          onLog: (listener) => void listeners.push(listener),
          stop: () =>
            new Promise((done) => {
              if (child.exitCode !== null || child.signalCode !== null) return done();
              child.once('exit', () => done());
              child.kill('SIGTERM');
            }),
        });
        return;
      }
      if (listeners.length === 0 || !line.startsWith('{')) return;
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      for (const listener of listeners) listener(record);
    });
    child.once('exit', (code) => {
      if (url === undefined) reject(new Error(`${args[0] ?? script} exited with ${code} before listening`));
    });
  });
}

/**
 * The node flags a script's first line (`#!/usr/bin/env -S node …`) starts it with, so that the bench
 * runs our command as it is installed and run (the bin, the image) and not as bare `node script`.
 */
export function nodeFlagsOf(script: string): string[] {
  const first = readFileSync(script, 'utf8').split('\n', 1)[0] ?? '';
  return /^#!\/usr\/bin\/env -S node(?: (.*))?$/.exec(first)?.[1]?.trim().split(/\s+/) ?? [];
}

/** Every process started here that has not exited yet. */
const running = new Set<ChildProcess>();

/** Counts a process the bench started among those `stopAll` stops (the Go peers are started elsewhere). */
export function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
}

/**
 * Stops every process started here that is still running: after a part that failed or overran its
 * deadline, so that nothing it left behind competes with the next part.
 */
export async function stopAll(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          child.once('exit', () => done());
          child.kill('SIGKILL');
        }),
    ),
  );
}

/** Splits a stream into lines (bounded: a line longer than 1 MiB is dropped, not buffered on). */
function eachLine(stream: Readable, onLine: (line: string) => void): void {
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      onLine(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
    }
    if (buffered.length > MiB) buffered = '';
  });
}

/**
 * TLS on both legs (the production shape) or plain HTTP (`--plain`, the old shape): what every
 * process of a run serves and trusts.
 */
export type Transport = { kind: 'tls'; tls: BenchTls } | { kind: 'plain' };

/** The CA the bench's clients trust, undefined over plain HTTP. */
export function trustOf(transport: Transport): string | undefined {
  return transport.kind === 'tls' ? transport.tls.caPem : undefined;
}

export interface GatewayOptions {
  /** Another build's CLI, for `npm run bench:ab`. */
  main?: string;
  /** Count the gateway's full GCs (gc-counter.ts). */
  countGcs?: boolean;
  /** `upstreams[].streaming` (default: the gateway's own default). */
  streaming?: 'spdy' | 'websocket' | 'auto';
  /** `recording`: where and how much per session (default: no recording). */
  recording?: { directory: string; maxBytesPerSession: number };
}

/**
 * The gateway as the benchmark and the soak run it: `serve` in front of `upstream`, without the admin
 * listener (runs must not compete for its port) and with limits far above what a run opens from one
 * address (the production defaults would refuse the 10,000 idle sessions), no idle or age limit, and
 * no drain on stop. With TLS it serves HTTPS with the bench's certificate and verifies the upstream's
 * against the bench's CA, as deployed.
 */
/**
 * Connection caps lifted like the session limits, for this build only: a reference build from
 * before they existed (bench:ab) would refuse the keys, and has no caps anyway.
 */
function connectionCaps(main: string | undefined): Record<string, number> {
  return main === undefined || main === MAIN ? { maxConnections: 1_000_000, maxConnectionsPerClient: 1_000_000 } : {};
}

export async function startGatewayServer(upstream: string, transport: Transport, options: GatewayOptions = {}): Promise<ServerProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'ksg-bench-'));
  const config = join(dir, 'gateway.yaml');
  const secure = transport.kind === 'tls';
  await writeFile(
    config,
    stringify({
      listen: '127.0.0.1:0',
      admin: { listen: 'off' },
      ...(secure ? { tls: { cert: transport.tls.certFile, key: transport.tls.keyFile } } : {}),
      upstreams: [{ name: 'default', server: upstream, ...(secure ? { ca: transport.tls.caFile } : { allowInsecureHTTP: true }), ...(options.streaming ? { streaming: options.streaming } : {}) }],
      limits: { maxSessions: 1_000_000, maxSessionsPerUser: 1_000_000, idleTimeoutSeconds: 0, maxSessionSeconds: 0, ...connectionCaps(options.main) },
      shutdown: { gracePeriodSeconds: 0 },
      ...(options.recording ? { recording: options.recording } : {}),
    }),
  );
  const server = await startServer(['serve', '--config', config], { ...(options.main ? { script: options.main } : {}), countGcs: options.countGcs ?? true });
  return {
    ...server,
    stop: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The legacy cluster (a real process per exec), HTTPS with the bench's certificate unless plain;
 * `streaming`: what it serves exec, attach and port-forward over (`legacy-cluster --streaming`, default spdy).
 */
export function startLegacyClusterServer(transport: Transport, streaming?: 'spdy' | 'websocket' | 'both'): Promise<ServerProcess> {
  const tlsArgs = transport.kind === 'tls' ? ['--tls-cert', transport.tls.certFile, '--tls-key', transport.tls.keyFile] : [];
  return startServer(['legacy-cluster', '--listen', '127.0.0.1:0', '--token', TOKEN, ...tlsArgs, ...(streaming ? ['--streaming', streaming] : [])]);
}

/**
 * The floor (tcp-relay.ts) in front of `upstream`, in its own process like the gateway: over TLS it
 * terminates the client's TLS and speaks TLS to the upstream, as the gateway does, and copies bytes.
 */
export function startRelay(upstream: string, transport: Transport): Promise<ServerProcess> {
  const tlsArgs = transport.kind === 'tls' ? ['--tls-cert', transport.tls.certFile, '--tls-key', transport.tls.keyFile, '--ca', transport.tls.caFile] : [];
  return startServer([upstream, ...tlsArgs], { script: fileURLToPath(new URL('./tcp-relay.js', import.meta.url)), countGcs: true });
}

/** The synthetic SPDY upstream (synthetic-upstream.ts) in its own process, like the legacy cluster. */
export function startSyntheticUpstreamServer(transport: Transport): Promise<ServerProcess> {
  const tlsArgs = transport.kind === 'tls' ? ['--tls-cert', transport.tls.certFile, '--tls-key', transport.tls.keyFile] : [];
  return startServer(tlsArgs, { script: fileURLToPath(new URL('./synthetic-upstream-main.js', import.meta.url)) });
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

/** User + system CPU seconds a process has used so far (its own threads, not its children). */
export function cpuSecondsOf(pid: number): number {
  const { userSeconds, systemSeconds } = usageOf(pid);
  return userSeconds + systemSeconds;
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

/** Binds every thread of a process to one CPU, or to a set of them (util-linux taskset). */
export function pinToCpu(pid: number | 'self', cpu: number | readonly number[]): void {
  const list = typeof cpu === 'number' ? String(cpu) : cpu.join(',');
  execFileSync('taskset', ['--all-tasks', '--pid', '--cpu-list', list, String(pid === 'self' ? process.pid : pid)], { stdio: 'ignore' });
}
