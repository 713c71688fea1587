// Running the built `kube-stream-gateway` (dist/cli/main.js, built by `npm test`'s pretest) as a user
// would: one-shot runs, and long-running commands whose output the tests wait on (never sleeps).
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

const MAIN = new URL('../../dist/cli/main.js', import.meta.url).pathname;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion (a hang is killed after 30 s and fails the test). */
export function cli(args: string[], options: { cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { cwd: options.cwd, timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export type JsonLine = Record<string, unknown>;

/** A long-running command: its output as it comes, waits on it, its exit. */
export class CliProcess {
  readonly child: ChildProcessWithoutNullStreams;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly waiters: Array<() => void> = [];
  private done = false;

  /** `asInstalled`: run the file itself, through its `#!` line, as the npm bin and the image do. */
  constructor(args: string[], options: { cwd?: string; asInstalled?: boolean } = {}) {
    const [command, commandArgs] = options.asInstalled ? [MAIN, args] : [process.execPath, [MAIN, ...args]];
    this.child = spawn(command, commandArgs, { cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdin.end();
    this.child.stdout.on('data', (chunk: Buffer) => {
      this.stdout += chunk.toString();
      this.wake();
    });
    this.child.stderr.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
      if (process.env.GATEWAY_TEST_LOGS) process.stderr.write(chunk);
      this.wake();
    });
    this.exited = new Promise((resolve) =>
      // 'close': the exit code and every byte of output are in.
      this.child.on('close', (code, signal) => {
        this.done = true;
        resolve({ code, signal });
        this.wake();
      }),
    );
  }

  hasExited(): boolean {
    return this.done;
  }

  /** Parsed JSON lines of stdout (the logs). */
  jsonLines(): JsonLine[] {
    return this.stdout
      .split('\n')
      .filter((line) => line.startsWith('{') && line.endsWith('}'))
      .map((line) => JSON.parse(line) as JsonLine);
  }

  /** Resolves once `condition` holds on the output so far; rejects if the process exits first, or after `limitMs`. */
  waitFor<T>(what: string, condition: () => T | undefined | false, limitMs = 30_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`timed out after ${limitMs} ms waiting for ${what}; stderr: ${this.stderr}`)), limitMs);
      const finish = (error?: Error, value?: T): void => {
        clearTimeout(timer);
        const index = this.waiters.indexOf(check);
        if (index >= 0) this.waiters.splice(index, 1);
        if (error) reject(error);
        else resolve(value as T);
      };
      const check = (): void => {
        const value = condition();
        if (value) finish(undefined, value);
        else if (this.done) finish(new Error(`the process exited before ${what}; stderr: ${this.stderr}`));
      };
      this.waiters.push(check);
      check();
    });
  }

  /** The first log line that matches. */
  waitForLog(what: string, match: (line: JsonLine) => boolean): Promise<JsonLine> {
    return this.waitFor(what, () => this.jsonLines().find(match));
  }

  /** The URL in the first `"event":"listening"` log line of this component (or of a line without one). */
  async listeningUrl(component?: string): Promise<string> {
    const line = await this.waitForLog(`the ${component ?? 'server'}'s listening line`, (l) => l.event === 'listening' && l.component === component);
    return line.url as string;
  }

  /** Sends the signal and resolves with the exit code, or the signal's name if it died of one. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | string | null> {
    if (!this.done) this.child.kill(signal);
    const { code, signal: killedBy } = await this.exited;
    return killedBy ?? code;
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
