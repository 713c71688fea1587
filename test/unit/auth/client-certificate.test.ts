// mTLS client certificates through a real TLS listener: good, unknown CA, expired, wrong EKU, several O.
import t from 'tap';
import https from 'node:https';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createCertificateAuthority } from '../../../src/net/certificate-authority.js';
import { extractCredentials } from '../../../src/auth/credentials.js';
import { createClientCertificateAuthenticator } from '../../../src/auth/client-certificate.js';
import type { AuthenticationResult } from '../../../src/auth/identity.js';
import { createTestClientCa } from './pki.js';

const serverCa = await createCertificateAuthority('test server CA');
const serverCert = await serverCa.issueServerCertificate(['127.0.0.1']);
const clientCa = await createTestClientCa('trusted client CA');
const strangerCa = await createTestClientCa('unknown client CA');
const authenticator = createClientCertificateAuthenticator();

const server = https.createServer(
  { cert: serverCert.certPem, key: serverCert.keyPem, ca: clientCa.caCertPem, requestCert: true, rejectUnauthorized: false },
  (req, res) => {
    const extraction = extractCredentials(req);
    if (!extraction.ok) throw new Error(extraction.reason);
    void authenticator.authenticate(extraction.credentials).then((result) => res.end(JSON.stringify(result)));
  },
);
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const port = (server.address() as AddressInfo).port;
t.teardown(() => {
  server.closeAllConnections();
  server.close();
});

async function call(client?: { certPem: string; keyPem: string }): Promise<AuthenticationResult> {
  const options: https.RequestOptions = { host: '127.0.0.1', port, path: '/', ca: serverCa.caCertPem, agent: false };
  if (client) Object.assign(options, { cert: client.certPem, key: client.keyPem });
  const req = https.request(options);
  req.end();
  const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
  let body = '';
  for await (const chunk of res) body += chunk;
  return JSON.parse(body) as AuthenticationResult;
}

t.test('a certificate from the client CA: user from CN, groups from every O', async (t) => {
  const cert = await clientCa.issueClientCertificate({ commonName: 'alice', organizations: ['devs', 'ops'] });
  t.same(await call(cert), { outcome: 'authenticated', user: { name: 'alice', groups: ['devs', 'ops'], extra: {} }, by: 'client-certificate' });
});

t.test('no certificate: no credential', async (t) => {
  t.same(await call(), { outcome: 'no-credential' });
});

t.test('a certificate from an unknown CA is rejected with the reason', async (t) => {
  const cert = await strangerCa.issueClientCertificate({ commonName: 'mallory', organizations: ['system:masters'] });
  const result = await call(cert);
  t.equal(result.outcome, 'rejected');
  t.match((result as { reason: string }).reason, /not signed by a trusted client CA/);
});

t.test('an expired certificate is rejected', async (t) => {
  const cert = await clientCa.issueClientCertificate({
    commonName: 'alice',
    notBefore: new Date(Date.now() - 10 * 3600_000),
    notAfter: new Date(Date.now() - 3600_000),
  });
  const result = await call(cert);
  t.equal(result.outcome, 'rejected');
  t.match((result as { reason: string }).reason, /expired \(CERT_HAS_EXPIRED\)/);
});

t.test('a server-only certificate (EKU serverAuth) is not a client credential', async (t) => {
  const cert = await clientCa.issueClientCertificate({ commonName: 'web', extendedKeyUsages: ['1.3.6.1.5.5.7.3.1'] });
  const result = await call(cert);
  // OpenSSL may already refuse it for the client purpose; either way it must not authenticate.
  t.equal(result.outcome, 'rejected');
});

t.test('a certificate without a CN is rejected', async (t) => {
  const cert = await clientCa.issueClientCertificate({ organizations: ['devs'] });
  t.same(await call(cert), { outcome: 'rejected', reason: 'client certificate: the subject has no common name' });
});

t.test('a certificate that expired while the connection stayed open (clock checked per request)', async (t) => {
  const later = createClientCertificateAuthenticator({ now: () => Date.now() + 2 * 3600_000 });
  const early = createClientCertificateAuthenticator({ now: () => Date.now() - 2 * 3600_000 });
  const cert = {
    authorized: true,
    commonName: 'alice',
    organizations: [],
    validFrom: new Date(Date.now() - 3600_000),
    validTo: new Date(Date.now() + 3600_000),
    fingerprint256: 'AA',
  };
  t.match(await later.authenticate({ clientCertificate: cert }), { outcome: 'rejected', reason: /expired/ });
  t.match(await early.authenticate({ clientCertificate: cert }), { outcome: 'rejected', reason: /not yet valid/ });
  t.match(await later.authenticate({ clientCertificate: { ...cert, authorized: false } }), { outcome: 'rejected', reason: /verification failed \(unverified\)/ });
});
