// Dials of their own (upgrades, one-off calls) share one agent per scheme instead of building one
// per dial, and still behave as `agent: false` did: a connection per request, closed after a plain
// answer, and no TLS session but the one tls-reuse offers.
import t, { type Test } from 'tap';
import http from 'node:http';
import https from 'node:https';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { createCertificateAuthority } from '../../src/net/certificate-authority.js';
import { postJson } from '../../src/upstream/api-client.js';
import { dialUpstream } from '../../src/upstream/request-options.js';
import type { UpstreamTarget } from '../../src/upstream/target.js';
import { UpstreamTlsReuse } from '../../src/upstream/tls-reuse.js';

const ca = await createCertificateAuthority('dial agent test CA');
const serving = await ca.issueServerCertificate(['127.0.0.1']);

interface Upstream {
  port: number;
  /** Every connection the upstream accepted, in order, with whether it resumed and whether it has closed. */
  connections: Array<{ resumed: boolean; closed: Promise<void> }>;
}

/** Answers every request with a small JSON body and records its connections. */
async function upstream(t: Test, secure: boolean): Promise<Upstream> {
  const connections: Upstream['connections'] = [];
  const answer = (_req: http.IncomingMessage, res: http.ServerResponse): void => void res.end('{"ok":true}');
  const server = secure ? https.createServer({ cert: serving.certPem, key: serving.keyPem }, answer) : http.createServer(answer);
  server.on(secure ? 'secureConnection' : 'connection', (socket: Socket) => {
    connections.push({ resumed: secure && (socket as TLSSocket).isSessionReused(), closed: once(socket, 'close').then(() => undefined) });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, connections };
}

const targetFor = (port: number, secure: boolean, extra: Partial<UpstreamTarget> = {}): UpstreamTarget => ({
  url: new URL(`${secure ? 'https' : 'http'}://127.0.0.1:${port}`),
  insecureSkipTlsVerify: false,
  ...(secure ? { ca: ca.caCertPem } : {}),
  ...extra,
});

for (const secure of [true, false]) {
  t.test(`${secure ? 'https' : 'http'}: one agent for every dial, a connection of its own per request, closed after the answer`, async (t) => {
    const { port, connections } = await upstream(t, secure);
    const target = targetFor(port, secure, secure ? { tlsReuse: new UpstreamTlsReuse() } : {});
    const first = dialUpstream(target, { method: 'GET', path: '/a' });
    const second = dialUpstream(target, { method: 'GET', path: '/b' });
    // `agent` is Node's documented ClientRequest field, missing from @types/node.
    const agentOf = (request: http.ClientRequest): unknown => (request as http.ClientRequest & { agent?: http.Agent }).agent;
    t.ok(agentOf(first), 'an agent');
    t.equal(agentOf(first), agentOf(second), 'the same agent for both dials');
    for (const request of [first, second]) {
      request.on('error', () => undefined);
      request.destroy();
    }

    t.same(await postJson(target, '/one', {}), { status: 200, body: { ok: true } });
    t.same(await postJson(target, '/two', {}), { status: 200, body: { ok: true } });
    const answered = connections.slice(-2);
    t.equal(answered.length, 2, 'two calls, two connections: nothing pooled');
    await Promise.all(answered.map((connection) => connection.closed));
    t.pass('both connections closed after their answer');
  });
}

t.test('the shared agent offers no session of its own: without tlsReuse every dial makes a full handshake', async (t) => {
  const { port, connections } = await upstream(t, true);
  const target = targetFor(port, true);
  await postJson(target, '/one', {});
  await postJson(target, '/two', {});
  await postJson(target, '/three', {});
  t.same(connections.map((connection) => connection.resumed), [false, false, false]);
});

t.test('with tlsReuse the session is offered and resumed, once set on the new connection', async (t) => {
  const { port, connections } = await upstream(t, true);
  const target = targetFor(port, true, { tlsReuse: new UpstreamTlsReuse() });
  await postJson(target, '/one', {});
  await postJson(target, '/two', {});
  t.same(connections.map((connection) => connection.resumed), [false, true]);
});
