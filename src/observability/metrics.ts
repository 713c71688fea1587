import { X509Certificate } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import {
  PORT_FORWARD_CHANNEL_PROTOCOLS,
  REMOTE_COMMAND_PROTOCOLS,
  SPDY_TUNNELING_PREFIX,
} from '../codecs/channels/protocols.js';

/**
 * Prometheus metrics of one gateway process (prom-client). Every label value is drawn from a closed
 * set: kinds, outcomes and directions are fixed; client protocols come from the Kubernetes protocol
 * tables; upstream names from the configuration; reasons from a short name pattern with a cap on how
 * many distinct ones are kept. Anything else is counted under `other`, so a client cannot grow the
 * number of series, and no pod name, user or address ever becomes a label.
 */

/** @internal Exported for its unit test; the product uses it only here. */
export const SESSION_KINDS = ['exec', 'attach', 'portforward-tunnel', 'portforward-channels', 'relay'] as const;
export type SessionKind = (typeof SESSION_KINDS)[number];

/**
 * `shutdown` is the drain's end; the others after `refused` name why the gateway ended a session.
 * @internal Exported for its unit test; the product uses it only here.
 */
export const SESSION_OUTCOMES = [
  'completed',
  'client-error',
  'upstream-error',
  'refused',
  'shutdown',
  'idle-timeout',
  'max-duration',
  'ended-by-admin',
  'ping-timeout',
  'message-too-large',
  'control-flood',
  'recording-failed',
] as const;
type SessionOutcome = (typeof SESSION_OUTCOMES)[number];

/** Why a connection was closed before its first request head (src/net/connection-guard.ts). */
const CONNECTION_REFUSAL_REASONS = ['max-connections', 'max-connections-per-client', 'header-timeout', 'proxy-protocol'] as const;

const BYTE_DIRECTIONS = ['client-to-upstream', 'upstream-to-client'] as const;
export type ByteDirection = (typeof BYTE_DIRECTIONS)[number];

/** Where audit events go: the `audit.path` log, the `audit.webhook` receiver. */
const AUDIT_SINKS = ['log', 'webhook'] as const;
export type AuditSink = (typeof AUDIT_SINKS)[number];

/** Why a session recording failed (src/recording/): its file could not be opened or written, or the disk fell behind. */
const RECORDING_FAILURES = ['open', 'write', 'behind'] as const;
export type RecordingFailureReason = (typeof RECORDING_FAILURES)[number];
/** Why the retention sweep deleted a recording. */
export const RECORDING_DELETIONS = ['age', 'size'] as const;
/** Why asking another replica failed (src/server/ui/peer-client.ts PeerFailure). */
const UI_PEER_FAILURES = ['dns', 'timeout', 'refused', 'unreachable', 'tls', 'rejected', 'status', 'too-large', 'invalid'] as const;
/** Why a request on the peer API was refused (src/server/ui/peer-auth.ts PeerRefusal). */
const UI_PEER_REFUSALS = ['missing', 'malformed', 'signature', 'mismatch', 'stale', 'replayed', 'busy'] as const;

/** Label value for anything outside a label's closed set. */
const OTHER = 'other';
/** Label value for a WebSocket client that named no subprotocol. */
const NO_PROTOCOL = 'none';

/** Reasons are short names like `invalid-token`; at most this many distinct ones per metric. */
const REASON_PATTERN = /^[a-z][a-z0-9_-]{0,39}$/;
const MAX_REASONS_PER_METRIC = 32;

/** What a client may name as its protocol: the channel protocols, tunnelled SPDY, and SPDY itself. */
const KNOWN_CLIENT_PROTOCOLS: ReadonlySet<string> = new Set([
  ...REMOTE_COMMAND_PROTOCOLS.map((protocol) => protocol.name),
  ...PORT_FORWARD_CHANNEL_PROTOCOLS.map((protocol) => protocol.name),
  `${SPDY_TUNNELING_PREFIX}portforward.k8s.io`,
  'SPDY/3.1',
].filter((name) => name !== ''));

/** How a proxied request is counted: what it does, not its path (bounded). */
const VERB_CLASSES = ['read', 'write', 'watch', 'other'] as const;
/** @internal Exported for its unit test; the product uses it only here. */
export type VerbClass = (typeof VERB_CLASSES)[number];

/** The protocol a client asked to upgrade to. */
const UPGRADE_PROTOCOLS = ['websocket', 'spdy', 'other'] as const;
const UPGRADE_RESULTS = ['upgraded', 'refused'] as const;
export type UpgradeResult = (typeof UPGRADE_RESULTS)[number];

/** Whose certificate: the listener's, the client CA bundle, an upstream client certificate. */
const CERTIFICATES = ['serving', 'client-ca', 'upstream-client'] as const;
export type CertificateRole = (typeof CERTIFICATES)[number];

/** What became of a changed file: taken, or why not (token-file.ts names the first three). */
const RELOAD_RESULTS = ['success', 'invalid', 'empty', 'unstable', 'unreadable', 'unusable'] as const;
export type ReloadResult = (typeof RELOAD_RESULTS)[number];

/** A plain request: discovery and GETs take milliseconds; watches and `logs -f` last minutes or hours. */
const REQUEST_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600];

/** Sessions last from a second to a day; the buckets follow that range. */
const SESSION_DURATION_BUCKETS = [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 14400, 43200, 86400];
/** A TCP + TLS + SPDY handshake toward a cluster: milliseconds on a LAN, seconds when it struggles. */
const CONNECT_LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface SessionLabels {
  kind: SessionKind;
  /** The negotiated Sec-WebSocket-Protocol ("" when none), or `SPDY/3.1` for a relayed SPDY upgrade. */
  clientProtocol: string;
  /** The configured upstream name. */
  upstream: string;
}

/** One running session's metrics handle: bytes are cheap to count, `ended` is counted once. */
export interface SessionMetrics {
  addBytes(direction: ByteDirection, n: number): void;
  /** Idempotent: only the first call counts (a session may be ended by several paths at once). */
  ended(outcome: SessionOutcome): void;
}

/** A proxied plain request once it is over. */
export interface ProxiedRequest {
  method: string;
  /** The request path and query as sent upstream (only its verb class is used). */
  path: string;
  seconds: number;
}

export interface GatewayMetricsOptions {
  /** Configured upstream names; any other name is counted as `other`. */
  upstreams: readonly string[];
  /** Reloadable files by setting name (`tls.cert`, `upstreams[a].ca`, …): the `file` label's values. */
  reloadableSettings?: readonly string[];
  /** For build_info; default: unknown. */
  version?: string;
  /** Process and Node.js runtime metrics (prom-client's defaults). Default true. */
  defaultMetrics?: boolean;
  /** Monotonic clock in milliseconds; tests pass their own. */
  now?: () => number;
}

export interface RenderedMetrics {
  contentType: string;
  body: string;
}

/** Byte totals accumulate in plain numbers and reach the counter when scraped: no lookup per chunk. */
interface ByteCell {
  pending: number;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly now: () => number;
  private readonly upstreams: ReadonlySet<string>;
  private readonly byteCells = new Map<SessionKind, Record<ByteDirection, ByteCell>>();
  private readonly reasonsSeen = new Map<string, Set<string>>();

  private readonly sessionsActive: Gauge<'kind' | 'client_protocol' | 'upstream'>;
  private readonly sessionsEnded: Counter<'kind' | 'outcome'>;
  private readonly sessionBytes: Counter<'direction' | 'kind'>;
  private readonly sessionDuration: Histogram<'kind'>;
  private readonly upstreamConnectDuration: Histogram<'upstream' | 'result'>;
  private readonly authenticationFailures: Counter<'reason'>;
  private readonly authorizationDenials: Counter<'reason'>;
  private readonly upstreamErrors: Counter<'upstream' | 'reason'>;
  private readonly proxiedRequests: Counter<'upstream' | 'code'>;
  private readonly auditEvents: Counter<'sink'>;
  private readonly auditEventsDropped: Counter<'sink'>;
  private readonly upstreamUp: Gauge<'upstream'>;
  private readonly proxiedRequestDuration: Histogram<'upstream' | 'verb' | 'code'>;
  private readonly upgrades: Counter<'protocol' | 'result'>;
  private readonly protocolByteCells = new Map<string, Record<ByteDirection, ByteCell>>();
  private readonly certificateExpiry: Gauge<'certificate' | 'upstream'>;
  private readonly configReloads: Counter<'file' | 'result'>;
  private readonly reloadableSettings: ReadonlySet<string>;
  private readonly connectionsRefused: Counter<'reason'>;
  private readonly recordingBytes: Counter;
  private readonly recordingsFailed: Counter<'reason'>;
  private readonly recordingsDeleted: Counter<'reason'>;
  private readonly uiPeerFailures: Counter<'reason'>;
  private readonly uiPeerRefusals: Counter<'reason'>;
  private readonly recordingSpace: Gauge;

  constructor(options: GatewayMetricsOptions) {
    this.now = options.now ?? (() => performance.now());
    this.upstreams = new Set(options.upstreams);
    const registers = [this.registry];

    this.sessionsActive = new Gauge({
      name: 'kube_stream_gateway_sessions_active',
      help: 'Sessions (exec, attach, port-forward, relayed upgrades) running now.',
      labelNames: ['kind', 'client_protocol', 'upstream'],
      registers,
    });
    this.sessionsEnded = new Counter({
      name: 'kube_stream_gateway_sessions_ended_total',
      help: 'Sessions ended, by how they ended.',
      labelNames: ['kind', 'outcome'],
      registers,
    });
    const byteCells = this.byteCells;
    this.sessionBytes = new Counter({
      name: 'kube_stream_gateway_session_bytes_total',
      help: 'Payload bytes carried by sessions, by direction.',
      labelNames: ['direction', 'kind'],
      registers,
      collect() {
        for (const [kind, cells] of byteCells) {
          for (const direction of BYTE_DIRECTIONS) {
            const cell = cells[direction];
            if (cell.pending === 0) continue;
            this.inc({ direction, kind }, cell.pending);
            cell.pending = 0;
          }
        }
      },
    });
    this.sessionDuration = new Histogram({
      name: 'kube_stream_gateway_session_duration_seconds',
      help: 'How long sessions lasted, from upgrade to end.',
      labelNames: ['kind'],
      buckets: SESSION_DURATION_BUCKETS,
      registers,
    });
    this.upstreamConnectDuration = new Histogram({
      name: 'kube_stream_gateway_upstream_connect_duration_seconds',
      help: 'Time to open a session toward an upstream (TCP, TLS and the SPDY or WebSocket handshake).',
      labelNames: ['upstream', 'result'],
      buckets: CONNECT_LATENCY_BUCKETS,
      registers,
    });
    this.authenticationFailures = new Counter({
      name: 'kube_stream_gateway_authentication_failures_total',
      help: 'Requests whose credentials were refused, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.authorizationDenials = new Counter({
      name: 'kube_stream_gateway_authorization_denials_total',
      help: 'Authenticated requests the gateway refused to authorize, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.upstreamErrors = new Counter({
      name: 'kube_stream_gateway_upstream_errors_total',
      help: 'Failures talking to an upstream cluster, by upstream and reason.',
      labelNames: ['upstream', 'reason'],
      registers,
    });
    this.proxiedRequests = new Counter({
      name: 'kube_stream_gateway_proxied_requests_total',
      help: 'Plain (non-upgrade) requests proxied to an upstream, by status class.',
      labelNames: ['upstream', 'code'],
      registers,
    });
    this.auditEvents = new Counter({
      name: 'kube_stream_gateway_audit_events_total',
      help: 'Audit events written to the log file or stdout (sink=log) or accepted by the webhook receiver (sink=webhook).',
      labelNames: ['sink'],
      registers,
    });
    this.auditEventsDropped = new Counter({
      name: 'kube_stream_gateway_audit_events_dropped_total',
      help: 'Audit events lost: the sink\'s bounded queue was full, its destination failed, or the webhook receiver kept refusing them.',
      labelNames: ['sink'],
      registers,
    });
    for (const sink of AUDIT_SINKS) {
      this.auditEvents.inc({ sink }, 0);
      this.auditEventsDropped.inc({ sink }, 0);
    }

    this.recordingBytes = new Counter({
      name: 'kube_stream_gateway_recording_bytes_total',
      help: 'Bytes written to session recordings (recording.directory), headers and framing included.',
      registers,
    });
    this.recordingsFailed = new Counter({
      name: 'kube_stream_gateway_recordings_failed_total',
      help: 'Session recordings that could not be opened (open), written (write), or kept up with the session (behind).',
      labelNames: ['reason'],
      registers,
    });
    this.recordingsDeleted = new Counter({
      name: 'kube_stream_gateway_recordings_deleted_total',
      help: 'Recordings the retention sweep deleted, for their age (recording.retention.maxAgeDays) or the total size (maxTotalBytes).',
      labelNames: ['reason'],
      registers,
    });
    this.recordingSpace = new Gauge({
      name: 'kube_stream_gateway_recording_space_available_bytes',
      help: 'Space left for recordings on the file system of recording.directory, as of the last retention sweep.',
      registers,
    });
    for (const reason of RECORDING_FAILURES) this.recordingsFailed.inc({ reason }, 0);
    for (const reason of RECORDING_DELETIONS) this.recordingsDeleted.inc({ reason }, 0);

    this.uiPeerFailures = new Counter({
      name: 'kube_stream_gateway_ui_peer_failures_total',
      help: 'Requests to another replica of the web interface (ui.peers) that failed, by reason: dns, timeout, refused, unreachable, tls, rejected (the peer refused the signature), status, too-large, invalid.',
      labelNames: ['reason'],
      registers,
    });
    this.uiPeerRefusals = new Counter({
      name: 'kube_stream_gateway_ui_peer_requests_refused_total',
      help: 'Requests on the peer API (from another replica, or posing as one) refused, by reason: missing, malformed, signature, mismatch (another method or path), stale, replayed, busy.',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of UI_PEER_FAILURES) this.uiPeerFailures.inc({ reason }, 0);
    for (const reason of UI_PEER_REFUSALS) this.uiPeerRefusals.inc({ reason }, 0);

    this.upstreamUp = new Gauge({
      name: 'kube_stream_gateway_upstream_up',
      help: 'Whether the last reachability check of an upstream passed (1) or failed (0); absent before the first.',
      labelNames: ['upstream'],
      registers,
    });

    new Gauge({
      name: 'kube_stream_gateway_build_info',
      help: 'Always 1; the labels say which build runs.',
      labelNames: ['version', 'node_version'],
      registers,
    }).set({ version: options.version ?? 'unknown', node_version: process.version }, 1);
    this.proxiedRequestDuration = new Histogram({
      name: 'kube_stream_gateway_proxied_request_duration_seconds',
      help: 'How long proxied plain requests took, from arrival to the end of the answer (watches and logs -f included, as verb "watch").',
      labelNames: ['upstream', 'verb', 'code'],
      buckets: REQUEST_DURATION_BUCKETS,
      registers,
    });
    this.upgrades = new Counter({
      name: 'kube_stream_gateway_upgrades_total',
      help: 'Upgrade requests, by the protocol asked for and whether a session started.',
      labelNames: ['protocol', 'result'],
      registers,
    });
    const protocolByteCells = this.protocolByteCells;
    new Counter({
      name: 'kube_stream_gateway_protocol_bytes_total',
      help: 'Payload bytes carried by sessions, by client protocol and direction.',
      labelNames: ['client_protocol', 'direction'],
      registers,
      collect() {
        for (const [clientProtocol, cells] of protocolByteCells) {
          for (const direction of BYTE_DIRECTIONS) {
            const cell = cells[direction];
            this.inc({ client_protocol: clientProtocol, direction }, cell.pending);
            cell.pending = 0;
          }
        }
      },
    });
    this.certificateExpiry = new Gauge({
      name: 'kube_stream_gateway_certificate_expiry_timestamp_seconds',
      help: 'When a certificate the gateway uses expires (Unix time; the earliest of a bundle), by role and upstream ("" when not an upstream\'s).',
      labelNames: ['certificate', 'upstream'],
      registers,
    });
    this.reloadableSettings = new Set(options.reloadableSettings ?? []);
    this.configReloads = new Counter({
      name: 'kube_stream_gateway_config_reloads_total',
      help: 'Reloads of rotated files (certificates, keys, credentials, token file), by file setting and result.',
      labelNames: ['file', 'result'],
      registers,
    });
    for (const file of this.reloadableSettings) for (const result of RELOAD_RESULTS) this.configReloads.inc({ file, result }, 0);
    for (const protocol of UPGRADE_PROTOCOLS) for (const result of UPGRADE_RESULTS) this.upgrades.inc({ protocol, result }, 0);

    this.connectionsRefused = new Counter({
      name: 'kube_stream_gateway_connections_refused_total',
      help: 'Client connections closed before a request head: over limits.maxConnections or limits.maxConnectionsPerClient, past limits.headerTimeoutSeconds, or without a valid PROXY protocol header.',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of CONNECTION_REFUSAL_REASONS) this.connectionsRefused.inc({ reason }, 0);


    // Known combinations start at 0, so rates and absent-series alerts work from the first scrape.
    for (const kind of SESSION_KINDS) {
      this.byteCells.set(kind, { 'client-to-upstream': { pending: 0 }, 'upstream-to-client': { pending: 0 } });
      for (const direction of BYTE_DIRECTIONS) this.sessionBytes.inc({ direction, kind }, 0);
      for (const outcome of SESSION_OUTCOMES) this.sessionsEnded.inc({ kind, outcome }, 0);
    }
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Call when a session is established (after the upgrade); the handle counts its bytes and its end. */
  sessionStarted(labels: SessionLabels): SessionMetrics {
    const kind = SESSION_KINDS.includes(labels.kind) ? labels.kind : undefined;
    if (!kind) throw new TypeError(`unknown session kind ${JSON.stringify(labels.kind)}`);
    const active = this.sessionsActive.labels({
      kind,
      client_protocol: this.clientProtocolLabel(labels.clientProtocol),
      upstream: this.upstreamLabel(labels.upstream),
    });
    active.inc();
    const cells = this.byteCells.get(kind)!;
    const protocolLabel = this.clientProtocolLabel(labels.clientProtocol);
    let protocolCells = this.protocolByteCells.get(protocolLabel);
    if (!protocolCells) this.protocolByteCells.set(protocolLabel, (protocolCells = { 'client-to-upstream': { pending: 0 }, 'upstream-to-client': { pending: 0 } }));
    const byProtocol = protocolCells;
    const startedAt = this.now();
    let open = true;
    return {
      addBytes: (direction, n) => {
        cells[direction].pending += n;
        byProtocol[direction].pending += n;
      },
      ended: (outcome) => {
        if (!open) return;
        open = false;
        active.dec();
        this.sessionsEnded.inc({ kind, outcome: SESSION_OUTCOMES.includes(outcome) ? outcome : OTHER });
        this.sessionDuration.observe({ kind }, Math.max(0, this.now() - startedAt) / 1000);
      },
    };
  }

  /** How long opening a session toward `upstream` took, and whether it succeeded. */
  upstreamConnect(upstream: string, seconds: number, ok: boolean): void {
    this.upstreamConnectDuration.observe({ upstream: this.upstreamLabel(upstream), result: ok ? 'ok' : 'error' }, seconds);
  }

  authFailure(reason: string): void {
    this.authenticationFailures.inc({ reason: this.reasonLabel('authentication', reason) });
  }

  authzDenied(reason: string): void {
    this.authorizationDenials.inc({ reason: this.reasonLabel('authorization', reason) });
  }

  /** A client connection closed before its request head; `reason` outside CONNECTION_REFUSAL_REASONS counts as `other`. */
  connectionRefused(reason: string): void {
    this.connectionsRefused.inc({ reason: (CONNECTION_REFUSAL_REASONS as readonly string[]).includes(reason) ? reason : OTHER });
  }

  /** e.g. `connect-refused`, `tls`, `timeout`, `handshake`: a short name, never an error message. */
  upstreamError(upstream: string, reason: string): void {
    this.upstreamErrors.inc({ upstream: this.upstreamLabel(upstream), reason: this.reasonLabel('upstream', reason) });
  }

  /**
   * A proxied plain request finished: its status code (0: no answer from the upstream) or a class
   * already computed (`2xx` … `5xx`, `none`).
   */
  proxiedRequest(upstream: string, status: number | string, request?: ProxiedRequest): void {
    const code = typeof status === 'number' ? statusClass(status) : /^([1-5]xx|none)$/.test(status) ? status : OTHER;
    this.proxiedRequests.inc({ upstream: this.upstreamLabel(upstream), code });
    if (request) this.proxiedRequestDuration.observe({ upstream: this.upstreamLabel(upstream), verb: verbClass(request.method, request.path), code }, Math.max(0, request.seconds));
  }

  /** An upgrade request: `Upgrade: websocket` or `SPDY/3.1`, and whether a session started. */
  upgrade(upgradeHeader: string | undefined, result: UpgradeResult): void {
    const header = (upgradeHeader ?? '').toLowerCase();
    const protocol = header === 'websocket' ? 'websocket' : header.startsWith('spdy/') ? 'spdy' : OTHER;
    this.upgrades.inc({ protocol, result });
  }

  /**
   * The expiry of a certificate (the earliest in a PEM bundle); a PEM with no readable certificate
   * removes the series rather than reporting a wrong date.
   */
  certificate(role: CertificateRole, pem: string | Buffer | undefined, upstream = ''): void {
    const labels = { certificate: role, upstream: upstream === '' ? '' : this.upstreamLabel(upstream) };
    const expiry = pem === undefined ? undefined : earliestExpiry(pem.toString());
    if (expiry === undefined) this.certificateExpiry.remove(labels);
    else this.certificateExpiry.set(labels, expiry);
  }

  /** A rotated file was read: its setting name (`tls.cert`, `auth.tokenFile`, …) and the outcome. */
  /**
   * A watched file changed: `file` is the setting it feeds (`auth.tokenFile`, `tls.cert`; bounded by
   * the configuration), `result` `success` or why it was refused (`invalid`, `empty`, `unstable`, …).
   */
  configReload(file: string, result: ReloadResult): void {
    this.configReloads.inc({ file: this.reloadableSettings.has(file) ? file : OTHER, result });
  }

  /** The outcome of an upstream's reachability check (health.ts). */
  upstreamReachable(upstream: string, reachable: boolean): void {
    this.upstreamUp.set({ upstream: this.upstreamLabel(upstream) }, reachable ? 1 : 0);
  }

  auditWritten(sink: AuditSink, count = 1): void {
    this.auditEvents.inc({ sink }, count);
  }

  auditDropped(sink: AuditSink, count = 1): void {
    this.auditEventsDropped.inc({ sink }, count);
  }

  /** Called per write batch of a recording, never per payload. */
  recordingWritten(bytes: number): void {
    this.recordingBytes.inc(bytes);
  }

  recordingFailed(reason: RecordingFailureReason): void {
    this.recordingsFailed.inc({ reason });
  }

  recordingsRemoved(reason: (typeof RECORDING_DELETIONS)[number], count: number): void {
    if (count > 0) this.recordingsDeleted.inc({ reason }, count);
  }

  uiPeerFailed(reason: (typeof UI_PEER_FAILURES)[number]): void {
    this.uiPeerFailures.inc({ reason });
  }

  uiPeerRequestRefused(reason: (typeof UI_PEER_REFUSALS)[number]): void {
    this.uiPeerRefusals.inc({ reason });
  }

  recordingSpaceAvailable(bytes: number): void {
    this.recordingSpace.set(bytes);
  }

  /** The Prometheus text exposition of every metric, for GET /metrics. */
  async render(): Promise<RenderedMetrics> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private upstreamLabel(upstream: string): string {
    return this.upstreams.has(upstream) ? upstream : OTHER;
  }

  private clientProtocolLabel(protocol: string): string {
    if (protocol === '') return NO_PROTOCOL;
    return KNOWN_CLIENT_PROTOCOLS.has(protocol) ? protocol : OTHER;
  }

  private reasonLabel(metric: string, reason: string): string {
    if (!REASON_PATTERN.test(reason)) return OTHER;
    let seen = this.reasonsSeen.get(metric);
    if (!seen) this.reasonsSeen.set(metric, (seen = new Set()));
    if (seen.has(reason)) return reason;
    if (seen.size >= MAX_REASONS_PER_METRIC) return OTHER;
    seen.add(reason);
    return reason;
  }
}

/**
 * `watch` for requests that stream until someone stops them (`?watch=true`, `/watch/` paths,
 * `logs?follow=true`), `read` for GET/HEAD/OPTIONS, `write` for POST/PUT/PATCH/DELETE.
 * @internal Exported for its unit test; the product uses it only here.
 */
export function verbClass(method: string, path: string): VerbClass {
  const upper = method.toUpperCase();
  const query = new URLSearchParams(path.split('?')[1] ?? '');
  const streams = query.get('watch') === 'true' || query.get('watch') === '1' || /\/watch\//.test(path.split('?')[0]!) || query.get('follow') === 'true';
  if (upper === 'GET' && streams) return 'watch';
  if (upper === 'GET' || upper === 'HEAD' || upper === 'OPTIONS') return 'read';
  if (upper === 'POST' || upper === 'PUT' || upper === 'PATCH' || upper === 'DELETE') return 'write';
  return OTHER;
}

/** Unix seconds of the earliest notAfter among the PEM certificates, or undefined when none parses. */
function earliestExpiry(pem: string): number | undefined {
  let earliest: number | undefined;
  for (const block of pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
    try {
      const notAfter = Date.parse(new X509Certificate(block).validTo) / 1000;
      if (Number.isFinite(notAfter) && (earliest === undefined || notAfter < earliest)) earliest = notAfter;
    } catch {
      // Not a certificate after all: skip it.
    }
  }
  return earliest;
}

/**
 * `2xx` … `5xx`; `none` when no answer came; `other` for anything outside 100-599.
 * @internal Exported for its unit test; the product uses it only here.
 */
export function statusClass(statusCode: number): string {
  if (statusCode === 0) return 'none';
  if (!Number.isInteger(statusCode) || statusCode < 100 || statusCode > 599) return OTHER;
  return `${Math.floor(statusCode / 100)}xx`;
}
