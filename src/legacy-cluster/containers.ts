import type { Readable, Writable } from 'node:stream';
import type { Logger } from '../observability/logger.js';
import type { DemoContainer } from './api-objects.js';
import type { ContainerLog } from './container-logs.js';
import { spawnPiped, type PipedProcess, type ProcessRegistry, type ProcessSpec } from './processes.js';

/** The client's side of one attach: the SPDY streams it asked for. */
export interface AttachStreams {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
}

export interface Attachment {
  /** Resolves when the attach is over: the main process ended, or this client's stdin ended (not stdinOnce). */
  readonly ended: Promise<void>;
  /** The client went away: stop copying (with stdinOnce this also closes the main process's stdin). */
  detach(): void;
}

/**
 * A container's main process, which `kubectl attach` connects to, modelled on containerd's
 * ContainerIO.Attach (pkg/cri/io/container_io.go):
 *
 * - Output is copied to every attached client and to the container log (`kubectl logs`). A slow
 *   client holds the process back, as containerd's synchronous broadcast does.
 * - An attached client's stdin goes to the process's stdin (only if the container has `stdin: true`).
 *   When that stdin ends and the container is `stdinOnce` (and the attach has no tty), the process's
 *   stdin is closed; otherwise that client is simply detached.
 * - When the process exits, every attach ends. The container then "restarts": the next attach starts
 *   a fresh process. A process whose stdin was closed by stdinOnce counts as exiting already.
 */
export class ContainerMainProcess {
  private current: Incarnation | undefined;
  private starting: Promise<Incarnation> | undefined;
  restartCount = 0;

  constructor(
    readonly container: DemoContainer,
    private readonly spec: ProcessSpec,
    private readonly registry: ProcessRegistry,
    private readonly logger: Logger,
    /** Where its output goes besides the attached clients (`kubectl logs`). */
    private readonly log?: ContainerLog,
  ) {}

  /** Attaches a client; rejects when the main process cannot be started. */
  async attach(streams: AttachStreams, tty: boolean): Promise<Attachment> {
    const incarnation = await this.running();
    return incarnation.attach(streams, this.container.stdinOnce && !tty);
  }

  private running(): Promise<Incarnation> {
    if (this.current && !this.current.finished) return Promise.resolve(this.current);
    this.starting ??= (async () => {
      try {
        const process = await spawnPiped(this.spec, { stdin: this.container.stdin, stdout: true, stderr: true }, this.registry);
        if (this.current) this.restartCount += 1;
        const incarnation = new Incarnation(process, this.log);
        this.current = incarnation;
        this.logger.info({ event: 'container-start', container: this.container.name, argv: this.spec.argv, pid: process.pid }, 'container main process started');
        void process.exited.then((exitCode) =>
          this.logger.info({ event: 'container-exit', container: this.container.name, exitCode }, 'container main process exited'),
        );
        return incarnation;
      } finally {
        this.starting = undefined;
      }
    })();
    return this.starting;
  }
}

/** One run of the main process and the clients attached to it. */
class Incarnation {
  private readonly attachments = new Set<AttachmentState>();
  /** Its stdin was closed (stdinOnce) or it exited: new attaches go to a fresh process. */
  finished = false;
  private exited = false;

  constructor(
    private readonly process: PipedProcess,
    log?: ContainerLog,
  ) {
    broadcast(process.stdout!, () => [...this.attachments].map((a) => a.stdout), log);
    broadcast(process.stderr!, () => [...this.attachments].map((a) => a.stderr), log);
    void process.exited.then(() => {
      this.exited = true;
      this.finished = true;
      for (const attachment of [...this.attachments]) attachment.end();
    });
  }

  attach(streams: AttachStreams, closeStdinOnEnd: boolean): Attachment {
    let resolveEnded!: () => void;
    const ended = new Promise<void>((resolve) => (resolveEnded = resolve));
    let stopStdin = (): void => undefined;
    const state: AttachmentState = {
      stdout: streams.stdout,
      stderr: streams.stderr,
      end: () => {
        if (!this.attachments.delete(state)) return;
        stopStdin();
        resolveEnded();
      },
    };
    this.attachments.add(state);
    const containerStdin = this.process.stdin;
    const closeContainerStdin = (): void => {
      this.finished = true;
      containerStdin?.end();
    };
    if (streams.stdin && containerStdin) {
      const clientStdin = streams.stdin;
      let copying = true;
      const onData = (chunk: Buffer): void => {
        if (containerStdin.writableEnded || containerStdin.destroyed) return;
        if (!containerStdin.write(chunk)) {
          clientStdin.pause();
          containerStdin.once('drain', () => clientStdin.resume());
        }
      };
      const onStdinEnd = (): void => {
        if (!copying) return;
        copying = false;
        if (closeStdinOnEnd) closeContainerStdin();
        else state.end();
      };
      clientStdin.on('data', onData);
      clientStdin.once('end', onStdinEnd);
      clientStdin.once('close', onStdinEnd);
      stopStdin = () => {
        copying = false;
        clientStdin.off('data', onData);
        clientStdin.resume();
      };
    } else {
      // A container without stdin ignores the client's (containerd sets up no stdin copy).
      streams.stdin?.resume();
    }
    // The process may have exited between the lookup and now.
    if (this.exited) queueMicrotask(() => state.end());
    return {
      ended,
      detach: () => {
        // containerd: a vanished client's stdin copy ends too, which with stdinOnce closes the container's stdin.
        if (closeStdinOnEnd && streams.stdin && containerStdin && this.attachments.has(state)) closeContainerStdin();
        state.end();
      },
    };
  }
}

interface AttachmentState {
  stdout: Writable | undefined;
  stderr: Writable | undefined;
  end(): void;
}

/**
 * Copies a process output to every current writer. When one of them is behind, the output is
 * paused until all have drained (containerd's broadcaster writes to each in turn).
 */
function broadcast(source: Readable, writers: () => Array<Writable | undefined>, log?: ContainerLog): void {
  const waiting = new Set<Writable>();
  source.on('data', (chunk: Buffer) => {
    // The container log is written whether anyone is attached or not, as the runtime's log file is.
    log?.write(chunk);
    for (const writer of writers()) {
      if (!writer || writer.destroyed || writer.writableEnded) continue;
      if (!writer.write(chunk) && !waiting.has(writer)) {
        waiting.add(writer);
        const release = (): void => {
          writer.off('drain', release);
          writer.off('close', release);
          waiting.delete(writer);
          if (waiting.size === 0) source.resume();
        };
        writer.on('drain', release);
        writer.on('close', release);
      }
    }
    if (waiting.size > 0) source.pause();
  });
}
