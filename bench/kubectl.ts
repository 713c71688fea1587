import { execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, realpathSync } from 'node:fs';
import net from 'node:net';
import { delimiter, dirname, join } from 'node:path';

/**
 * Runs numbered kubectl releases (`kubectl.1.33` beside the `kubectl` on PATH, or in
 * KUBECTL_RELEASES_DIR) for the benchmark's kubectl rows: never the plain `kubectl`, whose version —
 * and so protocol — is whatever the dispatcher picks.
 */
export function kubectlBinary(minor: number): string {
  const dirs = process.env.KUBECTL_RELEASES_DIR ? [process.env.KUBECTL_RELEASES_DIR] : [];
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      dirs.push(dirname(realpathSync(join(dir, 'kubectl'))));
    } catch {
      // no kubectl in this PATH entry
    }
  }
  for (const dir of dirs) {
    const path = join(dir, `kubectl.1.${minor}`);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  throw new Error(`kubectl.1.${minor} not found (looked beside the kubectl on PATH and in KUBECTL_RELEASES_DIR)`);
}

/** `kubectl.1.NN (v1.NN.P)`: the release and the exact client version, for the report. */
export function describeKubectl(binary: string): string {
  const output = execFileSync(binary, ['version', '--client'], { encoding: 'utf8' });
  // Before 1.28 the "Client Version:" line is a Go struct: its GitVersion field is the version.
  const version = /GitVersion:"([^"]+)"/.exec(output)?.[1] ?? /Client Version: (\S+)/.exec(output)?.[1];
  return `${binary} (${version ?? 'version unknown'})`;
}

export interface KubectlCall {
  binary: string;
  kubeconfig: string;
  env: Record<string, string>;
}

/** Kills a kubectl that has not finished by then: a hang fails its row, not the run. */
const KUBECTL_TIMEOUT_MS = 300_000;

/**
 * One kubectl command: `stdinBytes` zero bytes on its stdin (then end of file; none: closed at once),
 * its stdout counted and dropped. Resolves with the seconds from spawn to exit, the stdout count and
 * the end of its stderr (the last 4 KiB); rejects naming kubectl's stderr when it exits non-zero.
 */
export function runKubectl(call: KubectlCall, args: string[], stdinBytes = 0): Promise<{ seconds: number; stdoutBytes: number; stderr: string }> {
  const started = process.hrtime.bigint();
  const child = spawn(call.binary, ['--kubeconfig', call.kubeconfig, ...args], { env: call.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdoutBytes = 0;
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdoutBytes += chunk.length));
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4096)));
  child.stdin.on('error', () => undefined);
  void feedZeros(child.stdin, stdinBytes);
  const timer = setTimeout(() => child.kill('SIGKILL'), KUBECTL_TIMEOUT_MS);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code === 0) resolve({ seconds, stdoutBytes, stderr });
      else reject(new Error(`kubectl ${args.slice(0, 2).join(' ')} exited with ${code ?? signal}: ${stderr.trim().split('\n').slice(-3).join(' / ')}`));
    });
  });
}

/** `bytes` zero bytes into a writable in 64 KiB writes, honouring back-pressure, then its end. */
async function feedZeros(stdin: NodeJS.WritableStream, bytes: number): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024);
  for (let left = bytes; left > 0; left -= chunk.length) {
    const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
    if (!stdin.write(piece)) await new Promise((resolve) => stdin.once('drain', resolve));
  }
  stdin.end();
}

/** A running `kubectl port-forward pod/<pod> :<port>`: where it listens, and how to stop it. */
export interface Forward {
  localPort: number;
  /** The end of kubectl's stderr so far (the last 4 KiB). */
  stderr(): string;
  /** Ctrl-C, as a user would: resolves with kubectl's exit code. */
  stop(): Promise<number | null>;
  /** Resolves with kubectl's exit code when it exits by itself. */
  exited: Promise<number | null>;
}

/**
 * Starts a port-forward (`flags` before the command, e.g. `-v=6`) and resolves once kubectl says
 * where it listens (rejects if it exits first); a kubectl still running after `timeoutMs` is killed,
 * so a forward that hangs fails its caller instead of stalling it. The bench and the tests share it.
 */
export function startForward(call: KubectlCall, pod: string, podPort: number, flags: string[] = [], timeoutMs = KUBECTL_TIMEOUT_MS): Promise<Forward> {
  const child = spawn(call.binary, ['--kubeconfig', call.kubeconfig, ...flags, 'port-forward', `pod/${pod}`, `:${podPort}`], { env: call.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4096)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  void exited.then(() => clearTimeout(timer));
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /Forwarding from 127\.0\.0\.1:(\d+) ->/.exec(stdout);
      if (!match) return;
      child.stdout.removeAllListeners('data');
      child.stdout.resume();
      resolve({
        localPort: Number(match[1]),
        stderr: () => stderr,
        exited,
        stop: async () => {
          child.kill('SIGINT');
          return exited;
        },
      });
    });
    void exited.then((code) => reject(new Error(`kubectl port-forward exited (${code}) before forwarding: ${stderr.trim()}`)));
  });
}

/** `bytes` through a forwarded echo port and back, both directions at once: seconds from connect to the last byte back. */
export async function echoThrough(localPort: number, bytes: number): Promise<number> {
  const started = process.hrtime.bigint();
  const socket = net.connect({ host: '127.0.0.1', port: localPort });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    let received = 0;
    socket.once('error', reject);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received >= bytes) resolve();
    });
    socket.once('close', () => reject(new Error(`port-forward echo: the connection closed after ${received} of ${bytes} bytes`)));
    void writeBytes(socket, bytes);
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  socket.removeAllListeners('close');
  socket.destroy();
  return seconds;
}

/** `bytes` of "c" (not zeros: nothing on the way may take a shortcut for them), honouring back-pressure; the socket stays open for the echo. */
async function writeBytes(socket: net.Socket, bytes: number): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, 0x63);
  for (let left = bytes; left > 0 && !socket.destroyed; left -= chunk.length) {
    const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
    if (!socket.write(piece)) await new Promise((resolve) => socket.once('drain', resolve));
  }
}
