import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority } from '../src/net/certificate-authority.js';

/**
 * The certificates a TLS bench run serves with: one ephemeral CA, one server certificate for
 * 127.0.0.1 shared by the upstream, the gateway and the relay (each is its own process, each does
 * its own handshakes), written to a temporary folder because the gateway and the legacy cluster
 * read them from files, as deployed.
 */
export interface BenchTls {
  caPem: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  dispose(): Promise<void>;
}

export async function createBenchTls(): Promise<BenchTls> {
  const dir = await mkdtemp(join(tmpdir(), 'ksg-bench-tls-'));
  const ca = await createCertificateAuthority('kube-stream-gateway bench CA');
  const server = await ca.issueServerCertificate(['127.0.0.1', 'localhost']);
  const files = { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server-key.pem') };
  await writeFile(files.caFile, ca.caCertPem);
  await writeFile(files.certFile, server.certPem);
  await writeFile(files.keyFile, server.keyPem, { mode: 0o600 });
  return { caPem: ca.caCertPem, ...files, dispose: () => rm(dir, { recursive: true, force: true }) };
}
