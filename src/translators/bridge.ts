import type { Stream } from '../connections/stream.js';
import type { SessionKind } from './live-session.js';

/**
 * Which way bytes go: from the client toward the upstream, or back.
 * @internal Exported for its unit tests (byte vectors, seams); the product does not import it.
 */
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

/**
 * Gives each session its tap, or none: the one option a translator takes for it. The session's id
 * (as its log lines carry it) and kind let a recorder name what it records.
 */
export type SessionTapFactory = (session: { id: string | number; kind: SessionKind }) => SessionTap | undefined;

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
