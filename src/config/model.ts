/**
 * What the gateway runs with: the validated file (schema.ts) with every file it names read and
 * checked (PEM parses, keys match certificates, tokens are not empty), relative paths resolved
 * against the config file's folder, and each path kept next to its contents so that a watcher can
 * reload it when a mounted Secret rotates.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { AuditPolicyError, parseAuditPolicy, type AuditPolicy } from '../observability/audit/policy.js';
import { AUTHENTICATORS, AUTHENTICATOR_SETTINGS, settingGiven, type AuthenticatorName } from '../auth/authenticators.js';
import { parseTokenFile, TokenFileError } from '../auth/token-file.js';
import type { ListenAddress, ServerTls } from '../net/running-server.js';
import type { UpstreamCredentials, UpstreamTarget } from '../upstream/target.js';
import { DEFAULT_TLS_POLICY, type TlsPolicy } from '../net/tls-policy.js';
import { describeFsError } from './errors.js';
import { KubeconfigError, loadKubeconfigUpstream, type KubeconfigFiles } from './kubeconfig.js';
import { parseListenAddress } from './listen-address.js';
import { caBundleProblem, certificateAndKeyProblem } from './pem.js';
import { Problems, type FieldPath } from './problems.js';
import { splitHostPort, type GatewayFile, type UpstreamEntry } from './schema.js';

/** A file's absolute path and what it held when read. */
interface LoadedFile {
  path: string;
  content: string;
}

/** The HTTPS listener's material; a ServerTls, so it can be handed to the server as it is. */
interface GatewayTls extends ServerTls {
  cert: string;
  key: string;
  /** PEM bundle of the CAs that sign callers' client certificates (mTLS). */
  clientCA?: string;
  files: { cert: string; key: string; clientCA?: string };
}

/** Absolute paths of the files an upstream's settings came from (reload these). */
interface UpstreamFiles extends KubeconfigFiles {
  kubeconfig?: string;
}

/** An upstream as the gateway dials it: the UpstreamTarget, its name, its hosts, its files. */
export interface ResolvedUpstream extends UpstreamTarget {
  name: string;
  /** Host names (lowercase, as written; with a port when one was written) routed to this upstream. */
  hosts: string[];
  files: UpstreamFiles;
}

type OidcSettings = Omit<NonNullable<GatewayFile['auth']['oidc']>, 'ca'> & { ca?: LoadedFile };

interface AuthSettings {
  mode: GatewayFile['auth']['mode'];
  /** Edge mode: the authenticators to try, in order, only configured ones; empty in passthrough. */
  authenticators: AuthenticatorName[];
  /** kube-apiserver --token-auth-file format; parsing it is src/auth's job. */
  tokenFile?: LoadedFile;
  oidc?: OidcSettings;
  tokenReview: GatewayFile['auth']['tokenReview'];
  authorization: GatewayFile['auth']['authorization'];
  impersonation: GatewayFile['auth']['impersonation'];
  allowedOrigins: string[];
}

interface AuditSettings {
  /** `-` (stdout) or an absolute file path; absent: no audit log file. */
  path?: string;
  /** Bounds of the `path` file; 0 disables each. */
  rotation: { maxSizeBytes: number; maxBackups: number; maxAgeDays: number };
  /** Absent: every request at Metadata (DEFAULT_AUDIT_POLICY). */
  policyFile?: { path: string; policy: AuditPolicy };
  webhook?: {
    /** The receiver: the kubeconfig's server, CA and credential. */
    target: UpstreamTarget;
    batchMaxSize: number;
    batchMaxWaitMs: number;
    bufferSize: number;
    initialBackoffMs: number;
  };
}

export interface GatewayConfig {
  /** Absolute path of the --config file, when there was one. */
  source?: string;
  listen: ListenAddress;
  /** Absent: plain HTTP. */
  tls?: GatewayTls;
  /** The admin listener (metrics, health); absent when `admin.listen` is `off`. */
  admin?: ListenAddress;
  /** One or more, names unique, hosts unique. */
  upstreams: ResolvedUpstream[];
  routing: {
    /** Filled in with the only upstream when there is one; absent: unmatched requests get 404. */
    defaultUpstream?: string;
    revealUpstreamNames: boolean;
  };
  auth: AuthSettings;
  /** Absent when events go nowhere (neither `audit.path` nor `audit.webhook`). */
  audit?: AuditSettings;
  limits: GatewayFile['limits'];
  network: GatewayFile['network'];
  /** TLS versions and suites, on the listener and toward every upstream. */
  tlsPolicy: TlsPolicy;
  logging: GatewayFile['logging'];
  shutdown: GatewayFile['shutdown'];
  /** `directory` absolute; absent when sessions are not recorded. */
  recording?: GatewayFile['recording'] & { directory: string };
  ui: GatewayFile['ui'] & { peering?: PeerSettings };
}

/** ui.peers, ui.peerSecretFile and ui.peerCA, read: present when the secret is configured. */
interface PeerSettings {
  secret: Buffer;
  /** Absent: this replica answers its peers but asks none. */
  source?: { kind: 'dns'; host: string; port?: number } | { kind: 'list'; addresses: Array<{ host: string; port: number }> };
  ca?: string;
}

/** A shorter secret is refused: the HMAC between replicas is only as strong as it. */
const MIN_PEER_SECRET_BYTES = 32;

/**
 * Reads every file the validated settings name (relative paths against `baseDir`, the config
 * file's folder) and checks what it holds. All problems are collected, then thrown together
 * (ConfigProblems, one line each).
 */
export async function resolveGatewayConfig(file: GatewayFile, problems: Problems, baseDir: string): Promise<GatewayConfig> {
  const reader = new FileReader(problems, baseDir);
  const [tls, upstreams, tokenFile, oidcCa, audit, peering] = await Promise.all([
    resolveTls(file.tls, reader),
    Promise.all(file.upstreams.map((entry, index) => resolveUpstream(entry, ['upstreams', index], file.auth.mode === 'edge', reader))),
    file.auth.tokenFile === undefined ? undefined : reader.readTokenFile(file.auth.tokenFile, ['auth', 'tokenFile']),
    file.auth.oidc?.ca === undefined ? undefined : reader.readCaBundle(file.auth.oidc.ca, ['auth', 'oidc', 'ca']),
    resolveAudit(file.audit, reader),
    resolvePeering(file.ui, reader),
  ]);
  problems.throwIfAny();

  const { oidc } = file.auth;
  const config: GatewayConfig = {
    listen: parseListenAddress(file.listen, 'listen'),
    tls,
    admin: file.admin.listen === 'off' ? undefined : parseListenAddress(file.admin.listen, 'admin.listen'),
    upstreams: upstreams as ResolvedUpstream[],
    routing: {
      defaultUpstream: file.routing.defaultUpstream ?? (file.upstreams.length === 1 ? file.upstreams[0]!.name : undefined),
      revealUpstreamNames: file.routing.revealUpstreamNames,
    },
    auth: {
      mode: file.auth.mode,
      authenticators: file.auth.mode === 'edge' ? effectiveAuthenticators(file) : [],
      tokenFile,
      oidc: oidc === undefined ? undefined : { ...oidc, ca: oidcCa },
      tokenReview: file.auth.tokenReview,
      authorization: file.auth.authorization,
      impersonation: file.auth.impersonation,
      allowedOrigins: file.auth.allowedOrigins.map((origin) => origin.toLowerCase()),
    },
    audit,
    limits: file.limits,
    network: file.network,
    tlsPolicy: file.tls ? { minVersion: file.tls.minVersion, cipherSuites: file.tls.cipherSuites } : DEFAULT_TLS_POLICY,
    logging: file.logging,
    shutdown: file.shutdown,
    ui: peering ? { ...file.ui, peering } : file.ui,
  };
  if (file.recording.directory !== undefined) config.recording = { ...file.recording, directory: reader.absolute(file.recording.directory) };
  if (config.tls === undefined) delete config.tls;
  for (const upstream of config.upstreams) upstream.tlsPolicy = config.tlsPolicy;
  return config;
}

/** The shared secret (at least MIN_PEER_SECRET_BYTES, surrounding whitespace ignored), the CA, and where the peers are. */
async function resolvePeering(ui: GatewayFile['ui'], reader: FileReader): Promise<PeerSettings | undefined> {
  if (ui.peerSecretFile === undefined) return undefined;
  const [secretFile, ca] = await Promise.all([reader.read(ui.peerSecretFile, ['ui', 'peerSecretFile']), ui.peerCA === undefined ? undefined : reader.readCaBundle(ui.peerCA, ['ui', 'peerCA'])]);
  if (!secretFile) return undefined;
  const secret = Buffer.from(secretFile.content.trim());
  if (secret.length < MIN_PEER_SECRET_BYTES) reader.problems.add(['ui', 'peerSecretFile'], `${secretFile.path} holds ${secret.length} bytes; the secret shared by the replicas must have at least ${MIN_PEER_SECRET_BYTES}`);
  const settings: PeerSettings = { secret };
  if (ca) settings.ca = ca.content;
  if (typeof ui.peers === 'string') {
    const [host, port] = splitHostPort(ui.peers);
    settings.source = { kind: 'dns', host: host!, ...(port === undefined ? {} : { port: Number(port) }) };
  } else if (ui.peers) {
    settings.source = { kind: 'list', addresses: ui.peers.map((address) => ({ host: splitHostPort(address)[0]!, port: Number(splitHostPort(address)[1]) })) };
  }
  return settings;
}

/** The audit sinks and policy; the policy is parsed and the webhook's kubeconfig read here, so check-config judges them. */
async function resolveAudit(audit: GatewayFile['audit'], reader: FileReader): Promise<AuditSettings | undefined> {
  // One after the other: problems are reported in the order of the fields.
  const policyFile = audit.policyFile === undefined ? undefined : await readAuditPolicy(audit.policyFile, reader);
  const webhookTarget = audit.webhook === undefined ? undefined : await readWebhookKubeconfig(audit.webhook.kubeconfig, reader);
  if (audit.path === undefined && audit.webhook === undefined) return undefined;
  const settings: AuditSettings = {
    rotation: { maxSizeBytes: audit.maxSizeMegabytes * 1024 * 1024, maxBackups: audit.maxBackups, maxAgeDays: audit.maxAgeDays },
  };
  if (audit.path !== undefined) settings.path = audit.path === '-' ? '-' : reader.absolute(audit.path);
  if (policyFile) settings.policyFile = policyFile;
  if (audit.webhook && webhookTarget) {
    const { batchMaxSize, batchMaxWaitSeconds, bufferSize, initialBackoffSeconds } = audit.webhook;
    settings.webhook = { target: webhookTarget, batchMaxSize, batchMaxWaitMs: batchMaxWaitSeconds * 1000, bufferSize, initialBackoffMs: initialBackoffSeconds * 1000 };
  }
  return settings;
}

async function readAuditPolicy(path: string, reader: FileReader): Promise<AuditSettings['policyFile']> {
  const file = await reader.read(path, ['audit', 'policyFile']);
  if (!file) return undefined;
  try {
    return { path: file.path, policy: parseAuditPolicy(file.content) };
  } catch (error) {
    if (!(error instanceof AuditPolicyError)) throw error;
    reader.problems.add(['audit', 'policyFile'], `${file.path}: ${error.message}`);
    return undefined;
  }
}

async function readWebhookKubeconfig(path: string, reader: FileReader): Promise<UpstreamTarget | undefined> {
  try {
    return (await loadKubeconfigUpstream(reader.absolute(path))).target;
  } catch (error) {
    if (!(error instanceof KubeconfigError)) throw error;
    reader.problems.add(['audit', 'webhook', 'kubeconfig'], error.message);
    return undefined;
  }
}

/** The order given, or the default (the registry's) order; either way only those configured (their required setting given). */
function effectiveAuthenticators(file: GatewayFile): AuthenticatorName[] {
  const order = file.auth.authenticators ?? AUTHENTICATOR_SETTINGS;
  return order.filter((key) => settingGiven(file, AUTHENTICATORS[key].requires)).map((key) => AUTHENTICATORS[key].name);
}

async function resolveTls(tls: GatewayFile['tls'], reader: FileReader): Promise<GatewayTls | undefined> {
  if (tls?.cert === undefined || tls.key === undefined) return undefined;
  const [cert, key, clientCA] = await Promise.all([
    reader.read(tls.cert, ['tls', 'cert']),
    reader.read(tls.key, ['tls', 'key']),
    tls.clientCA === undefined ? undefined : reader.readCaBundle(tls.clientCA, ['tls', 'clientCA']),
  ]);
  if (!cert || !key) return undefined;
  const problem = certificateAndKeyProblem(cert.content, key.content);
  if (problem) {
    reader.problems.add(['tls', 'cert'], `not a usable PEM certificate with {tls.key} as its key (${problem})`);
    return undefined;
  }
  const resolved: GatewayTls = { cert: cert.content, key: key.content, files: { cert: cert.path, key: key.path } };
  if (clientCA) {
    resolved.clientCA = clientCA.content;
    resolved.files.clientCA = clientCA.path;
  }
  return resolved;
}

/**
 * An upstream: the kubeconfig first (server, CA, TLS server name, credential), then the settings
 * that override it: `server`, `ca`, `insecureSkipTLSVerify`, `tlsServerName`, `credential`.
 */
async function resolveUpstream(entry: UpstreamEntry, at: FieldPath, edge: boolean, reader: FileReader): Promise<ResolvedUpstream | undefined> {
  const files: UpstreamFiles = {};
  let fromKubeconfig: UpstreamTarget | undefined;
  if (entry.kubeconfig !== undefined) {
    files.kubeconfig = reader.absolute(entry.kubeconfig);
    try {
      const loaded = await loadKubeconfigUpstream(files.kubeconfig, entry.context);
      fromKubeconfig = loaded.target;
      Object.assign(files, loaded.files);
    } catch (error) {
      if (!(error instanceof KubeconfigError)) throw error;
      reader.problems.add([...at, 'kubeconfig'], error.message);
    }
  }
  const [ca, credentials] = await Promise.all([
    entry.ca === undefined ? undefined : reader.readCaBundle(entry.ca, [...at, 'ca']),
    entry.credential === undefined ? undefined : resolveCredential(entry.credential, [...at, 'credential'], reader, files),
  ]);
  if (entry.kubeconfig !== undefined && !fromKubeconfig) return undefined;

  const url = entry.server !== undefined ? new URL(entry.server) : fromKubeconfig!.url;
  if (entry.server === undefined && url.protocol === 'http:' && !entry.allowInsecureHTTP) {
    reader.problems.add([...at, 'kubeconfig'], `its server ${url.href} is http: allowed only with {allowInsecureHTTP}: true`);
  }
  const target: ResolvedUpstream = {
    name: entry.name,
    hosts: entry.hosts.map((host) => host.toLowerCase()),
    url,
    insecureSkipTlsVerify: entry.insecureSkipTLSVerify || (fromKubeconfig?.insecureSkipTlsVerify ?? false),
    files,
    streaming: entry.streaming,
  };
  const serverName = entry.tlsServerName ?? fromKubeconfig?.serverName;
  if (serverName !== undefined) target.serverName = serverName;
  if (ca) {
    target.ca = ca.content;
    target.insecureSkipTlsVerify = false;
    files.ca = ca.path;
  } else if (fromKubeconfig?.ca !== undefined && !entry.insecureSkipTLSVerify) {
    target.ca = fromKubeconfig.ca;
  } else {
    delete files.ca;
  }
  // The credential given here replaces the kubeconfig user's as a whole: mixing the two would
  // present one identity's token with another's certificate.
  if (entry.credential !== undefined) {
    for (const key of ['tokenFile', 'clientCert', 'clientKey'] as const) if (entry.credential[key] === undefined) delete files[key];
  }
  const chosen = entry.credential !== undefined ? credentials : fromKubeconfig?.credentials;
  if (chosen && Object.keys(chosen).length > 0) target.credentials = chosen;
  else if (edge && entry.credential === undefined) {
    reader.problems.add([...at, 'kubeconfig'], 'its user has no token, tokenFile or client certificate, and edge mode ({auth.mode}: edge) needs a credential for every upstream (or give {credential})');
  }
  return target;
}

async function resolveCredential(credential: NonNullable<UpstreamEntry['credential']>, at: FieldPath, reader: FileReader, files: UpstreamFiles): Promise<UpstreamCredentials | undefined> {
  const [token, cert, key] = await Promise.all([
    credential.tokenFile === undefined ? undefined : reader.read(credential.tokenFile, [...at, 'tokenFile']),
    credential.clientCert === undefined ? undefined : reader.read(credential.clientCert, [...at, 'clientCert']),
    credential.clientKey === undefined ? undefined : reader.read(credential.clientKey, [...at, 'clientKey']),
  ]);
  const resolved: UpstreamCredentials = {};
  if (token) {
    const bearerToken = token.content.trim();
    if (!bearerToken) reader.problems.add([...at, 'tokenFile'], `${token.path} is empty`);
    resolved.bearerToken = bearerToken;
    files.tokenFile = token.path;
  }
  if (cert && key) {
    const problem = certificateAndKeyProblem(cert.content, key.content);
    if (problem) reader.problems.add([...at, 'clientCert'], `not a usable PEM certificate with {clientKey} as its key (${problem})`);
    resolved.clientCert = cert.content;
    resolved.clientKey = key.content;
    files.clientCert = cert.path;
    files.clientKey = key.path;
  }
  return resolved;
}

/** Reads the files settings name, relative to the config file's folder; a failure is a problem line. */
class FileReader {
  constructor(
    readonly problems: Problems,
    private readonly baseDir: string,
  ) {}

  absolute(path: string): string {
    return resolve(this.baseDir, path);
  }

  async read(path: string, at: FieldPath): Promise<LoadedFile | undefined> {
    const absolute = this.absolute(path);
    try {
      return { path: absolute, content: await readFile(absolute, 'utf8') };
    } catch (error) {
      this.problems.add(at, `cannot read ${absolute}: ${describeFsError(error)}`);
      return undefined;
    }
  }

  /** Parsed by the authenticator's own parser, so check-config and serve refuse the same files. */
  async readTokenFile(path: string, at: FieldPath): Promise<LoadedFile | undefined> {
    const file = await this.read(path, at);
    if (!file) return undefined;
    try {
      parseTokenFile(file.content, file.path);
      return file;
    } catch (error) {
      if (!(error instanceof TokenFileError)) throw error;
      this.problems.add(at, error.message);
      return undefined;
    }
  }

  async readCaBundle(path: string, at: FieldPath): Promise<LoadedFile | undefined> {
    const file = await this.read(path, at);
    const problem = file && caBundleProblem(file.content);
    if (!problem) return file;
    this.problems.add(at, `${file.path} ${problem}`);
    return undefined;
  }
}

/** A file whose new contents the running gateway should pick up, and the setting it feeds. */
export interface ReloadableFile {
  path: string;
  /** `tls.cert`, `upstreams[legacy].ca`, `auth.tokenFile`, … (upstreams by name). */
  setting: string;
}

/** Every file to watch (file-watcher.ts) for rotation: TLS material, CA bundles, token files. */
export function reloadableFiles(config: GatewayConfig): ReloadableFile[] {
  const files: ReloadableFile[] = [];
  const add = (path: string | undefined, setting: string): void => {
    if (path !== undefined) files.push({ path, setting });
  };
  add(config.tls?.files.cert, 'tls.cert');
  add(config.tls?.files.key, 'tls.key');
  add(config.tls?.files.clientCA, 'tls.clientCA');
  for (const upstream of config.upstreams) {
    for (const key of ['ca', 'tokenFile', 'clientCert', 'clientKey'] as const) add(upstream.files[key], `upstreams[${upstream.name}].${key}`);
  }
  add(config.auth.tokenFile?.path, 'auth.tokenFile');
  add(config.auth.oidc?.ca?.path, 'auth.oidc.ca');
  add(config.audit?.policyFile?.path, 'audit.policyFile');
  return files;
}
