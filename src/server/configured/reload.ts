/**
 * Rotated Secrets take effect for new connections: the listener's certificate and client CA, each
 * upstream's CA and credential (read per connection from the same objects the router holds), the
 * audit policy, and any authenticator's own file (the token file). A file that does not parse keeps
 * the previous contents in use (and is logged); each outcome is counted per setting.
 */
import { createSecureContext } from 'node:tls';
import type { StartedAuthenticator } from '../../auth/authenticators.js';
import { watchFiles, type FileWatcher } from '../../config/file-watcher.js';
import { reloadableFiles, type GatewayConfig, type ResolvedUpstream } from '../../config/model.js';
import { caBundleProblem } from '../../config/pem.js';
import { parseAuditPolicy } from '../../observability/audit/policy.js';
import type { RequestAuditor } from '../../observability/audit/request-audit.js';
import type { Logger } from '../../observability/logger.js';
import type { GatewayMetrics, ReloadResult } from '../../observability/metrics.js';
import type { Gateway } from '../gateway.js';
import { recordCertificates } from './certificates.js';

export interface ReloadTargets {
  gateway: Gateway;
  auditor: RequestAuditor;
  /** Authenticators that re-read their own file (authentication.ts). */
  authenticatorReloads: NonNullable<StartedAuthenticator['reload']>[];
}

export function watchReloadableFiles(config: GatewayConfig, targets: ReloadTargets, logger: Logger, metrics: GatewayMetrics): FileWatcher {
  const files = reloadableFiles(config);
  const current = new Map<string, string>();
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
          reloadListenerTls(config, targets.gateway, current, path, content);
          for (const upstream of config.upstreams) reloadUpstreamFile(upstream, path, content);
          if (path === config.audit?.policyFile?.path) targets.auditor.policy = parseAuditPolicy(content);
          const authenticator = targets.authenticatorReloads.find((reload) => reload.path === path);
          if (authenticator) {
            void authenticator.run().then((result) => {
              counted(path, result.ok ? 'success' : result.result);
              if (result.ok) logger.info({ event: 'reloaded', path, settings: setting, ...result.fields }, result.message);
              else logger.warn({ event: 'reload-failed', path, settings: setting, result: result.result, err: result.error }, result.message);
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

/** The listener's certificate, key or client CA changed: take the set once certificate and key match. */
function reloadListenerTls(config: GatewayConfig, gateway: Gateway, current: Map<string, string>, path: string, content: string): void {
  const tls = config.tls;
  if (!tls || (path !== tls.files.cert && path !== tls.files.key && path !== tls.files.clientCA)) return;
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
