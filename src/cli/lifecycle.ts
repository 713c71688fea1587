import { ConfigError } from '../config/errors.js';

/** How long a stopped command may linger (a keep-alive socket, a child's pipe) before it exits anyway. */
const EXIT_GRACE_MS = 2_000;

/**
 * A command's life from its first line: SIGINT/SIGTERM handlers are installed at once, so a signal
 * during start-up also ends in a clean stop. Servers register their close() as they start; the first
 * signal closes them in reverse order and the command exits 0; a second signal exits at once
 * (130 after SIGINT, 143 after SIGTERM: an operator who presses Ctrl-C twice means it).
 */
export class Lifecycle {
  private readonly closers: Array<() => Promise<void>> = [];
  private stopChain: Promise<void> | undefined;
  private readonly listeners: Array<[NodeJS.Signals, (signal: NodeJS.Signals) => void]> = [];
  private wake: () => void = () => {};
  private readonly stopRequested = new Promise<void>((resolve) => (this.wake = resolve));

  /** `onStopping` runs on the first signal, e.g. to tell a person that the demo is stopping. */
  constructor(private readonly onStopping?: (signal: NodeJS.Signals) => void) {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const listener = (received: NodeJS.Signals): void => this.signal(received);
      process.on(signal, listener);
      this.listeners.push([signal, listener]);
    }
  }

  /** True once a signal arrived: a command still starting stops instead of announcing readiness. */
  get stopping(): boolean {
    return this.stopChain !== undefined;
  }

  /** Closes this on stop (what started later closes first); at once when already stopping. */
  closeOnStop(close: () => Promise<void>): void {
    if (this.stopChain) this.stopChain = this.stopChain.then(close);
    else this.closers.push(close);
  }

  /** Resolves once a signal arrived and everything registered is closed. */
  async untilStopped(): Promise<void> {
    await this.stopRequested;
    for (;;) {
      const chain = this.stopChain!;
      await chain;
      if (chain === this.stopChain) break;
    }
    this.dispose();
    // Everything is closed; whatever still holds the event loop must not turn a clean stop into a hang.
    setTimeout(() => process.exit(process.exitCode ?? 0), EXIT_GRACE_MS).unref();
  }

  /** Closes what started so far (a start-up failure, or --help), without waiting for a signal. */
  async abort(): Promise<void> {
    this.stop();
    await this.stopChain;
    this.dispose();
  }

  private signal(signal: NodeJS.Signals): void {
    if (this.stopChain) process.exit(signal === 'SIGINT' ? 130 : 143);
    this.onStopping?.(signal);
    this.stop();
  }

  private stop(): void {
    if (this.stopChain) return;
    const closers = this.closers.splice(0).reverse();
    this.stopChain = (async () => {
      for (const close of closers) await close();
    })().catch((error: unknown) => {
      process.stderr.write(`kube-stream-gateway: error while stopping: ${(error as Error).message}\n`);
      process.exit(1);
    });
    this.wake();
  }

  private dispose(): void {
    for (const [signal, listener] of this.listeners.splice(0)) process.off(signal, listener);
  }
}

/** The address given cannot be listened on: one line, exit code 1. */
export class ListenError extends ConfigError {
  override name = 'ListenError';
}

/**
 * Awaits a start-up step that binds a socket; a failure to listen (port in use, no such address or
 * host, permission) becomes a one-line ListenError naming the option and the address. A step that
 * binds several sockets marks the failure with the setting of the one that failed (`admin.listen`,
 * net/listen.ts withListenSetting); `option` names the others.
 */
export async function listening<T>(option: string, start: Promise<T>): Promise<T> {
  try {
    return await start;
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string; setting?: string };
    option = failure.setting ?? option;
    if (failure.syscall === 'listen' || failure.syscall === 'bind') {
      const reasons: Record<string, string> = { EADDRINUSE: 'address already in use', EACCES: 'permission denied', EADDRNOTAVAIL: 'address not available on this host' };
      const where = failure.address?.includes(':') ? `[${failure.address}]:${failure.port}` : `${failure.address}:${failure.port}`;
      throw new ListenError(`${option}: cannot listen on ${where}: ${reasons[failure.code ?? ''] ?? failure.code}`);
    }
    if (failure.syscall === 'getaddrinfo') throw new ListenError(`${option}: cannot listen: unknown host ${JSON.stringify(failure.hostname)}`);
    throw error;
  }
}
