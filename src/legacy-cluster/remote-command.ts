import type { Logger } from '../observability/logger.js';
import type { Duplex } from 'node:stream';
import type { SpdyConnection, SpdyStream } from '../connections/spdy/spdy-connection.js';
import { RstStatus } from '../codecs/spdy/errors.js';
import { exitCodeOf, statusToText, type Status } from '../codecs/k8s/status.js';

/** The kubelet waits this long for the client to create every expected stream (remotecommand/constants.go). */
const STREAM_CREATION_TIMEOUT_MS = 30_000;

/** The streams the kubelet's NewOptions settled on (stderr is already false when tty is set). */
export interface StreamOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** The client's streams: SPDY streams by their `streamtype` header, or WebSocket channels (channel-duplex.ts). */
export interface SessionStreams {
  stdin?: Duplex;
  stdout?: Duplex;
  stderr?: Duplex;
  resize?: Duplex;
}

/** A running exec or attach, as the protocol side sees it. */
export interface Execution {
  /** The Status to report once it is over (success, exit code, or an internal error). */
  readonly status: Promise<Status>;
  /** The client is gone: stop (kill the process / detach) and resolve once done. */
  abort(): Promise<void>;
}

export interface RemoteCommandServeOptions {
  connection: SpdyConnection;
  /** The negotiated `X-Stream-Protocol-Version`. */
  protocol: string;
  streams: StreamOptions;
  /** Starts the exec or attach once every expected stream is there. */
  start(streams: SessionStreams): Execution;
  logger: Logger;
  /** Fields for the start and end lines: kind, namespace, pod, container, command. */
  logFields: Record<string, unknown>;
  streamCreationTimeoutMs?: number;
}

type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';
const V1 = 'channel.k8s.io';
/** The handlers that know a resize stream (kubelet httpstream.go: v3, v4, and v5 served as v4). */
const RESIZING = new Set(['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io']);
/** Handlers that write the Status as JSON, success included (v4WriteStatusFunc). */
const JSON_STATUS = new Set(['v5.channel.k8s.io', 'v4.channel.k8s.io']);

/**
 * The kubelet's side of one exec/attach over SPDY (kubelet pkg/cri/streaming/remotecommand
 * httpstream.go, exec.go, attach.go, and apimachinery's spdy connection):
 *
 * 1. Every stream the client opens is replied to. Streams are told apart by their `streamtype`
 *    header; each stream of a type the version knows counts towards the expected number (1 for error,
 *    +1 each for stdin/stdout/stderr as requested, +1 for resize with a tty on v3+); a later stream of
 *    the same type replaces the earlier one, as in the kubelet; unknown types are ignored.
 * 2. Not all there within the stream-creation timeout (30 s): the kubelet gives up. (It then leaves
 *    the connection to its idle timeout; this stand-in closes it at once.)
 * 3. v1 quirk kept from the kubelet: the server half-closes stdin and resets the error stream as soon
 *    as the streams are in, so a v1 client never sees a Status.
 * 4. Run; then the Status on the error stream (v4/v5: JSON, success included; v2/v3: text, failures
 *    only), after every byte of output; then RST_STREAM CANCEL on every stream, GOAWAY, and close
 *    (httpstream Connection.Close), as the captures show.
 * 5. The client's connection goes first: the execution is aborted (the process killed).
 */
export function serveRemoteCommand(options: RemoteCommandServeOptions): Promise<void> {
  const { connection, protocol, logger } = options;
  const known = new Set<StreamType>(['error', 'stdin', 'stdout', 'stderr', ...(RESIZING.has(protocol) ? (['resize'] as const) : [])]);
  const wanted = options.streams;
  const expected = 1 + Number(wanted.stdin) + Number(wanted.stdout) + Number(wanted.stderr) + Number(wanted.tty && RESIZING.has(protocol));
  const all: SpdyStream[] = [];
  const byType = new Map<StreamType, SpdyStream>();
  let received = 0;
  let execution: Execution | undefined;
  let ended = false;

  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      logger.warn({ event: 'stream-timeout', received: [...byType.keys()], expected }, 'timed out waiting for client to create streams');
      teardown();
    }, options.streamCreationTimeoutMs ?? STREAM_CREATION_TIMEOUT_MS);

    connection.on('close', () => {
      clearTimeout(timer);
      if (ended) return resolve();
      ended = true;
      if (!execution) return resolve();
      logger.info({ event: 'session-end', ...options.logFields, protocol, reason: 'client connection closed' }, 'session ended');
      void execution.abort().then(() => resolve());
    });

    connection.on('stream', (stream) => {
      stream.on('error', () => undefined);
      stream.reply();
      all.push(stream);
      if (execution || ended) {
        // Past the wait nobody reads it; keep the connection flowing.
        stream.resume();
        return;
      }
      const type = stream.headers.streamtype as StreamType | undefined;
      if (!type || !known.has(type)) {
        logger.debug({ streamType: type ?? null }, 'unexpected stream type');
        stream.resume();
        return;
      }
      byType.set(type, stream);
      received += 1;
      if (received === expected) {
        clearTimeout(timer);
        void run();
      }
    });

    async function run(): Promise<void> {
      const errorStream = byType.get('error');
      const streams: SessionStreams = {
        stdin: byType.get('stdin'),
        stdout: byType.get('stdout'),
        stderr: byType.get('stderr'),
        resize: byType.get('resize'),
      };
      // Nothing is read from the server's write-only streams: drop whatever a client sends there.
      for (const type of ['error', 'stdout', 'stderr'] as const) byType.get(type)?.resume();
      if (protocol === V1) {
        streams.stdin?.end();
        errorStream?.reset();
      }
      const started = Date.now();
      logger.info({ event: 'session-start', ...options.logFields, protocol, tty: wanted.tty }, 'session started');
      execution = options.start(streams);
      const status = await execution.status;
      if (ended) return;
      // Every byte of output goes out before the Status, and the Status before the resets.
      await Promise.all([flushed(streams.stdout), flushed(streams.stderr)]);
      if (ended) return;
      if (errorStream && !errorStream.destroyed) {
        if (JSON_STATUS.has(protocol)) errorStream.write(JSON.stringify(status));
        else if (status.status !== 'Success') errorStream.write(statusToText(status));
        await flushed(errorStream);
      }
      if (ended) return;
      ended = true;
      logger.info(
        {
          event: 'session-end',
          ...options.logFields,
          protocol,
          exitCode: exitCodeOf(status) ?? null,
          status: status.reason ?? status.status,
          ...(status.status === 'Failure' && status.reason !== 'NonZeroExitCode' ? { message: status.message } : {}),
          durationMs: Date.now() - started,
        },
        'session ended',
      );
      teardown();
    }

    /** httpstream Connection.Close: reset every stream, then GOAWAY and close the socket. */
    function teardown(): void {
      ended = true;
      for (const stream of all) stream.reset(RstStatus.CANCEL);
      connection.goAway();
      connection.close();
    }
  });
}

/** Resolves once everything written to the stream so far has been handed to the socket. */
export function flushed(stream: Duplex | undefined): Promise<void> {
  if (!stream || stream.destroyed || stream.writableEnded) return Promise.resolve();
  return new Promise((resolve) => stream.write(Buffer.alloc(0), () => resolve()));
}
