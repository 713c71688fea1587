import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import type { UpstreamCredentials, UpstreamTarget } from '../upstream/target.js';

export interface KubeconfigSpec {
  server: string;
  caPem: string;
  token: string;
  namespace?: string;
  contextName?: string;
}

/** A kubeconfig for one cluster with a bearer token (what the demo hands to kubectl). */
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

export class KubeconfigError extends Error {
  override name = 'KubeconfigError';
}

interface NamedEntry<T> {
  name?: string;
  [key: string]: unknown;
  value?: T;
}

/**
 * Reads server, trust and credentials for the upstream from a kubeconfig, as users already have one
 * for the legacy cluster. Paths inside it are relative to the kubeconfig's folder, as kubectl reads them.
 */
export async function loadUpstreamFromKubeconfig(path: string, contextName?: string): Promise<UpstreamTarget> {
  let document: Record<string, unknown>;
  try {
    document = (parse(await readFile(path, 'utf8')) ?? {}) as Record<string, unknown>;
  } catch (error) {
    throw new KubeconfigError(`kubeconfig ${path}: ${(error as Error).message}`);
  }
  const where = `kubeconfig ${path}`;
  const chosen = contextName ?? (document['current-context'] as string | undefined);
  if (!chosen) throw new KubeconfigError(`${where}: no current-context and no context named`);
  const context = findNamed(document.contexts, 'context', chosen, `${where}: context "${chosen}"`);
  const clusterName = String(context.cluster ?? '');
  const cluster = findNamed(document.clusters, 'cluster', clusterName, `${where}: cluster "${clusterName}" of context "${chosen}"`);
  const userName = context.user === undefined ? undefined : String(context.user);
  const user = userName ? findNamed(document.users, 'user', userName, `${where}: user "${userName}" of context "${chosen}"`) : {};

  const base = dirname(resolve(path));
  const fileOrData = async (dataKey: string, fileKey: string, from: Record<string, unknown>, label: string): Promise<string | undefined> => {
    if (typeof from[dataKey] === 'string') return Buffer.from(from[dataKey] as string, 'base64').toString('utf8');
    if (typeof from[fileKey] === 'string') {
      const file = resolve(base, from[fileKey] as string);
      try {
        return await readFile(file, 'utf8');
      } catch (error) {
        throw new KubeconfigError(`${where}: ${label}.${fileKey}: ${(error as Error).message}`);
      }
    }
    return undefined;
  };

  let url: URL;
  try {
    url = new URL(String(cluster.server ?? ''));
  } catch {
    throw new KubeconfigError(`${where}: cluster "${clusterName}": server must be an http(s) URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new KubeconfigError(`${where}: cluster "${clusterName}": server must be an http(s) URL`);
  if (user.exec || user['auth-provider']) {
    throw new KubeconfigError(`${where}: user "${userName}": exec and auth-provider credentials are not supported; use a token or a client certificate`);
  }

  const credentials: UpstreamCredentials = {};
  const token = typeof user.token === 'string' ? user.token : typeof user.tokenFile === 'string' ? (await readFile(resolve(base, user.tokenFile), 'utf8')).trim() : undefined;
  if (token) credentials.bearerToken = token;
  const clientCert = await fileOrData('client-certificate-data', 'client-certificate', user, `user "${userName}"`);
  const clientKey = await fileOrData('client-key-data', 'client-key', user, `user "${userName}"`);
  if (clientCert) credentials.clientCert = clientCert;
  if (clientKey) credentials.clientKey = clientKey;

  const target: UpstreamTarget = {
    url,
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    credentials,
  };
  const ca = await fileOrData('certificate-authority-data', 'certificate-authority', cluster, `cluster "${clusterName}"`);
  if (ca) target.ca = ca;
  if (typeof cluster['tls-server-name'] === 'string') target.serverName = cluster['tls-server-name'];
  return target;
}

function findNamed(list: unknown, key: string, name: string, label: string): Record<string, unknown> {
  const entry = Array.isArray(list) ? (list as NamedEntry<unknown>[]).find((item) => item?.name === name) : undefined;
  const value = entry?.[key];
  if (!value || typeof value !== 'object') throw new KubeconfigError(`${label} not found`);
  return value as Record<string, unknown>;
}
