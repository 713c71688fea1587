// Edge mode seen from the cluster's side: an upstream that records every request it receives, so a
// test can say exactly which identity headers arrived, and that a refusal was the gateway's own
// (no request reached the cluster) rather than the cluster's.
import t, { type Test } from 'tap';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority } from '../../src/net/certificate-authority.js';
import { rawExchange } from '../helpers/raw-exchange.js';
import { connect } from '../helpers/ws-client.js';
import { edgeConfig, startEdgeGateway, upstreamEntry, writeEdgeFiles } from '../helpers/edge-gateway.js';

const CAROL = 'carol-token-0123456789';
const VIEWER = 'viewer-token-0123456789';
const ALICE = 'alice-token-0123456789';
const GATEWAY_TOKEN = 'gateway-token-0123456789';
const SAR_PATH = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

interface Received {
  method: string;
  url: string;
  /** [name lower-cased, value] in the order they arrived; repeats kept. */
  headers: Array<[string, string]>;
  rawNames: string[];
  body: string;
}

let dir: string;
let caPem: string;
let tls: { cert: string; key: string };
const received: Received[] = [];
let upstream: https.Server;

t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ksg-upstream-view-'));
  const ca = await createCertificateAuthority();
  const cert = await ca.issueServerCertificate(['127.0.0.1', 'localhost']);
  caPem = ca.caCertPem;
  tls = { cert: cert.certPem, key: cert.keyPem };
  upstream = https.createServer(tls, (req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      // The gateway's own reachability probe (/healthz, on its own timer) is not a caller's request.
      if (req.url === '/healthz') {
        res.end('ok');
        return;
      }
      received.push(record(req, body));
      if (req.url === SAR_PATH) {
        // The cluster's answer to the gateway's SubjectAccessReview: everyone but viewer may.
        const review = JSON.parse(body) as { spec: { user: string } };
        const allowed = review.spec.user !== 'viewer';
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', status: { allowed, ...(allowed ? {} : { reason: 'viewer may only get' }) } }));
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ kind: 'Pod', apiVersion: 'v1', metadata: { name: 'demo', namespace: 'default' } }));
    });
  });
  // Upgrades are recorded and refused: what arrived is all these tests look at.
  upstream.on('upgrade', (req, socket) => {
    received.push(record(req, ''));
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  await writeEdgeFiles(dir, { upstreamCa: caPem, tls, gatewayToken: GATEWAY_TOKEN, tokens: [`${CAROL},carol,carol-uid,admins`, `${VIEWER},viewer,viewer-uid`, `${ALICE},alice,alice-uid,devs`] });
});
t.teardown(async () => {
  upstream.close();
  await rm(dir, { recursive: true, force: true });
});

function record(req: IncomingMessage, body: string): Received {
  const headers: Array<[string, string]> = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i]!.toLowerCase(), req.rawHeaders[i + 1]!]);
  const rawNames = req.rawHeaders.filter((_, i) => i % 2 === 0);
  return { method: req.method ?? '', url: req.url ?? '', headers, rawNames, body };
}

/** An edge-mode gateway in front of the recording upstream; only carol may impersonate. */
async function edgeGateway(t: Test, name: string, authorization: Record<string, unknown>): Promise<{ port: number; url: string }> {
  const port = (upstream.address() as AddressInfo).port;
  const config = edgeConfig([upstreamEntry('recording', `https://127.0.0.1:${port}`)], { auth: { impersonation: [{ users: ['carol'] }], authorization } });
  const running = await startEdgeGateway(dir, name, config);
  t.teardown(() => running.close());
  return { port: running.gateway.port, url: running.gateway.url };
}

const identityHeaders = (request: Received): Array<[string, string]> =>
  request.headers.filter(([name]) => /^(authorization|impersonate-.*|x-remote-.*)$/.test(name));

t.test('an allowed impersonator with odd Impersonate-* headers: exactly what the cluster received', async (t) => {
  const gw = await edgeGateway(t, 'impersonation', { mode: 'none' });
  const before = received.length;
  const answer = await rawExchange(
    { gateway: { port: gw.port }, caPem },
    'GET /api/v1/namespaces/default/pods/demo HTTP/1.1\r\nHost: localhost\r\n' +
      `Authorization: Bearer ${CAROL}\r\n` +
      'Impersonate-User: alice\r\n' +
      'Impersonate-Uid: alice-uid\r\n' +
      'Impersonate-Group: devs\r\n' +
      'impersonate-group: qa\r\n' + // the same header in another case: a repeat
      'Impersonate-Group: system:authenticated\r\n' + // added by the cluster itself: not sent
      'Impersonate-Extra-Scopes: view\r\n' +
      'IMPERSONATE-EXTRA-SCOPES: edit\r\n' +
      'Impersonate-Extra-Example.com%2Fteam: blue\r\n' + // a percent-encoded key
      'X-Remote-User: admin\r\nX-Remote-Group: system:masters\r\n' + // request-header identity: never passed on
      'Connection: close\r\n\r\n',
  );
  t.match(answer, /^HTTP\/1\.1 200 /);
  const requests = received.slice(before);
  t.equal(requests.length, 1, 'one request reached the cluster');
  t.same(identityHeaders(requests[0]!), [
    ['authorization', `Bearer ${GATEWAY_TOKEN}`],
    ['impersonate-user', 'alice'],
    ['impersonate-uid', 'alice-uid'],
    ['impersonate-group', 'devs'],
    ['impersonate-group', 'qa'],
    ['impersonate-extra-scopes', 'view'],
    ['impersonate-extra-scopes', 'edit'],
    ['impersonate-extra-example.com%2fteam', 'blue'],
    // The gateway's own key, written after the client's headers: the real client address (docs/auth.md).
    ['impersonate-extra-remote-client-ip', '127.0.0.1'],
  ]);
  t.ok(requests[0]!.rawNames.includes('impersonate-extra-example.com%2Fteam'), "the key escaped as client-go's headerKeyEscape does");
});

t.test('an unknown Impersonate-* header or a second Impersonate-User: refused by the gateway, nothing sent upstream', async (t) => {
  const gw = await edgeGateway(t, 'impersonation-invalid', { mode: 'none' });
  for (const odd of ['Impersonate-Foo: bar', 'Impersonate-User: mallory']) {
    const before = received.length;
    const answer = await rawExchange(
      { gateway: { port: gw.port }, caPem },
      `GET /api/v1/namespaces/default/pods/demo HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${CAROL}\r\nImpersonate-User: alice\r\n${odd}\r\nConnection: close\r\n\r\n`,
    );
    t.match(answer, /^HTTP\/1\.1 4\d\d /, odd);
    t.equal(received.length, before, `${odd}: no request reached the cluster`);
  }
});

t.test('SubjectAccessReview mode: the gateway itself refuses; the cluster got the review and no exec', async (t) => {
  const gw = await edgeGateway(t, 'sar', { mode: 'subjectAccessReview' });
  const exec = '/api/v1/namespaces/default/pods/demo/exec?command=true&stdout=true';
  const before = received.length;
  const refused = await connect({ gateway: gw, caPem, token: VIEWER }, exec, ['v5.channel.k8s.io']);
  t.match(refused, { kind: 'refused', statusCode: 403 });
  if (refused.kind === 'refused') t.match(JSON.parse(refused.body), { kind: 'Status', code: 403, reason: 'Forbidden' });
  const requests = received.slice(before);
  t.same(requests.map((r) => `${r.method} ${r.url}`), [`POST ${SAR_PATH}`], 'only the review reached the cluster: the refusal was the gateway’s');
  t.match(JSON.parse(requests[0]!.body), { spec: { user: 'viewer', resourceAttributes: { verb: 'create', resource: 'pods', subresource: 'exec', name: 'demo' } } });

  // An allowed caller's upgrade does reach the cluster (the recording upstream refuses it there).
  const next = received.length;
  await connect({ gateway: gw, caPem, token: ALICE }, exec, ['v5.channel.k8s.io']);
  t.same(received.slice(next).map((r) => r.url.split('?')[0]), [SAR_PATH, '/api/v1/namespaces/default/pods/demo/exec'], 'review, then the upgrade');
});
