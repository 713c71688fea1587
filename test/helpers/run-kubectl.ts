import { spawn } from 'node:child_process';
import { kubectlPath } from './kubectl.js';

export interface KubectlResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export interface KubectlRun {
  kubeconfig: string;
  /** Written to kubectl's stdin, then stdin is closed; stdin is closed at once when absent. */
  stdin?: Buffer | string;
  env?: Record<string, string>;
  /** Kill kubectl if it has not exited by then: a hang must fail the test, not stall the suite. */
  timeoutMs?: number;
}

/** Runs `kubectl.1.<minor>` against a kubeconfig with an isolated discovery cache. */
export function runKubectl(minor: number, args: string[], run: KubectlRun): Promise<KubectlResult> {
  const binary = kubectlPath(minor);
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['--kubeconfig', run.kubeconfig, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...run.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), run.timeoutMs ?? 60_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(stdout), stderr });
    });
    child.stdin.on('error', () => {
      // kubectl may exit before reading all of stdin (e.g. an exit-code test); that is not our failure
    });
    if (run.stdin !== undefined) child.stdin.end(run.stdin);
    else child.stdin.end();
  });
}
