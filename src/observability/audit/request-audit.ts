/**
 * Every request's audit trail, as kube-apiserver keeps it: one auditID per request (sent upstream
 * as `Audit-ID`, in the session's log lines, on every stage), the policy's level decided once the
 * caller is known, then RequestReceived, ResponseStarted (long-running requests only, when the
 * answer starts: the 101 of a session, the headers of a watch) and ResponseComplete, each unless
 * the policy omits it.
 *
 *   const auditor = new RequestAuditor({ policy, write })
 *   const audited = auditor.begin(req)        (at arrival; auditor.of(req) finds it again)
 *   audited.identify({ user?, impersonatedUser?, attributes })
 *   audited.started(code) / audited.complete(status?, annotations?)   (complete counts once)
 *   audited.session(session)                  (a running session: 101 now, ResponseComplete at its end)
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { auditEvent, nowMicros, type AuditEvent, type AuditInput, type AuditStage } from './events.js';
import type { AuditDecision, AuditPolicy } from './policy.js';
import type { UserInfo } from '../../auth/identity.js';
import { requestAttributes, type RequestAttributes } from '../../auth/request-attributes.js';

/**
 * What the audit reads of a running session: declared here, not imported from translators/, because
 * observability sits beside the session layers and never below them (translators' LiveSession fits it).
 */
export interface AuditedSession {
  readonly kind: string;
  readonly clientProtocol: string;
  readonly bytesFromClient: number;
  readonly bytesToClient: number;
  /** Settles with the session's outcome when it ends. */
  readonly done: Promise<string>;
}

export interface RequestAuditorOptions {
  policy: AuditPolicy;
  /** Hands an event to every sink; absent: nothing is recorded (IDs are still assigned and sent). */
  write?: (event: AuditEvent) => void;
}

export interface AuditIdentity {
  /** The authenticated caller (the impersonator when it impersonates); absent when unknown. */
  user?: UserInfo;
  /** Whom the caller acted as, with its own Impersonate-* headers. */
  impersonatedUser?: UserInfo;
  attributes: RequestAttributes;
}

/** kube-apiserver's long-running requests (its LongRunningRequestCheck): the ones with a ResponseStarted. */
const LONG_RUNNING_VERBS = new Set(['watch', 'proxy']);
const LONG_RUNNING_SUBRESOURCES = new Set(['attach', 'exec', 'proxy', 'log', 'portforward']);

function isLongRunning(attributes: RequestAttributes): boolean {
  return attributes.resourceRequest && (LONG_RUNNING_VERBS.has(attributes.verb) || LONG_RUNNING_SUBRESOURCES.has(attributes.subresource));
}

export class RequestAuditor {
  private readonly requests = new WeakMap<IncomingMessage, AuditedRequest>();
  /** Replaced when the policy file changes; requests already identified keep their decision. */
  policy: AuditPolicy;
  private readonly write: RequestAuditorOptions['write'];

  constructor(options: RequestAuditorOptions) {
    this.policy = options.policy;
    this.write = options.write;
  }

  /** `clientAddress`: the real client behind trusted proxies (net/client-address.ts), for `sourceIPs`. */
  begin(req: IncomingMessage, clientAddress?: string): AuditedRequest {
    const audited = new AuditedRequest(req, { policy: this.policy, write: this.write }, clientAddress ?? req.socket?.remoteAddress);
    this.requests.set(req, audited);
    return audited;
  }

  /** The record begun for `req`, for those that learn about it later (access control's denials). */
  of(req: IncomingMessage): AuditedRequest | undefined {
    return this.requests.get(req);
  }
}

type ResponseStatus = NonNullable<AuditInput['responseStatus']>;

export class AuditedRequest {
  /**
   * Always the gateway's own: a client-chosen ID could collide with another request's or hide
   * which request a line belongs to, so a client's `Audit-ID` header is replaced, not trusted.
   */
  readonly auditID = randomUUID();
  private readonly receivedMicros = nowMicros();
  private identity: AuditIdentity | undefined;
  private decision: AuditDecision | undefined;
  private readonly annotations: Record<string, string> = {};
  private completed = false;

  constructor(
    private readonly req: IncomingMessage,
    private readonly options: RequestAuditorOptions,
    private readonly clientAddress: string | undefined,
  ) {}

  /** Who asked for what; the first call decides the level (later ones only add annotations). */
  identify(identity: AuditIdentity, annotations: Record<string, string> = {}): void {
    Object.assign(this.annotations, annotations);
    if (this.identity) return;
    this.identity = identity;
    if (!this.options.write) return;
    this.decision = this.options.policy.evaluate({ user: identity.user, attributes: identity.attributes });
    this.emit('RequestReceived');
  }

  get attributes(): RequestAttributes | undefined {
    return this.identity?.attributes;
  }

  /** The answer started (101, or a long-running request's headers). */
  started(code: number): void {
    if (this.completed || !this.identity || !isLongRunning(this.identity.attributes)) return;
    this.emit('ResponseStarted', { code });
  }

  /** A session that runs (its 101 went out): ResponseStarted now, ResponseComplete with its outcome and bytes when it ends. */
  session(session: AuditedSession): void {
    this.started(101);
    const startedAt = performance.now();
    const completed = (outcome: string): void =>
      this.complete({ code: 101 }, {
        'kube-stream-gateway/session-kind': session.kind,
        'kube-stream-gateway/client-protocol': session.clientProtocol,
        'kube-stream-gateway/outcome': outcome,
        'kube-stream-gateway/duration-ms': String(Math.round(performance.now() - startedAt)),
        'kube-stream-gateway/bytes-from-client': String(session.bytesFromClient),
        'kube-stream-gateway/bytes-to-client': String(session.bytesToClient),
      });
    session.done.then(completed, () => completed('upstream-error'));
  }

  /** Annotations for the events still to come (a session's recording). */
  annotate(annotations: Record<string, string>): void {
    Object.assign(this.annotations, annotations);
  }

  /** The last stage; `status` absent when the client got no answer (it went away first). */
  complete(status?: ResponseStatus, annotations: Record<string, string> = {}): void {
    if (this.completed) return;
    this.completed = true;
    // Refused before anyone looked at it (routing, origin, shutdown): the request as it came.
    if (!this.identity) this.identify({ attributes: requestAttributes({ method: this.req.method ?? 'GET', url: this.req.url ?? '/' }) });
    Object.assign(this.annotations, annotations);
    this.emit('ResponseComplete', status);
  }

  private emit(stage: AuditStage, status?: ResponseStatus): void {
    const { decision, identity, options } = this;
    if (!options.write || !decision || !identity || decision.level === 'None' || decision.omitStages.has(stage)) return;
    const address = this.clientAddress;
    options.write(
      auditEvent({
        auditID: this.auditID,
        stage,
        requestURI: this.req.url ?? '/',
        attributes: identity.attributes,
        user: identity.user,
        impersonatedUser: identity.impersonatedUser,
        sourceIPs: address ? [address] : [],
        userAgent: this.req.headers['user-agent'],
        responseStatus: status,
        requestReceivedMicros: this.receivedMicros,
        annotations: this.annotations,
      }),
    );
  }
}
