import { spawn as spawnPty, type IPty } from 'node-pty';

/** A program under a real pseudo-terminal: what it printed so far, and waits on patterns in it. */
export interface PtyTerminal {
  terminal: IPty;
  screen(): string;
  waitFor(pattern: RegExp): Promise<void>;
  exited: Promise<number>;
}

/** Starts `file args` under a `cols`×`rows` pty with a minimal environment (TERM=xterm, plus `env`). */
export function startPtyTerminal(file: string, args: string[], cols = 80, rows = 24, env: Record<string, string> = {}): PtyTerminal {
  const terminal = spawnPty(file, args, { cols, rows, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', TERM: 'xterm', ...env } });
  let screen = '';
  const waiters: Array<{ pattern: RegExp; resolve: () => void }> = [];
  terminal.onData((data) => {
    screen += data;
    for (const waiter of [...waiters]) {
      if (waiter.pattern.test(screen)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  });
  const exited = new Promise<number>((resolve) => terminal.onExit(({ exitCode }) => resolve(exitCode)));
  const waitFor = (pattern: RegExp): Promise<void> => (pattern.test(screen) ? Promise.resolve() : new Promise((resolve) => waiters.push({ pattern, resolve })));
  return { terminal, screen: () => screen, waitFor, exited };
}
