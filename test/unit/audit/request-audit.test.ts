// Every request the gateway serves is audited (passthrough mode, a plain HTTP upstream on
// 127.0.0.1): the Audit-ID the upstream receives is the event's and never the client's; a watch
// has ResponseStarted when its headers go out and ResponseComplete when it ends; refusals carry the
// code the client got, whoever answered (the upstream, the gateway); passthrough records no user.
import t, { type Test } from 'tap';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { AuditEvent } from '../../../src/observability/audit/events.js';
import { DEFAULT_AUDIT_POLICY, parseAuditPolicy } from '../../../src/observability/audit/policy.js';
import { createLogger } from '../../../src/observability/logger.js';
import { startGateway, type Gateway } from '../../../src/server/gateway.js';
import { RequestAuditor } from '../../../src/observability/audit/request-audit.js';
import { LogRecorder } from '../../helpers/log-recorder.js';
import { until } from '../../helpers/wait.js';

interface Upstream {
  port: number;
  /** The Audit-ID header of each request the upstream received, by path. */
  auditIds: Map<string, string | undefined>;
  /** Open watch responses, to end them from the test. */
  watches: http.ServerResponse[];
}

async function upstream(t: Test): Promise<Upstream> {
  const auditIds = new Map<string, string | undefined>();
  const watches: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    auditIds.set(req.url!.split('?')[0]!, req.headers['audit-id'] as string | undefined);
    // The upstream answers with an Audit-Id of its own, as an old API server that ignores ours does.
    res.setHeader('audit-id', 'upstream-own-id');
    if (req.url?.includes('watch=true')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      watches.push(res);
      return;
    }
    res.writeHead(req.url?.startsWith('/api/v1/namespaces/default/pods/missing') ? 404 : 200, { 'content-type': 'application/json' }).end('{}');
  });
  // A SPDY exec upgrade (kubectl ≤ 1.30, relayed as is): refused, as an API server refuses a caller it does not know.
  server.on('upgrade', (req, socket) => {
    auditIds.set(req.url!.split('?')[0]!, req.headers['audit-id'] as string | undefined);
    socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as AddressInfo).port, auditIds, watches };
}

async function gatewayFor(t: Test, up: Upstream, policy = DEFAULT_AUDIT_POLICY): Promise<{ gateway: Gateway; events: AuditEvent[] }> {
  const events: AuditEvent[] = [];
  const gateway = await startGateway({
    listen: { host: '127.0.0.1', port: 0 },
    upstream: { url: new URL(`http://127.0.0.1:${up.port}`), insecureSkipTlsVerify: false },
    audit: new RequestAuditor({ policy, write: (event) => events.push(event) }),
    logger: createLogger({ destination: new LogRecorder(), level: 'silent' }),
  });
  t.teardown(() => gateway.close());
  return { gateway, events };
}

function get(gateway: Gateway, path: string, headers: http.OutgoingHttpHeaders = {}): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: gateway.port, path, headers, agent: false }, resolve).on('error', reject);
  });
}

/** A raw upgrade request; resolves with the gateway's status line. */
async function upgrade(gateway: Gateway, path: string, headers: string[]): Promise<string> {
  const socket = net.connect(gateway.port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write([`GET ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: Upgrade', ...headers, '', ''].join('\r\n'));
  let answer = '';
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
  await once(socket, 'close');
  return answer.split('\r\n')[0]!;
}

t.test('a plain request: one ResponseComplete with the upstream status; the upstream got its auditID, not the client\'s', async (t) => {
  const up = await upstream(t);
  const { gateway, events } = await gatewayFor(t, up);
  const res = await get(gateway, '/api/v1/namespaces/default/pods/missing', { 'audit-id': 'forged-by-the-client', 'user-agent': 'probe/1' });
  res.resume();
  await once(res, 'end');
  t.equal(res.statusCode, 404);
  await until(() => events.length === 1, 'the event');
  const [event] = events;
  t.match(event, {
    stage: 'ResponseComplete',
    verb: 'get',
    requestURI: '/api/v1/namespaces/default/pods/missing',
    user: {},
    userAgent: 'probe/1',
    objectRef: { resource: 'pods', namespace: 'default', name: 'missing' },
    responseStatus: { code: 404 },
  });
  t.notOk(event!.user.username, 'passthrough: the gateway does not know the caller');
  t.match(event!.auditID, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.equal(up.auditIds.get('/api/v1/namespaces/default/pods/missing'), event!.auditID, 'sent upstream as Audit-ID, the client\'s replaced');
  t.equal(res.headers['audit-id'], 'upstream-own-id', 'the upstream\'s answer passes unchanged');
});

t.test('a non-resource request: the lower-cased method as verb, no objectRef', async (t) => {
  const up = await upstream(t);
  const { gateway, events } = await gatewayFor(t, up);
  (await get(gateway, '/version?x=1')).resume();
  await until(() => events.length === 1, 'the event');
  t.match(events[0], { verb: 'get', requestURI: '/version?x=1', responseStatus: { code: 200 } });
  t.equal(events[0]!.objectRef, undefined);
});

t.test('a watch: ResponseStarted when its headers go out, ResponseComplete when it ends, one auditID', async (t) => {
  const up = await upstream(t);
  const { gateway, events } = await gatewayFor(t, up);
  const res = await get(gateway, '/api/v1/namespaces/default/pods?watch=true');
  await until(() => events.length === 1, 'ResponseStarted');
  t.match(events[0], { stage: 'ResponseStarted', verb: 'watch', responseStatus: { code: 200 } });
  t.equal(up.watches.length, 1, 'the watch is still open');
  res.resume();
  up.watches[0]!.end();
  await until(() => events.length === 2, 'ResponseComplete');
  t.match(events[1], { stage: 'ResponseComplete', auditID: events[0]!.auditID, responseStatus: { code: 200 } });
});

t.test('refused upgrades carry the code the client got: the upstream\'s, or the gateway\'s own', async (t) => {
  const up = await upstream(t);
  const { gateway, events } = await gatewayFor(t, up);
  const exec = '/api/v1/namespaces/default/pods/web/exec?command=sh&stdin=true';
  const spdy = await upgrade(gateway, exec, ['Upgrade: SPDY/3.1', 'X-Stream-Protocol-Version: v4.channel.k8s.io', 'Audit-ID: forged']);
  t.match(spdy, /^HTTP\/1\.1 401 /);
  await until(() => events.length === 1, 'the refused SPDY upgrade');
  t.match(events[0], { stage: 'ResponseComplete', verb: 'create', objectRef: { subresource: 'exec', name: 'web' }, responseStatus: { code: 401 } });
  t.equal(up.auditIds.get('/api/v1/namespaces/default/pods/web/exec'), events[0]!.auditID, 'relayed upgrades carry it too');

  const crossSite = await upgrade(gateway, exec, ['Upgrade: websocket', 'Origin: https://evil.example', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Protocol: v5.channel.k8s.io']);
  t.match(crossSite, /^HTTP\/1\.1 403 /);
  await until(() => events.length === 2, 'the gateway\'s own refusal');
  t.match(events[1], { stage: 'ResponseComplete', verb: 'create', responseStatus: { code: 403, status: 'Failure', reason: 'Forbidden', message: /origin/ } });
  t.equal(events.filter((event) => event.stage === 'ResponseStarted').length, 0, 'nothing started');
});

t.test('the policy: None records nothing, omitStages leaves a stage out, RequestReceived when not omitted', async (t) => {
  const up = await upstream(t);
  const policy = parseAuditPolicy(`apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: None
  nonResourceURLs: [/version]
- level: Metadata
  verbs: [watch]
  omitStages: [ResponseStarted]
- level: Request
`);
  const { gateway, events } = await gatewayFor(t, up, policy);
  (await get(gateway, '/version')).resume();
  (await get(gateway, '/api')).resume();
  await until(() => events.length === 2, 'two stages of /api');
  t.same(events.map((event) => [event.requestURI, event.stage, event.level]), [['/api', 'RequestReceived', 'Metadata'], ['/api', 'ResponseComplete', 'Metadata']], 'Request is recorded as Metadata');
  const watch = await get(gateway, '/api/v1/pods?watch=true');
  await until(() => up.watches.length === 1, 'the watch open');
  watch.resume();
  up.watches[0]!.end();
  await until(() => events.length === 4, 'the watch events');
  t.same(events.slice(2).map((event) => event.stage), ['RequestReceived', 'ResponseComplete']);
  t.notOk(events.some((event) => event.requestURI === '/version'));
});
