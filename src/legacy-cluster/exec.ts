import { randomBytes } from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import { exitCodeStatus, successStatus, type Status } from '../codecs/k8s/status.js';
import { TerminalSizeDecoder } from '../codecs/k8s/terminal-size.js';
import { internalErrorStatus } from '../codecs/k8s/status.js';
import {
  ExecFailedError,
  spawnPiped,
  spawnTerminal,
  type PipedProcess,
  type ProcessRegistry,
  type ProcessSpec,
  type StartedProcess,
  type TerminalProcess,
} from './processes.js';
import type { Execution, SessionStreams } from './remote-command.js';

/**
 * `kubectl exec`: a real process on this host wired to the client's streams — pipes without a tty,
 * a pseudo-terminal with one (resized from the resize stream). The Status is what the kubelet writes
 * for containerd's result: success, the exit code (128 + signal for a killed process), or the
 * runtime's error when the command cannot be started.
 */
export function execInContainer(spec: ProcessSpec, tty: boolean, streams: SessionStreams, registry: ProcessRegistry, logger: Logger): Execution {
  let aborted = false;
  const starting: Promise<StartedProcess | Status> = (async () => {
    if (spec.argv.length === 0) return startFailure('exec failed: args must not be empty');
    try {
      if (tty) {
        const terminal = await spawnTerminal(spec, registry);
        wireTerminal(terminal, streams, logger);
        return terminal;
      }
      const piped = await spawnPiped(spec, { stdin: Boolean(streams.stdin), stdout: Boolean(streams.stdout), stderr: Boolean(streams.stderr) }, registry);
      wirePipes(piped, streams);
      return piped;
    } catch (error) {
      if (error instanceof ExecFailedError) return startFailure(`exec failed: unable to start container process: ${error.message}`);
      return internalErrorStatus(`error executing command in container: ${(error as Error).message}`);
    }
  })();
  const status = (async (): Promise<Status> => {
    const started = await starting;
    if (!isProcess(started)) return started;
    if (aborted) started.kill();
    const code = await started.exited;
    // What it left running in its group goes with it.
    started.kill();
    return code === 0 ? successStatus() : exitCodeStatus(code);
  })();
  return {
    status,
    async abort() {
      aborted = true;
      const started = await starting;
      if (!isProcess(started)) return;
      started.kill();
      await started.gone;
    },
  };
}

function isProcess(value: StartedProcess | Status): value is StartedProcess {
  return 'kill' in value;
}

/**
 * The text a real node (kubelet → containerd → runc) reports when the command cannot be started,
 * e.g. for `kubectl exec demo -- nosuchcmd`; kubectl prints it after "error: " and exits 1.
 */
function startFailure(runcError: string): Status {
  const execId = randomBytes(32).toString('hex');
  return internalErrorStatus(
    `error executing command in container: failed to exec in container: failed to start exec "${execId}": OCI runtime exec failed: ${runcError}: unknown`,
  );
}

function wirePipes(child: PipedProcess, streams: SessionStreams): void {
  // Output streams end with RST_STREAM after the Status, never FIN: do not end them here.
  if (streams.stdout && child.stdout) child.stdout.pipe(streams.stdout, { end: false });
  if (streams.stderr && child.stderr) child.stderr.pipe(streams.stderr, { end: false });
  const stdin = streams.stdin;
  if (stdin && child.stdin) {
    // FIN on the stdin stream ends the process's stdin.
    stdin.pipe(child.stdin);
    const discard = (): void => {
      stdin.unpipe(child.stdin);
      stdin.resume();
    };
    child.stdin.once('error', discard);
    child.stdin.once('close', discard);
  }
  // Without a terminal there is nothing to resize.
  streams.resize?.resume();
}

function wireTerminal(terminal: TerminalProcess, streams: SessionStreams, logger: Logger): void {
  // Resizes first: sizes the client sent before its input take effect before that input is read.
  const resize = streams.resize;
  if (resize) {
    const decoder = new TerminalSizeDecoder();
    const onSize = (chunk: Buffer): void => {
      try {
        for (const size of decoder.push(chunk)) terminal.resize(size.Width, size.Height);
      } catch (error) {
        // The kubelet stops decoding at the first bad value; the rest is read and dropped.
        logger.warn({ err: (error as Error).message }, 'bad resize stream');
        resize.off('data', onSize);
        resize.resume();
      }
    };
    resize.on('data', onSize);
  }
  const stdout = streams.stdout;
  terminal.onData((data) => {
    if (!stdout || stdout.destroyed) return;
    if (!stdout.write(data)) {
      terminal.pause();
      stdout.once('drain', () => terminal.resume());
    }
  });
  streams.stdin?.on('data', (chunk: Buffer) => terminal.write(chunk));
}
