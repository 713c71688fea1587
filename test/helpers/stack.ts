import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createLogger } from '../../src/observability/logger.js';
import { createCertificateAuthority } from '../../src/net/certificate-authority.js';
import { renderKubeconfig } from '../../src/config/kubeconfig.js';
import { startLegacyCluster, type LegacyCluster, type LegacyClusterOptions } from '../../src/legacy-cluster/cluster.js';
import { startGateway, type Gateway, type GatewayOptions } from '../../src/server/gateway.js';
import type { RunningServer } from '../../src/net/running-server.js';
import type { UpstreamTarget } from '../../src/upstream/target.js';
import { LogRecorder, type LogRecord } from './log-recorder.js';

export interface Stack {
  gateway: Gateway;
  cluster: LegacyCluster;
  token: string;
  caPem: string;
  /** The certificate and key both servers use (for 127.0.0.1 and localhost). */
  serverTls: { cert: string; key: string };
  /** kubeconfig pointing at the gateway. */
  kubeconfig: string;
  /** kubeconfig pointing straight at the legacy cluster. */
  directKubeconfig: string;
  gatewayLogs: LogRecorder;
  clusterLogs: LogRecorder;
  /** Session-end lines of the gateway's translators (not of relayed upgrades). */
  sessionEnds(): LogRecord[];
  close(): Promise<void>;
}

export interface StackOptions {
  /** Override the gateway's upstream (e.g. a dead port); the legacy cluster still starts. */
  upstream?: (cluster: RunningServer, caPem: string) => UpstreamTarget;
  gateway?: Partial<GatewayOptions>;
  /** Options of the legacy cluster (e.g. `streaming`). */
  cluster?: Partial<LegacyClusterOptions>;
}

/** A legacy cluster and a gateway in front of it, both on loopback over TLS with one bearer token. */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), 'ksg-stack-'));
  const ca = await createCertificateAuthority();
  const serverCert = await ca.issueServerCertificate(['127.0.0.1', 'localhost']);
  const tls = { cert: serverCert.certPem, key: serverCert.keyPem };
  const token = randomBytes(24).toString('base64url');
  const clusterLogs = new LogRecorder();
  const gatewayLogs = new LogRecorder();
  const cluster = await startLegacyCluster({
    listen: { host: '127.0.0.1', port: 0 },
    token,
    tls,
    logger: createLogger({ destination: clusterLogs, level: 'debug' }),
    ...options.cluster,
  });
  const upstream = options.upstream?.(cluster, ca.caCertPem) ?? {
    url: new URL(cluster.url),
    ca: ca.caCertPem,
    insecureSkipTlsVerify: false,
  };
  const gateway = await startGateway({
    listen: { host: '127.0.0.1', port: 0 },
    tls,
    upstream,
    logger: createLogger({ destination: gatewayLogs, level: 'debug' }),
    ...options.gateway,
  });
  const kubeconfig = join(dir, 'gateway.kubeconfig');
  const directKubeconfig = join(dir, 'direct.kubeconfig');
  await writeFile(kubeconfig, renderKubeconfig({ server: gateway.url, caPem: ca.caCertPem, token }));
  await writeFile(directKubeconfig, renderKubeconfig({ server: cluster.url, caPem: ca.caCertPem, token }));
  return {
    gateway,
    cluster,
    token,
    caPem: ca.caCertPem,
    serverTls: tls,
    kubeconfig,
    directKubeconfig,
    gatewayLogs,
    clusterLogs,
    sessionEnds: () => gatewayLogs.find((record) => record.event === 'session-end' && record.mode !== 'relay'),
    async close() {
      await gateway.close();
      await cluster.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
