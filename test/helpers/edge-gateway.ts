// An edge-mode gateway started from a real configuration file, as the CLI starts one: the files its
// configuration names, the defaults the edge tests share, and the start itself. Each test file keeps
// only what it is about (its authenticators, policy, audit or limits) in the overrides.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadGatewayConfig } from '../../src/config/gateway-config.js';
import { createLogger } from '../../src/observability/logger.js';
import { startConfiguredGateway, type ConfiguredGateway } from '../../src/server/configured-gateway.js';
import { LogRecorder } from './log-recorder.js';

export interface EdgeFiles {
  /** The CA that signed the upstream's serving certificate (`ca.crt`). */
  upstreamCa: string;
  /** The gateway's own serving certificate and key (`tls.crt`, `tls.key`). */
  tls: { cert: string | Buffer; key: string | Buffer };
  /** The gateway's credential toward the cluster (`gateway.token`). */
  gatewayToken: string;
  /** The callers, as `tokens.csv` lines: `token,user,uid[,"group,group"]`. */
  tokens: string[];
}

/** Writes the files `edgeConfig` names into `dir`. */
export async function writeEdgeFiles(dir: string, files: EdgeFiles): Promise<void> {
  await writeFile(join(dir, 'ca.crt'), files.upstreamCa);
  await writeFile(join(dir, 'tls.crt'), files.tls.cert);
  await writeFile(join(dir, 'tls.key'), files.tls.key);
  await writeFile(join(dir, 'gateway.token'), files.gatewayToken);
  await writeFile(join(dir, 'tokens.csv'), files.tokens.join('\n') + '\n');
}

/** One `upstreams[]` entry trusting `ca.crt` and presenting the gateway's token (or `tokenFile`). */
export function upstreamEntry(name: string, server: string, tokenFile = 'gateway.token'): Record<string, unknown> {
  return { name, server, ca: 'ca.crt', credential: { tokenFile } };
}

interface EdgeOverrides {
  /** Merged into `auth` (mode edge, callers from tokens.csv). */
  auth?: Record<string, unknown>;
  /** Merged into `limits` (failed-auth throttling off: the tests fail on purpose). */
  limits?: Record<string, unknown>;
  /** Merged into `tls` (the serving certificate). */
  tls?: Record<string, unknown>;
  /** Any other top-level field (audit, routing, network, ui, recording …), as is. */
  [field: string]: unknown;
}

/** An edge-mode configuration in front of `upstreams`, with the shared defaults and `overrides` merged in. */
export function edgeConfig(upstreams: Array<Record<string, unknown>>, overrides: EdgeOverrides = {}): Record<string, unknown> {
  const { auth, limits, tls, ...rest } = overrides;
  return {
    listen: '127.0.0.1:0',
    tls: { cert: 'tls.crt', key: 'tls.key', ...tls },
    admin: { listen: 'off' },
    upstreams,
    auth: { mode: 'edge', tokenFile: 'tokens.csv', ...auth },
    limits: { failedAuthPerMinute: 0, ...limits },
    ...rest,
  };
}

/** Writes `config` to `dir/name.yaml` and starts it through the configuration loader, logging at debug into `logs`. */
export async function startEdgeGateway(dir: string, name: string, config: Record<string, unknown>, logs = new LogRecorder()): Promise<ConfiguredGateway> {
  const configPath = join(dir, `${name}.yaml`);
  await writeFile(configPath, stringify(config));
  return startConfiguredGateway(await loadGatewayConfig({ config: configPath }, {}), createLogger({ destination: logs, level: 'debug' }));
}
