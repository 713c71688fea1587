import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createLogger } from '../../src/observability/logger.js';
import { createCertificateAuthority, type CertificateAuthority } from '../../src/net/certificate-authority.js';
import { renderKubeconfig } from '../../src/config/kubeconfig.js';
import { startLegacyCluster, type LegacyCluster, type LegacyClusterOptions } from '../../src/legacy-cluster/cluster.js';
import type { ServerTls } from '../../src/net/running-server.js';
import type { UpstreamTarget } from '../../src/upstream/target.js';
import { LogRecorder } from './log-recorder.js';

interface TestCluster {
  name: string;
  cluster: LegacyCluster;
  /** The cluster's privileged token. */
  token: string;
  logs: LogRecorder;
  /** How the gateway reaches it (trusting the shared CA, no credential). */
  target: UpstreamTarget;
}

export interface TestClusters {
  ca: CertificateAuthority;
  /** Certificate and key for 127.0.0.1 and localhost, for the gateway's listener. */
  serverTls: ServerTls;
  clusters: TestCluster[];
  dir: string;
  /** Writes a kubeconfig for `server` with this token, trusting the shared CA. */
  kubeconfig(name: string, server: string, token: string): Promise<string>;
  close(): Promise<void>;
}

/** Several legacy clusters on loopback over TLS, each with its own token and log, one CA for all. */
export async function startTestClusters(names: string[], extra: Partial<LegacyClusterOptions> = {}): Promise<TestClusters> {
  const dir = await mkdtemp(join(tmpdir(), 'ksg-clusters-'));
  const ca = await createCertificateAuthority();
  const serverCert = await ca.issueServerCertificate(['127.0.0.1', 'localhost']);
  const serverTls = { cert: serverCert.certPem, key: serverCert.keyPem };
  const clusters: TestCluster[] = [];
  for (const name of names) {
    const token = randomBytes(24).toString('base64url');
    const logs = new LogRecorder();
    const cluster = await startLegacyCluster({ listen: { host: '127.0.0.1', port: 0 }, token, tls: serverTls, logger: createLogger({ destination: logs, level: 'debug' }), ...extra });
    clusters.push({ name, cluster, token, logs, target: { url: new URL(cluster.url), ca: ca.caCertPem, insecureSkipTlsVerify: false } });
  }
  return {
    ca,
    serverTls,
    clusters,
    dir,
    async kubeconfig(name, server, token) {
      const path = join(dir, `${name}.kubeconfig`);
      await writeFile(path, renderKubeconfig({ server, caPem: ca.caCertPem, token }));
      return path;
    },
    async close() {
      for (const { cluster } of clusters) await cluster.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
