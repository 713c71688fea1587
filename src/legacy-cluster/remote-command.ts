import type { Logger } from '../observability/logger.js';
import type { SpdyConnection, SpdyStream } from '../sessions/spdy-connection.js';
import { RstStatus } from '../codecs/spdy/errors.js';
import { errorStatus, exitCodeOf, exitCodeStatus, statusToText, successStatus, type Status } from '../codecs/k8s/status.js';
import { TerminalSizeDecoder } from '../codecs/k8s/terminal-size.js';
import type { RemoteCommandRequest } from '../codecs/k8s/remote-command-request.js';
import { CommandNotFoundError, startProcess, type RunningProcess } from './processes.js';

/** The kubelet waits this long for the client to create every expected stream (remotecommand/constants.go). */
const STREAM_CREATION_TIMEOUT_MS = 30_000;

export interface RemoteCommandServeOptions {
  connection: SpdyConnection;
  /** The negotiated `X-Stream-Protocol-Version`. */
  protocol: string;
  request: RemoteCommandRequest;
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  logger: Logger;
}

type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';

/**
 * The kubelet's side of one exec/attach over SPDY (kubelet pkg/cri/streaming/remotecommand): wait
 * for the client's streams, run the command, report the Status on the error stream, then reset
 * every stream and send GOAWAY, as the captures show.
 */
export function serveRemoteCommand(options: RemoteCommandServeOptions): Promise<void> {
  const { connection, request, protocol, logger } = options;
  const expected = new Set<StreamType>(['error']);
  if (request.stdin) expected.add('stdin');
  if (request.stdout) expected.add('stdout');
  if (request.stderr && !request.tty) expected.add('stderr');
  if (request.tty && (protocol === 'v4.channel.k8s.io' || protocol === 'v3.channel.k8s.io')) expected.add('resize');
  const streams = new Map<StreamType, SpdyStream>();
  let process: RunningProcess | undefined;
  let finished = false;

  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      logger.warn({ received: [...streams.keys()], expected: [...expected] }, 'timed out waiting for the client to create streams');
      connection.destroy();
    }, STREAM_CREATION_TIMEOUT_MS);

    connection.on('close', () => {
      clearTimeout(timer);
      process?.kill();
      if (!finished) logger.info({ event: 'session-end', reason: 'client connection closed' }, 'session ended');
      finished = true;
      resolve();
    });

    connection.on('stream', (stream) => {
      stream.reply();
      stream.on('error', () => undefined);
      const type = stream.headers.streamtype as StreamType | undefined;
      if (!type || !expected.has(type) || streams.has(type)) {
        stream.reset(RstStatus.PROTOCOL_ERROR);
        return;
      }
      streams.set(type, stream);
      if (streams.size === expected.size) {
        clearTimeout(timer);
        void run();
      }
    });

    async function run(): Promise<void> {
      const started = Date.now();
      logger.info({ event: 'session-start', protocol, argv: options.argv, tty: request.tty }, 'session started');
      let status: Status;
      try {
        process = await startProcess(
          { argv: options.argv, cwd: options.cwd, env: options.env, tty: request.tty },
          { stdin: streams.get('stdin'), stdout: streams.get('stdout'), stderr: streams.get('stderr') },
        );
        const resize = streams.get('resize');
        const decoder = new TerminalSizeDecoder();
        resize?.on('data', (chunk: Buffer) => {
          try {
            for (const size of decoder.push(chunk)) process?.resize(size.Width, size.Height);
          } catch (error) {
            logger.warn({ err: (error as Error).message }, 'bad resize stream');
          }
        });
        const code = await process.exited;
        status = code === 0 ? successStatus() : exitCodeStatus(code);
      } catch (error) {
        const message =
          error instanceof CommandNotFoundError
            ? `Internal error occurred: error executing command in container: failed to exec in container: OCI runtime exec failed: exec failed: unable to start container process: ${error.message}: unknown`
            : `Internal error occurred: ${(error as Error).message}`;
        status = errorStatus(500, 'InternalError', message);
      }
      if (connection.isClosed) return;
      // Every byte of output goes out before the Status, and the Status before the resets.
      await Promise.all(['stdout', 'stderr'].map((name) => flushed(streams.get(name as StreamType))));
      const errorStream = streams.get('error')!;
      if (protocol === 'v4.channel.k8s.io') errorStream.write(JSON.stringify(status));
      else if (status.status !== 'Success') errorStream.write(statusToText(status));
      await flushed(errorStream);
      for (const stream of streams.values()) stream.reset(RstStatus.CANCEL);
      connection.goAway();
      finished = true;
      logger.info(
        { event: 'session-end', protocol, exitCode: exitCodeOf(status), status: status.reason ?? status.status, durationMs: Date.now() - started },
        'session ended',
      );
      connection.close();
    }
  });
}

/** Resolves once everything written to the stream so far has reached the socket. */
function flushed(stream: SpdyStream | undefined): Promise<void> {
  if (!stream || stream.destroyed || stream.writableEnded) return Promise.resolve();
  return new Promise((resolve) => stream.write(Buffer.alloc(0), () => resolve()));
}
