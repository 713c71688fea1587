// An edge-mode gateway with the web interface on, in front of one embedded legacy cluster, from a
// real configuration file: what the UI tests (API and browser) drive.
import { mkdir, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { join } from 'node:path';
import type { Test } from 'tap';
import { stringify } from 'yaml';
import type { ConfiguredGateway } from '../../src/server/configured-gateway.js';
import { startTestClusters, type TestClusters } from './clusters.js';
import { edgeConfig, startEdgeGateway, upstreamEntry, writeEdgeFiles } from './edge-gateway.js';
import { LogRecorder } from './log-recorder.js';

/** Token-file users: alice and bob are developers, root is also an interface admin. */
export const UI_USERS = {
  alice: 'alice-token-0123456789abcdef',
  bob: 'bob-token-0123456789abcdef',
  root: 'root-token-0123456789abcdef',
} as const;
const UI_ADMIN_GROUP = 'session-admins';

export interface UiStack {
  env: TestClusters;
  running: ConfiguredGateway;
  url: string;
  logs: LogRecorder;
  auditPath: string;
  /** `recording.directory`, when the stack records sessions. */
  recordingsDir?: string;
  /** A kubeconfig for the gateway with one of the users' tokens. */
  kubeconfig(user: keyof typeof UI_USERS): Promise<string>;
}

export async function startUiStack(t: Test, ui: Record<string, unknown> = {}, options: { recording?: boolean } = {}): Promise<UiStack> {
  const env = await startTestClusters(['legacy'], {
    rules: [{ groups: ['devs'], verbs: ['get', 'list', 'create'], resources: ['pods', 'pods/exec', 'pods/attach', 'pods/portforward'] }],
  });
  const dir = env.dir;
  const tokens = [`${UI_USERS.alice},alice,alice-uid,devs`, `${UI_USERS.bob},bob,bob-uid,devs`, `${UI_USERS.root},root,root-uid,"devs,${UI_ADMIN_GROUP}"`];
  await writeEdgeFiles(dir, { upstreamCa: env.ca.caCertPem, tls: env.serverTls, gatewayToken: env.clusters[0]!.token, tokens });
  const auditPath = join(dir, 'audit.jsonl');
  const recordingsDir = options.recording ? join(dir, 'recordings') : undefined;
  if (recordingsDir) await mkdir(recordingsDir, { mode: 0o700 });
  const logs = new LogRecorder();
  const running = await startUiGateway(env, 'gateway', auditPath, logs, ui, recordingsDir).catch(async (error: unknown) => {
    await env.close();
    throw error;
  });
  // The gateway first: a cluster closed under running sessions would wait for them.
  t.teardown(async () => {
    await running.close();
    await env.close();
  });
  return uiStack(env, running, logs, auditPath, recordingsDir);
}

/** One more gateway replica with the same users and cluster as `stack` (its own config `name`.yaml, audit log and logs). */
export async function startUiReplica(t: Test, stack: UiStack, name: string, ui: Record<string, unknown> = {}): Promise<UiStack> {
  const auditPath = join(stack.env.dir, `${name}-audit.jsonl`);
  const logs = new LogRecorder();
  const running = await startUiGateway(stack.env, name, auditPath, logs, ui);
  // Registered after the first stack's: tap runs teardowns last in, first out, so this replica stops before the cluster.
  t.teardown(() => running.close());
  return uiStack(stack.env, running, logs, auditPath);
}

async function startUiGateway(env: TestClusters, name: string, auditPath: string, logs: LogRecorder, ui: Record<string, unknown>, recordingsDir?: string): Promise<ConfiguredGateway> {
  const config = edgeConfig([upstreamEntry('legacy', env.clusters[0]!.cluster.url)], {
    audit: { path: auditPath },
    ui: { enabled: true, admins: [UI_ADMIN_GROUP], ...ui },
    ...(recordingsDir ? { recording: { directory: recordingsDir } } : {}),
  });
  return startEdgeGateway(env.dir, name, config, logs);
}

function uiStack(env: TestClusters, running: ConfiguredGateway, logs: LogRecorder, auditPath: string, recordingsDir?: string): UiStack {
  const dir = env.dir;
  return {
    env,
    running,
    url: running.gateway.url,
    logs,
    auditPath,
    recordingsDir,
    async kubeconfig(user) {
      const path = join(dir, `${running.gateway.port}-${user}.kubeconfig`);
      await writeFile(
        path,
        stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'gw', cluster: { server: running.gateway.url, 'certificate-authority-data': Buffer.from(env.ca.caCertPem).toString('base64') } }],
          users: [{ name: 'caller', user: { token: UI_USERS[user] } }],
          contexts: [{ name: 'gw', context: { cluster: 'gw', user: 'caller', namespace: 'default' } }],
          'current-context': 'gw',
        }),
      );
      return path;
    },
  };
}

export interface UiAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One HTTPS request to the stack's gateway, the path sent as written (a URL object would resolve dot segments and encodings first). */
export function uiRequest(stack: UiStack, method: string, path: string, headers: Record<string, string> = {}): Promise<UiAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: stack.running.gateway.port, path, method, headers, ca: stack.env.ca.caCertPem, servername: 'localhost' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The headers that sign `user` in with their bearer token, with `extra` beside them. */
export const asUser = (user: keyof typeof UI_USERS, extra: Record<string, string> = {}): Record<string, string> => ({ authorization: `Bearer ${UI_USERS[user]}`, ...extra });
