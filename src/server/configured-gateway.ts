import { createSecureContext } from 'node:tls';
import { auditEvent, createAuditWriter, nowMicros, type AuditWriter } from '../auth/audit.js';
import { createClientCertificateAuthenticator } from '../auth/client-certificate.js';
import type { Authenticator } from '../auth/identity.js';
import { createOidcAuthenticator } from '../auth/oidc.js';
import { createPolicyAuthorizer } from '../auth/policy.js';
import { createFailedAuthLimiter } from '../auth/rate-limit.js';
import { requestAttributes } from '../auth/request-attributes.js';
import { createSubjectAccessReviewAuthorizer } from '../auth/subject-access-review.js';
import { createTokenFileAuthenticator, type TokenFileAuthenticator } from '../auth/token-file.js';
import { createTokenReviewAuthenticator } from '../auth/token-review.js';
import { createUnionAuthenticator } from '../auth/union.js';
import { reloadableFiles, type GatewayConfig, type ResolvedUpstream } from '../config/model.js';
import { watchFiles, type FileWatcher } from '../config/file-watcher.js';
import { HealthChecks, startAdminServer, upstreamReachableCheck } from '../observability/health.js';
import type { Logger } from '../observability/logger.js';
import { GatewayMetrics, type SessionMetrics } from '../observability/metrics.js';
import type { LiveSession } from '../translators/live-session.js';
import { postJson } from '../upstream/api-client.js';
import type { AccessControl } from './access.js';
import { EdgeAccess, type Authorizer, type Denial, type EdgeAuthenticator } from './edge-access.js';
import { startGateway, type Gateway } from './gateway.js';
import { withListenSetting } from './listen.js';
import { PassthroughAccess } from './passthrough-access.js';
import type { RunningServer } from './running-server.js';
import type { SessionObserver } from './session-registry.js';

/** The gateway as `serve` runs it: the listener, its admin listener, and what watches their files. */
export interface ConfiguredGateway {
  gateway: Gateway;
  admin?: RunningServer;
  health: HealthChecks;
  metrics: GatewayMetrics;
  /** SIGTERM: readiness false, drain for the configured grace period, then stop everything. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Builds everything the configuration describes around the gateway: access control (passthrough, or
 * edge with its authenticators and authorizer), metrics and audit observers, health checks with one
 * readiness check per upstream, the admin listener, and reloading of rotated files.
 */
export async function startConfiguredGateway(config: GatewayConfig, logger: Logger): Promise<ConfiguredGateway> {
  const metrics = new GatewayMetrics({ upstreams: config.upstreams.map((upstream) => upstream.name) });
  const audit = config.audit ? createAuditWriter(config.audit.path) : undefined;
  const edge = config.auth.mode === 'edge' ? await edgeAccess(config, logger, metrics, audit) : undefined;
  const access: AccessControl = edge?.access ?? new PassthroughAccess();
  const limits = config.limits;

  // The admin listener binds first: when its port is taken, the error names admin.listen and no
  // "gateway listening" line has claimed that the gateway is up.
  const health = new HealthChecks({ logger });
  for (const upstream of config.upstreams) health.addReadinessCheck(upstreamReachableCheck(upstream.name, upstream));
  let admin: RunningServer | undefined;
  if (config.admin) {
    admin = await startAdminServer({ listen: config.admin, health, metrics, logger }).catch((error: unknown) => {
      throw withListenSetting(error, 'admin.listen');
    });
  }

  const gateway = await startGateway({
    listen: config.listen,
    tls: config.tls ? { cert: config.tls.cert, key: config.tls.key, clientCa: config.tls.clientCA } : undefined,
    upstreams: config.upstreams.map((upstream) => ({ name: upstream.name, hosts: upstream.hosts, target: upstream })),
    defaultUpstream: config.routing.defaultUpstream,
    revealUpstreamNames: config.routing.revealUpstreamNames,
    access,
    allowedOrigins: config.auth.allowedOrigins,
    limits: {
      maxSessions: limits.maxSessions,
      maxSessionsPerUser: limits.maxSessionsPerUser,
      idleTimeoutMs: limits.idleTimeoutSeconds * 1000,
      maxSessionMs: limits.maxSessionSeconds * 1000,
    },
    maxMessageBytes: limits.maxMessageBytes,
    maxHeaderBlockBytes: limits.maxHeaderBlockBytes,
    sessionBufferBytes: limits.sessionBufferBytes,
    observer: sessionObserver(metrics, audit),
    onProxied: (upstream, status) => metrics.proxiedRequest(upstream, status),
    onDial: (upstream, seconds, error) => {
      metrics.upstreamConnect(upstream, seconds, error === undefined);
      if (error) metrics.upstreamError(upstream, 'connect');
    },
    logger,
  }).catch(async (error: unknown) => {
    await admin?.close();
    throw error;
  });

  const watcher = watchReloadableFiles(config, gateway, edge?.tokenFile, logger, metrics);
  let stopped: Promise<void> | undefined;
  const stop = (drainMs: number): Promise<void> => {
    stopped ??= (async () => {
      health.startDraining();
      await gateway.drain(drainMs);
      watcher.close();
      await admin?.close();
      await audit?.close();
    })();
    return stopped;
  };
  return {
    gateway,
    admin,
    health,
    metrics,
    drain: () => stop(config.shutdown.gracePeriodSeconds * 1000),
    close: () => stop(0),
  };
}

async function edgeAccess(
  config: GatewayConfig,
  logger: Logger,
  metrics: GatewayMetrics,
  audit: AuditWriter | undefined,
): Promise<{ access: EdgeAccess; tokenFile?: TokenFileAuthenticator }> {
  const { auth } = config;
  const byName = new Map(config.upstreams.map((upstream) => [upstream.name, upstream]));
  const reviewer = (requestUpstream: string): ResolvedUpstream => byName.get(auth.tokenReview.upstream ?? requestUpstream)!;
  // The contents the configuration already read and parsed: serve refuses what check-config refuses.
  const tokenFile = auth.tokenFile ? await createTokenFileAuthenticator(auth.tokenFile.path, { initial: auth.tokenFile.content }) : undefined;

  // TokenReview asks a cluster, possibly the request's own: one authenticator chain per upstream.
  const chains = new Map<string, ReturnType<typeof createUnionAuthenticator>>();
  for (const upstream of config.upstreams) {
    const chain: Authenticator[] = [];
    for (const name of auth.authenticators) {
      if (name === 'client-certificate') chain.push(createClientCertificateAuthenticator());
      else if (name === 'token-file' && tokenFile) chain.push(tokenFile);
      else if (name === 'oidc' && auth.oidc) chain.push(createOidcAuthenticator({ ...auth.oidc, caPem: auth.oidc.ca?.content }));
      else if (name === 'token-review') {
        const target = reviewer(upstream.name);
        chain.push(
          createTokenReviewAuthenticator({
            postJson: (path, body) => postJson(target, path, body),
            audiences: auth.tokenReview.audiences,
            cacheTTLSeconds: auth.tokenReview.cacheTTLSeconds,
            negativeCacheTTLSeconds: auth.tokenReview.negativeCacheTTLSeconds,
          }),
        );
      }
    }
    chains.set(upstream.name, createUnionAuthenticator(chain));
  }
  const authenticator: EdgeAuthenticator = { authenticate: (credentials, upstream) => chains.get(upstream)!.authenticate(credentials) };

  let authorizer: Authorizer | undefined;
  if (auth.authorization.mode === 'policy') {
    const policy = createPolicyAuthorizer(auth.authorization.policy);
    authorizer = { authorize: async (user, attributes, upstream) => policy.authorize(user, attributes, upstream) };
  } else if (auth.authorization.mode === 'subjectAccessReview') {
    const reviewers = new Map(config.upstreams.map((upstream) => [upstream.name, createSubjectAccessReviewAuthorizer({ postJson: (path, body) => postJson(upstream, path, body) })]));
    authorizer = { authorize: (user, attributes, upstream) => reviewers.get(upstream)!.authorize(user, attributes) };
  }

  const access = new EdgeAccess({
    authenticator,
    authorizer,
    impersonation: auth.impersonation,
    failedAuth: config.limits.failedAuthPerMinute > 0 ? createFailedAuthLimiter({ perMinute: config.limits.failedAuthPerMinute }) : undefined,
    onDenied: (denial) => {
      if (denial.stage === 'authorization' || denial.stage === 'impersonation') metrics.authzDenied(denial.reason);
      else metrics.authFailure(denial.reason);
      audit?.write(deniedEvent(denial));
    },
    logger,
  });
  return { access, tokenFile };
}

/** Metrics for every session, and one audit event when it ends. */
function sessionObserver(metrics: GatewayMetrics, audit: AuditWriter | undefined): SessionObserver {
  const handles = new WeakMap<LiveSession, SessionMetrics>();
  return {
    started(session, labels) {
      handles.set(session, metrics.sessionStarted({ kind: session.kind, clientProtocol: session.clientProtocol, upstream: labels.upstream }));
    },
    moved(session, fromClient, toClient) {
      const handle = handles.get(session);
      if (fromClient > 0) handle?.addBytes('client-to-upstream', fromClient);
      if (toClient > 0) handle?.addBytes('upstream-to-client', toClient);
    },
    ended(session, labels, outcome, durationMs) {
      handles.get(session)?.ended(outcome);
      if (!audit || !labels.request) return;
      const identity = labels.call?.identity;
      audit.write(
        auditEvent({
          stage: 'ResponseComplete',
          requestURI: labels.request.uri,
          attributes: identity?.attributes ?? requestAttributes({ method: labels.request.method, url: labels.call?.path ?? labels.request.uri }),
          user: identity?.impersonator ?? identity?.user,
          impersonatedUser: identity?.impersonator ? identity.user : undefined,
          sourceIPs: labels.request.sourceIp ? [labels.request.sourceIp] : [],
          userAgent: labels.request.userAgent,
          responseStatus: { code: 101 },
          requestReceivedMicros: labels.request.receivedMicros,
          annotations: {
            'kube-stream-gateway/upstream': labels.upstream,
            'kube-stream-gateway/session-kind': session.kind,
            'kube-stream-gateway/client-protocol': session.clientProtocol,
            'kube-stream-gateway/outcome': outcome,
            'kube-stream-gateway/duration-ms': String(Math.round(durationMs)),
            'kube-stream-gateway/bytes-from-client': String(session.bytesFromClient),
            'kube-stream-gateway/bytes-to-client': String(session.bytesToClient),
          },
        }),
      );
    },
  };
}

function deniedEvent(denial: Denial) {
  const { req, error } = denial;
  return auditEvent({
    stage: 'ResponseComplete',
    requestURI: req.url ?? '/',
    attributes: denial.attributes ?? requestAttributes({ method: req.method ?? 'GET', url: req.url ?? '/' }),
    user: denial.user,
    sourceIPs: req.socket.remoteAddress ? [req.socket.remoteAddress] : [],
    userAgent: req.headers['user-agent'],
    responseStatus: { code: error.code, status: 'Failure', reason: error.reason, message: error.message },
    requestReceivedMicros: nowMicros(),
    annotations: { 'kube-stream-gateway/denied-at': denial.stage },
  });
}

/**
 * Rotated Secrets take effect for new connections: the listener's certificate and client CA, each
 * upstream's CA and credential (read per connection from the same objects the router holds), the
 * token file. A file that does not parse keeps the previous contents in use (and is logged).
 */
function watchReloadableFiles(config: GatewayConfig, gateway: Gateway, tokenFile: TokenFileAuthenticator | undefined, logger: Logger, metrics: GatewayMetrics): FileWatcher {
  const files = reloadableFiles(config);
  const current = new Map<string, string>();
  const tls = config.tls;
  const tokenFileInForce = config.auth.tokenFile;
  return watchFiles(
    // The token file's contents in force are known: a rewrite right after start is still a change.
    files.map((file) => (file.path === tokenFileInForce?.path ? { path: file.path, content: tokenFileInForce.content } : file.path)),
    {
      onError: (path, message) => {
        logger.warn({ event: 'reload-failed', path, err: message }, 'cannot read a watched file; keeping the previous contents');
        for (const file of files) if (file.path === path) metrics.configReload(file.setting, 'unreadable');
      },
      onChange: (path, content) => {
        current.set(path, content);
        const setting = files.filter((file) => file.path === path).map((file) => file.setting);
        const counted = (result: string): void => setting.forEach((name) => metrics.configReload(name, result));
        try {
          if (tls && (path === tls.files.cert || path === tls.files.key || path === tls.files.clientCA)) {
            const next = {
              cert: path === tls.files.cert ? content : (current.get(tls.files.cert) ?? tls.cert),
              key: path === tls.files.key ? content : (current.get(tls.files.key) ?? tls.key),
              clientCa: tls.files.clientCA ? (current.get(tls.files.clientCA) ?? tls.clientCA) : undefined,
            };
            // A certificate and key rotate as two writes: wait until the pair matches again.
            createSecureContext({ cert: next.cert, key: next.key, ...(next.clientCa ? { ca: next.clientCa } : {}) });
            gateway.updateTls(next);
            tls.cert = next.cert;
            tls.key = next.key;
            if (next.clientCa) tls.clientCA = next.clientCa;
          }
          for (const upstream of config.upstreams) reloadUpstreamFile(upstream, path, content);
          if (tokenFile && path === config.auth.tokenFile?.path) {
            void tokenFile.reload().then((result) => {
              metrics.configReload('auth.tokenFile', result.ok ? 'success' : result.result);
              if (result.ok) logger.info({ event: 'reloaded', path, settings: setting, tokens: result.tokens }, 'reloaded the token file');
              else logger.warn({ event: 'reload-failed', path, settings: setting, result: result.result, err: result.error }, 'the token file was not taken; keeping the previous tokens');
            });
            return;
          }
          counted('success');
          logger.info({ event: 'reloaded', path, settings: setting }, 'reloaded a rotated file');
        } catch (error) {
          counted('unusable');
          logger.warn({ event: 'reload-failed', path, settings: setting, err: (error as Error).message }, 'a rotated file is not usable yet; keeping the previous contents');
        }
      },
    },
  );
}

function reloadUpstreamFile(upstream: ResolvedUpstream, path: string, content: string): void {
  const { files } = upstream;
  if (path === files.ca) {
    createSecureContext({ ca: content });
    upstream.ca = content;
  }
  if (path === files.tokenFile) {
    const token = content.trim();
    if (!token) throw new Error('the token file is empty');
    upstream.credentials = { ...upstream.credentials, bearerToken: token };
  }
  if (path === files.clientCert) upstream.credentials = { ...upstream.credentials, clientCert: content };
  if (path === files.clientKey) upstream.credentials = { ...upstream.credentials, clientKey: content };
}
