import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../observability/logger.js';
import { RemoteCommandTranslator } from '../translators/remote-command/handler.js';
import { PortForwardTunnel, tunneledProtocols } from '../translators/port-forward/tunnel.js';
import { PortForwardChannels } from '../translators/port-forward/channels.js';
import { isWebSocketUpgrade } from '../translators/upgrade-request.js';
import type { LiveSession } from '../translators/live-session.js';
import type { UpstreamCall } from '../translators/upstream-call.js';
import { portForwardTarget } from '../codecs/k8s/port-forward-request.js';
import { parseRemoteCommandRequest } from '../codecs/k8s/remote-command-request.js';
import { errorStatus } from '../codecs/k8s/status.js';
import { HttpStatusError, sendStatusOnSocket, sendStatusResponse } from '../sessions/http-answers.js';
import type { UpstreamTarget } from '../upstream/target.js';
import type { AccessControl } from './access.js';
import { PassthroughAccess } from './passthrough-access.js';
import { createHttpProxy } from './http-proxy.js';
import { listen } from './listen.js';
import { Router, type NamedUpstream } from './routing.js';
import type { ListenAddress, RunningServer, ServerTls } from './running-server.js';
import { DEFAULT_SESSION_LIMITS, SessionRegistry, type SessionLimits, type SessionObserver } from './session-registry.js';
import { relayUpgrade } from './upgrade-relay.js';
import { checkOrigin } from '../auth/origin.js';
import { nowMicros } from '../auth/audit.js';

/** The gateway's TLS listener; with a client CA it also asks for client certificates (mTLS). */
export interface GatewayTls extends ServerTls {
  /** PEM bundle that verifies client certificates; certificates are requested but not required. */
  clientCa?: string | Buffer;
}

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
  /** Largest WebSocket message accepted from a client. */
  maxMessageBytes?: number;
  /** Bound on one decompressed SPDY header block from an upstream. */
  maxHeaderBlockBytes?: number;
  /** Bytes one streaming session may buffer in all (back-pressure past it). */
  sessionBufferBytes?: number;
  /** Told about every session (metrics, audit). */
  observer?: SessionObserver;
  /** Told about every proxied plain request: its cluster and status (0: no answer). */
  onProxied?: (upstream: string, status: number) => void;
  /** Told how long each upstream dial took (metrics). */
  onDial?: (upstream: string, seconds: number, error?: Error) => void;
  /**
   * Origins (scheme://host[:port]) whose pages may open WebSocket sessions, besides the gateway's own
   * origin. Upgrades without an Origin (kubectl, client libraries) are not affected.
   */
  allowedOrigins?: string[];
  logger: Logger;
  clientPingIntervalMs?: number;
  upstreamPingIntervalMs?: number;
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

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { logger } = options;
  const upstreams = options.upstreams ?? (options.upstream ? [{ name: 'default', target: options.upstream }] : []);
  if (upstreams.length === 0) throw new Error('startGateway: no upstream');
  const router = new Router({ upstreams, defaultUpstream: options.defaultUpstream, revealUpstreamNames: options.revealUpstreamNames });
  const access = options.access ?? new PassthroughAccess();
  const registry = new SessionRegistry({ ...DEFAULT_SESSION_LIMITS, ...options.limits }, options.observer);
  const proxy = createHttpProxy(logger, options.onProxied);
  const clientLimits = { logger, clientPingIntervalMs: options.clientPingIntervalMs, maxMessageBytes: options.maxMessageBytes, sessionBufferBytes: options.sessionBufferBytes, controlFloodTimeoutMs: options.controlFloodTimeoutMs };
  const translator = new RemoteCommandTranslator({ ...clientLimits, maxHeaderBlockBytes: options.maxHeaderBlockBytes, upstreamPingIntervalMs: options.upstreamPingIntervalMs });
  const tunnel = new PortForwardTunnel(clientLimits);
  const portForwardChannels = new PortForwardChannels({ ...clientLimits, maxHeaderBlockBytes: options.maxHeaderBlockBytes });
  const server = options.tls ? https.createServer(tlsOptions(options.tls)) : http.createServer();
  const sockets = new Set<Socket>();
  let draining = false;

  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  /** Routing, then access control; the call also reports its dials (metrics). */
  async function admit(req: http.IncomingMessage, socket: Duplex, upgrade: boolean): Promise<UpstreamCall> {
    const call = await access.admit({ req, socket, route: router.route(req), upgrade });
    const onDial = options.onDial;
    return onDial ? { ...call, onDial: (seconds, error) => onDial(call.upstreamName, seconds, error) } : call;
  }

  async function serveRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (draining) res.setHeader('connection', 'close');
    let call: UpstreamCall;
    try {
      call = await admit(req, req.socket, false);
    } catch (error) {
      if (!(error instanceof HttpStatusError)) throw error;
      sendStatusResponse(res, error);
      return;
    }
    proxy.handle(req, res, call);
  }

  async function serveUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => undefined);
    const receivedMicros = nowMicros();
    let call: UpstreamCall;
    try {
      if (draining) throw new HttpStatusError(503, 'ServiceUnavailable', SHUTTING_DOWN);
      // Cross-site WebSocket hijacking: a page elsewhere must not open sessions with the browser's credentials.
      if (isWebSocketUpgrade(req)) {
        const origin = checkOrigin({ origin: req.headers.origin, host: req.headers.host, allowedOrigins: options.allowedOrigins ?? [] });
        if (!origin.allowed) throw new HttpStatusError(403, 'Forbidden', `WebSocket upgrade from origin ${JSON.stringify(req.headers.origin)} refused: ${origin.reason} (auth.allowedOrigins)`);
      }
      call = await admit(req, socket, true);
    } catch (error) {
      if (!(error instanceof HttpStatusError)) throw error;
      logger.info({ event: 'session-refused', path: req.url?.split('?')[0], status: error.code, reason: error.message }, 'upgrade refused');
      sendStatusOnSocket(socket, error);
      return;
    }
    // Relayed upgrades (SPDY from kubectl ≤ 1.30) are sessions too: they count against the limits.
    const start = streamingSession(req, socket, head, call) ?? (() => relayUpgrade(call, req, socket, head, logger));
    let reservation;
    try {
      reservation = registry.reserve(call.user, (socket as Socket).remoteAddress);
    } catch (error) {
      if (!(error instanceof HttpStatusError)) throw error;
      logger.info({ event: 'session-refused', upstream: call.upstreamName, user: call.user, status: error.code, reason: error.message }, 'session limit reached');
      sendStatusOnSocket(socket, error);
      return;
    }
    let session: LiveSession | undefined;
    try {
      session = await start();
    } finally {
      const request = { method: req.method ?? 'GET', uri: req.url ?? '/', sourceIp: (socket as Socket).remoteAddress ?? '', userAgent: req.headers['user-agent'], receivedMicros };
      if (session) reservation.track(session, { upstream: call.upstreamName, user: call.user, call, request });
      else reservation.release();
    }
  }

  /** The translator that serves this upgrade, or undefined when it is relayed as is. */
  function streamingSession(req: http.IncomingMessage, socket: Duplex, head: Buffer, call: UpstreamCall): (() => Promise<LiveSession | undefined>) | undefined {
    if (!isWebSocketUpgrade(req)) return undefined;
    const remoteCommand = parseRemoteCommandRequest(call.path);
    if (remoteCommand) return () => translator.handle(req, socket, head, remoteCommand, call);
    const portForward = portForwardTarget(call.path);
    if (portForward && tunneledProtocols(call.offeredProtocols).length > 0) return () => tunnel.handle(req, socket, head, portForward, call);
    if (portForward && PortForwardChannels.wants(call.offeredProtocols)) return () => portForwardChannels.handle(req, socket, head, call);
    return undefined;
  }

  // One bad request must never take the process down: an unexpected error ends that request only.
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    serveRequest(req, res).catch((error: unknown) => {
      logger.error({ err: error, path: req.url?.split('?')[0] }, 'request failed unexpectedly');
      if (!res.headersSent) sendStatusResponse(res, new HttpStatusError(500, 'InternalError', 'Internal error occurred: the gateway failed to serve the request'));
      else res.destroy();
    });
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    serveUpgrade(req, socket, head).catch((error: unknown) => {
      logger.error({ err: error, path: req.url?.split('?')[0] }, 'upgrade failed unexpectedly');
      sendStatusOnSocket(socket, new HttpStatusError(500, 'InternalError', 'Internal error occurred: the gateway failed to serve the upgrade'));
    });
  });
  server.on('clientError', (error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
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
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      await registry.endAll(errorStatus(503, 'ServiceUnavailable', SHUTTING_DOWN));
      await translator.shutdown();
      registry.close();
      server.closeIdleConnections();
      for (const socket of sockets) socket.destroy();
      proxy.close();
      access.close();
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
      if (server instanceof https.Server) server.setSecureContext(tlsOptions(tls));
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

function tlsOptions(tls: GatewayTls): https.ServerOptions {
  const base: https.ServerOptions = { cert: tls.cert, key: tls.key };
  // Requested, not required: callers with a bearer token have no certificate, and an unverified one
  // must get a 401 Status (kubectl prints it), not a TLS alert.
  if (tls.clientCa) return { ...base, ca: tls.clientCa, requestCert: true, rejectUnauthorized: false };
  return base;
}
