import { readFile } from 'node:fs/promises';
import { ConfigError, isLoopback, parseListenAddress } from '../config/listen-address.js';
import { startLegacyCluster } from '../legacy-cluster/cluster.js';
import { createLogger } from '../observability/logger.js';
import { stopOnSignal } from './lifecycle.js';
import { parseCommandLine } from './usage.js';

const DEFAULT_LISTEN = '127.0.0.1:6443';

const HELP = `Usage: kube-stream-gateway legacy-cluster --token TOKEN [options]

A stand-in for a Kubernetes 1.28 API server and kubelet that speaks only SPDY/3.1 for exec and
attach (WebSocket upgrades are refused, as a 1.28 cluster refuses them). For demos and tests.

WARNING: exec and attach run real commands ON THIS HOST, as the user running this process, in a
scratch directory. It binds loopback by default and requires the bearer token on every request.

Options:
  --listen HOST:PORT              where to listen (default ${DEFAULT_LISTEN}; non-loopback needs --allow-remote)
  --token TOKEN                   the bearer token clients must send (required)
  --tls-cert FILE, --tls-key FILE serve HTTPS (kubectl sends tokens only over HTTPS)
  --allow-remote                  allow a non-loopback --listen address (anyone reaching it with the token runs commands here)
  --help                          this text
`;

const OPTIONS = {
  listen: { type: 'string' },
  token: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'allow-remote': { type: 'boolean' },
} as const;

export async function runLegacyCluster(args: string[]): Promise<void> {
  const flags = parseCommandLine(args, OPTIONS, HELP);
  if (!flags) return;
  const listen = parseListenAddress((flags.listen as string | undefined) ?? DEFAULT_LISTEN, '--listen');
  if (!isLoopback(listen.host) && !flags['allow-remote']) {
    throw new ConfigError(`--listen: ${listen.host} is not a loopback address; this server runs commands on this host (add --allow-remote to insist)`);
  }
  const token = flags.token as string | undefined;
  if (!token) throw new ConfigError('--token: required (every request must carry it as a bearer token)');
  const certFile = flags['tls-cert'] as string | undefined;
  const keyFile = flags['tls-key'] as string | undefined;
  if (Boolean(certFile) !== Boolean(keyFile)) throw new ConfigError('--tls-cert and --tls-key: give both or neither');
  const tls = certFile && keyFile ? { cert: await readOrFail(certFile, '--tls-cert'), key: await readOrFail(keyFile, '--tls-key') } : undefined;
  const logger = createLogger();
  const cluster = await startLegacyCluster({ listen, token, tls, logger });
  await stopOnSignal(() => cluster.close());
}

async function readOrFail(path: string, option: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${option}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
