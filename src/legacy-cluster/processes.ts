import { spawn as spawnChild } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { spawn as spawnPty } from 'node-pty';

export interface ProcessStreams {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
}

export interface RunningProcess {
  /** Exit code as the kubelet reports it: the code, or 128 + signal number for a killed process. */
  readonly exited: Promise<number>;
  resize(columns: number, rows: number): void;
  /** Kills the whole process group: a shell's children must not outlive the session. */
  kill(): void;
}

export class CommandNotFoundError extends Error {
  override name = 'CommandNotFoundError';
}

export interface SpawnSpec {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  tty: boolean;
}

/** Starts a command wired to SPDY streams; without tty through pipes, with tty through a pseudo-terminal. */
export function startProcess(spec: SpawnSpec, streams: ProcessStreams): Promise<RunningProcess> {
  return spec.tty ? startWithPty(spec, streams) : startWithPipes(spec, streams);
}

function exitCode(code: number | null, signal: NodeJS.Signals | number | null): number {
  if (signal) return 128 + (typeof signal === 'number' ? signal : (constants.signals[signal] ?? 0));
  return code ?? 0;
}

function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function startWithPipes(spec: SpawnSpec, streams: ProcessStreams): Promise<RunningProcess> {
  return new Promise((resolve, reject) => {
    const child = spawnChild(spec.argv[0]!, spec.argv.slice(1), {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ['pipe', streams.stdout ? 'pipe' : 'ignore', streams.stderr ? 'pipe' : 'ignore'],
      detached: true,
    });
    child.once('error', (error: NodeJS.ErrnoException) => {
      reject(error.code === 'ENOENT' ? new CommandNotFoundError(`exec: "${spec.argv[0]}": executable file not found in $PATH`) : error);
    });
    child.once('spawn', () => {
      // The real streams end with RST_STREAM after the Status, not FIN: never end them here.
      if (streams.stdout) child.stdout!.pipe(streams.stdout, { end: false });
      if (streams.stderr) child.stderr!.pipe(streams.stderr, { end: false });
      const stdin = child.stdin!;
      stdin.on('error', () => {
        // The command may exit without reading all input (EPIPE): not the session's failure.
      });
      if (streams.stdin) streams.stdin.pipe(stdin);
      else stdin.end();
      resolve({
        exited: new Promise((done) => child.once('close', (code, signal) => done(exitCode(code, signal)))),
        resize: () => undefined,
        kill: () => killGroup(child.pid),
      });
    });
  });
}

async function startWithPty(spec: SpawnSpec, streams: ProcessStreams): Promise<RunningProcess> {
  const terminal = spawnPty(spec.argv[0]!, spec.argv.slice(1), {
    name: 'xterm',
    cols: 80,
    rows: 24,
    cwd: spec.cwd,
    env: { ...spec.env, TERM: 'xterm' },
  });
  const exited = new Promise<number>((resolve) => terminal.onExit(({ exitCode: code, signal }) => resolve(exitCode(code, signal || null))));
  if (streams.stdout) {
    const stdout = streams.stdout;
    terminal.onData((data) => {
      if (!stdout.write(data)) terminal.pause();
    });
    stdout.on('drain', () => terminal.resume());
  }
  streams.stdin?.on('data', (chunk: Buffer) => terminal.write(chunk));
  return {
    exited,
    resize: (columns, rows) => {
      if (columns > 0 && rows > 0) terminal.resize(columns, rows);
    },
    kill: () => killGroup(terminal.pid),
  };
}
