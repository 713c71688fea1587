import { reloadableFiles, type GatewayConfig } from '../config/model.js';
import type { RunningServer } from '../net/running-server.js';
import { DEFAULT_AUDIT_POLICY } from '../observability/audit/policy.js';
import { RequestAuditor } from '../observability/audit/request-audit.js';
import type { HealthChecks } from '../observability/health.js';
import type { Logger } from '../observability/logger.js';
import { GatewayMetrics } from '../observability/metrics.js';
import type { AccessControl } from './access.js';
import { auditSinks } from './configured/audit-sinks.js';
import { edgeAccess } from './configured/authentication.js';
import { recordCertificates } from './configured/certificates.js';
import { configuredRecording } from './configured/recording.js';
import { adminListener, upstreamAvailable, upstreamHealth } from './configured/health.js';
import { watchReloadableFiles } from './configured/reload.js';
import { sessionObserver } from './configured/session-metrics.js';
import { startGateway, type Gateway } from './gateway.js';
import { defaultAssetsDir } from './ui/static-assets.js';
import type { UiPeerOptions } from './ui/replicas.js';
import { PassthroughAccess } from './passthrough-access.js';

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
 * Builds everything the configuration describes around the gateway, and stops it in order. Each
 * part is its own module in configured/: access control (authentication.ts), audit sinks, health
 * and the admin listener, session metrics, certificate expiry, and reloading of rotated files.
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
  const health = upstreamHealth(config, metrics, logger);

  // The admin listener binds first: when its port is taken, the error names admin.listen and no
  // "gateway listening" line has claimed that the gateway is up.
  const admin = await adminListener(config, health, metrics, logger).catch(async (error: unknown) => {
    await sinks.close();
    throw error;
  });

  const recording = configuredRecording(config, logger, metrics);
  const gateway = await startGateway({
    listen: config.listen,
    tls: config.tls ? { cert: config.tls.cert, key: config.tls.key, clientCa: config.tls.clientCA, policy: config.tlsPolicy } : undefined,
    upstreams: config.upstreams.map((upstream) => ({ name: upstream.name, hosts: upstream.hosts, target: upstream })),
    defaultUpstream: config.routing.defaultUpstream,
    revealUpstreamNames: config.routing.revealUpstreamNames,
    access,
    allowedOrigins: config.auth.allowedOrigins,
    ui: config.ui.enabled ? { path: config.ui.path, admins: config.ui.admins, assetsDir: defaultAssetsDir(), peers: peerOptions(config, metrics), recordingsDirectory: config.recording?.directory } : undefined,
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
    recording: recording?.taps,
    onProxied: (upstream, status, request) => {
      metrics.proxiedRequest(upstream, status, request);
      if (status === 0) metrics.upstreamError(upstream, 'request');
    },
    onUpgrade: (upgradeHeader, result) => metrics.upgrade(upgradeHeader, result),
    onDial: (upstream, seconds, error) => {
      metrics.upstreamConnect(upstream, seconds, error === undefined);
      if (error) metrics.upstreamError(upstream, 'connect');
    },
    upstreamAvailable: upstreamAvailable(health),
    logger,
  }).catch(async (error: unknown) => {
    await recording?.stop();
    await admin?.close();
    await sinks.close();
    throw error;
  });
  const stopWatchingUpstreams = health.watchUpstreams();

  const watcher = watchReloadableFiles(config, { gateway, auditor, authenticatorReloads: edge?.reloads ?? [] }, logger, metrics);
  let stopped: Promise<void> | undefined;
  const stop = (drainMs: number): Promise<void> => {
    stopped ??= (async () => {
      health.startDraining();
      stopWatchingUpstreams();
      await gateway.drain(drainMs);
      await recording?.stop();
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

/** The web interface's peers (ui.peers, ui.peerSecretFile, ui.peerCA), counted by the metrics. */
function peerOptions(config: GatewayConfig, metrics: GatewayMetrics): UiPeerOptions | undefined {
  const peering = config.ui.peering;
  if (!peering) return undefined;
  return { ...peering, onFailure: (reason) => metrics.uiPeerFailed(reason), onRefused: (reason) => metrics.uiPeerRequestRefused(reason) };
}
