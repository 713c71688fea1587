// client-go's own executors and port-forwarders (test/peers/cmd/*-client), driven by the tests.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { peerBinaries } from '../../bench/go-peers.js';

export interface ClientEndpoint {
  /** https://… of the gateway or a peer. */
  url: string;
  caPem: string;
  token: string;
}

export interface ExecClientRun {
  protocol: 'websocket' | 'spdy';
  command?: string[];
  /** Default: the exec path of the demo pod. */
  path?: string;
  container?: string;
  stdin?: string | Buffer;
  tty?: boolean;
  /** Terminal sizes client-go sends, e.g. ['80x24']. */
  resize?: string[];
  timeoutMs?: number;
}

export interface ExecClientResult {
  stdout: Buffer;
  stderr: string;
  /** What StreamWithContext returned: its error text, the exit code, the Status. */
  result: { error?: string; exitCode?: number; status?: { message?: string; reason?: string; code?: number; status?: string; details?: unknown } };
}

async function withCaFile<T>(caPem: string, use: (path: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'ksg-client-'));
  try {
    await writeFile(join(dir, 'ca.crt'), caPem);
    return await use(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** One exec or attach with client-go's SPDY or WebSocket executor. */
export async function runExecClient(endpoint: ClientEndpoint, run: ExecClientRun): Promise<ExecClientResult> {
  const binaries = await peerBinaries();
  return withCaFile(endpoint.caPem, async (dir) => {
    const resultPath = join(dir, 'result.json');
    const args = ['--server', endpoint.url, '--ca', join(dir, 'ca.crt'), '--token', endpoint.token, '--protocol', run.protocol, '--result', resultPath];
    if (run.path) args.push('--path', run.path);
    if (run.container) args.push('--container', run.container);
    if (run.stdin !== undefined) args.push('--stdin');
    if (run.tty) args.push('--tty');
    if (run.resize) args.push('--resize', run.resize.join(','));
    for (const word of run.command ?? []) args.push('--command', word);
    const child = spawn(binaries['exec-client'], args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdin.on('error', () => undefined);
    child.stdin.end(run.stdin ?? '');
    const limit = run.timeoutMs ?? 30_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, limit);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(timer);
    if (timedOut) throw new Error(`exec-client ${args.slice(8).join(' ')} did not finish within ${limit} ms; stderr: ${stderr}`);
    if (code !== 0) throw new Error(`exec-client failed (${code}): ${stderr}`);
    return { stdout: Buffer.concat(stdout), stderr, result: JSON.parse(await readFile(resultPath, 'utf8')) as ExecClientResult['result'] };
  });
}

export interface GoPortForward {
  localPorts: number[];
  stderr(): string;
  /** Closes the client's stdin (it stops forwarding) and resolves with how ForwardPorts ended. */
  stop(): Promise<{ error?: string }>;
  /** Resolves when ForwardPorts returned by itself. */
  ended: Promise<{ error?: string }>;
}

/** client-go's port-forwarder over SPDY or WebSocket tunneling; resolves once it listens. */
export async function startGoPortForward(endpoint: ClientEndpoint, mode: 'spdy' | 'tunnel', ports: string[]): Promise<GoPortForward> {
  const binaries = await peerBinaries();
  const dir = await mkdtemp(join(tmpdir(), 'ksg-pf-client-'));
  await writeFile(join(dir, 'ca.crt'), endpoint.caPem);
  const child = spawn(binaries['portforward-client'], ['--server', endpoint.url, '--ca', join(dir, 'ca.crt'), '--token', endpoint.token, '--mode', mode, '--ports', ports.join(',')], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const guard = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const exited = new Promise<void>((resolve) =>
    child.on('close', () => {
      clearTimeout(guard);
      void rm(dir, { recursive: true, force: true }).then(() => resolve());
    }),
  );
  const lines = createInterface({ input: child.stdout });
  let resolveEnded!: (value: { error?: string }) => void;
  const ended = new Promise<{ error?: string }>((resolve) => (resolveEnded = resolve));
  const ready = new Promise<number[]>((resolve, reject) => {
    lines.on('line', (line) => {
      const message = JSON.parse(line) as { ready?: boolean; localPorts?: number[]; ended?: boolean; error?: string };
      if (message.ready) resolve(message.localPorts!);
      if (message.ended) {
        resolveEnded(message.error ? { error: message.error } : {});
        reject(new Error(`portforward-client ended before it was ready: ${message.error ?? ''} ${stderr}`));
      }
    });
    void exited.then(() => reject(new Error(`portforward-client exited: ${stderr}`)));
  });
  const localPorts = await ready;
  return {
    localPorts,
    stderr: () => stderr,
    ended,
    async stop() {
      child.stdin.end();
      const result = await ended;
      await exited;
      return result;
    },
  };
}
