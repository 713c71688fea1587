import { createSecureContext } from 'node:tls';
import { createAuditWriter, type AuditEvent, type AuditWriter } from '../auth/audit.js';
import { DEFAULT_AUDIT_POLICY, parseAuditPolicy } from '../auth/audit-policy.js';
import { createAuditWebhook, type AuditWebhook } from '../auth/audit-webhook.js';
import { createClientCertificateAuthenticator } from '../auth/client-certificate.js';
import type { Authenticator } from '../auth/identity.js';
import { createOidcAuthenticator } from '../auth/oidc.js';
import { createPolicyAuthorizer } from '../auth/policy.js';
import { createFailedAuthLimiter } from '../auth/rate-limit.js';
import { createSubjectAccessReviewAuthorizer } from '../auth/subject-access-review.js';
import { createTokenFileAuthenticator, type TokenFileAuthenticator } from '../auth/token-file.js';
import { createTokenReviewAuthenticator } from '../auth/token-review.js';
import { createUnionAuthenticator } from '../auth/union.js';
import { reloadableFiles, type GatewayConfig, type ResolvedUpstream } from '../config/model.js';
import { watchFiles, type FileWatcher } from '../config/file-watcher.js';
import { caBundleProblem } from '../config/pem.js';
import { HealthChecks, startAdminServer, upstreamReachableCheck } from '../observability/health.js';
import type { Logger } from '../observability/logger.js';
import { GatewayMetrics, type ReloadResult, type SessionMetrics } from '../observability/metrics.js';
import type { LiveSession } from '../translators/live-session.js';
import { postJson } from '../upstream/api-client.js';
import type { UpstreamTarget } from '../upstream/target.js';
import type { AccessControl } from './access.js';
import { EdgeAccess, type Authorizer, type EdgeAuthenticator } from './edge-access.js';
import { startGateway, type Gateway } from './gateway.js';
import { defaultAssetsDir } from './ui/static-assets.js';
import { withListenSetting } from './listen.js';
import { PassthroughAccess } from './passthrough-access.js';
import { RequestAuditor } from './request-audit.js';
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
export async function startConfiguredGateway(config: GatewayConfig, logger: Logger, build: { version?: string } = {}): Promise<ConfiguredGateway> {
  const metrics = new GatewayMetrics({
    upstreams: config.upstreams.map((upstream) => upstream.name),
    reloadableSettings: reloadableFiles(config).map((file) => file.setting),
    version: build.version,
  });
  recordCertificates(config, metrics);
  const sinks = auditSinks(config, metrics, logger);
  const auditor = new RequestAuditor({ policy: config.audit?.policyFile?.policy ?? DEFAULT_AUDIT_POLICY, write: sinks.write });
  const edge = config.auth.mode === 'edge' ? await edgeAccess(config, logger, metrics, auditor) : undefined;
  const access: AccessControl = edge?.access ?? new PassthroughAccess();
  const limits = config.limits;
  const health = new HealthChecks({ logger, onUpstreamOutcome: (upstream, reachable) => metrics.upstreamReachable(upstream, reachable) });
  for (const upstream of config.upstreams) health.addUpstreamCheck(upstream.name, upstreamReachableCheck(upstream.name, upstream));

  // The admin listener binds first: when its port is taken, the error names admin.listen and no
  // "gateway listening" line has claimed that the gateway is up.
  let admin: RunningServer | undefined;
  if (config.admin) {
    admin = await startAdminServer({ listen: config.admin, health, metrics, logger }).catch(async (error: unknown) => {
      await sinks.close();
      throw withListenSetting(error, 'admin.listen');
    });
  }

  const gateway = await startGateway({
    listen: config.listen,
    tls: config.tls ? { cert: config.tls.cert, key: config.tls.key, clientCa: config.tls.clientCA, policy: config.tlsPolicy } : undefined,
    upstreams: config.upstreams.map((upstream) => ({ name: upstream.name, hosts: upstream.hosts, target: upstream })),
    defaultUpstream: config.routing.defaultUpstream,
    revealUpstreamNames: config.routing.revealUpstreamNames,
    access,
    allowedOrigins: config.auth.allowedOrigins,
    ui: config.ui.enabled ? { path: config.ui.path, admins: config.ui.admins, assetsDir: defaultAssetsDir() } : undefined,
    limits: {
      maxSessions: limits.maxSessions,
      maxSessionsPerUser: limits.maxSessionsPerUser,
      idleTimeoutMs: limits.idleTimeoutSeconds * 1000,
      maxSessionMs: limits.maxSessionSeconds * 1000,
    },
    connections: {
      headerTimeoutMs: limits.headerTimeoutSeconds * 1000,
      maxConnections: limits.maxConnections,
      maxConnectionsPerClient: limits.maxConnectionsPerClient,
    },
    network: config.network,
    onConnectionRefused: (reason) => metrics.connectionRefused(reason),
    maxMessageBytes: limits.maxMessageBytes,
    clientPingIntervalMs: limits.pingIntervalSeconds * 1000,
    maxHeaderBlockBytes: limits.maxHeaderBlockBytes,
    sessionBufferBytes: limits.sessionBufferBytes,
    observer: sessionObserver(metrics),
    audit: auditor,
    onProxied: (upstream, status, request) => {
      metrics.proxiedRequest(upstream, status, request);
      if (status === 0) metrics.upstreamError(upstream, 'request');
    },
    onUpgrade: (upgradeHeader, result) => metrics.upgrade(upgradeHeader, result),
    onDial: (upstream, seconds, error) => {
      metrics.upstreamConnect(upstream, seconds, error === undefined);
      if (error) metrics.upstreamError(upstream, 'connect');
    },
    upstreamAvailable: (upstream) => {
      if (health.upstreamState(upstream) !== 'unreachable') return true;
      // Refused at once, and checked again now, so a cluster that is back is served without waiting for the next round.
      void health.checkUpstream(upstream);
      return false;
    },
    logger,
  }).catch(async (error: unknown) => {
    await admin?.close();
    await sinks.close();
    throw error;
  });
  const stopWatchingUpstreams = health.watchUpstreams();

  const watcher = watchReloadableFiles(config, gateway, edge?.tokenFile, logger, metrics, auditor);
  let stopped: Promise<void> | undefined;
  const stop = (drainMs: number): Promise<void> => {
    stopped ??= (async () => {
      health.startDraining();
      stopWatchingUpstreams();
      await gateway.drain(drainMs);
      watcher.close();
      await admin?.close();
      await sinks.close();
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
  auditor: RequestAuditor,
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
      // The gateway completes the record with the refusal; this names who was refused, for what.
      auditor.of(denial.req)?.identify(
        { user: denial.impersonator ?? denial.user, impersonatedUser: denial.impersonator ? denial.user : undefined, attributes: denial.attributes },
        { 'kube-stream-gateway/denied-at': denial.stage },
      );
    },
    logger,
  });
  return { access, tokenFile };
}

/** Metrics for every session. */
function sessionObserver(metrics: GatewayMetrics): SessionObserver {
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
    ended(session, _labels, outcome) {
      handles.get(session)?.ended(outcome);
    },
  };
}

/** How long a shutdown waits for the webhook receiver to take what is left. */
const WEBHOOK_FLUSH_MS = 3_000;
/** Attempts per webhook batch, the first included (kube-apiserver's webhook backoff has 5 steps). */
const WEBHOOK_ATTEMPTS = 5;

/** The configured audit sinks (the `path` log, the webhook) behind one write, each counted in metrics. */
function auditSinks(config: GatewayConfig, metrics: GatewayMetrics, logger: Logger): { write?: (event: AuditEvent) => void; close(): Promise<void> } {
  const audit = config.audit;
  let log: AuditWriter | undefined;
  let webhook: AuditWebhook | undefined;
  if (audit?.path !== undefined) {
    log = createAuditWriter(audit.path, {
      rotation: audit.rotation,
      onWritten: () => metrics.auditWritten('log'),
      onDropped: (count) => metrics.auditDropped('log', count),
    });
  }
  if (audit?.webhook) {
    const { target, ...batching } = audit.webhook;
    const receiver: UpstreamTarget = { ...target, url: new URL(target.url.origin) };
    const path = target.url.pathname + target.url.search;
    webhook = createAuditWebhook({
      ...batching,
      maxAttempts: WEBHOOK_ATTEMPTS,
      post: async (list) => (await postJson(receiver, path, list)).status,
      onWritten: (count) => metrics.auditWritten('webhook', count),
      onDropped: (count) => metrics.auditDropped('webhook', count),
      onError: (message) => logger.warn({ event: 'audit-webhook-failed', err: message }, 'audit webhook delivery failed'),
    });
  }
  const sinks = [log, webhook].filter((sink) => sink !== undefined);
  return {
    write: sinks.length === 0 ? undefined : (event) => {
      for (const sink of sinks) sink.write(event);
    },
    async close() {
      await Promise.all([log?.close(), webhook?.close(WEBHOOK_FLUSH_MS)]);
    },
  };
}

/**
 * Rotated Secrets take effect for new connections: the listener's certificate and client CA, each
 * upstream's CA and credential (read per connection from the same objects the router holds), the
 * token file. A file that does not parse keeps the previous contents in use (and is logged).
 */
function watchReloadableFiles(config: GatewayConfig, gateway: Gateway, tokenFile: TokenFileAuthenticator | undefined, logger: Logger, metrics: GatewayMetrics, auditor: RequestAuditor): FileWatcher {
  const files = reloadableFiles(config);
  const current = new Map<string, string>();
  const tls = config.tls;
  const tokenFileInForce = config.auth.tokenFile;
  const settingsOf = (path: string): string[] => files.filter((file) => file.path === path).map((file) => file.setting);
  const counted = (path: string, result: ReloadResult): void => {
    for (const setting of settingsOf(path)) metrics.configReload(setting, result);
  };
  return watchFiles(
    // The token file's contents in force are known: a rewrite right after start is still a change.
    files.map((file) => (file.path === tokenFileInForce?.path ? { path: file.path, content: tokenFileInForce.content } : file.path)),
    {
      onError: (path, message) => {
        counted(path, 'unreadable');
        logger.warn({ event: 'reload-failed', path, err: message }, 'cannot read a watched file; keeping the previous contents');
      },
      onChange: (path, content) => {
        current.set(path, content);
        const setting = settingsOf(path);
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
          if (path === config.audit?.policyFile?.path) auditor.policy = parseAuditPolicy(content);
          if (tokenFile && path === config.auth.tokenFile?.path) {
            void tokenFile.reload().then((result) => {
              counted(path, result.ok ? 'success' : result.result);
              if (result.ok) logger.info({ event: 'reloaded', path, settings: setting, tokens: result.tokens }, 'reloaded the token file');
              else logger.warn({ event: 'reload-failed', path, settings: setting, result: result.result, err: result.error }, 'the token file was not taken; keeping the previous tokens');
            });
            return;
          }
          recordCertificates(config, metrics);
          counted(path, 'success');
          logger.info({ event: 'reloaded', path, settings: setting }, 'reloaded a rotated file');
        } catch (error) {
          counted(path, 'unusable');
          logger.warn({ event: 'reload-failed', path, settings: setting, err: (error as Error).message }, 'a rotated file is not usable yet; keeping the previous contents');
        }
      },
    },
  );
}

/** The expiry of every certificate in use, for alerts before one runs out (again after each reload). */
function recordCertificates(config: GatewayConfig, metrics: GatewayMetrics): void {
  if (config.tls) {
    metrics.certificate('serving', config.tls.cert);
    if (config.tls.clientCA) metrics.certificate('client-ca', config.tls.clientCA);
  }
  for (const upstream of config.upstreams) {
    if (upstream.credentials?.clientCert) metrics.certificate('upstream-client', upstream.credentials.clientCert, upstream.name);
  }
}

function reloadUpstreamFile(upstream: ResolvedUpstream, path: string, content: string): void {
  const { files } = upstream;
  if (path === files.ca) {
    // The check used at start: a file without a certificate would otherwise be taken (Node ignores it).
    const problem = caBundleProblem(content);
    if (problem) throw new Error(`the CA bundle ${problem}`);
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
