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
  /**
   * Kill kubectl if it has not exited by then (default 60 s) and reject: a hang fails its test at
   * once with a message, instead of stalling the file into tap's 300 s timeout.
   */
  timeoutMs?: number;
  /** What a hang most likely means, for the failure message (e.g. stdin's end never reached upstream). */
  hangHint?: string;
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
    const limitMs = run.timeoutMs ?? 60_000;
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, limitMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (hung) {
        const hint = run.hangHint ? ` (${run.hangHint})` : '';
        reject(new Error(`kubectl 1.${minor} ${args.join(' ')} did not exit within ${limitMs / 1000} s${hint}; stderr: ${stderr}`));
        return;
      }
      resolve({ code, signal, stdout: Buffer.concat(stdout), stderr });
    });
    child.stdin.on('error', () => {
      // kubectl may exit before reading all of stdin (e.g. an exit-code test); that is not our failure
    });
    if (run.stdin !== undefined) child.stdin.end(run.stdin);
    else child.stdin.end();
  });
}
