import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import type { ListenAddress, ServerTls } from '../server/running-server.js';
import type { UpstreamTarget } from '../upstream/target.js';
import { KubeconfigError, loadUpstreamFromKubeconfig } from './kubeconfig.js';
import { ConfigError, parseListenAddress } from './listen-address.js';

/** The `serve` settings as given: flags and the YAML file use the same names. */
export interface ServeSettings {
  listen?: string;
  'tls-cert'?: string;
  'tls-key'?: string;
  upstream?: string;
  'upstream-kubeconfig'?: string;
  'upstream-context'?: string;
  'upstream-ca'?: string;
  'upstream-insecure-skip-tls-verify'?: boolean;
  'log-level'?: string;
}

export interface GatewayConfig {
  listen: ListenAddress;
  tls?: ServerTls;
  upstream: UpstreamTarget;
  logLevel: string;
}

export const DEFAULT_LISTEN = '127.0.0.1:8080';
const STRING_KEYS = ['listen', 'tls-cert', 'tls-key', 'upstream', 'upstream-kubeconfig', 'upstream-context', 'upstream-ca', 'log-level'] as const;
const BOOLEAN_KEYS = ['upstream-insecure-skip-tls-verify'] as const;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Reads `--config FILE`: unknown keys and wrongly typed values are refused, naming the file and key. */
export async function readSettingsFile(path: string): Promise<ServeSettings> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`--config: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let document: unknown;
  try {
    document = parse(text) ?? {};
  } catch (error) {
    throw new ConfigError(`${path}: invalid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (typeof document !== 'object' || Array.isArray(document) || document === null) throw new ConfigError(`${path}: expected a mapping of settings`);
  const settings: ServeSettings = {};
  for (const [key, value] of Object.entries(document)) {
    if ((STRING_KEYS as readonly string[]).includes(key)) {
      if (typeof value !== 'string') throw new ConfigError(`${path}: ${key}: must be a string`);
      (settings as Record<string, unknown>)[key] = value;
    } else if ((BOOLEAN_KEYS as readonly string[]).includes(key)) {
      if (typeof value !== 'boolean') throw new ConfigError(`${path}: ${key}: must be true or false`);
      (settings as Record<string, unknown>)[key] = value;
    } else {
      throw new ConfigError(`${path}: ${key}: unknown setting (known: ${[...STRING_KEYS, ...BOOLEAN_KEYS].join(', ')})`);
    }
  }
  return settings;
}

/**
 * Turns settings into what the gateway runs with. With both `upstream` and `upstream-kubeconfig`, the
 * kubeconfig supplies trust and credentials and `upstream` overrides its server URL.
 */
export async function resolveGatewayConfig(settings: ServeSettings): Promise<GatewayConfig> {
  const listen = parseListenAddress(settings.listen ?? DEFAULT_LISTEN, '--listen');
  const logLevel = settings['log-level'] ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`--log-level: must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);

  let tls: ServerTls | undefined;
  const certFile = settings['tls-cert'];
  const keyFile = settings['tls-key'];
  if (Boolean(certFile) !== Boolean(keyFile)) throw new ConfigError('--tls-cert and --tls-key: give both or neither');
  if (certFile && keyFile) tls = { cert: await readOption(certFile, '--tls-cert'), key: await readOption(keyFile, '--tls-key') };

  let upstream: UpstreamTarget;
  const kubeconfig = settings['upstream-kubeconfig'];
  if (kubeconfig) {
    try {
      upstream = await loadUpstreamFromKubeconfig(kubeconfig, settings['upstream-context']);
    } catch (error) {
      if (error instanceof KubeconfigError) throw new ConfigError(`--upstream-kubeconfig: ${error.message}`);
      throw error;
    }
  } else if (settings['upstream-context']) {
    throw new ConfigError('--upstream-context: only valid with --upstream-kubeconfig');
  } else if (!settings.upstream) {
    throw new ConfigError('--upstream or --upstream-kubeconfig: one is required (the legacy API server or kubelet to front)');
  } else {
    upstream = { url: new URL('http://placeholder.invalid'), insecureSkipTlsVerify: false };
  }
  if (settings.upstream) upstream.url = parseUpstreamUrl(settings.upstream);
  if (settings['upstream-ca']) upstream.ca = await readOption(settings['upstream-ca'], '--upstream-ca');
  if (settings['upstream-insecure-skip-tls-verify']) upstream.insecureSkipTlsVerify = true;
  return { listen, tls, upstream, logLevel };
}

function parseUpstreamUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`--upstream: must be an http(s) URL, got "${value}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(`--upstream: must be an http(s) URL, got "${value}"`);
  if (url.search || url.hash) throw new ConfigError('--upstream: must not carry a query or fragment');
  return url;
}

async function readOption(path: string, option: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${option}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
