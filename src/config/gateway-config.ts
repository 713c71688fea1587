import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { parse } from 'yaml';
import type { ListenAddress, ServerTls } from '../server/running-server.js';
import type { UpstreamTarget } from '../upstream/target.js';
import { ConfigError, describeFsError } from './errors.js';
import { KubeconfigError, loadUpstreamFromKubeconfig } from './kubeconfig.js';
import { parseListenAddress } from './listen-address.js';

/** The `serve` settings as given: the flags and the keys of the --config YAML file share these names. */
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

export type SettingName = keyof ServeSettings;

/** What `serve` runs with. */
export interface GatewayConfig {
  listen: ListenAddress;
  tls?: ServerTls;
  upstream: UpstreamTarget;
  logLevel: string;
}

/**
 * Where each setting came from, for error messages and relative paths: a flag is named `--listen`
 * and its paths are relative to the working directory; a key of the --config file is named
 * `gateway.yaml: listen` and its paths are relative to the file's folder.
 */
export interface SettingsOrigin {
  label(name: SettingName): string;
  baseDir(name: SettingName): string;
}

export const DEFAULT_LISTEN = '127.0.0.1:8080';
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const STRING_SETTINGS: readonly SettingName[] = ['listen', 'tls-cert', 'tls-key', 'upstream', 'upstream-kubeconfig', 'upstream-context', 'upstream-ca', 'log-level'];
const BOOLEAN_SETTINGS: readonly SettingName[] = ['upstream-insecure-skip-tls-verify'];

/** Every setting given as a flag, paths relative to the working directory. */
export const FLAGS_ORIGIN: SettingsOrigin = { label: (name) => `--${name}`, baseDir: () => process.cwd() };

/** Reads `--config FILE`: unknown keys and wrongly typed values are refused, naming the file and key. */
export async function readSettingsFile(path: string): Promise<ServeSettings> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`--config: cannot read ${path}: ${describeFsError(error)}`);
  }
  let document: unknown;
  try {
    document = parse(text) ?? {};
  } catch (error) {
    throw new ConfigError(`${path}: invalid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (typeof document !== 'object' || Array.isArray(document) || document === null) throw new ConfigError(`${path}: expected a mapping of settings (listen: …, upstream: …)`);
  const settings: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(document)) {
    if (STRING_SETTINGS.includes(key as SettingName)) {
      if (typeof value !== 'string') throw new ConfigError(`${path}: ${key}: must be a string`);
      settings[key] = value;
    } else if (BOOLEAN_SETTINGS.includes(key as SettingName)) {
      if (typeof value !== 'boolean') throw new ConfigError(`${path}: ${key}: must be true or false`);
      settings[key] = value;
    } else {
      throw new ConfigError(`${path}: ${key}: unknown setting (known: ${[...STRING_SETTINGS, ...BOOLEAN_SETTINGS].join(', ')})`);
    }
  }
  return settings as ServeSettings;
}

/**
 * The `serve` configuration from its flags and, when given, the --config file: a flag wins over the
 * same key in the file. Errors name the flag, or the file and key, the bad value came from.
 */
export async function loadGatewayConfig(flags: ServeSettings, configFile?: string): Promise<GatewayConfig> {
  const fromFile = configFile === undefined ? {} : await readSettingsFile(configFile);
  const settings: Record<string, unknown> = { ...fromFile };
  const fromFlags = new Set<string>();
  for (const [key, value] of Object.entries(flags)) {
    if (value === undefined) continue;
    settings[key] = value;
    fromFlags.add(key);
  }
  const origin: SettingsOrigin =
    configFile === undefined
      ? FLAGS_ORIGIN
      : {
          label: (name) => (fromFlags.has(name) || !(name in fromFile) ? `--${name}` : `${configFile}: ${name}`),
          baseDir: (name) => (fromFlags.has(name) ? process.cwd() : dirname(resolve(configFile))),
        };
  return resolveGatewayConfig(settings as ServeSettings, origin);
}

/**
 * Turns settings into what the gateway runs with, reading the files they name.
 *
 * Upstream: `upstream` (a URL) or `upstream-kubeconfig` (server, CA, TLS server name from a
 * kubeconfig) is required. With both, the kubeconfig supplies trust and `upstream` replaces its
 * server URL (a kubeconfig made for outside access, whose server the gateway reaches another way).
 * `upstream-ca` and `upstream-insecure-skip-tls-verify` override the kubeconfig's equivalents; the
 * two together are refused, as kubectl refuses them.
 */
export async function resolveGatewayConfig(settings: ServeSettings, origin: SettingsOrigin = FLAGS_ORIGIN): Promise<GatewayConfig> {
  const { label } = origin;
  const path = (name: SettingName, value: string): string => resolve(origin.baseDir(name), value);

  const listen = parseListenAddress(settings.listen ?? DEFAULT_LISTEN, label('listen'));
  const logLevel = settings['log-level'] ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new ConfigError(`${label('log-level')}: must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);

  let tls: ServerTls | undefined;
  const certFile = settings['tls-cert'];
  const keyFile = settings['tls-key'];
  if (certFile && !keyFile) throw new ConfigError(`${label('tls-cert')}: given without ${label('tls-key')} (give both or neither)`);
  if (keyFile && !certFile) throw new ConfigError(`${label('tls-key')}: given without ${label('tls-cert')} (give both or neither)`);
  if (certFile && keyFile) tls = await loadServerTls(path('tls-cert', certFile), path('tls-key', keyFile), label('tls-cert'), label('tls-key'));

  let upstream: UpstreamTarget;
  const kubeconfig = settings['upstream-kubeconfig'];
  if (kubeconfig) {
    try {
      upstream = await loadUpstreamFromKubeconfig(path('upstream-kubeconfig', kubeconfig), settings['upstream-context'] || undefined);
    } catch (error) {
      if (error instanceof KubeconfigError) throw new ConfigError(`${label('upstream-kubeconfig')}: ${error.message}`);
      throw error;
    }
    if (settings.upstream) upstream.url = parseUpstreamUrl(settings.upstream, label('upstream'));
  } else if (settings['upstream-context']) {
    throw new ConfigError(`${label('upstream-context')}: only valid with --upstream-kubeconfig`);
  } else if (!settings.upstream) {
    throw new ConfigError('--upstream or --upstream-kubeconfig: one is required (the legacy API server or kubelet to front), as a flag or in the --config file');
  } else {
    upstream = { url: parseUpstreamUrl(settings.upstream, label('upstream')), insecureSkipTlsVerify: false };
  }

  const caFile = settings['upstream-ca'];
  const insecure = settings['upstream-insecure-skip-tls-verify'] === true;
  if (caFile && insecure) {
    throw new ConfigError(`${label('upstream-ca')} and ${label('upstream-insecure-skip-tls-verify')}: give one or the other (a CA is pointless when verification is off)`);
  }
  if (caFile) {
    const ca = await readSettingFile(path('upstream-ca', caFile), label('upstream-ca'));
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError(`${label('upstream-ca')}: ${caFile} holds no PEM certificate`);
    try {
      createSecureContext({ ca });
    } catch (error) {
      throw new ConfigError(`${label('upstream-ca')}: ${caFile} is not a usable PEM CA bundle (${openSslReason(error)})`);
    }
    upstream.ca = ca;
    upstream.insecureSkipTlsVerify = false;
  }
  if (insecure) {
    upstream.insecureSkipTlsVerify = true;
    delete upstream.ca;
  }
  return { listen, tls, upstream, logLevel };
}

/** Reads a server certificate and key (PEM) and checks that they are usable and belong together. */
export async function loadServerTls(certPath: string, keyPath: string, certLabel = '--tls-cert', keyLabel = '--tls-key'): Promise<ServerTls> {
  const tls = { cert: await readSettingFile(certPath, certLabel), key: await readSettingFile(keyPath, keyLabel) };
  try {
    createSecureContext({ cert: tls.cert, key: tls.key });
  } catch (error) {
    throw new ConfigError(`${certLabel} and ${keyLabel}: not a usable PEM certificate and matching key (${openSslReason(error)})`);
  }
  return tls;
}

function parseUpstreamUrl(value: string, label: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${label}: must be an http(s) URL, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(`${label}: must be an http(s) URL, got ${JSON.stringify(value)}`);
  if (url.search || url.hash) throw new ConfigError(`${label}: must not carry a query or fragment, got ${JSON.stringify(value)}`);
  if (url.username || url.password) throw new ConfigError(`${label}: must not carry credentials (each caller's own Authorization is passed through)`);
  return url;
}

async function readSettingFile(path: string, label: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${label}: cannot read ${path}: ${describeFsError(error)}`);
  }
}

/** OpenSSL's words without its error-code prefix: `error:0480006C:PEM routines::no start line` → `no start line`. */
function openSslReason(error: unknown): string {
  const message = (error as Error).message;
  return message.replace(/^error:[0-9A-F]+:[^:]*:[^:]*:/, '') || message;
}
