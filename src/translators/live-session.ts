import type { Status } from '../codecs/k8s/status.js';

type SessionKind = 'exec' | 'attach' | 'portforward-tunnel' | 'portforward-channels' | 'relay';

/** Ends the gateway decides from outside a session (the registry): drain, its idle and age limits, a required recording that failed, an admin of the web interface. */
export type EndedFromOutside = 'shutdown' | 'idle-timeout' | 'max-duration' | 'recording-failed' | 'ended-by-admin';

/**
 * How a session ended, as metrics count it: by itself, by either peer, or by the gateway — each of
 * the gateway's reasons under its own name (a closed set: metrics label values).
 */
export type SessionOutcome =
  | 'completed'
  | 'client-error'
  | 'upstream-error'
  | EndedFromOutside
  | 'ping-timeout'
  | 'message-too-large'
  | 'control-flood';

/**
 * A running streaming session as the server layer sees it, whatever translated it: enough to count
 * it, watch it for idleness and age, meter its bytes, and end it with a reason.
 */
export interface LiveSession {
  readonly kind: SessionKind;
  readonly clientProtocol: string;
  /** Cumulative payload bytes, read by a periodic sweep (never per chunk). */
  readonly bytesFromClient: number;
  readonly bytesToClient: number;
  /** Bytes held in user space right now (the per-session budget). */
  readonly bufferedBytes: number;
  /** Ends the session from outside, telling the client why: a Status where the protocol has a place for one, a close reason otherwise. */
  end(status: Status, outcome: EndedFromOutside): void;
  readonly done: Promise<SessionOutcome>;
}

/**
 * A session's end as the registry awaits it: `outcome` may be revised while the session runs (a
 * limit, a lost upstream) and is what `done` resolves with once `settle` is called (once counts).
 */
export class SessionEnding {
  outcome: SessionOutcome = 'completed';
  readonly done: Promise<SessionOutcome>;
  private resolve!: (outcome: SessionOutcome) => void;

  constructor() {
    this.done = new Promise((resolve) => (this.resolve = resolve));
  }

  settle(): void {
    this.resolve(this.outcome);
  }
}

/** Where a session's byte counts are kept (a Bridge keeps them for every route it pumps). */
interface ByteCounts {
  readonly bytesFromClient: number;
  readonly bytesToClient: number;
}

/**
 * A LiveSession whose byte counts are read live from `counts` and whose buffered bytes from
 * `bufferedBytes`: the registry's view of a bridged session, assembled in one place.
 */
export function bridgedSession(parts: {
  kind: SessionKind;
  clientProtocol: string;
  done: Promise<SessionOutcome>;
  counts: ByteCounts;
  bufferedBytes: () => number;
  end: LiveSession['end'];
}): LiveSession {
  const { counts, bufferedBytes } = parts;
  return {
    kind: parts.kind,
    clientProtocol: parts.clientProtocol,
    done: parts.done,
    end: parts.end,
    get bytesFromClient() {
      return counts.bytesFromClient;
    },
    get bytesToClient() {
      return counts.bytesToClient;
    },
    get bufferedBytes() {
      return bufferedBytes();
    },
  };
}
