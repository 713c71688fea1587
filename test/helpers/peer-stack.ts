import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createLogger } from '../../src/observability/logger.js';
import { createCertificateAuthority } from '../../src/net/certificate-authority.js';
import { renderKubeconfig } from '../../src/config/kubeconfig.js';
import { startGateway, type Gateway, type GatewayOptions } from '../../src/server/gateway.js';
import { LogRecorder, type LogRecord } from './log-recorder.js';
import { startPeer, type Peer } from '../../bench/go-peers.js';

export interface PeerStack {
  /** The gateway in front of the legacy peer. */
  gateway: Gateway;
  legacy: Peer;
  /** The modern peer (1.31+ API server code), when asked for. */
  modern?: Peer;
  token: string;
  caPem: string;
  /** kubeconfig pointing at the gateway. */
  kubeconfig: string;
  /** kubeconfigs pointing straight at each peer. */
  legacyKubeconfig: string;
  modernKubeconfig?: string;
  /** The pod's working directory (its processes run there). */
  podDir: string;
  gatewayLogs: LogRecorder;
  sessionEnds(): LogRecord[];
  close(): Promise<void>;
}

export interface PeerStackOptions {
  modern?: boolean;
  refuseSpdy?: boolean;
  gateway?: Partial<GatewayOptions>;
}

/**
 * The gateway in front of the legacy Go peer (and, optionally, the modern peer beside it), all on
 * loopback over TLS with one CA and one bearer token (passthrough: the caller's token goes upstream).
 */
export async function startPeerStack(options: PeerStackOptions = {}): Promise<PeerStack> {
  const dir = await mkdtemp(join(tmpdir(), 'ksg-peer-stack-'));
  const ca = await createCertificateAuthority();
  const serverCert = await ca.issueServerCertificate(['127.0.0.1', 'localhost']);
  const tls = { cert: serverCert.certPem, key: serverCert.keyPem };
  const token = randomBytes(24).toString('base64url');
  const [legacy, modern] = await Promise.all([
    startPeer('legacy', { token, tls, dir }),
    options.modern ? startPeer('modern', { token, tls, dir, refuseSpdy: options.refuseSpdy }) : undefined,
  ]);
  const gatewayLogs = new LogRecorder();
  const gateway = await startGateway({
    listen: { host: '127.0.0.1', port: 0 },
    tls,
    upstream: { url: new URL(legacy.url), ca: ca.caCertPem, insecureSkipTlsVerify: false },
    logger: createLogger({ destination: gatewayLogs, level: 'debug' }),
    ...options.gateway,
  });
  const kubeconfig = join(dir, 'gateway.kubeconfig');
  const legacyKubeconfig = join(dir, 'legacy.kubeconfig');
  await writeFile(kubeconfig, renderKubeconfig({ server: gateway.url, caPem: ca.caCertPem, token }));
  await writeFile(legacyKubeconfig, renderKubeconfig({ server: legacy.url, caPem: ca.caCertPem, token }));
  let modernKubeconfig: string | undefined;
  if (modern) {
    modernKubeconfig = join(dir, 'modern.kubeconfig');
    await writeFile(modernKubeconfig, renderKubeconfig({ server: modern.url, caPem: ca.caCertPem, token }));
  }
  return {
    gateway,
    legacy,
    modern,
    token,
    caPem: ca.caCertPem,
    kubeconfig,
    legacyKubeconfig,
    modernKubeconfig,
    podDir: dir,
    gatewayLogs,
    sessionEnds: () => gatewayLogs.find((record) => record.event === 'session-end' && record.mode !== 'relay'),
    async close() {
      await gateway.close();
      await Promise.all([legacy.close(), modern?.close()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
