// An edge-mode gateway with the web interface on, in front of one embedded legacy cluster, from a
// real configuration file: what the UI tests (API and browser) drive.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Test } from 'tap';
import { stringify } from 'yaml';
import { loadGatewayConfig } from '../../src/config/gateway-config.js';
import { createLogger } from '../../src/observability/logger.js';
import { startConfiguredGateway, type ConfiguredGateway } from '../../src/server/configured-gateway.js';
import { startTestClusters, type TestClusters } from './clusters.js';
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
  /** A kubeconfig for the gateway with one of the users' tokens. */
  kubeconfig(user: keyof typeof UI_USERS): Promise<string>;
}

export async function startUiStack(t: Test, ui: Record<string, unknown> = {}): Promise<UiStack> {
  const env = await startTestClusters(['legacy'], {
    rules: [{ groups: ['devs'], verbs: ['get', 'list', 'create'], resources: ['pods', 'pods/exec', 'pods/attach', 'pods/portforward'] }],
  });
  const dir = env.dir;
  await writeFile(join(dir, 'ca.crt'), env.ca.caCertPem);
  await writeFile(join(dir, 'tls.crt'), env.serverTls.cert);
  await writeFile(join(dir, 'tls.key'), env.serverTls.key);
  await writeFile(join(dir, 'gateway.token'), env.clusters[0]!.token);
  await writeFile(join(dir, 'tokens.csv'), [`${UI_USERS.alice},alice,alice-uid,devs`, `${UI_USERS.bob},bob,bob-uid,devs`, `${UI_USERS.root},root,root-uid,"devs,${UI_ADMIN_GROUP}"`].join('\n') + '\n');
  const auditPath = join(dir, 'audit.jsonl');
  const logs = new LogRecorder();
  const running = await startUiGateway(env, 'gateway', auditPath, logs, ui).catch(async (error: unknown) => {
    await env.close();
    throw error;
  });
  // The gateway first: a cluster closed under running sessions would wait for them.
  t.teardown(async () => {
    await running.close();
    await env.close();
  });
  return uiStack(env, running, logs, auditPath);
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

async function startUiGateway(env: TestClusters, name: string, auditPath: string, logs: LogRecorder, ui: Record<string, unknown>): Promise<ConfiguredGateway> {
  const configPath = join(env.dir, `${name}.yaml`);
  await writeFile(
    configPath,
    stringify({
      listen: '127.0.0.1:0',
      tls: { cert: 'tls.crt', key: 'tls.key' },
      admin: { listen: 'off' },
      upstreams: [{ name: 'legacy', server: env.clusters[0]!.cluster.url, ca: 'ca.crt', credential: { tokenFile: 'gateway.token' } }],
      auth: { mode: 'edge', tokenFile: 'tokens.csv' },
      audit: { path: auditPath },
      limits: { failedAuthPerMinute: 0 },
      ui: { enabled: true, admins: [UI_ADMIN_GROUP], ...ui },
    }),
  );
  return startConfiguredGateway(await loadGatewayConfig({ config: configPath }, {}), createLogger({ destination: logs, level: 'debug' }));
}

function uiStack(env: TestClusters, running: ConfiguredGateway, logs: LogRecorder, auditPath: string): UiStack {
  const dir = env.dir;
  return {
    env,
    running,
    url: running.gateway.url,
    logs,
    auditPath,
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
