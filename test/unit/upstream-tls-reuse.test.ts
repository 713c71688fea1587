// Dials to an upstream share their SecureContext and resume TLS sessions, without giving up what a
// full handshake checks: the server name, a rotated CA bundle, a rotated client certificate.
import t, { type Test } from 'tap';
import https from 'node:https';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { createCertificateAuthority } from '../../src/net/certificate-authority.js';
import { dialSpdyUpgrade } from '../../src/upstream/spdy-dialer.js';
import type { UpstreamTarget } from '../../src/upstream/target.js';
import { UpstreamTlsReuse } from '../../src/upstream/tls-reuse.js';
import { createTestClientCa } from './auth/pki.js';

const ca = await createCertificateAuthority('reuse test CA');
const otherCa = await createCertificateAuthority('another CA');
const serving = await ca.issueServerCertificate(['127.0.0.1', 'a.example']);
const impostor = await otherCa.issueServerCertificate(['127.0.0.1', 'a.example']);
const clientCa = await createTestClientCa('reuse client CA');
const firstClient = await clientCa.issueClientCertificate({ commonName: 'gateway-1' });
const secondClient = await clientCa.issueClientCertificate({ commonName: 'gateway-2' });

interface Seen {
  resumed: boolean;
  clientCommonName?: string;
}

/** An upstream that answers every SPDY upgrade with 101 and records how each connection was made. */
async function upstream(t: Test, certificate = serving, options: https.ServerOptions = {}, port = 0): Promise<{ port: number; seen: Seen[]; server: https.Server }> {
  const seen: Seen[] = [];
  const server = https.createServer({ cert: certificate.certPem, key: certificate.keyPem, requestCert: true, rejectUnauthorized: false, ca: clientCa.caCertPem, ...options });
  server.on('upgrade', (_req, socket) => {
    const tls = socket as TLSSocket;
    const subject = tls.getPeerCertificate().subject as Record<string, string> | undefined;
    seen.push({ resumed: tls.isSessionReused(), ...(subject?.CN ? { clientCommonName: subject.CN } : {}) });
    socket.end('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n');
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, seen, server };
}

/** One upgrade; resolves with whether the client resumed, rejects with the dial error. */
async function dial(target: UpstreamTarget): Promise<boolean> {
  const outcome = await dialSpdyUpgrade(target, { path: '/exec', headers: {}, protocols: ['v4.channel.k8s.io'], timeoutMs: 5_000 });
  if (outcome.kind !== 'upgraded') throw new Error(`refused: ${outcome.statusCode}`);
  const resumed = (outcome.socket as TLSSocket).isSessionReused();
  outcome.socket.destroy();
  return resumed;
}

const targetFor = (port: number, extra: Partial<UpstreamTarget> = {}): UpstreamTarget => ({
  url: new URL(`https://127.0.0.1:${port}`),
  ca: ca.caCertPem,
  insecureSkipTlsVerify: false,
  tlsReuse: new UpstreamTlsReuse(),
  ...extra,
});

for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
  t.test(`${maxVersion}: the second dial resumes the first one's session, with the same SecureContext`, async (t) => {
    const { port, seen } = await upstream(t, serving, { maxVersion });
    const target = targetFor(port);
    const context = target.tlsReuse!.dialOptions(target).options.secureContext;
    t.equal(await dial(target), false, 'the first dial makes a full handshake');
    t.equal(await dial(target), true, 'the second resumes');
    t.equal(await dial(target), true, 'and so does the third (the newest session is kept)');
    t.same(seen.map((s) => s.resumed), [false, true, true], 'the upstream saw the same');
    t.equal(target.tlsReuse!.dialOptions(target).options.secureContext, context, 'one SecureContext for every dial');
  });
}

t.test('without tlsReuse every dial makes a full handshake (the bench direct client stands for a new kubectl each time)', async (t) => {
  const { port } = await upstream(t);
  const { tlsReuse: _none, ...target } = targetFor(port);
  t.equal(await dial(target), false);
  t.equal(await dial(target), false);
});

t.test('a session is never offered to another server name: the name is checked on a full handshake', async (t) => {
  const { port } = await upstream(t);
  const target = targetFor(port, { serverName: 'a.example' });
  t.equal(await dial(target), false);
  t.equal(await dial(target), true);
  // Same address, CA and cache: only the name differs, and the certificate does not carry it.
  // Node skips the host-name check on a resumed session, so resuming would let this dial through.
  await t.rejects(dial({ ...target, serverName: 'b.example' }), /ERR_TLS_CERT_ALTNAME_INVALID|does not match/);
});

t.test('another server at the same address must pass verification: a cached session does not vouch for it', async (t) => {
  const first = await upstream(t);
  const target = targetFor(first.port);
  t.equal(await dial(target), false);
  t.equal(await dial(target), true);
  first.server.closeAllConnections();
  first.server.close();
  await once(first.server, 'close');
  await upstream(t, impostor, {}, first.port);
  await t.rejects(dial(target), /self.signed|unable to verify|certificate/i, 'the impostor fails verification');
  // The session that failed is dropped: the next dial to the real server makes a full handshake.
  t.equal(target.tlsReuse!.dialOptions(target).options.session, undefined);
});

t.test('a reloaded CA bundle takes effect on the next dial, not after the cached session', async (t) => {
  const { port } = await upstream(t);
  const target = targetFor(port);
  t.equal(await dial(target), false);
  t.equal(await dial(target), true);
  target.ca = otherCa.caCertPem; // what a config reload does
  await t.rejects(dial(target), /self.signed|unable to verify|certificate/i);
  target.ca = ca.caCertPem;
  t.equal(await dial(target), true, 'the first CA again: its session is still good');
});

t.test('a rotated client certificate is presented on the next dial', async (t) => {
  const { port, seen } = await upstream(t);
  const target = targetFor(port, { credentials: { clientCert: firstClient.certPem, clientKey: firstClient.keyPem } });
  await dial(target);
  t.equal(await dial(target), true);
  target.credentials = { clientCert: secondClient.certPem, clientKey: secondClient.keyPem }; // what a config reload does
  t.equal(await dial(target), false, 'a full handshake with the new certificate');
  t.equal(await dial(target), true, 'then its own sessions');
  t.same(seen.map((s) => s.clientCommonName), ['gateway-1', 'gateway-1', 'gateway-2', 'gateway-2']);
});

t.test('a dial without the client certificate never resumes a session made with it', async (t) => {
  const { port, seen } = await upstream(t);
  const target = targetFor(port, { credentials: { clientCert: firstClient.certPem, clientKey: firstClient.keyPem } });
  await dial(target);
  // Passthrough strips the gateway's own credential; the stripped target shares the cache.
  const { credentials: _own, ...anonymous } = target;
  t.equal(await dial(anonymous), false);
  t.same(seen.map((s) => s.clientCommonName), ['gateway-1', undefined]);
});

t.test('TLS 1.2 makes the session before the certificate is judged: a failed verification keeps none', async (t) => {
  const { port } = await upstream(t, impostor, { maxVersion: 'TLSv1.2' });
  const target = targetFor(port);
  await t.rejects(dial(target), /self.signed|unable to verify|certificate/i);
  t.equal(target.tlsReuse!.dialOptions(target).options.session, undefined, 'nothing to offer the next dial');
});
