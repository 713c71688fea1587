import { readFile } from 'node:fs/promises';
import { LOG_LEVELS, loadServerTls } from '../config/gateway-config.js';
import { ConfigError, describeFsError } from '../config/errors.js';
import { isLoopback, parseListenAddress } from '../config/listen-address.js';
import { startLegacyCluster } from '../legacy-cluster/cluster.js';
import { createLogger } from '../observability/logger.js';
import { Lifecycle, listening } from './lifecycle.js';
import { parseCommandLine } from './usage.js';

export const DEFAULT_LEGACY_LISTEN = '127.0.0.1:6443';

const HELP = `Usage: kube-stream-gateway legacy-cluster (--token TOKEN | --token-file FILE) [options]

A stand-in for a Kubernetes 1.28 API server with its kubelet, for demos and tests: version and
discovery, a few pods (demo, …), and exec, attach and port-forward over SPDY/3.1 only (WebSocket
upgrades are refused, as a 1.28 cluster refuses them, so kubectl falls back to SPDY).

WARNING: its pods are THIS HOST. exec and attach run real commands ON THIS HOST, as the user running
this process, in a scratch directory per pod. It binds loopback (${DEFAULT_LEGACY_LISTEN}) by default
and requires the bearer token on every request.

Options:
  --listen HOST:PORT               where to listen (default ${DEFAULT_LEGACY_LISTEN}; port 0: any free port,
                                   see the "listening" log line); a non-loopback address needs --allow-remote
  --token TOKEN                    the bearer token every request must carry (or --token-file)
  --token-file FILE                read the token from FILE (keeps it out of the process list)
  --tls-cert FILE, --tls-key FILE  serve HTTPS with this PEM certificate and key (give both);
                                   kubectl sends a bearer token only over HTTPS
  --allow-remote                   allow a non-loopback --listen address: anyone who reaches it with
                                   the token runs commands on this host
  --log-level LEVEL                fatal, error, warn, info (default), debug, trace or silent
  -h, --help                       this text

Logs are JSON lines on stdout (the "listening" line carries the URL). Stops on SIGINT or SIGTERM (exit 0).
`;

const OPTIONS = {
  listen: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'allow-remote': { type: 'boolean' },
  'log-level': { type: 'string' },
} as const;

export async function runLegacyCluster(args: string[]): Promise<void> {
  const life = new Lifecycle();
  try {
    const flags = parseCommandLine('legacy-cluster', args, OPTIONS, HELP);
    if (!flags) return await life.abort();
    const listen = parseListenAddress((flags.listen as string | undefined) ?? DEFAULT_LEGACY_LISTEN, '--listen');
    if (!isLoopback(listen.host) && !flags['allow-remote']) {
      throw new ConfigError(`--listen: ${listen.host} is not a loopback address, and this server runs commands on this host (add --allow-remote to insist)`);
    }
    const token = await readToken(flags.token as string | undefined, flags['token-file'] as string | undefined);
    const certFile = flags['tls-cert'] as string | undefined;
    const keyFile = flags['tls-key'] as string | undefined;
    if (certFile && !keyFile) throw new ConfigError('--tls-cert: given without --tls-key (give both or neither)');
    if (keyFile && !certFile) throw new ConfigError('--tls-key: given without --tls-cert (give both or neither)');
    const tls = certFile && keyFile ? await loadServerTls(certFile, keyFile) : undefined;
    const logLevel = (flags['log-level'] as string | undefined) ?? 'info';
    if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new ConfigError(`--log-level: must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
    const logger = createLogger({ level: logLevel });
    const cluster = await listening('--listen', startLegacyCluster({ listen, token, tls, logger }));
    life.closeOnStop(() => cluster.close());
  } catch (error) {
    await life.abort();
    throw error;
  }
  await life.untilStopped();
}

async function readToken(token: string | undefined, tokenFile: string | undefined): Promise<string> {
  if (token !== undefined && tokenFile !== undefined) throw new ConfigError('--token and --token-file: give one, not both');
  if (tokenFile !== undefined) {
    let text: string;
    try {
      text = await readFile(tokenFile, 'utf8');
    } catch (error) {
      throw new ConfigError(`--token-file: cannot read ${tokenFile}: ${describeFsError(error)}`);
    }
    const fromFile = text.trim();
    if (!fromFile) throw new ConfigError(`--token-file: ${tokenFile} is empty`);
    if (/\s/.test(fromFile)) throw new ConfigError(`--token-file: ${tokenFile}: the token must not contain white space`);
    return fromFile;
  }
  if (token === undefined) throw new ConfigError('--token: required (or --token-file): every request must carry it as a bearer token');
  if (!token.trim()) throw new ConfigError('--token: must not be empty');
  if (/\s/.test(token)) throw new ConfigError('--token: must not contain white space');
  return token;
}
