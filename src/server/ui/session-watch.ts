import type { Direction, OpenedTap, SessionTap, SessionTapFactory, TappedSession } from '../../translators/bridge.js';

/** One browser watching a session: where its messages go, and how much it has not read yet. */
export interface Watcher {
  send(data: Buffer | string, binary: boolean): void;
  /** Bytes written to it that its connection has not taken yet. */
  readonly backlog: number;
  /** Ends it: the session ended (1000), or it fell behind (1013); `reason` goes in the close frame. */
  drop(code: number, reason: string): void;
}

/** What one watcher may fall behind by before it is dropped: a few screens of terminal output. */
const DEFAULT_WATCH_BACKLOG_BYTES = 256 * 1024;

/**
 * The Watch page's source: a tap on every exec/attach session that hands its terminal output (stdout,
 * stderr) and its resizes to the browsers watching it, read-only. A watcher's only buffer is its own
 * socket's; one that falls `maxBacklogBytes` behind is dropped, so a slow watcher never slows the
 * session or the other watchers. A session nobody watches costs one map look-up per payload.
 */
export class SessionWatch {
  private readonly watchers = new Map<string, Set<Watcher>>();

  constructor(private readonly maxBacklogBytes = DEFAULT_WATCH_BACKLOG_BYTES) {}

  /** For the translators' `tap` option: exec and attach sessions, by audit ID (it records nothing, so it names no recording). */
  readonly tapFactory: SessionTapFactory = {
    open: async ({ subject }: TappedSession): Promise<OpenedTap | undefined> => {
      if (!subject.auditID || (subject.kind !== 'exec' && subject.kind !== 'attach')) return undefined;
      return { tap: this.tap(subject.auditID) };
    },
  };

  tap(auditID: string): SessionTap {
    return {
      bytes: (direction: Direction, route: string, payload: Buffer) => {
        const watching = this.watchers.get(auditID);
        if (!watching) return;
        if (direction === 'to-client' && (route === 'stdout' || route === 'stderr')) this.broadcast(watching, Buffer.from(payload), true);
        // A TerminalSize as the client sent it (one JSON object per message in practice; anything else is skipped).
        else if (route === 'resize') this.broadcast(watching, resizeMessage(payload), false);
      },
      event: () => undefined,
    };
  }

  /** Adds a watcher of the session; the returned function removes it. */
  watch(auditID: string, watcher: Watcher): () => void {
    let watching = this.watchers.get(auditID);
    if (!watching) this.watchers.set(auditID, (watching = new Set()));
    watching.add(watcher);
    return () => this.remove(auditID, watcher);
  }

  /** The session is over: its watchers are told and let go. */
  ended(auditID: string, reason: string): void {
    const watching = this.watchers.get(auditID);
    this.watchers.delete(auditID);
    for (const watcher of watching ?? []) watcher.drop(1000, reason);
  }

  watcherCount(auditID: string): number {
    return this.watchers.get(auditID)?.size ?? 0;
  }

  private broadcast(watching: Set<Watcher>, message: Buffer | string | undefined, binary: boolean): void {
    if (message === undefined) return;
    for (const watcher of watching) {
      if (watcher.backlog > this.maxBacklogBytes) {
        watching.delete(watcher);
        watcher.drop(1013, `fell more than ${this.maxBacklogBytes} bytes behind the session`);
      } else watcher.send(message, binary);
    }
  }

  private remove(auditID: string, watcher: Watcher): void {
    const watching = this.watchers.get(auditID);
    watching?.delete(watcher);
    if (watching?.size === 0) this.watchers.delete(auditID);
  }
}

function resizeMessage(payload: Buffer): string | undefined {
  try {
    const size = JSON.parse(payload.toString('utf8')) as { Width?: unknown; Height?: unknown };
    if (typeof size.Width !== 'number' || typeof size.Height !== 'number') return undefined;
    return JSON.stringify({ resize: { cols: size.Width, rows: size.Height } });
  } catch {
    return undefined;
  }
}
