import type { IncomingMessage } from 'node:http';
import type { Logger } from '../observability/logger.js';
import { parseRemoteCommandRequest } from '../codecs/k8s/remote-command-request.js';
import { portForwardTarget } from '../codecs/k8s/port-forward-request.js';
import type { UpstreamCall } from './upstream-call.js';

/**
 * How the gateway carries the session: translated channels, tunnelled SPDY, port channels, raw relay;
 * `to-websocket`: a SPDY client, or a channel client without v5, translated toward a WebSocket upstream
 * (translators/to-websocket/).
 */
export type SessionMode = 'translated' | 'tunnel' | 'channels' | 'relay' | 'to-websocket';

/**
 * Who and what a session is — the same fields on every session line of every kind, `null` where a
 * field does not apply (a port-forward has no container), so that one query finds them all.
 */
export interface SessionSubject {
  kind: 'exec' | 'attach' | 'portforward' | 'upgrade';
  mode: SessionMode;
  upstream: string;
  /** Links the session's lines to its audit events (and to the upstream's, through `Audit-ID`). */
  auditID: string | null;
  /** The authenticated user in edge mode; null in passthrough (the upstream authenticates). */
  user: string | null;
  namespace: string | null;
  pod: string | null;
  container: string | null;
  command: string[] | null;
  clientAddress: string | null;
  userAgent: string | null;
}

export interface SessionProtocols {
  clientProtocol: string;
  upstreamProtocol: string | null;
}

export interface SessionOutcomeFields {
  bytesFromClient: number;
  bytesToClient: number;
  /** The command's exit code (exec/attach when known); null otherwise. */
  exitCode?: number | null;
  /** Who or what ended it, as the metrics count it (completed, ping-timeout, control-flood, …). */
  outcome?: string;
  reason: string;
}

/** The subject of a session, read from the admitted call and the client's request, for every kind alike. */
export function sessionSubject(call: UpstreamCall, req: IncomingMessage, mode: SessionMode): SessionSubject {
  const remoteCommand = parseRemoteCommandRequest(call.path);
  const portForward = remoteCommand ? undefined : portForwardTarget(call.path);
  return {
    kind: remoteCommand?.kind ?? (portForward ? 'portforward' : 'upgrade'),
    mode,
    upstream: call.upstreamName,
    auditID: call.auditID ?? null,
    user: call.user ?? null,
    namespace: remoteCommand?.namespace ?? portForward?.namespace ?? null,
    pod: remoteCommand?.pod ?? portForward?.pod ?? null,
    container: remoteCommand?.container ?? null,
    command: remoteCommand && remoteCommand.kind === 'exec' ? remoteCommand.command : null,
    clientAddress: call.clientAddress ?? req.socket.remoteAddress ?? null,
    userAgent: headerValue(req.headers['user-agent']),
  };
}

/**
 * One session's start and end lines. Every kind (translated exec/attach, port-forward tunnel and
 * channels, relayed upgrades) logs through this, so the field set is assembled in one place.
 */
export class SessionLog {
  /** For every other line of the session (refusals, errors): carries the subject too. */
  readonly logger: Logger;
  private startedAt = Date.now();
  private protocols: SessionProtocols = { clientProtocol: '', upstreamProtocol: null };
  private ended = false;

  constructor(
    base: Logger,
    readonly subject: SessionSubject,
    /** Kind-specific context kept on every line of the session (session id, tty, ports). */
    context: Record<string, unknown> = {},
  ) {
    this.logger = base.child({ ...context, ...subject });
  }

  /** The session runs: the protocols each side speaks; the duration counts from here. */
  start(protocols: SessionProtocols): void {
    this.protocols = protocols;
    this.startedAt = Date.now();
    this.logger.info({ event: 'session-start', ...protocols }, 'session started');
  }

  /** Logs the end once; later calls (several close paths) are ignored. */
  end(outcome: SessionOutcomeFields, extra: Record<string, unknown> = {}): void {
    if (this.ended) return;
    this.ended = true;
    this.logger.info(
      {
        event: 'session-end',
        ...this.protocols,
        bytesFromClient: outcome.bytesFromClient,
        bytesToClient: outcome.bytesToClient,
        exitCode: outcome.exitCode ?? null,
        durationMs: Date.now() - this.startedAt,
        outcome: outcome.outcome ?? null,
        reason: outcome.reason,
        ...extra,
      },
      'session ended',
    );
  }
}

function headerValue(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(', ') : value;
}
