import { spawn as spawnChild } from 'node:child_process';
import { access, stat } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';

/** What a "container" process is started with: argv, the pod's scratch directory, the container's env. */
export interface ProcessSpec {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
}

/**
 * The runtime could not start the command (runc's "exec failed"), as opposed to a command that ran
 * and exited non-zero. The message is runc's, e.g. `exec: "x": executable file not found in $PATH`.
 */
export class ExecFailedError extends Error {
  override name = 'ExecFailedError';
}

/** A started process, whatever carries its bytes. */
export interface StartedProcess {
  readonly pid: number;
  /**
   * The exit code as containerd reports it: the code, or 128 + signal number for a killed process.
   * Resolves once the process has exited and its output has been read to the end.
   */
  readonly exited: Promise<number>;
  /** Resolves when the process itself is gone, even if something else still holds its output open. */
  readonly gone: Promise<void>;
  /** SIGKILL to its whole process group: a shell's children must not outlive it. */
  kill(): void;
}

/**
 * Every process the cluster started, so that close() can kill them all and wait until they are gone,
 * whichever session or container started them.
 */
/**
 * What the legacy cluster uses of node-pty, an optional dependency loaded on the first terminal
 * session. Declared here rather than imported, so that the project builds where it is not installed.
 */
interface Pty {
  readonly pid: number;
  write(data: string | Buffer): void;
  resize(columns: number, rows: number): void;
  onData(listener: (data: string | Buffer) => void): unknown;
  onExit(listener: (event: { exitCode: number; signal?: number }) => void): unknown;
  pause(): void;
  resume(): void;
}
export interface PtyModule {
  spawn(file: string, args: string[], options: { name: string; cols: number; rows: number; cwd: string; env: Record<string, string | undefined>; encoding: null }): Pty;
}
/** A variable, not a literal: TypeScript must not look for the package's types at build time. */
const NODE_PTY = 'node-pty';

/**
 * What a tty exec answers where node-pty is not installed (it needs a C++ toolchain to build).
 * @internal Exported for its unit test; the product uses it only here.
 */
export const NO_PTY_MESSAGE = 'terminal sessions need the optional node-pty package, which is not installed here: npm install node-pty (it builds with a C++ toolchain)';

export interface ProcessRegistryOptions {
  /** Loads node-pty; the dynamic import by default (tests stand in a loader that fails). */
  loadPty?: () => Promise<PtyModule>;
}

export class ProcessRegistry {
  private readonly running = new Set<StartedProcess>();
  private closed = false;
  private pty: Promise<PtyModule> | undefined;

  constructor(private readonly options: ProcessRegistryOptions = {}) {}

  /** node-pty, loaded once; rejects with NO_PTY_MESSAGE when it is not installed. */
  loadPty(): Promise<PtyModule> {
    this.pty ??= (this.options.loadPty ?? (() => import(NODE_PTY) as Promise<PtyModule>))().catch((error: unknown) => {
      this.pty = undefined;
      throw new Error(NO_PTY_MESSAGE, { cause: error });
    });
    return this.pty;
  }

  get size(): number {
    return this.running.size;
  }

  /** @internal */
  add(process: StartedProcess): void {
    this.running.add(process);
    void process.gone.then(() => this.running.delete(process));
    // Started while the cluster was closing: it must not outlive it.
    if (this.closed) process.kill();
  }

  /** Kills every process (and its group) and resolves once each has exited. */
  async killAll(): Promise<void> {
    this.closed = true;
    const running = [...this.running];
    for (const process of running) process.kill();
    await Promise.all(running.map((process) => process.gone));
  }
}

/** containerd's exit code: the code, or 128 + signal number for a signal death (runc's convention). */
function exitCodeOf(code: number | null, signal: NodeJS.Signals | number | null): number {
  if (signal) return 128 + (typeof signal === 'number' ? signal : (osConstants.signals[signal] ?? 0));
  return code ?? 0;
}

/** Every process here is started as the leader of its own group (detached / setsid), so -pid is its group. */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // the whole group is gone
  }
}

/**
 * Go's exec.LookPath as runc applies it inside the container (here: this host; a relative path
 * against the pod's working directory), failing with runc's wording so that a missing command reads
 * as it does on a real node: `exec: "nosuchcmd": executable file not found in $PATH`.
 */
async function lookPath(file: string, env: Record<string, string>, cwd: string): Promise<string> {
  if (file === '') throw new ExecFailedError('exec: "": executable file not found in $PATH');
  if (file.includes('/')) {
    const path = isAbsolute(file) ? file : resolve(cwd, file);
    const problem = await executableProblem(path);
    if (problem === 'missing') throw new ExecFailedError(`exec: "${file}": stat ${file}: no such file or directory`);
    if (problem) throw new ExecFailedError(`exec: "${file}": ${problem}`);
    return path;
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir === '' ? '.' : dir, file);
    const path = isAbsolute(candidate) ? candidate : resolve(cwd, candidate);
    if ((await executableProblem(path)) === undefined) return path;
  }
  throw new ExecFailedError(`exec: "${file}": executable file not found in $PATH`);
}

async function executableProblem(path: string): Promise<'missing' | 'is a directory' | 'permission denied' | undefined> {
  try {
    if ((await stat(path)).isDirectory()) return 'is a directory';
  } catch {
    return 'missing';
  }
  try {
    await access(path, fsConstants.X_OK);
    return undefined;
  } catch {
    return 'permission denied';
  }
}

export interface PipedProcess extends StartedProcess {
  /** Present when stdin was asked for; otherwise the process reads /dev/null. */
  readonly stdin: Writable | undefined;
  readonly stdout: Readable | undefined;
  readonly stderr: Readable | undefined;
}

/**
 * A process with pipes, leader of its own process group. A stream not asked for is /dev/null, as
 * containerd gives an exec without that stream.
 */
export async function spawnPiped(
  spec: ProcessSpec,
  stdio: { stdin: boolean; stdout: boolean; stderr: boolean },
  registry: ProcessRegistry,
): Promise<PipedProcess> {
  const file = await lookPath(spec.argv[0] ?? '', spec.env, spec.cwd);
  const child = spawnChild(file, spec.argv.slice(1), {
    argv0: spec.argv[0],
    cwd: spec.cwd,
    env: spec.env,
    stdio: [stdio.stdin ? 'pipe' : 'ignore', stdio.stdout ? 'pipe' : 'ignore', stdio.stderr ? 'pipe' : 'ignore'],
    detached: true,
  });
  await new Promise<void>((done, fail) => {
    child.once('spawn', done);
    child.once('error', (error) => fail(new ExecFailedError(`exec: "${spec.argv[0]}": ${error.message}`)));
  });
  // The command may exit without reading its input (EPIPE), or the client may vanish: not errors here.
  child.stdin?.on('error', () => undefined);
  child.stdout?.on('error', () => undefined);
  child.stderr?.on('error', () => undefined);
  const pid = child.pid!;
  const started: PipedProcess = {
    pid,
    exited: new Promise((done) => child.once('close', (code, signal) => done(exitCodeOf(code, signal)))),
    gone: new Promise((done) => child.once('exit', () => done())),
    stdin: child.stdin ?? undefined,
    stdout: child.stdout ?? undefined,
    stderr: child.stderr ?? undefined,
    kill: () => killGroup(pid),
  };
  registry.add(started);
  return started;
}

export interface TerminalProcess extends StartedProcess {
  write(data: Buffer): void;
  resize(columns: number, rows: number): void;
  /** Output, as bytes; `pause`/`resume` hold the terminal while the reader is behind. */
  onData(listener: (data: Buffer) => void): void;
  pause(): void;
  resume(): void;
}

/** The size a runtime gives a terminal before the client's first resize arrives. */
const DEFAULT_TERMINAL_SIZE = { columns: 80, rows: 24 };

/**
 * A process on a pseudo-terminal (node-pty), session leader of its own group, with `TERM=xterm` as
 * containerd sets it for a tty exec. Output is raw bytes (no UTF-8 decoding), and node-pty reports
 * the exit only after the terminal's output has been read to its end.
 */
export async function spawnTerminal(spec: ProcessSpec, registry: ProcessRegistry): Promise<TerminalProcess> {
  const { spawn: spawnPty } = await registry.loadPty();
  const file = await lookPath(spec.argv[0] ?? '', spec.env, spec.cwd);
  let terminal: Pty;
  try {
    terminal = spawnPty(file, spec.argv.slice(1), {
      name: 'xterm',
      cols: DEFAULT_TERMINAL_SIZE.columns,
      rows: DEFAULT_TERMINAL_SIZE.rows,
      cwd: spec.cwd,
      env: { ...spec.env, TERM: 'xterm' },
      encoding: null,
    });
  } catch (error) {
    throw new ExecFailedError(`exec: "${spec.argv[0]}": ${(error as Error).message}`);
  }
  let ended = false;
  const exited = new Promise<number>((done) =>
    terminal.onExit(({ exitCode, signal }) => {
      ended = true;
      done(exitCodeOf(exitCode, signal || null));
    }),
  );
  const pid = terminal.pid;
  const started: TerminalProcess = {
    pid,
    exited,
    gone: exited.then(() => undefined),
    kill: () => killGroup(pid),
    write: (data) => {
      if (!ended) terminal.write(data);
    },
    resize: (columns, rows) => {
      // The kernel refuses a 0×0 window; runc ignores such a resize too.
      if (!ended && columns > 0 && rows > 0) terminal.resize(columns, rows);
    },
    onData: (listener) => {
      terminal.onData((data: string | Buffer) => listener(typeof data === 'string' ? Buffer.from(data, 'utf8') : data));
    },
    pause: () => terminal.pause(),
    resume: () => terminal.resume(),
  };
  registry.add(started);
  return started;
}
