import { spawn } from 'node:child_process';
import { kubectlPath } from './kubectl.js';

export interface RunningForward {
  localPort: number;
  /** Everything kubectl printed on stderr so far. */
  stderr(): string;
  /** Ctrl-C, as a user would: resolves with kubectl's exit code. */
  stop(): Promise<number | null>;
  /** Resolves with kubectl's exit code when it exits by itself. */
  exited: Promise<number | null>;
}

/** Starts `kubectl port-forward pod/<pod> :<podPort>` and resolves once kubectl says where it listens. */
export function startPortForward(
  minor: number,
  kubeconfig: string,
  pod: string,
  podPort: number,
  env: Record<string, string> = {},
): Promise<RunningForward> {
  const child = spawn(kubectlPath(minor), ['--kubeconfig', kubeconfig, 'port-forward', `pod/${pod}`, `:${podPort}`], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // A forward that never comes up must fail the test, not hang it.
  const guard = setTimeout(() => child.kill('SIGKILL'), 120_000);
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
          const code = await exited;
          clearTimeout(guard);
          return code;
        },
      });
    });
    void exited.then((code) => {
      clearTimeout(guard);
      reject(new Error(`kubectl port-forward exited (${code}) before forwarding: ${stderr}`));
    });
  });
}
