// Upgrades the gateway does not translate (old kubectl's SPDY) are relayed as they are: the upstream's
// refusal reaches the client intact, and an unreachable upstream gets a real HTTP answer.
import t from 'tap';
import http from 'node:http';
import tls from 'node:tls';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { until } from '../helpers/wait.js';
import { closedPort } from '../helpers/closed-port.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { rawExchange } from '../helpers/raw-exchange.js';

const spdyUpgrade = (stack: Stack, versions: string): string =>
  `POST /api/v1/namespaces/default/pods/demo/exec?command=true&stdout=true HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
  `Authorization: Bearer ${stack.token}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n` +
  `X-Stream-Protocol-Version: ${versions}\r\nContent-Length: 0\r\n\r\n`;

t.test("the upstream's refusal of a SPDY upgrade is replayed with its headers and body", async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const answer = await rawExchange(stack, spdyUpgrade(stack, 'v9.channel.k8s.io'));
  t.match(answer, /^HTTP\/1\.1 403 Forbidden\r\n/);
  t.match(answer, /X-Accepted-Stream-Protocol-Versions: v4\.channel\.k8s\.io\r\n/);
  t.match(answer, /X-Accepted-Stream-Protocol-Versions: channel\.k8s\.io\r\n/);
  t.match(answer, /\r\n\r\nunable to upgrade: unable to negotiate protocol: client supports \[v9\.channel\.k8s\.io\]/);
  t.equal(stack.gatewayLogs.find((r) => r.msg === 'upgrade refused by upstream').length, 1);
});

t.test('an unreachable upstream answers a relayed upgrade with 503 and a Status', async (t) => {
  const port = await closedPort();
  const stack = await startStack({ upstream: () => ({ url: new URL(`http://127.0.0.1:${port}`), insecureSkipTlsVerify: false }) });
  t.teardown(() => stack.close());
  const answer = await rawExchange(stack, spdyUpgrade(stack, 'v4.channel.k8s.io'));
  t.match(answer, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
  const status = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
  t.match(status, { kind: 'Status', code: 503, reason: 'ServiceUnavailable' });
  t.match(status.message, /^(Internal error occurred: )?the upstream cluster is unavailable$/);
});

/** Sends a raw request and returns the answer once its Status body (or a 101) has arrived: a relayed upgrade would never close. */
async function answerUntilBody(stack: Stack, request: string): Promise<string> {
  const client = tls.connect({ host: '127.0.0.1', port: stack.gateway.port, ca: stack.caPem, servername: 'localhost' });
  client.on('error', () => undefined);
  await once(client, 'secureConnect');
  client.write(request);
  let answer = '';
  client.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
  const complete = (): boolean => /^HTTP\/1\.1 101 [^]*\r\n\r\n/.test(answer) || /\r\n\r\n\{[^]*\}$/.test(answer) || client.destroyed;
  await until(() => complete() || client.readableEnded, 'an answer');
  client.destroy();
  return answer;
}

/** An upstream that records each upgrade request and, after its 101, every byte that follows it. */
async function recordingUpstream(): Promise<{ port: number; seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; after: () => string }>; close(): void }> {
  const seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; after: () => string }> = [];
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    let after = head.toString('latin1');
    socket.on('data', (chunk: Buffer) => (after += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, after: () => after });
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, seen, close: () => server.close() };
}

t.test('a streaming upgrade is relayed as POST with no body whatever its method; other upgrades keep theirs', async (t) => {
  const upstream = await recordingUpstream();
  t.teardown(() => upstream.close());
  const stack = await startStack({ upstream: () => ({ url: new URL(`http://127.0.0.1:${upstream.port}`), insecureSkipTlsVerify: false }) });
  t.teardown(() => stack.close());
  const upgrade = (method: string, path: string, extra = ''): string =>
    `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${stack.token}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n${extra}\r\n`;
  const cases: Array<[string, string, string, string]> = [
    ['GET', '/api/v1/namespaces/default/pods/demo/exec?command=true&stdout=true', '', 'POST'],
    ['GET', '/api/v1/namespaces/default/pods/demo/%61ttach?stdout=true', '', 'POST'],
    ['PUT', '/api/v1/namespaces/default/pods/demo/portforward', 'Transfer-Encoding: chunked\r\n', 'POST'],
    ['HEAD', '/portForward/default/demo', '', 'POST'],
    ['GET', '/api/v1/namespaces/default/pods/demo/proxy/x', '', 'GET'],
  ];
  for (const [method, path, extra, expected] of cases) {
    const client = tls.connect({ host: '127.0.0.1', port: stack.gateway.port, ca: stack.caPem, servername: 'localhost' });
    t.teardown(() => client.destroy());
    await once(client, 'secureConnect');
    client.write(upgrade(method, path, extra));
    let answer = '';
    client.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    await until(() => answer.includes('\r\n\r\n'), 'the gateway answers the upgrade');
    t.match(answer, /^HTTP\/1\.1 101 /, `${method} ${path}`);
    client.write('FIRST-SPDY-BYTES');
    const recorded = upstream.seen.at(-1)!;
    await until(() => recorded.after().includes('FIRST-SPDY-BYTES'), 'the first bytes reach the upstream');
    t.equal(recorded.method, expected, `${method} ${path} reached the upstream as ${expected}`);
    t.equal(recorded.url, path, 'the path exactly as sent');
    if (expected === 'POST') {
      t.equal(recorded.headers['content-length'], '0', 'an empty body, said so');
      t.equal(recorded.headers['transfer-encoding'], undefined, 'no chunked body');
    }
    t.equal(recorded.after(), 'FIRST-SPDY-BYTES', 'nothing of a request body precedes the upgraded stream');
  }
  t.match(stack.gatewayLogs.find((r) => r.event === 'session-start' && r.mode === 'relay'), [{ method: 'POST', clientMethod: 'GET' }]);
});

t.test('a WebSocket exec, attach or port-forward that no translator serves is refused, never relayed as a GET', async (t) => {
  const upstream = await recordingUpstream();
  t.teardown(() => upstream.close());
  const stack = await startStack({ upstream: () => ({ url: new URL(`http://127.0.0.1:${upstream.port}`), insecureSkipTlsVerify: false }) });
  t.teardown(() => stack.close());
  const webSocket = (path: string, protocol: string): string =>
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${stack.token}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`;
  const cases: Array<[string, string, RegExp]> = [
    ['/api/v1/namespaces/default/pods/demo/portforward?ports=7', 'x.unsupported.example', /^HTTP\/1\.1 403 [^]*unable to negotiate a port-forward subprotocol: the client offered \[x\.unsupported\.example\], the gateway supports \[SPDY\/3\.1\+portforward\.k8s\.io, v4\.channel\.k8s\.io/],
    ['/portForward/default/demo', 'x.unsupported.example', /^HTTP\/1\.1 403 /],
    ['/api/v1/namespaces/default/pods/demo/exec/extra?command=id', 'v5.channel.k8s.io', /^HTTP\/1\.1 404 [^]*the server could not find the requested resource/],
    ['/exec/default/demo?command=id', 'v5.channel.k8s.io', /^HTTP\/1\.1 404 /],
    ['/api/v1/namespaces/default/pods/demo/attach/x', 'v5.channel.k8s.io', /^HTTP\/1\.1 404 /],
  ];
  for (const [path, protocol, expected] of cases) t.match(await answerUntilBody(stack, webSocket(path, protocol)), expected, path);
  t.same(upstream.seen, [], 'nothing reached the upstream');
});
