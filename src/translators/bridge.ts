import type { Stream } from '../connections/stream.js';
import type { UserInfo } from '../auth/identity.js';
import type { RequestAttributes } from '../auth/request-attributes.js';
import type { SessionSubject } from './session-log.js';

/** Which way bytes go: from the client toward the upstream, or back. */
export type Direction = 'to-upstream' | 'to-client';

/**
 * Where every byte of a session passes, for recording and live views: `bytes` sees each payload
 * as it is handed on (it must not keep or change it past the call: the memory is the socket's),
 * `event` the session's named moments. Unset by default, and then it costs one check per payload.
 */
export interface SessionTap {
  bytes(direction: Direction, route: string, payload: Buffer): void;
  event(name: string, detail?: Readonly<Record<string, unknown>>): void;
}

/** One line of a translator's mapping table: bytes read from `from` are written to `to`. */
export interface Route {
  /** Names the route for the tap (e.g. "stdout", "port 8080 data"). */
  name: string;
  direction: Direction;
  from: Stream;
  to: Stream;
  /** Whether its bytes count toward the session's bytesFromClient / bytesToClient (default yes). */
  counted?: boolean;
  /** What arrives once `to` can take nothing more is dropped uncounted (default: counted, then dropped by `to`). */
  dropAfterEnd?: boolean;
  /** Re-encodes what passes (resize sizes); what it returns is written in order. Default: as is, without a copy. */
  transform?: (payload: Buffer) => Buffer[];
  /** The source ended (half-close, reset, or lost with `error`); default: half-close `to`. */
  onEnd?: (error?: Error) => void;
}

/**
 * Pumps bytes between two Connections by a table of routes, with back-pressure both ways: a
 * destination that says "full" pauses its source until it drains. Byte counts and the tap are here,
 * once, for every translator; the translators keep only their table and their protocol's quirks.
 */
export class Bridge {
  bytesFromClient = 0;
  bytesToClient = 0;
  private stopped = false;

  constructor(readonly tap?: SessionTap) {}

  pump(route: Route): void {
    const { from, to, direction, transform } = route;
    const counted = route.counted ?? true;
    const toClient = direction === 'to-client';
    from.read(
      (payload) => {
        // After the end, what still arrives is read and dropped (a close frame may be behind it).
        if (this.stopped || (route.dropAfterEnd && !to.writable)) return;
        if (counted) {
          if (toClient) this.bytesToClient += payload.length;
          else this.bytesFromClient += payload.length;
        }
        this.tap?.bytes(direction, route.name, payload);
        if (transform) {
          let flowing = true;
          for (const piece of transform(payload)) flowing = to.write(piece) && flowing;
          if (!flowing) from.pause();
        } else if (!to.write(payload)) from.pause();
      },
      route.onEnd ?? (() => to.end()),
    );
    to.onDrain(() => from.resume());
  }

  /** Nothing more is handed on; sources keep being read (and dropped) so their connections can close. */
  stop(): void {
    this.stopped = true;
  }
}

/** What a tap factory is told about a session before it runs. */
export interface TappedSession {
  subject: SessionSubject;
  /** The client asked for a terminal. */
  tty: boolean;
  /** Port-forward: the ports, when the request names them (the channel protocol's `?ports=`). */
  ports?: number[];
  /** Edge mode: who is calling and what they asked, for rules by user, group, verb, namespace. */
  identity?: { user: UserInfo; attributes: RequestAttributes };
  /**
   * Ends the session with a Status saying `message` (a recording that can no longer be written and
   * must be); set by the translator once the session runs.
   */
  fail(message: string): void;
}

/** A tap opened for one session, with the name its log lines and audit events carry. */
export interface OpenedTap {
  tap: SessionTap;
  /** The recording's file name, for the `recording` log field and audit annotation; absent for a tap that records nothing (a live view). */
  name?: string;
  /**
   * The tap reads the session's content (a port-forward content recording): a raw relay hands it the
   * bytes it carries only then, and otherwise only counts them, off its hot path.
   */
  content?: boolean;
}

/** The session must not run: what the client is told (the detail is the factory's to log). */
export class SessionTapRefusal extends Error {}

/**
 * Opens a tap for each session the translators serve (recording); undefined: this session is not
 * tapped. Rejects with SessionTapRefusal when the session must be refused.
 */
export interface SessionTapFactory {
  open(session: TappedSession): Promise<OpenedTap | undefined>;
  /** Sessions that cannot be tapped must not run (an `auto` fallback toward WebSocket, which records nothing, is not taken). */
  readonly failClosed?: boolean;
}
