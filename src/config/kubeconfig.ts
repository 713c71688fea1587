import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import type { UpstreamCredentials, UpstreamTarget } from '../upstream/target.js';
import { describeFsError } from './errors.js';

export interface KubeconfigSpec {
  /** The API server URL kubectl talks to, e.g. `https://127.0.0.1:8443`. */
  server: string;
  /** PEM of the CA that signed the server's certificate (stored base64 as certificate-authority-data). */
  caPem: string;
  /** Bearer token of the single user. */
  token: string;
  /** Namespace of the context; `default` when absent. */
  namespace?: string;
  /** Name of the cluster, user and context alike; `kube-stream-gateway` when absent. */
  contextName?: string;
}

/** A kubeconfig for one cluster with a bearer token (what the demo and the tests hand to kubectl). */
export function renderKubeconfig(spec: KubeconfigSpec): string {
  const name = spec.contextName ?? 'kube-stream-gateway';
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server: spec.server, 'certificate-authority-data': Buffer.from(spec.caPem).toString('base64') } }],
    users: [{ name, user: { token: spec.token } }],
    contexts: [{ name, context: { cluster: name, user: name, namespace: spec.namespace ?? 'default' } }],
    'current-context': name,
  });
}

/** A kubeconfig that cannot be used; the message names the file, the context and the field. */
export class KubeconfigError extends Error {
  override name = 'KubeconfigError';
}

type Mapping = Record<string, unknown>;

/**
 * Reads server, trust and credentials for the upstream from a kubeconfig, as users already have one
 * for the legacy cluster: the named context, else the current-context. File paths inside it
 * (certificate-authority, client-certificate, client-key, tokenFile) are relative to the
 * kubeconfig's folder, as kubectl reads them; a `…-data` field wins over its file twin, as in
 * client-go. Exec plugins, auth providers, basic auth and proxy-url are refused: not supported yet.
 * @internal Exported for its unit test; the product uses it only here.
 */
export async function loadUpstreamFromKubeconfig(path: string, contextName?: string): Promise<UpstreamTarget> {
  return (await loadKubeconfigUpstream(path, contextName)).target;
}

/** Absolute paths of the files a kubeconfig pointed to (not its `…-data` fields), to watch them. */
export interface KubeconfigFiles {
  ca?: string;
  tokenFile?: string;
  clientCert?: string;
  clientKey?: string;
}

/** What loadUpstreamFromKubeconfig reads, with the files it came from, so that they can be reloaded. */
export async function loadKubeconfigUpstream(path: string, contextName?: string): Promise<{ target: UpstreamTarget; files: KubeconfigFiles }> {
  const files: KubeconfigFiles = {};
  const file = `kubeconfig ${path}`;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new KubeconfigError(`${file}: cannot read: ${describeFsError(error)}`);
  }
  let document: unknown;
  try {
    document = parse(text) ?? {};
  } catch (error) {
    throw new KubeconfigError(`${file}: invalid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (!isMapping(document)) throw new KubeconfigError(`${file}: expected a kubeconfig (a YAML mapping with clusters, users and contexts)`);

  const currentContext = document['current-context'];
  const chosen = contextName ?? (typeof currentContext === 'string' && currentContext ? currentContext : undefined);
  if (!chosen) throw new KubeconfigError(`${file}: current-context: not set, and no context was named (--upstream-context)`);
  const contextLabel = `${file}: context "${chosen}"`;
  const context = findNamed(document, file, 'contexts', 'context', chosen, contextLabel);

  if (typeof context.cluster !== 'string' || !context.cluster) throw new KubeconfigError(`${contextLabel}: cluster: missing`);
  const clusterName = context.cluster;
  const clusterLabel = `${contextLabel}: cluster "${clusterName}"`;
  const cluster = findNamed(document, file, 'clusters', 'cluster', clusterName, clusterLabel);

  let userName: string | undefined;
  if (context.user !== undefined && context.user !== null && context.user !== '') {
    if (typeof context.user !== 'string') throw new KubeconfigError(`${contextLabel}: user: must be a name`);
    userName = context.user;
  }
  const userLabel = `${contextLabel}: user "${userName}"`;
  const user = userName ? findNamed(document, file, 'users', 'user', userName, userLabel) : {};

  const base = dirname(resolve(path));
  const server = cluster.server;
  let url: URL | undefined;
  try {
    url = typeof server === 'string' ? new URL(server) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new KubeconfigError(`${clusterLabel}: server: must be an http(s) URL, got ${JSON.stringify(server ?? null)}`);
  }
  if (cluster['proxy-url'] !== undefined) throw new KubeconfigError(`${clusterLabel}: proxy-url: not supported yet (the gateway connects to the server directly)`);

  const unsupported: Record<string, string> = { exec: 'exec credential plugins', 'auth-provider': 'auth providers', username: 'basic auth', password: 'basic auth' };
  for (const [field, what] of Object.entries(unsupported)) {
    if (user[field] !== undefined) throw new KubeconfigError(`${userLabel}: ${field}: ${what} are not supported yet; use a token, tokenFile or client certificate`);
  }

  const ca = await dataOrFile(cluster, 'certificate-authority-data', 'certificate-authority', base, clusterLabel);
  if (ca !== undefined && !ca.value.includes('-----BEGIN CERTIFICATE-----')) throw new KubeconfigError(`${clusterLabel}: ${ca.field}: not a PEM certificate`);
  const insecure = cluster['insecure-skip-tls-verify'];
  if (insecure !== undefined && typeof insecure !== 'boolean') throw new KubeconfigError(`${clusterLabel}: insecure-skip-tls-verify: must be true or false`);
  if (insecure === true && ca !== undefined) {
    // kubectl refuses this combination too ("specifying a root certificates file with the insecure flag is not allowed").
    throw new KubeconfigError(`${clusterLabel}: insecure-skip-tls-verify: cannot be combined with ${ca.field}`);
  }
  const serverName = cluster['tls-server-name'];
  if (serverName !== undefined && (typeof serverName !== 'string' || !serverName)) throw new KubeconfigError(`${clusterLabel}: tls-server-name: must be a host name`);

  const credentials: UpstreamCredentials = {};
  if (typeof user.token === 'string' && user.token) {
    credentials.bearerToken = user.token;
  } else if (typeof user.tokenFile === 'string' && user.tokenFile) {
    const token = (await readRelative(base, user.tokenFile, `${userLabel}: tokenFile`)).trim();
    if (!token) throw new KubeconfigError(`${userLabel}: tokenFile: ${user.tokenFile} is empty`);
    credentials.bearerToken = token;
    files.tokenFile = resolve(base, user.tokenFile);
  }
  const clientCert = await dataOrFile(user, 'client-certificate-data', 'client-certificate', base, userLabel);
  const clientKey = await dataOrFile(user, 'client-key-data', 'client-key', base, userLabel);
  if (clientCert && !clientKey) throw new KubeconfigError(`${userLabel}: ${clientCert.field}: given without client-key(-data)`);
  if (clientKey && !clientCert) throw new KubeconfigError(`${userLabel}: ${clientKey.field}: given without client-certificate(-data)`);
  if (clientCert && clientKey) {
    credentials.clientCert = clientCert.value;
    credentials.clientKey = clientKey.value;
    if (clientCert.path) files.clientCert = clientCert.path;
    if (clientKey.path) files.clientKey = clientKey.path;
  }
  if (ca?.path) files.ca = ca.path;

  const target: UpstreamTarget = { url, insecureSkipTlsVerify: insecure === true, credentials };
  if (ca !== undefined) target.ca = ca.value;
  if (serverName !== undefined) target.serverName = serverName;
  return { target, files };
}

function isMapping(value: unknown): value is Mapping {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `clusters[name=…].cluster` and the like; `label` names the entry (file, context, …). */
function findNamed(document: Mapping, file: string, listKey: string, entryKey: string, name: string, label: string): Mapping {
  const list = document[listKey] ?? [];
  if (!Array.isArray(list)) throw new KubeconfigError(`${file}: ${listKey}: must be a list`);
  const entry = list.find((item: unknown) => isMapping(item) && item.name === name) as Mapping | undefined;
  if (!entry) throw new KubeconfigError(`${label}: not found in ${listKey}`);
  const value = entry[entryKey] ?? {};
  if (!isMapping(value)) throw new KubeconfigError(`${label}: ${entryKey}: must be a mapping`);
  return value;
}

/** A `…-data` field (base64) or its file twin (a path relative to the kubeconfig); data wins. */
async function dataOrFile(from: Mapping, dataKey: string, fileKey: string, base: string, label: string): Promise<{ value: string; field: string; path?: string } | undefined> {
  const data = from[dataKey];
  if (data !== undefined && data !== null && data !== '') {
    if (typeof data !== 'string' || !/^[A-Za-z0-9+/=\s]+$/.test(data)) throw new KubeconfigError(`${label}: ${dataKey}: must be base64`);
    return { value: Buffer.from(data, 'base64').toString('utf8'), field: dataKey };
  }
  const file = from[fileKey];
  if (file !== undefined && file !== null && file !== '') {
    if (typeof file !== 'string') throw new KubeconfigError(`${label}: ${fileKey}: must be a file path`);
    return { value: await readRelative(base, file, `${label}: ${fileKey}`), field: fileKey, path: resolve(base, file) };
  }
  return undefined;
}

async function readRelative(base: string, file: string, label: string): Promise<string> {
  const path = resolve(base, file);
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new KubeconfigError(`${label}: cannot read ${path}: ${describeFsError(error)}`);
  }
}
