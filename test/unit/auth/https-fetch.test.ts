// The issuer fetch: CA bundle trust, status and body passed through, bounded body, abort.
import t from 'tap';
import http from 'node:http';
import https from 'node:https';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createCertificateAuthority } from '../../../src/net/certificate-authority.js';
import { createHttpsFetch } from '../../../src/auth/https-fetch.js';

const ca = await createCertificateAuthority('fetch test CA');
const cert = await ca.issueServerCertificate(['127.0.0.1']);
const handler: http.RequestListener = (req, res) => {
  if (req.url === '/big') res.end(Buffer.alloc(4096, 'x'));
  else if (req.url === '/empty') {
    res.statusCode = 204;
    res.end();
  } else if (req.url === '/hang') res.flushHeaders();
  else res.end(JSON.stringify({ accept: req.headers.accept }));
};
const secure = https.createServer({ cert: cert.certPem, key: cert.keyPem }, handler);
const plain = http.createServer(handler);
secure.listen(0, '127.0.0.1');
plain.listen(0, '127.0.0.1');
await Promise.all([once(secure, 'listening'), once(plain, 'listening')]);
const base = `https://127.0.0.1:${(secure.address() as AddressInfo).port}`;
t.teardown(() => {
  for (const s of [secure, plain]) {
    s.closeAllConnections();
    s.close();
  }
});

t.test('trusts the given CA; headers sent, JSON returned', async (t) => {
  const fetch = createHttpsFetch({ caPem: ca.caCertPem, maxBodyBytes: 1024 });
  const response = await fetch(`${base}/x`, { headers: { accept: 'application/json' } });
  t.equal(response.status, 200);
  t.same(await response.json(), { accept: 'application/json' });
  t.equal((await fetch(`${base}/empty`)).status, 204);
  const viaHttp = await fetch(`http://127.0.0.1:${(plain.address() as AddressInfo).port}/x`);
  t.equal(viaHttp.status, 200);
});

t.test('refuses an untrusted server, an oversized body, and stops when aborted', async (t) => {
  await t.rejects(createHttpsFetch()(`${base}/x`), /self-signed|unable to verify|certificate/i);
  await t.rejects(createHttpsFetch({ caPem: ca.caCertPem, maxBodyBytes: 1024 })(`${base}/big`), /larger than 1024 bytes/);
  await t.rejects(createHttpsFetch({ caPem: ca.caCertPem })(`${base}/hang`, { signal: AbortSignal.timeout(50) }), /abort|timeout/i);
});
