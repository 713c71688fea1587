import { errorStatus, type Status } from '../codecs/k8s/status.js';
import { HttpStatusError } from '../net/http-answers.js';
import type { EndedFromOutside, LiveSession, SessionOutcome } from '../translators/live-session.js';
import type { SessionSubject } from '../translators/session-log.js';

export interface SessionLimits {
  /** Streaming sessions in progress, all callers together; 0 = no limit. */
  maxSessions: number;
  /** Per authenticated user (edge mode); 0 = no limit. */
  maxSessionsPerUser: number;
  /** No payload byte either way for this long ends a session; 0 = never. */
  idleTimeoutMs: number;
  /** A session older than this is ended; 0 = never. */
  maxSessionMs: number;
}

/**
 * No limits: what a gateway started in code (tests, benchmarks) gets unless told otherwise. `serve`
 * always passes the configuration's limits, whose defaults are the safe ones (docs/configuration.md).
 */
export const DEFAULT_SESSION_LIMITS: SessionLimits = { maxSessions: 0, maxSessionsPerUser: 0, idleTimeoutMs: 0, maxSessionMs: 0 };

/** What the registry knows about a session besides the session itself. */
interface SessionLabels {
  upstream: string;
}

/** Told about every session's life; metrics implement it. Byte deltas come from the sweep, never per chunk. */
export interface SessionObserver {
  started(session: LiveSession, labels: SessionLabels): void;
  moved(session: LiveSession, fromClient: number, toClient: number): void;
  ended(session: LiveSession, labels: SessionLabels, outcome: SessionOutcome, durationMs: number): void;
}

interface Tracked {
  session: LiveSession;
  labels: SessionLabels;
  subject?: SessionSubject;
  startedAt: number;
  lastActivityAt: number;
  fromClient: number;
  toClient: number;
}

/** A running session as the live list shows it; `id` is its audit ID. */
export interface LiveSessionView {
  id: string;
  subject: SessionSubject;
  sessionKind: LiveSession['kind'];
  clientProtocol: string;
  bytesFromClient: number;
  bytesToClient: number;
  /** Epoch milliseconds. */
  startedAt: number;
  durationMs: number;
}

/** Held from admission until the session runs (track) or was refused (release). */
export interface Reservation {
  /** `subject`: who and what, for the live list (the web interface's Sessions page). */
  track(session: LiveSession, labels: SessionLabels, subject?: SessionSubject): void;
  release(): void;
}

/**
 * Every streaming session the gateway runs, whatever translated it: counts them against the limits
 * at admission, ends the idle and the too old with a Status saying which limit, meters bytes for the
 * observer, and ends them all at shutdown. One sweep timer for all sessions (not one per session),
 * running only while there are sessions.
 */
export class SessionRegistry {
  private readonly tracked = new Set<Tracked>();
  private readonly perUser = new Map<string, number>();
  private reservedTotal = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly sweepEveryMs: number;

  constructor(
    private readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS,
    private readonly observer?: SessionObserver,
    private readonly now: () => number = Date.now,
  ) {
    const bounds = [limits.idleTimeoutMs, limits.maxSessionMs].filter((ms) => ms > 0);
    // Fine enough that a limit ends a session within ~10 % of its value, coarse enough to cost nothing.
    this.sweepEveryMs = Math.max(50, Math.min(1_000, ...bounds.map((ms) => ms / 10)));
  }

  get size(): number {
    return this.tracked.size;
  }

  get bufferedBytes(): number {
    let total = 0;
    for (const entry of this.tracked) total += entry.session.bufferedBytes;
    return total;
  }

  /**
   * Counts a session about to start; a 429 Status error names the limit it would break. The
   * per-user limit counts the authenticated user (edge mode), else the client address (passthrough:
   * the gateway does not know who the caller is).
   */
  reserve(user: string | undefined, clientAddress?: string): Reservation {
    const { maxSessions, maxSessionsPerUser } = this.limits;
    const caller = user !== undefined ? `user ${JSON.stringify(user)}` : clientAddress !== undefined ? `client address ${clientAddress}` : undefined;
    const key = user !== undefined ? `user:${user}` : clientAddress !== undefined ? `address:${clientAddress}` : undefined;
    if (maxSessions > 0 && this.reservedTotal >= maxSessions) {
      throw new HttpStatusError(429, 'TooManyRequests', `the gateway is at its limit of ${maxSessions} concurrent sessions (limits.maxSessions)`);
    }
    if (key !== undefined && maxSessionsPerUser > 0 && (this.perUser.get(key) ?? 0) >= maxSessionsPerUser) {
      throw new HttpStatusError(429, 'TooManyRequests', `${caller} is at the limit of ${maxSessionsPerUser} concurrent sessions (limits.maxSessionsPerUser)`);
    }
    this.reservedTotal++;
    if (key !== undefined) this.perUser.set(key, (this.perUser.get(key) ?? 0) + 1);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.reservedTotal--;
      if (key === undefined) return;
      const left = (this.perUser.get(key) ?? 1) - 1;
      if (left > 0) this.perUser.set(key, left);
      else this.perUser.delete(key);
    };
    return {
      release,
      track: (session, labels, subject) => {
        const at = this.now();
        const entry: Tracked = { session, labels, subject, startedAt: at, lastActivityAt: at, fromClient: 0, toClient: 0 };
        this.tracked.add(entry);
        this.observer?.started(session, labels);
        this.sweeper ??= setInterval(() => this.sweep(), this.sweepEveryMs).unref();
        void session.done.then((outcome) => {
          this.meter(entry);
          this.tracked.delete(entry);
          release();
          this.observer?.ended(session, labels, outcome, this.now() - entry.startedAt);
          if (this.tracked.size === 0) this.stopSweeping();
        });
      },
    };
  }

  /** The sessions running now that have a subject, bytes as of this call. */
  list(): LiveSessionView[] {
    const at = this.now();
    const views: LiveSessionView[] = [];
    for (const { session, subject, startedAt } of this.tracked) {
      if (!subject?.auditID) continue;
      views.push({ id: subject.auditID, subject, sessionKind: session.kind, clientProtocol: session.clientProtocol, bytesFromClient: session.bytesFromClient, bytesToClient: session.bytesToClient, startedAt, durationMs: at - startedAt });
    }
    return views;
  }

  /** Ends the session with this audit ID, telling its client `status`; false when there is none. */
  end(id: string, status: Status, outcome: EndedFromOutside): boolean {
    for (const entry of this.tracked) {
      if (entry.subject?.auditID !== id) continue;
      entry.session.end(status, outcome);
      return true;
    }
    return false;
  }

  /** Ends every session with this Status and resolves when they have all ended. */
  async endAll(status: Status): Promise<void> {
    const entries = [...this.tracked];
    for (const entry of entries) entry.session.end(status, 'shutdown');
    await Promise.all(entries.map((entry) => entry.session.done));
  }

  /** Resolves when no session is left, or after `ms`; true when none is left. */
  async drained(ms: number): Promise<boolean> {
    if (this.tracked.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const all = Promise.all([...this.tracked].map((entry) => entry.session.done)).then(() => true);
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    const result = await Promise.race([all, late]);
    clearTimeout(timer);
    // Sessions that started while waiting (there should be none: the listener is closed) count too.
    return result && this.tracked.size === 0;
  }

  /** Runs one sweep now (tests drive the registry with their own clock). */
  sweep(): void {
    const at = this.now();
    const { idleTimeoutMs, maxSessionMs } = this.limits;
    for (const entry of this.tracked) {
      if (this.meter(entry)) entry.lastActivityAt = at;
      if (maxSessionMs > 0 && at - entry.startedAt >= maxSessionMs) {
        entry.session.end(limitStatus(`the session reached the maximum duration of ${seconds(maxSessionMs)} (limits.maxSessionSeconds)`), 'max-duration');
      } else if (idleTimeoutMs > 0 && at - entry.lastActivityAt >= idleTimeoutMs) {
        entry.session.end(limitStatus(`the session was idle (no data either way) for ${seconds(idleTimeoutMs)} (limits.idleTimeoutSeconds)`), 'idle-timeout');
      }
    }
  }

  close(): void {
    this.stopSweeping();
  }

  /** Reports bytes moved since the last look; true when there were any. */
  private meter(entry: Tracked): boolean {
    const fromClient = entry.session.bytesFromClient;
    const toClient = entry.session.bytesToClient;
    const moved = fromClient !== entry.fromClient || toClient !== entry.toClient;
    if (moved) this.observer?.moved(entry.session, fromClient - entry.fromClient, toClient - entry.toClient);
    entry.fromClient = fromClient;
    entry.toClient = toClient;
    return moved;
  }

  private stopSweeping(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}

function limitStatus(message: string): Status {
  return errorStatus(408, 'Timeout', message);
}

function seconds(ms: number): string {
  return `${ms / 1000} s`;
}
