import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { LOG_LEVELS, loadServerTls } from '../config/gateway-config.js';
import { ConfigError, describeFsError } from '../config/errors.js';
import { isLoopback, parseListenAddress } from '../config/listen-address.js';
import { SESSIONS_PATH, startLegacyCluster } from '../legacy-cluster/cluster.js';
import { parseRules, RulesError, type AccessRule } from '../legacy-cluster/authorizer.js';
import type { LegacyUser } from '../legacy-cluster/identity.js';
import { STREAMING_MODES, type StreamingMode } from '../legacy-cluster/websocket-upgrade.js';
import { parseTokenAuthFile, TokenFileError } from '../legacy-cluster/token-auth-file.js';
import { createLogger } from '../observability/logger.js';
import { Lifecycle, listening } from './lifecycle.js';
import { parseCommandLine } from './usage.js';

export const DEFAULT_LEGACY_LISTEN = '127.0.0.1:6443';

const HELP = `Usage: kube-stream-gateway legacy-cluster (--token TOKEN | --token-file FILE) [options]

A stand-in for a Kubernetes 1.28 API server with its kubelet, for demos and tests: version and
discovery, a few pods (demo, …), and exec, attach and port-forward over SPDY/3.1 only (WebSocket
upgrades are refused, as a 1.28 cluster refuses them, so kubectl falls back to SPDY); with
--streaming websocket over WebSocket only, with --streaming both over either.

WARNING: its pods are THIS HOST. exec and attach run real commands ON THIS HOST, as the user running
this process, in a scratch directory per pod. It binds loopback (${DEFAULT_LEGACY_LISTEN}) by default
and requires a bearer token on every request.

Like a 1.28 API server it authenticates bearer tokens (401 otherwise), honours Impersonate-* headers
from callers allowed to impersonate, authorizes by RBAC-like rules (403 otherwise), and serves
TokenReview, SubjectAccessReview and SelfSubjectAccessReview. As on 1.28, the verb comes from the
HTTP method: a GET exec/attach/port-forward upgrade (every WebSocket upgrade) is authorized as
"get" on pods/exec, a POST as "create" (Kubernetes 1.35 added a "create" check for upgrades).
GET ${SESSIONS_PATH} (privileged token only) lists each exec, attach and port-forward
session with the user and groups it ran as.

Options:
  --listen HOST:PORT               where to listen (default ${DEFAULT_LEGACY_LISTEN}; port 0: any free port,
                                   see the "listening" log line); a non-loopback address needs --allow-remote
  --token TOKEN                    the privileged bearer token: user kubernetes-admin in group
                                   system:masters, allowed everything (or --token-file)
  --token-file FILE                read the token from FILE (keeps it out of the process list)
  --users-file FILE                more users, in kube-apiserver --token-auth-file CSV format:
                                   token,user,uid[,"group1,group2"] (one per line)
  --rules-file FILE                what those users may do: YAML list of rules (or rules: [...]),
                                   each {users, groups, verbs, resources, namespaces, apiGroups,
                                   resourceNames, nonResourceURLs}, e.g.
                                     - groups: [devs]
                                       verbs: [create]
                                       resources: [pods/exec]
                                       namespaces: [default]
                                   Without rules, users may only read discovery and /version.
  --tls-cert FILE, --tls-key FILE  serve HTTPS with this PEM certificate and key (give both);
                                   kubectl sends a bearer token only over HTTPS
  --allow-remote                   allow a non-loopback --listen address: anyone who reaches it with
                                   the token runs commands on this host
  --streaming MODE                 how exec, attach and port-forward are served: spdy (default, a 1.28
                                   cluster), websocket (v5.channel.k8s.io and SPDY/3.1+portforward.k8s.io
                                   tunneling only; SPDY upgrades get 400), or both (a 1.31 API server)
  --log-level LEVEL                fatal, error, warn, info (default), debug, trace or silent
  -h, --help                       this text

Logs are JSON lines on stdout (the "listening" line carries the URL). Stops on SIGINT or SIGTERM (exit 0).
`;

const OPTIONS = {
  listen: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  'users-file': { type: 'string' },
  'rules-file': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'allow-remote': { type: 'boolean' },
  'log-level': { type: 'string' },
  streaming: { type: 'string' },
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
    const users = await readUsers(flags['users-file'] as string | undefined);
    const rules = await readRules(flags['rules-file'] as string | undefined);
    const certFile = flags['tls-cert'] as string | undefined;
    const keyFile = flags['tls-key'] as string | undefined;
    if (certFile && !keyFile) throw new ConfigError('--tls-cert: given without --tls-key (give both or neither)');
    if (keyFile && !certFile) throw new ConfigError('--tls-key: given without --tls-cert (give both or neither)');
    const tls = certFile && keyFile ? await loadServerTls(certFile, keyFile) : undefined;
    const logLevel = (flags['log-level'] as string | undefined) ?? 'info';
    if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new ConfigError(`--log-level: must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
    const streaming = (flags.streaming as string | undefined) ?? 'spdy';
    if (!(STREAMING_MODES as readonly string[]).includes(streaming)) throw new ConfigError(`--streaming: must be one of ${STREAMING_MODES.join(', ')}, got ${JSON.stringify(streaming)}`);
    const logger = createLogger({ level: logLevel });
    const cluster = await listening('--listen', startLegacyCluster({ listen, token, users, rules, tls, logger, streaming: streaming as StreamingMode }));
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

async function readFileFor(flag: string, file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`${flag}: cannot read ${file}: ${describeFsError(error)}`);
  }
}

async function readUsers(file: string | undefined): Promise<LegacyUser[]> {
  if (file === undefined) return [];
  try {
    return parseTokenAuthFile(await readFileFor('--users-file', file), file);
  } catch (error) {
    if (error instanceof TokenFileError) throw new ConfigError(`--users-file: ${error.message}`);
    throw error;
  }
}

async function readRules(file: string | undefined): Promise<AccessRule[]> {
  if (file === undefined) return [];
  const text = await readFileFor('--rules-file', file);
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`--rules-file: ${file} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  try {
    return parseRules(document, file);
  } catch (error) {
    if (error instanceof RulesError) throw new ConfigError(`--rules-file: ${error.message}`);
    throw error;
  }
}
