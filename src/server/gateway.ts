import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../observability/logger.js';
import { RemoteCommandTranslator } from '../translators/remote-command/handler.js';
import type { SessionTapFactory } from '../translators/bridge.js';
import { PortForwardTunnel } from '../translators/port-forward/tunnel.js';
import { PortForwardChannels } from '../translators/port-forward/channels.js';
import { isWebSocketUpgrade } from '../translators/upgrade-request.js';
import type { LiveSession } from '../translators/live-session.js';
import { sessionSubject, type SessionMode } from '../translators/session-log.js';
import type { UpstreamCall } from '../translators/upstream-call.js';
import { portForwardTarget } from '../codecs/k8s/port-forward-request.js';
import { parseRemoteCommandRequest, type RemoteCommandRequest } from '../codecs/k8s/remote-command-request.js';
import { errorStatus } from '../codecs/k8s/status.js';
import { answeredStatus, HttpStatusError, sendStatusOnSocket, sendStatusResponse } from '../net/http-answers.js';
import type { UpstreamTarget } from '../upstream/target.js';
import type { AccessControl } from './access.js';
import { PassthroughAccess } from './passthrough-access.js';
import { createHttpProxy, type ProxiedRequestObserver } from './http-proxy.js';
import { listen } from '../net/listen.js';
import { Router, type NamedUpstream, type Route } from './routing.js';
import type { ListenAddress, RunningServer, ServerTls } from '../net/running-server.js';
import { DEFAULT_SESSION_LIMITS, SessionRegistry, type SessionLimits, type SessionObserver } from './session-registry.js';
import { relayUpgrade } from './upgrade-relay.js';
import { StreamingModes } from './streaming-modes.js';
import { serveSpdyClientTowardWebSocket } from '../translators/to-websocket/remote-command.js';
import { tunnelSpdyClientTowardWebSocket } from '../translators/to-websocket/port-forward.js';
import { bridgesTowardV5, serveChannelClientTowardV5 } from '../translators/to-websocket/channels-to-v5.js';
import { combineTapFactories, openSessionTap, type SessionTapOpening } from '../translators/session-tap.js';
import { bridgeSpdyRemoteCommand } from '../translators/spdy-bridge/handler.js';
import { UiServer, type UiOptions } from './ui/ui-server.js';
import { checkOrigin } from '../auth/origin.js';
import { DEFAULT_AUDIT_POLICY } from '../observability/audit/policy.js';
import { isStreamingRequest } from '../auth/request-attributes.js';
import { RequestAuditor, type AuditedRequest, type AuditIdentity } from '../observability/audit/request-audit.js';
import { DEFAULT_TLS_POLICY, tlsPolicyOptions, type TlsPolicy } from '../net/tls-policy.js';
import { ClientAddressResolver, withForwardedFor, type ClientAddress } from '../net/client-address.js';
import { guardConnections, type ConnectionRefusal } from '../net/connection-guard.js';
import { PORT_FORWARD_CHANNEL_PROTOCOLS, PORT_FORWARD_UPSTREAM_PROTOCOL, SPDY_TUNNELING_PREFIX, tunneledSpdyProtocols } from '../codecs/channels/protocols.js';
import { rotateTicketKeys } from '../net/ticket-keys.js';
import { UpstreamTlsReuse } from '../upstream/tls-reuse.js';

/** The gateway's TLS listener; with a client CA it also asks for client certificates (mTLS). */
interface GatewayTls extends ServerTls {
  /** PEM bundle that verifies client certificates; certificates are requested but not required. */
  clientCa?: string | Buffer;
  /** Protocol versions and TLS 1.2 suites offered; forward-secret AEAD only by default. */
  policy?: TlsPolicy;
}

/** Bounds on connections before (and between) requests; see connection-guard.ts. */
interface ConnectionLimits {
  /** From accept to a complete request head (PROXY header, TLS handshake, request line, headers). */
  headerTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerClient: number;
}

const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = { headerTimeoutMs: 10_000, maxConnections: 10_000, maxConnectionsPerClient: 200 };

/** How the gateway learns the real client behind load balancers (client-address.ts). */
interface NetworkOptions {
  /** CIDR ranges whose X-Forwarded-For and X-Forwarded-Proto are believed. */
  trustedProxies?: string[];
  /** Every connection starts with a PROXY protocol v1/v2 header (AWS NLB, HAProxy). */
  proxyProtocol?: boolean;
}

/** Idle time allowed between requests on a keep-alive connection (Node's default, made explicit). */
const KEEP_ALIVE_TIMEOUT_MS = 5_000;

export interface GatewayOptions {
  listen: ListenAddress;
  /** Serve HTTPS; plain HTTP otherwise (behind a TLS-terminating load balancer). */
  tls?: GatewayTls;
  /** A single cluster, named `default` (the `--upstream` flags). */
  upstream?: UpstreamTarget;
  /** Several clusters, routed by host name or `/clusters/{name}/` prefix. */
  upstreams?: NamedUpstream[];
  defaultUpstream?: string;
  revealUpstreamNames?: boolean;
  /** Who may reach which cluster, and as whom; passthrough (the upstream decides) by default. */
  access?: AccessControl;
  limits?: Partial<SessionLimits>;
  connections?: Partial<ConnectionLimits>;
  network?: NetworkOptions;
  /** Told about every connection closed before its request head: caps, header timeout, bad PROXY header. */
  onConnectionRefused?: (reason: ConnectionRefusal) => void;
  /** Largest WebSocket message accepted from a client. */
  maxMessageBytes?: number;
  /** Bound on one decompressed SPDY header block from an upstream. */
  maxHeaderBlockBytes?: number;
  /** Bytes one streaming session may buffer in all (back-pressure past it). */
  sessionBufferBytes?: number;
  /** Told about every session (metrics). */
  observer?: SessionObserver;
  /** Audits every request; absent: audit IDs are still assigned (logs, `Audit-ID` upstream), nothing is recorded. */
  audit?: RequestAuditor;
  /** Told about every proxied plain request once it is over: its cluster, status (0: no answer), method, path, duration. */
  onProxied?: ProxiedRequestObserver;
  /** Told about every upgrade request: its Upgrade header, and whether a session started. */
  onUpgrade?: (upgradeHeader: string | undefined, result: 'upgraded' | 'refused') => void;
  /** Told how long each upstream dial took (metrics). */
  onDial?: (upstream: string, seconds: number, error?: Error) => void;
  /** False while an upstream is known to be unreachable: its requests get a 503 Status naming it. */
  upstreamAvailable?: (upstream: string) => boolean;
  /**
   * Origins (scheme://host[:port]) whose pages may open WebSocket sessions, besides the gateway's own
   * origin. Upgrades without an Origin (kubectl, client libraries) are not affected.
   */
  allowedOrigins?: string[];
  /** The web interface (ui.enabled); it needs access control that authenticates (edge mode). */
  ui?: UiOptions;
  logger: Logger;
  clientPingIntervalMs?: number;
  upstreamPingIntervalMs?: number;
  /** Records exec and attach sessions (recording.*); none by default. */
  recording?: SessionTapFactory;
  /** How long a peer (client or upstream) pinging without reading the answers stays paused before it is cut (default 30 s). */
  controlFloodTimeoutMs?: number;
}

/**
 * The gateway's listener. Each request is routed to a cluster, admitted by access control, and then
 * goes one of three ways: an exec/attach/port-forward WebSocket upgrade is translated to SPDY; any
 * other upgrade is relayed raw; everything else is reverse-proxied.
 */
export interface Gateway extends RunningServer {
  /** Client connections open right now (for leak checks and metrics). */
  readonly openConnections: number;
  /** Translated exec/attach sessions and port-forward sessions in progress. */
  readonly activeSessions: number;
  /** Bytes streaming sessions hold in user space (stream buffers and unflushed WebSocket data). */
  readonly bufferedBytes: number;
  /** True from the start of a drain: readiness reports it, new sessions are refused. */
  readonly draining: boolean;
  /** Replaces the listener's certificate (and client CA) for new connections; running sessions keep theirs. */
  updateTls(tls: GatewayTls): void;
  /**
   * Graceful stop: stops accepting, refuses new sessions, lets running ones finish for up to
   * `graceMs`, then ends the rest with a Status saying the gateway is shutting down.
   */
  drain(graceMs: number): Promise<void>;
}

const SHUTTING_DOWN = 'the gateway is shutting down';
const upstreamUnavailable = (name: string): string => `the upstream cluster ${JSON.stringify(name)} is unavailable: the gateway cannot reach it`;
const UNRECORDABLE_FORWARD = 'session recording is required (recording.required) and port-forward sessions to this cluster are not recorded: it speaks WebSocket only, and the gateway passes them through unread';

/** A WebSocket port-forward client of the channel protocols (not kubectl's tunneling): the gateway maps it onto SPDY streams itself. */
const channelPortForward = (req: http.IncomingMessage, call: UpstreamCall): boolean =>
  isWebSocketUpgrade(req) && portForwardTarget(call.path) !== undefined && tunneledSpdyProtocols(call.offeredProtocols).length === 0 && PortForwardChannels.wants(call.offeredProtocols);
const UPGRADE_REQUIRED = 'Upgrade request required: exec, attach and port-forward need a WebSocket or SPDY upgrade';
/**
 * Every streaming upgrade the gateway relays goes upstream as POST, whatever the client's method:
 * what every real SPDY client sends, and what an API server before 1.35 (or a kubelet) authorizes as
 * `create`. A GET would be authorized as `get`, letting read-only identities exec (issue 17).
 */
const STREAMING_UPSTREAM_METHOD = 'POST';

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { logger } = options;
  const upstreams = options.upstreams ?? (options.upstream ? [{ name: 'default', target: options.upstream }] : []);
  if (upstreams.length === 0) throw new Error('startGateway: no upstream');
  // Dials to one upstream share their TLS context and resume its sessions (src/upstream/tls-reuse.ts).
  for (const { target } of upstreams) target.tlsReuse ??= new UpstreamTlsReuse();
  const router = new Router({ upstreams, defaultUpstream: options.defaultUpstream, revealUpstreamNames: options.revealUpstreamNames });
  const proxy = createHttpProxy(logger, options.onProxied);
  const clientLimits = { logger, clientPingIntervalMs: options.clientPingIntervalMs, maxMessageBytes: options.maxMessageBytes, sessionBufferBytes: options.sessionBufferBytes, controlFloodTimeoutMs: options.controlFloodTimeoutMs };
  const access: AccessControl = options.access ?? new PassthroughAccess();
  const registry = new SessionRegistry({ ...DEFAULT_SESSION_LIMITS, ...options.limits }, options.observer);
  const ui = options.ui ? webInterface(options.ui) : undefined;
  // Every session's bytes pass one tap: the recording's and the web interface's live view, in that order.
  const tap = combineTapFactories([options.recording, ui?.watch.tapFactory]);
  const translator = new RemoteCommandTranslator({ ...clientLimits, maxHeaderBlockBytes: options.maxHeaderBlockBytes, upstreamPingIntervalMs: options.upstreamPingIntervalMs, tap });
  const tunnel = new PortForwardTunnel({ ...clientLimits, tap });
  const portForwardChannels = new PortForwardChannels({ ...clientLimits, maxHeaderBlockBytes: options.maxHeaderBlockBytes, tap });
  const spdyBridgeOptions = { ...clientLimits, maxHeaderBlockBytes: options.maxHeaderBlockBytes, upstreamPingIntervalMs: options.upstreamPingIntervalMs };
  const streamingModes = new StreamingModes();
  const auditor = options.audit ?? new RequestAuditor({ policy: DEFAULT_AUDIT_POLICY });
  const connectionLimits = { ...DEFAULT_CONNECTION_LIMITS, ...options.connections };
  // Requests after the first on a keep-alive connection: Node's own head deadline, checked often enough.
  const httpOptions: http.ServerOptions = {
    headersTimeout: connectionLimits.headerTimeoutMs,
    // Node's default (a whole request body in 5 min), never shorter than the head's deadline (Node requires it).
    requestTimeout: Math.max(300_000, connectionLimits.headerTimeoutMs),
    connectionsCheckingInterval: Math.min(1000, connectionLimits.headerTimeoutMs),
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
  };
  const server = options.tls ? https.createServer({ ...httpOptions, ...tlsOptions(options.tls) }) : http.createServer(httpOptions);
  const ticketKeys = server instanceof https.Server ? rotateTicketKeys(server) : undefined;
  const clients = new ClientAddressResolver(options.network?.trustedProxies ?? []);
  const guard = guardConnections(server, {
    ...connectionLimits,
    proxyProtocol: options.network?.proxyProtocol ?? false,
    isTrustedProxy: (address) => clients.isTrusted(address),
    onRefused: options.onConnectionRefused,
    logger,
  });
  const sockets = new Set<Socket>();
  let draining = false;

  function webInterface(settings: UiOptions): UiServer {
    const authenticate = access.authenticate?.bind(access);
    if (!authenticate) throw new Error('the web interface (ui.enabled) needs edge mode: passthrough access cannot tell who a caller is');
    const defaultCluster = options.defaultUpstream ?? (upstreams.length === 1 ? upstreams[0]!.name : undefined);
    return new UiServer(settings, {
      registry,
      clusters: upstreams.map((upstream) => upstream.name),
      defaultCluster,
      authenticate: (req, client) => authenticate(req, client, defaultCluster ?? upstreams[0]!.name),
      originAllowed: (req, client) => checkOrigin({ origin: req.headers.origin, host: req.headers.host, scheme: listenerScheme(client), allowedOrigins: options.allowedOrigins ?? [] }),
      logger,
      // Asked only once requests arrive, which is after the listener is bound.
      listener: () => ({ port: address.port, tls: options.tls !== undefined, authority: address.authority }),
    });
  }

  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  /**
   * Access control on a routed request; the call also reports its dials (metrics), carries the audit
   * ID (logs) and sends it upstream as `Audit-ID`, so the cluster's audit log joins the gateway's. The
   * upstream learns the client as the gateway believes it (X-Forwarded-For), in either mode.
   */
  async function admit(req: http.IncomingMessage, socket: Duplex, upgrade: boolean, route: Route, client: ClientAddress, audited: AuditedRequest): Promise<UpstreamCall> {
    const call = await access.admit({ req, socket, route, upgrade, client });
    audited.identify(auditIdentity(call, route), { 'kube-stream-gateway/upstream': call.upstreamName });
    // After admission: only callers the upstream would serve learn that it is down.
    if (options.upstreamAvailable?.(call.upstreamName) === false) throw new HttpStatusError(503, 'ServiceUnavailable', upstreamUnavailable(call.upstreamName));
    const onDial = options.onDial;
    return {
      ...call,
      auditID: audited.auditID,
      clientAddress: client.address,
      rewriteHeaders: (headers) => ({ ...withForwardedFor(call.rewriteHeaders(headers), client), 'audit-id': audited.auditID }),
      annotate: (annotations) => audited.annotate(annotations),
      ...(onDial ? { onDial: (seconds: number, error?: Error) => onDial(call.upstreamName, seconds, error) } : {}),
    };
  }

  async function serveRequest(req: http.IncomingMessage, res: http.ServerResponse, client: ClientAddress, audited: AuditedRequest): Promise<void> {
    if (draining) res.setHeader('connection', 'close');
    res.once('close', () => audited.complete(res.headersSent ? { code: res.statusCode } : undefined));
    // Go's server answers `OPTIONS *` itself; every other target must be origin-form (the router says so).
    if (req.url === '*' && req.method === 'OPTIONS') {
      res.writeHead(200, { 'content-length': '0' }).end();
      return;
    }
    // Before cluster routing: the interface's path is one no Kubernetes API uses.
    if (ui?.handles(req.url)) return ui.serve(req, res, client);
    let call: UpstreamCall;
    try {
      const route = router.route(req);
      // No client streams without an upgrade, and an upstream before 1.35 would authorize a GET as `get`.
      if (isStreaming(route)) throw new HttpStatusError(400, 'BadRequest', UPGRADE_REQUIRED);
      call = await admit(req, req.socket, false, route, client, audited);
    } catch (error) {
      if (!(error instanceof HttpStatusError)) throw error;
      audited.complete(failure(error));
      sendStatusResponse(res, error);
      return;
    }
    proxy.handle(req, res, call, (status) => audited.started(status));
  }

  /** Resolves true when a session started, false when the upgrade was refused. */
  async function serveUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, client: ClientAddress, audited: AuditedRequest): Promise<boolean> {
    socket.on('error', () => undefined);
    let call: UpstreamCall;
    let route: Route;
    try {
      if (draining) throw new HttpStatusError(503, 'ServiceUnavailable', SHUTTING_DOWN);
      // Cross-site WebSocket hijacking: a page elsewhere must not open sessions with the browser's credentials.
      if (isWebSocketUpgrade(req)) {
        const origin = checkOrigin({ origin: req.headers.origin, host: req.headers.host, scheme: listenerScheme(client), allowedOrigins: options.allowedOrigins ?? [] });
        if (!origin.allowed) throw new HttpStatusError(403, 'Forbidden', `WebSocket upgrade from origin ${JSON.stringify(req.headers.origin)} refused: ${origin.reason} (auth.allowedOrigins)`);
      }
      // The interface's own WebSocket (Watch), before cluster routing like its other paths.
      if (ui?.handles(req.url)) {
        await ui.serveUpgrade(req, socket, head, client);
        const code = answeredStatus(socket);
        audited.complete(code === undefined ? undefined : { code });
        return code === 101;
      }
      route = router.route(req);
      call = await admit(req, socket, true, route, client, audited);
    } catch (error) {
      if (!(error instanceof HttpStatusError)) throw error;
      audited.complete(failure(error));
      logger.info({ event: 'session-refused', auditID: audited.auditID, path: req.url?.split('?')[0], clientAddress: client.address, status: error.code, reason: error.message }, 'upgrade refused');
      sendStatusOnSocket(socket, error);
      return false;
    }
    const streaming = isStreaming(route);
    const translated = streamingSession(req, socket, head, call);
    // A WebSocket exec/attach/port-forward no translator serves is never relayed: it would reach the upstream as a GET.
    if (!translated && streaming && isWebSocketUpgrade(req)) {
      const refusal = untranslatable(call);
      audited.complete(failure(refusal));
      logger.info({ event: 'session-refused', auditID: audited.auditID, upstream: call.upstreamName, user: call.user, clientAddress: client.address, path: call.path.split('?')[0], status: refusal.code, reason: refusal.message }, 'upgrade refused');
      sendStatusOnSocket(socket, refusal);
      return false;
    }
    // A port-forward toward a WebSocket upstream is tunnelled or relayed unread (a channel client's passes
    // the tap): where recording is required, it does not run.
    const forwardTowardWebSocket = portForwardTarget(call.path) && !channelPortForward(req, call) && streamingModes.first(call.upstreamName, call.target.streaming) === 'websocket';
    if (forwardTowardWebSocket && streaming && options.recording?.failClosed) {
      const refusal = new HttpStatusError(403, 'Forbidden', UNRECORDABLE_FORWARD);
      audited.complete(failure(refusal));
      logger.info({ event: 'session-refused', auditID: audited.auditID, upstream: call.upstreamName, user: call.user, clientAddress: client.address, status: refusal.code, reason: refusal.message }, 'upgrade refused');
      sendStatusOnSocket(socket, refusal);
      return false;
    }
    // Relayed upgrades (SPDY from kubectl ≤ 1.30) are sessions too: they count against the limits.
    const method = streaming ? STREAMING_UPSTREAM_METHOD : (req.method ?? 'GET');
    const relay = (): Promise<LiveSession | undefined> => relayUpgrade(call, req, socket, head, logger, method, streaming ? spdyRefused(req, socket, head, call) : undefined);
    let mode: SessionMode = translated ? 'translated' : 'relay';
    const remoteCommand = !translated && streaming ? parseRemoteCommandRequest(call.path) : undefined;
    const portForward = !translated && streaming && !remoteCommand && portForwardTarget(call.path);
    // A SPDY exec/attach is relayed raw unless a recording rule selects it: then it is bridged stream by stream.
    // A SPDY port-forward stays relayed: the relay tells its recording the counts, and the bytes only when it records content.
    const start =
      translated ??
      (remoteCommand && options.recording && tap
        ? async () => {
            const bridged = await recordedSpdySession(req, socket, head, remoteCommand, call);
            if (!bridged) return relay();
            mode = 'translated';
            return bridged();
          }
        : portForward && options.recording && tap
          ? () => recordedSpdyPortForward(req, socket, head, call, method)
          : relay);
    let reservation;
    try {
      reservation = registry.reserve(call.user, client.address);
    } catch (error) {
      if (!(error instanceof HttpStatusError)) throw error;
      audited.complete(failure(error));
      logger.info({ event: 'session-refused', auditID: audited.auditID, upstream: call.upstreamName, user: call.user, clientAddress: client.address, status: error.code, reason: error.message }, 'session limit reached');
      sendStatusOnSocket(socket, error);
      return false;
    }
    let session: LiveSession | undefined;
    try {
      session = await start();
    } finally {
      if (session) reservation.track(session, { upstream: call.upstreamName }, sessionSubject(call, req, mode));
      else reservation.release();
    }
    if (!session) {
      // Refused by the upstream or the translator, or accepted only to report a failure: what the client got.
      const code = answeredStatus(socket);
      audited.complete(code === undefined ? undefined : { code });
      return false;
    }
    audited.session(session);
    const auditID = call.auditID;
    if (ui && auditID !== undefined) void session.done.then(() => ui.sessionEnded(auditID));
    return true;
  }

  /** The translator that serves this upgrade, or undefined when it is relayed as is. */
  function streamingSession(req: http.IncomingMessage, socket: Duplex, head: Buffer, call: UpstreamCall): (() => Promise<LiveSession | undefined>) | undefined {
    const webSocketUpstream = streamingModes.first(call.upstreamName, call.target.streaming) === 'websocket';
    if (webSocketUpstream) {
      // A WebSocket client toward a WebSocket upstream: relayed as it is (GET, its own subprotocols),
      // except an exec/attach client without v5 (the one channel protocol such an upstream is promised
      // to speak) or one whose session is tapped (recorded): those are bridged; and a port-forward
      // client of the channel protocols, which such an upstream does not speak: mapped into the tunnel.
      if (channelPortForward(req, call)) return () => portForwardChannels.handle(req, socket, head, call, 'websocket');
      if (isWebSocketUpgrade(req)) {
        const remoteCommand = parseRemoteCommandRequest(call.path);
        if (remoteCommand && bridgesTowardV5(call.offeredProtocols, tap !== undefined)) {
          return () => serveChannelClientTowardV5(req, socket, head, remoteCommand, call, { ...clientLimits, upstreamPingIntervalMs: options.upstreamPingIntervalMs, tap });
        }
        return remoteCommand || portForwardTarget(call.path) ? () => relayUpgrade(call, req, socket, head, logger) : undefined;
      }
      return towardWebSocket(req, socket, head, call);
    }
    if (!isWebSocketUpgrade(req)) return undefined;
    const remoteCommand = parseRemoteCommandRequest(call.path);
    if (remoteCommand) return () => translator.handle(req, socket, head, remoteCommand, call);
    const portForward = portForwardTarget(call.path);
    if (portForward && tunneledSpdyProtocols(call.offeredProtocols).length > 0) return () => tunnel.handle(req, socket, head, call);
    if (portForward && PortForwardChannels.wants(call.offeredProtocols)) return () => portForwardChannels.handle(req, socket, head, call);
    return undefined;
  }

  /**
   * A SPDY exec/attach toward a SPDY upstream that a recording rule selects (or that must be and
   * cannot be recorded: the bridge refuses it): bridged through the tap (translators/spdy-bridge/).
   * Undefined: nothing records it (a Watch tap alone is not worth a bridge), so it is relayed raw.
   */
  async function recordedSpdySession(req: http.IncomingMessage, socket: Duplex, head: Buffer, request: RemoteCommandRequest, call: UpstreamCall, opened?: SessionTapOpening): Promise<(() => Promise<LiveSession | undefined>) | undefined> {
    const tapping = opened ?? (await openSessionTap(tap, call, sessionSubject(call, req, 'translated'), request.tty));
    if (tapping.refused === undefined && !tapping.opened?.name) return undefined;
    // `auto` may still find the upstream speaks WebSocket only: the session then goes there, its recording with it.
    return () => bridgeSpdyRemoteCommand(req, socket, head, request, call, spdyBridgeOptions, tapping, spdyRefused(req, socket, head, call));
  }

  /**
   * A SPDY port-forward toward a SPDY upstream with its metadata recorded (who, where, bytes each way,
   * duration): relayed raw, the relay telling the tap its counts, and handing it the bytes too when a
   * `content: true` rule selects it. A recording that must be written and cannot be opened refuses it
   * with a Status, as for a tunnel.
   */
  async function recordedSpdyPortForward(req: http.IncomingMessage, socket: Duplex, head: Buffer, call: UpstreamCall, method: string): Promise<LiveSession | undefined> {
    const subject = sessionSubject(call, req, 'relay');
    const tapping = await openSessionTap(tap, call, subject, false);
    if (tapping.refused !== undefined) {
      logger.warn({ event: 'session-refused', ...subject, status: 500, reason: tapping.refused }, 'session refused');
      sendStatusOnSocket(socket, new HttpStatusError(500, 'InternalError', tapping.refused));
      return undefined;
    }
    // `auto`'s WebSocket path records nothing: a required recording replays the refusal instead.
    const fallback = options.recording?.failClosed ? undefined : spdyRefused(req, socket, head, call);
    const session = await relayUpgrade(call, req, socket, head, logger, method, fallback, tapping.opened);
    tapping.onFailure((message) => session?.end(errorStatus(500, 'InternalError', message), 'recording-failed'));
    return session;
  }

  /** A SPDY client's exec/attach/port-forward translated toward a WebSocket upstream (translators/to-websocket/). */
  function towardWebSocket(req: http.IncomingMessage, socket: Duplex, head: Buffer, call: UpstreamCall, refused?: () => void, tapping?: SessionTapOpening): (() => Promise<LiveSession | undefined>) | undefined {
    const serve = parseRemoteCommandRequest(call.path) || portForwardTarget(call.path) ? () => serveTowardWebSocket(req, socket, head, call, refused, tapping) : undefined;
    if (!serve || call.target.streaming === 'websocket') return serve;
    // `auto`, a SPDY refusal retried: it learns on success (spdyRefused).
    if (refused) return serve;
    // `auto`, WebSocket remembered: a refusal forgets it, and this same session goes SPDY, as before
    // auto had learnt (the upstream changed back); refused that way too, the client gets that refusal.
    // The session's tap is opened once, here, for whichever way it goes (a recording is one file per session).
    return async () => {
      const remoteCommand = parseRemoteCommandRequest(call.path);
      const tapping = remoteCommand && tap ? await openSessionTap(tap, call, sessionSubject(call, req, 'to-websocket'), remoteCommand.tty) : undefined;
      let webSocketRefused = false;
      const session = await serveTowardWebSocket(req, socket, head, call, () => (webSocketRefused = true), tapping);
      if (session) return session;
      streamingModes.forget(call.upstreamName);
      // Over SPDY after all, the tap goes with the session; otherwise it ends here.
      if (webSocketRefused && tapping?.refused === undefined) return overSpdy(req, socket, head, call, tapping);
      tapping?.opened?.tap.event('end', { reason: 'the session did not start' });
      return undefined;
    };
  }

  /**
   * A SPDY client's session that `auto` sends over SPDY after all: as any SPDY session toward a SPDY
   * upstream, bridged and recorded when a recording rule selects it, relayed raw otherwise.
   */
  async function overSpdy(req: http.IncomingMessage, socket: Duplex, head: Buffer, call: UpstreamCall, tapping?: SessionTapOpening): Promise<LiveSession | undefined> {
    const remoteCommand = parseRemoteCommandRequest(call.path);
    if (options.recording && tap) {
      if (!remoteCommand) return recordedSpdyPortForward(req, socket, head, call, STREAMING_UPSTREAM_METHOD);
      const bridged = await recordedSpdySession(req, socket, head, remoteCommand, call, tapping);
      if (bridged) return bridged();
    }
    return relayUpgrade(call, req, socket, head, logger, STREAMING_UPSTREAM_METHOD);
  }

  /** The translator toward a WebSocket upstream for this SPDY client's request, if any. */
  function serveTowardWebSocket(req: http.IncomingMessage, socket: Duplex, head: Buffer, call: UpstreamCall, refused?: () => void, tapping?: SessionTapOpening): Promise<LiveSession | undefined> {
    const remoteCommand = parseRemoteCommandRequest(call.path);
    if (remoteCommand) return serveSpdyClientTowardWebSocket(req, socket, head, remoteCommand, call, { logger, upstreamPingIntervalMs: options.upstreamPingIntervalMs, tap, tapping }, refused);
    return tunnelSpdyClientTowardWebSocket(req, socket, head, call, logger, refused);
  }

  /** `auto`: the relayed SPDY upgrade was refused with `statusCode`; WebSocket is tried instead when that looks like "no SPDY here". */
  function spdyRefused(req: http.IncomingMessage, socket: Duplex, head: Buffer, call: UpstreamCall): Parameters<typeof relayUpgrade>[6] {
    const setting = call.target.streaming ?? 'auto';
    if (setting !== 'auto') return undefined;
    // Refused both ways: the client gets the SPDY refusal, exactly as without `auto`.
    return (statusCode: number, replayThisRefusal: () => void, tapping?: SessionTapOpening) => {
      const serve = StreamingModes.refusesSpdy(statusCode) ? towardWebSocket(req, socket, head, call, replayThisRefusal, tapping) : undefined;
      if (!serve) return undefined;
      return async () => {
        const session = await serve();
        if (session) streamingModes.learnWebSocket(call.upstreamName);
        return session;
      };
    };
  }

  /** The scheme the client used: TLS here, else what a trusted TLS-terminating proxy says. */
  function listenerScheme(client: ClientAddress): 'http' | 'https' {
    return options.tls ? 'https' : (client.forwardedProto ?? 'http');
  }

  /** exec, attach or portforward of a pod (API or kubelet path), read from the routed target. */
  function isStreaming(route: Route): boolean {
    return isStreamingRequest(route.attributes);
  }

  /** What Kubernetes answers an exec/attach/port-forward WebSocket it cannot serve. */
  function untranslatable(call: UpstreamCall): HttpStatusError {
    if (portForwardTarget(call.path)) {
      const supported = [`${SPDY_TUNNELING_PREFIX}${PORT_FORWARD_UPSTREAM_PROTOCOL}`, ...PORT_FORWARD_CHANNEL_PROTOCOLS.map((protocol) => protocol.name || '""')];
      return new HttpStatusError(403, 'Forbidden', `unable to negotiate a port-forward subprotocol: the client offered [${call.offeredProtocols.join(', ')}], the gateway supports [${supported.join(', ')}]`);
    }
    return new HttpStatusError(404, 'NotFound', 'the server could not find the requested resource');
  }

  // One bad request must never take the process down: an unexpected error ends that request only.
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    guard.headReceived(req.socket);
    const client = clients.resolve(req);
    const audited = auditor.begin(req, client.address);
    serveRequest(req, res, client, audited).catch((error: unknown) => {
      logger.error({ err: error, auditID: audited.auditID, path: req.url?.split('?')[0] }, 'request failed unexpectedly');
      if (res.headersSent) return res.destroy();
      const internal = new HttpStatusError(500, 'InternalError', 'Internal error occurred: the gateway failed to serve the request');
      audited.complete(failure(internal));
      sendStatusResponse(res, internal);
    });
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    guard.headReceived(socket);
    const client = clients.resolve(req);
    const audited = auditor.begin(req, client.address);
    serveUpgrade(req, socket, head, client, audited).then((started) => options.onUpgrade?.(req.headers.upgrade, started ? 'upgraded' : 'refused')).catch((error: unknown) => {
      logger.error({ err: error, auditID: audited.auditID, path: req.url?.split('?')[0] }, 'upgrade failed unexpectedly');
      const internal = new HttpStatusError(500, 'InternalError', 'Internal error occurred: the gateway failed to serve the upgrade');
      audited.complete(failure(internal));
      sendStatusOnSocket(socket, internal);
    });
  });
  // CONNECT carries an authority-form target (host:port): never a Kubernetes request. Node would drop it silently.
  server.on('connect', (req: http.IncomingMessage, socket: Duplex) => {
    socket.on('error', () => undefined);
    logger.info({ event: 'request-refused', method: req.method, status: 400 }, 'CONNECT refused');
    sendStatusOnSocket(socket, new HttpStatusError(400, 'BadRequest', 'CONNECT is not supported: only origin-form request targets (a path starting with "/") are accepted'));
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    // Node's headersTimeout on a later request of a keep-alive connection: the same deadline as the first.
    const timedOut = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (timedOut) options.onConnectionRefused?.('header-timeout');
    if (timedOut) {
      if (socket.writable) socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n', () => socket.destroy());
      else socket.destroy();
    } else if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    logger.debug({ err: error.message }, 'malformed client request');
  });

  const address = await listen(server, options.listen);
  const scheme = options.tls ? 'https' : 'http';
  logger.info(
    { event: 'listening', url: `${scheme}://${address.authority}`, upstreams: upstreams.map((upstream) => `${upstream.name}=${upstream.target.url.origin}`) },
    'gateway listening',
  );

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      draining = true;
      ticketKeys?.stop();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      await registry.endAll(errorStatus(503, 'ServiceUnavailable', SHUTTING_DOWN));
      await translator.shutdown();
      registry.close();
      server.closeIdleConnections();
      for (const socket of sockets) socket.destroy();
      proxy.close();
      access.close();
      ui?.close();
      await stopped;
    })();
    return closing;
  };

  return {
    url: `${scheme}://${address.authority}`,
    host: address.host,
    port: address.port,
    get openConnections() {
      return sockets.size;
    },
    get bufferedBytes() {
      return registry.bufferedBytes;
    },
    get activeSessions() {
      return registry.size;
    },
    get draining() {
      return draining;
    },
    updateTls(tls: GatewayTls) {
      if (server instanceof https.Server) server.setSecureContext(tlsOptions({ policy: options.tls?.policy, ...tls }));
    },
    async drain(graceMs: number) {
      if (!draining) {
        draining = true;
        server.close();
        server.closeIdleConnections();
        logger.info({ event: 'draining', sessions: registry.size, graceMs }, 'draining: no new sessions; waiting for running ones');
        const drained = await registry.drained(graceMs);
        if (!drained) logger.info({ event: 'drain-timeout', sessions: registry.size }, 'grace period over: ending the remaining sessions');
      }
      await close();
    },
    close,
  };
}

/** Who the audit names: edge mode knows the caller; in passthrough mode only the upstream does. */
function auditIdentity(call: UpstreamCall, route: Route): AuditIdentity {
  const identity = call.identity;
  if (!identity) return { attributes: route.attributes };
  return { user: identity.impersonator ?? identity.user, impersonatedUser: identity.impersonator ? identity.user : undefined, attributes: identity.attributes };
}

function failure(error: HttpStatusError): { code: number; status: 'Failure'; reason: string; message: string } {
  return { code: error.code, status: 'Failure', reason: error.reason, message: error.message };
}

function tlsOptions(tls: GatewayTls): https.ServerOptions {
  const base: https.ServerOptions = { cert: tls.cert, key: tls.key, ...tlsPolicyOptions(tls.policy ?? DEFAULT_TLS_POLICY) };
  // Requested, not required: callers with a bearer token have no certificate, and an unverified one
  // must get a 401 Status (kubectl prints it), not a TLS alert.
  if (tls.clientCa) return { ...base, ca: tls.clientCa, requestCert: true, rejectUnauthorized: false };
  return base;
}
