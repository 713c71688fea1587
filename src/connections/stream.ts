/**
 * One shape for both sides of a translated session, as apimachinery's httpstream has it: a Connection
 * carries Streams, each with headers, read and written with back-pressure, half-closed and reset on
 * its own. SPDY implements it with one SPDY stream per Stream (spdy/spdy-streams.ts), the client
 * WebSocket with one Kubernetes channel per Stream (websocket/channel-connection.ts), and a tunnel
 * with a single Stream of raw bytes (websocket/raw-connection.ts). The translators' Bridge pumps
 * between them (translators/bridge.ts).
 */

/** Receives a stream's payloads as they arrive (views of what was read: written on, never changed). */
export type PayloadReader = (payload: Buffer) => void;

/** Why a connection ended: a close code and reason on the wire, and the session outcome it stands for. */
export interface CloseReason {
  code: number;
  message: string;
  /** Set when the connection itself decided (a limit, a protocol error); undefined: the peer closed. */
  outcome?: ConnectionOutcome;
}

/** What a connection may end with on its own (a closed set: they become session outcomes). */
type ConnectionOutcome = 'ping-timeout' | 'control-flood' | 'message-too-large' | 'client-error' | 'upstream-error';

export interface Stream {
  /** The headers it was opened with (SPDY: streamtype, port, requestid; a channel: its number). */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * Starts delivering payloads to `reader`; `onEnd` once after the last one: the peer half-closed
   * (SPDY FIN, v5 CLOSE), reset it, or the connection went (then with the error).
   */
  read(reader: PayloadReader, onEnd?: (error?: Error) => void): void;
  /** The reader is behind: hold what arrives, and past a bound stop reading the connection. */
  pause(): void;
  resume(): void;
  /** False: stop writing until `onDrain`. */
  write(payload: Buffer): boolean;
  /** False once nothing more can be written (ended by us, reset, or the connection gone). */
  readonly writable: boolean;
  /** After a write returned false, once everything is written (or writing can no longer happen). */
  onDrain(listener: () => void): void;
  /** Half-close: nothing more is written (SPDY FIN). */
  end(): void;
  /** Abort both directions (SPDY RST_STREAM); what is buffered is dropped. */
  reset(): void;
  /** Bytes received and not yet given to the reader, plus bytes written and not yet on the connection. */
  readonly bufferedBytes: number;
}

export interface Connection {
  /** Opens a stream with headers (SPDY: SYN_STREAM, sent at once). */
  openStream(headers: Readonly<Record<string, string>>): Stream;
  /** Streams the peer opens (refused while nobody accepts). */
  acceptStreams(accept: (stream: Stream) => void): void;
  /** Ends the connection, telling the peer why where the protocol has a place for it (a close frame). */
  close(reason: CloseReason): void;
  /** Once, when the connection is gone; `reason` says who ended it and why. */
  onClose(listener: (reason: CloseReason) => void): void;
  /** Payload bytes, for session logs. */
  readonly bytesRead: number;
  readonly bytesWritten: number;
  /** Bytes held in user space by the connection itself (a send queue), beyond its streams'. */
  readonly bufferedBytes: number;
}
