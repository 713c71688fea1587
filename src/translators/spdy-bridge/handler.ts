import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { REMOTE_COMMAND_UPSTREAM_PROTOCOLS } from '../../codecs/channels/protocols.js';
import { errorStatus } from '../../codecs/k8s/status.js';
import type { RemoteCommandRequest } from '../../codecs/k8s/remote-command-request.js';
import { SpdyConnection } from '../../connections/spdy/spdy-connection.js';
import { HttpStatusError, sendStatusOnSocket } from '../../net/http-answers.js';
import { dialUpstreamForClient, upstreamSpdy, type TranslatorOptions } from '../accept-upgrade.js';
import type { LiveSession } from '../live-session.js';
import { splitSessionBudget } from '../session-budget.js';
import { SessionLog, sessionSubject } from '../session-log.js';
import type { SessionTapOpening } from '../session-tap.js';
import type { UpstreamCall } from '../upstream-call.js';
import { answerSpdyClient, offeredStreamProtocols } from '../to-websocket/spdy-client-upgrade.js';
import { SpdyRemoteCommandBridge } from './session.js';

/** The SPDY versions the bridge passes through: v1–v4 (v5 exists only over WebSocket). */
const BRIDGED_PROTOCOLS = REMOTE_COMMAND_UPSTREAM_PROTOCOLS.filter((protocol) => protocol.name !== 'v5.channel.k8s.io').map((protocol) => protocol.name);
/** error, stdin, stdout, stderr, resize: the streams whose read buffers share the session's budget, on each side. */
const STREAMS = 5;

export interface SpdyBridgeOptions extends TranslatorOptions {
  /** An upstream that does not answer one SPDY ping by the next is treated as gone. */
  upstreamPingIntervalMs?: number;
}

/**
 * A SPDY exec/attach (kubectl ≤ 1.30) toward a SPDY upstream, terminated and re-originated so that
 * every byte passes the Bridge and its tap (recording, Watch) — the gateway's choice only when the
 * session is to be recorded; otherwise it is relayed raw. The upstream is asked with the client's own
 * versions (those the gateway knows, in the client's order) and the client gets the upstream's
 * choice, so both speak one version and each stream passes unchanged. Refusals before the upgrade
 * reach the client as the upstream's HTTP answer; a recording that must be written and cannot be
 * opened refuses the session with a Status, before any upstream connection is spent.
 */
export async function bridgeSpdyRemoteCommand(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  request: RemoteCommandRequest,
  call: UpstreamCall,
  options: SpdyBridgeOptions,
  tapping: SessionTapOpening,
  /**
   * Asked with the status of an upstream refusal before it is replayed: a session to start instead
   * (`upstreams[].streaming: auto` trying WebSocket after SPDY was refused), or undefined.
   */
  fallback?: (statusCode: number, replayThisRefusal: () => void, tapping: SessionTapOpening) => (() => Promise<LiveSession | undefined>) | undefined,
): Promise<LiveSession | undefined> {
  const subject = sessionSubject(call, req, 'translated');
  const context = { tty: request.tty, clientTransport: 'spdy', upstreamTransport: 'spdy' };
  socket.on('error', () => undefined);
  const ended = (reason: string): undefined => void tapping.opened?.tap.event('end', { reason });
  if (tapping.refused !== undefined) {
    new SessionLog(options.logger, subject, context).logger.warn({ event: 'session-refused', status: 500, reason: tapping.refused }, 'session refused');
    sendStatusOnSocket(socket, new HttpStatusError(500, 'InternalError', tapping.refused));
    return undefined;
  }
  const name = tapping.opened?.name;
  const log = new SessionLog(options.logger, subject, name ? { ...context, recording: name } : context);
  const offered = offeredStreamProtocols(req);
  const versions = offered.filter((token) => BRIDGED_PROTOCOLS.includes(token));
  if (versions.length === 0) {
    const message = `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server accepts [${BRIDGED_PROTOCOLS.join(' ')}]`;
    log.logger.info({ event: 'session-refused', status: 403, reason: message }, 'session refused');
    sendStatusOnSocket(socket, new HttpStatusError(403, 'Forbidden', message));
    return ended('the session did not start');
  }
  const unreachable = (message: string): void => sendStatusOnSocket(socket, new HttpStatusError(503, 'ServiceUnavailable', message));
  let instead: (() => Promise<LiveSession | undefined>) | undefined;
  // The session served another way (toward a WebSocket upstream) takes this session's tap with it.
  const refused = fallback && ((statusCode: number, replay: () => void): void => void ((instead = fallback(statusCode, replay, tapping)) ?? replay()));
  const outcome = await dialUpstreamForClient(call, req, socket, versions, log.logger, unreachable, { refused });
  if (!outcome) {
    const session = await instead?.();
    if (!session) ended('the session did not start');
    return session;
  }
  // An upstream that chose a version the client did not offer cannot be bridged unchanged.
  if (!versions.includes(outcome.protocol)) {
    outcome.socket.destroy();
    log.logger.warn({ event: 'session-refused', status: 502, upstreamProtocol: outcome.protocol }, 'upstream chose a version the client did not offer');
    sendStatusOnSocket(socket, new HttpStatusError(502, 'BadGateway', 'the upstream chose a stream protocol version the client did not offer'));
    return ended('the session did not start');
  }
  answerSpdyClient(socket, outcome.protocol);
  const { upstream } = upstreamSpdy({ upstreamSocket: outcome.socket, upstreamHead: outcome.head }, options, STREAMS);
  const client = new SpdyConnection(socket, {
    role: 'server',
    maxHeaderBlockBytes: options.maxHeaderBlockBytes,
    streamHighWaterMark: splitSessionBudget(options.sessionBufferBytes, STREAMS).streamHighWaterMark,
    pingFloodTimeoutMs: options.controlFloodTimeoutMs,
  }, head);
  const session = new SpdyRemoteCommandBridge({
    request,
    client,
    upstream: upstream.spdy,
    version: outcome.protocol,
    log,
    tap: tapping.opened?.tap,
    upstreamPingIntervalMs: options.upstreamPingIntervalMs ?? 30_000,
  });
  // A recording that must be written and cannot be ends the session with a Status saying so.
  tapping.onFailure((message) => session.end(errorStatus(500, 'InternalError', message), 'recording-failed'));
  return session;
}
