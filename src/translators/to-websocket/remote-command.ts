import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../observability/logger.js';
import { Channel, REMOTE_COMMAND_PROTOCOLS } from '../../codecs/channels/protocols.js';
import { encodeCloseSignal } from '../../codecs/channels/framing.js';
import { errorStatus, parseStatus, exitCodeOf, type Status } from '../../codecs/k8s/status.js';
import type { RemoteCommandRequest } from '../../codecs/k8s/remote-command-request.js';
import { SpdyConnection, type SpdyStream } from '../../connections/spdy/spdy-connection.js';
import { SpdyStreamView } from '../../connections/spdy/spdy-streams.js';
import { ChannelConnection } from '../../connections/websocket/channel-connection.js';
import { Bridge, type Route, type SessionTapFactory } from '../bridge.js';
import { openSessionTap, type SessionTapOpening } from '../session-tap.js';
import { HttpStatusError, sendStatusOnSocket } from '../../net/http-answers.js';
import { bridgedSession, SessionEnding, type LiveSession, type SessionOutcome } from '../live-session.js';
import { SessionLog, sessionSubject } from '../session-log.js';
import type { UpstreamCall } from '../upstream-call.js';
import { acceptSpdyClient, flushed, statusForSpdyClient } from './spdy-client-upgrade.js';

/** What the gateway serves a SPDY client, as a 1.28 kubelet (apimachinery remotecommand/constants.go). */
const CLIENT_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
/** The client versions that know a resize stream. */
const RESIZING = new Set(['v4.channel.k8s.io', 'v3.channel.k8s.io']);
/** Only v5 can say "stdin is over" (its CLOSE signal): a SPDY client's stdin FIN needs it. */
const V5 = REMOTE_COMMAND_PROTOCOLS.find((protocol) => protocol.name === 'v5.channel.k8s.io')!;
/** The kubelet waits this long for the client's streams (remotecommand/constants.go). */
const STREAM_CREATION_TIMEOUT_MS = 30_000;
/** Bound on what the upstream's error channel may hold: a Status is a few hundred bytes. */
const MAX_STATUS_BYTES = 64 * 1024;

export interface SpdyToWebSocketOptions {
  logger: Logger;
  upstreamPingIntervalMs?: number;
  /** Opens the session's tap (recording, live view); a refusal refuses the session. */
  tap?: SessionTapFactory;
  /**
   * A tap already opened for this session, used instead of opening one: its opener keeps it (and ends
   * it) should this session not start.
   */
  tapping?: SessionTapOpening;
}

type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';

/**
 * A SPDY exec/attach client (kubectl ≤ 1.29) toward an upstream that speaks WebSocket only: the
 * gateway is the client's kubelet (streams accepted by their `streamtype`) and the upstream's v5
 * client. Routes: stdin → channel 0 (its FIN → v5 CLOSE), resize → channel 4 (the same JSON), channel
 * 1 → stdout, channel 2 → stderr. The upstream's Status (channel 3) goes on the error stream as the
 * client's version writes it (v4 JSON; earlier versions text, failures only) once the upstream
 * closes, after the output; an upstream that closes without one gives the client an error Status.
 * Then, as the kubelet ends a session, every stream is reset and the connection closed.
 */
export async function serveSpdyClientTowardWebSocket(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  request: RemoteCommandRequest,
  call: UpstreamCall,
  options: SpdyToWebSocketOptions,
  refused?: () => void,
): Promise<LiveSession | undefined> {
  const subject = sessionSubject(call, req, 'to-websocket');
  const context = { tty: request.tty, clientTransport: 'spdy', upstreamTransport: 'websocket' };
  socket.on('error', () => undefined);
  // Recorded like every translated session: a recording that must be written and cannot be refuses it.
  const tapping = options.tapping ?? (await openSessionTap(options.tap, call, subject, request.tty));
  if (tapping.refused !== undefined) {
    new SessionLog(options.logger, subject, context).logger.warn({ event: 'session-refused', status: 500, reason: tapping.refused }, 'session refused');
    sendStatusOnSocket(socket, new HttpStatusError(500, 'InternalError', tapping.refused));
    return undefined;
  }
  const tap = tapping.opened?.tap;
  const log = new SessionLog(options.logger, subject, tapping.opened?.name ? { ...context, recording: tapping.opened.name } : context);
  const logger = log.logger;
  const upgraded = await acceptSpdyClient({ req, socket, call, logger, clientProtocols: CLIENT_PROTOCOLS, upstreamProtocols: [V5.name], refused });
  if (!upgraded) {
    if (!options.tapping) tap?.event('end', { reason: 'the session did not start' });
    return undefined;
  }
  const { clientProtocol } = upgraded;
  const client = new SpdyConnection(socket, { role: 'server' }, head);
  const upstream = new ChannelConnection(upgraded.upstream, V5, { pingIntervalMs: options.upstreamPingIntervalMs });
  const bridge = new Bridge(tap);
  const ending = new SessionEnding();
  const streams = new Map<StreamType, SpdyStream>();
  const all: SpdyStream[] = [];
  const statusBytes: Buffer[] = [];
  let statusSize = 0;
  let ended = false;
  let upstreamClose = { code: 1006, reason: '' };

  // The upstream may answer before the client's streams are all there: hold it until they are.
  upstream.pauseIncoming();
  const known = new Set<StreamType>(['error', 'stdin', 'stdout', 'stderr', ...(RESIZING.has(clientProtocol) ? (['resize'] as const) : [])]);
  const expected = new Set<StreamType>(['error']);
  if (request.stdin) expected.add('stdin');
  if (request.stdout) expected.add('stdout');
  if (request.stderr && !request.tty) expected.add('stderr');
  if (request.tty && RESIZING.has(clientProtocol)) expected.add('resize');
  const timer = setTimeout(() => finish(errorStatus(500, 'InternalError', 'timed out waiting for the client to create its streams'), 'client-error'), STREAM_CREATION_TIMEOUT_MS);

  client.on('stream', (stream) => {
    stream.on('error', () => undefined);
    stream.reply();
    all.push(stream);
    const type = stream.headers.streamtype as StreamType | undefined;
    // A stream of an unknown type, or past the start, is read and dropped (the kubelet ignores it).
    if (!type || !known.has(type) || ended || streams.size === expected.size) return void stream.resume();
    // A later stream of the same type replaces the earlier one, as in the kubelet; the earlier is read and dropped.
    streams.get(type)?.resume();
    streams.set(type, stream);
    if ([...expected].every((wanted) => streams.has(wanted))) start();
  });
  client.on('close', () => finish(undefined, 'client-error', 'the client closed the connection'));
  let started = false;
  let upstreamGone: (() => void) | undefined;
  upstream.onClose((reason) => {
    upstreamClose = { code: reason.code, reason: reason.message };
    upstreamGone = () => finish(statusBytes.length ? undefined : noStatus(reason.code), statusBytes.length ? 'completed' : 'upstream-error');
    // The client hears of it on its error stream: once that stream is there (or the wait times out).
    if (started) upstreamGone();
  });

  function start(): void {
    clearTimeout(timer);
    const view = (type: StreamType): SpdyStreamView | undefined => {
      const stream = streams.get(type);
      return stream && new SpdyStreamView(stream);
    };
    const routes: Route[] = [];
    const stdin = view('stdin');
    if (stdin) routes.push({ name: 'stdin', direction: 'to-upstream', from: stdin, to: upstream.channel(Channel.stdin), onEnd: () => upstream.peer.send(encodeCloseSignal(Channel.stdin), true) });
    const resize = view('resize');
    if (resize) routes.push({ name: 'resize', direction: 'to-upstream', from: resize, to: upstream.channel(Channel.resize), counted: false, onEnd: () => undefined });
    const stdout = view('stdout');
    if (stdout) routes.push({ name: 'stdout', direction: 'to-client', from: upstream.channel(Channel.stdout), to: stdout, dropAfterEnd: true, onEnd: () => undefined });
    const stderr = view('stderr');
    if (stderr) routes.push({ name: 'stderr', direction: 'to-client', from: upstream.channel(Channel.stderr), to: stderr, dropAfterEnd: true, onEnd: () => undefined });
    for (const route of routes) bridge.pump(route);
    // The Status is held whole (bounded) and written once the output is out.
    upstream.channel(Channel.error).read((payload) => {
      if (statusSize + payload.length > MAX_STATUS_BYTES) return;
      statusBytes.push(Buffer.from(payload));
      statusSize += payload.length;
    });
    // Nothing is read from the client's write-only streams.
    for (const type of ['error', 'stdout', 'stderr'] as const) streams.get(type)?.resume();
    log.start({ clientProtocol: `SPDY/3.1 ${clientProtocol}`, upstreamProtocol: upgraded!.upstreamProtocol });
    started = true;
    upstream.resumeIncoming();
    upstreamGone?.();
  }

  /** The upstream closed with no Status: the client is told on its error stream rather than left waiting. */
  function noStatus(code: number): Status {
    return errorStatus(500, 'InternalError', `Internal error occurred: the upstream closed the stream without a status (close code ${code})`);
  }

  function finish(failure: Status | undefined, outcome: SessionOutcome, reason = 'the session ended'): void {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    ending.outcome = outcome;
    void (async () => {
      let status: Status | undefined = failure;
      if (!status && statusBytes.length) {
        try {
          status = parseStatus(Buffer.concat(statusBytes));
        } catch {
          status = errorStatus(500, 'InternalError', 'Internal error occurred: the upstream sent an unreadable status');
        }
      }
      const errorStream = streams.get('error');
      if (!client.isClosed && errorStream && status) {
        // Every byte of output goes out before the Status, and the Status before the resets.
        await Promise.all([flushed(streams.get('stdout')), flushed(streams.get('stderr'))]);
        const text = statusForSpdyClient(clientProtocol, status);
        if (text !== undefined) errorStream.write(text);
        await flushed(errorStream);
      }
      bridge.stop();
      for (const stream of all) if (!stream.destroyed) stream.reset();
      if (!client.isClosed) {
        client.goAway();
        client.close();
      }
      upstream.close(1000, '');
      tap?.event('end', { exitCode: status ? exitCodeOf(status) : undefined, reason });
      log.end(
        { bytesFromClient: bridge.bytesFromClient, bytesToClient: bridge.bytesToClient, exitCode: status ? (exitCodeOf(status) ?? (status.status === 'Success' ? 0 : null)) : null, outcome, reason },
        { upstreamCloseCode: upstreamClose.code },
      );
      ending.settle();
    })();
  }

  // A recording that must be written and cannot be ends the session with a Status saying so.
  tapping.onFailure((message) => finish(errorStatus(500, 'InternalError', message), 'recording-failed', message));
  return bridgedSession({
    kind: request.kind,
    clientProtocol,
    done: ending.done,
    counts: bridge,
    bufferedBytes: () => upstream.bufferedBytes + all.reduce((sum, stream) => sum + stream.writableLength, 0),
    end(status, why) {
      finish(status, why, status.message ?? why);
    },
  });
}
