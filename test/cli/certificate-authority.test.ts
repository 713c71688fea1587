// The demo's ephemeral certificate authority: what it issues is trusted by Node's TLS and by kubectl
// (Go's crypto/x509 is strict about CA and leaf extensions) given the CA, and by nobody without it.
import t, { type Test } from 'tap';
import https from 'node:https';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority, type IssuedCertificate } from '../../src/net/certificate-authority.js';
import { renderKubeconfig } from '../../src/config/kubeconfig.js';
import { runKubectl } from '../helpers/run-kubectl.js';

const VERSION = { major: '1', minor: '28', gitVersion: 'v1.28.15', platform: 'linux/amd64' };

/** An HTTPS server with this certificate that answers /version as an API server does. */
async function serve(t: Test, issued: IssuedCertificate, host = '127.0.0.1'): Promise<number> {
  const server = https.createServer({ cert: issued.certPem, key: issued.keyPem }, (req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(new URL(req.url ?? '/', 'https://x').pathname === '/version' ? VERSION : {}));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

/** GET /version; resolves with the status code or rejects with the TLS error code. */
function get(options: https.RequestOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = https.get({ path: '/version', agent: false, ...options }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', (error: NodeJS.ErrnoException) => reject(new Error(error.code ?? error.message)));
  });
}

t.test('the certificates have what strict verifiers require', async (t) => {
  const ca = await createCertificateAuthority();
  const issued = await ca.issueServerCertificate(['127.0.0.1', '[::1]', 'localhost', 'LocalHost', '127.0.0.1']);
  const caCert = new X509Certificate(ca.caCertPem);
  const leaf = new X509Certificate(issued.certPem);
  t.equal(caCert.ca, true, 'CA:true');
  t.equal(leaf.ca, false, 'leaf is no CA');
  t.ok(leaf.checkIssued(caCert), 'issued by the CA');
  t.ok(leaf.verify(caCert.publicKey), 'signed by the CA key');
  t.equal(leaf.subjectAltName, 'IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:localhost', 'IP SANs for addresses, DNS SANs for names, no duplicates');
  t.same(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'extended key usage: serverAuth');
  const now = Date.now();
  t.ok(Date.parse(leaf.validFrom) <= now - 4 * 60_000, 'backdated for clock skew');
  t.ok(Date.parse(leaf.validTo) > now + 6 * 24 * 3600_000 && Date.parse(leaf.validTo) < now + 8 * 24 * 3600_000, 'about 7 days');
  t.match(issued.keyPem, /^-----BEGIN PRIVATE KEY-----\n/, 'PKCS#8 PEM');
  t.not(caCert.serialNumber, leaf.serialNumber);
  await t.rejects(ca.issueServerCertificate([]), /at least one host/);
});

t.test('Node trusts an issued certificate given the CA, for each SAN, and only then', async (t) => {
  const ca = await createCertificateAuthority();
  const other = await createCertificateAuthority();
  const issued = await ca.issueServerCertificate(['127.0.0.1', '::1', 'localhost']);
  const port = await serve(t, issued);
  t.equal(await get({ host: '127.0.0.1', port, ca: ca.caCertPem }), 200, 'by IP address');
  t.equal(await get({ host: '127.0.0.1', port, ca: ca.caCertPem, servername: 'localhost' }), 200, 'by DNS name');
  await t.rejects(get({ host: '127.0.0.1', port }), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED/, 'not without the CA');
  await t.rejects(get({ host: '127.0.0.1', port, ca: other.caCertPem }), /UNABLE_TO_VERIFY_LEAF_SIGNATURE/, 'not with another CA');
  await t.rejects(get({ host: '127.0.0.1', port, ca: ca.caCertPem, servername: 'example.com' }), /ERR_TLS_CERT_ALTNAME_INVALID/, 'not for a name outside the SANs');
  const port6 = await serve(t, issued, '::1');
  t.equal(await get({ host: '::1', port: port6, ca: ca.caCertPem }), 200, 'by IPv6 address');
});

t.test('kubectl 1.33 (Go crypto/x509) trusts it through certificate-authority-data, and rejects another CA', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ksg-ca-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = await createCertificateAuthority();
  const other = await createCertificateAuthority();
  const port = await serve(t, await ca.issueServerCertificate(['127.0.0.1', 'localhost']));
  for (const host of ['127.0.0.1', 'localhost']) {
    const kubeconfig = join(dir, `${host}.kubeconfig`);
    await writeFile(kubeconfig, renderKubeconfig({ server: `https://${host}:${port}`, caPem: ca.caCertPem, token: 'unused' }));
    const result = await runKubectl(33, ['version', '-o', 'json'], { kubeconfig });
    t.equal(result.code, 0, `${host}: kubectl version exits 0`, { stderr: result.stderr });
    t.match(JSON.parse(result.stdout.toString()), { serverVersion: { gitVersion: 'v1.28.15' } }, `${host}: the server answered over verified TLS`);
  }
  const untrusted = join(dir, 'other.kubeconfig');
  await writeFile(untrusted, renderKubeconfig({ server: `https://127.0.0.1:${port}`, caPem: other.caCertPem, token: 'unused' }));
  const refused = await runKubectl(33, ['version', '-o', 'json'], { kubeconfig: untrusted });
  t.not(refused.code, 0);
  t.match(refused.stderr, /x509: certificate signed by unknown authority/);
});
