// An edge-mode gateway with the web interface on, in front of one embedded legacy cluster, from a
// real configuration file: what the UI tests (API and browser) drive.
import { mkdir, writeFile } from 'node:fs/promises';
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
  await writeFile(join(dir, 'ca.crt'), env.ca.caCertPem);
  await writeFile(join(dir, 'tls.crt'), env.serverTls.cert);
  await writeFile(join(dir, 'tls.key'), env.serverTls.key);
  await writeFile(join(dir, 'gateway.token'), env.clusters[0]!.token);
  await writeFile(join(dir, 'tokens.csv'), [`${UI_USERS.alice},alice,alice-uid,devs`, `${UI_USERS.bob},bob,bob-uid,devs`, `${UI_USERS.root},root,root-uid,"devs,${UI_ADMIN_GROUP}"`].join('\n') + '\n');
  const auditPath = join(dir, 'audit.jsonl');
  const configPath = join(dir, 'gateway.yaml');
  const recordingsDir = options.recording ? join(dir, 'recordings') : undefined;
  if (recordingsDir) await mkdir(recordingsDir, { mode: 0o700 });
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
      ...(recordingsDir ? { recording: { directory: recordingsDir } } : {}),
    }),
  );
  const logs = new LogRecorder();
  const running = await startConfiguredGateway(await loadGatewayConfig({ config: configPath }, {}), createLogger({ destination: logs, level: 'debug' })).catch(async (error: unknown) => {
    await env.close();
    throw error;
  });
  // The gateway first: a cluster closed under running sessions would wait for them.
  t.teardown(async () => {
    await running.close();
    await env.close();
  });
  return {
    env,
    running,
    url: running.gateway.url,
    logs,
    auditPath,
    recordingsDir,
    async kubeconfig(user) {
      const path = join(dir, `${user}.kubeconfig`);
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
