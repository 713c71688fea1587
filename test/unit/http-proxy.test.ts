// The plain-request reverse proxy: headers, streaming without buffering, abort propagation, errors.
import t, { type Test } from 'tap';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createHttpProxy } from '../../src/server/http-proxy.js';
import { createLogger } from '../../src/observability/logger.js';
import { LogRecorder } from '../helpers/log-recorder.js';
import type { UpstreamCall } from '../../src/translators/upstream-call.js';
import type { OutgoingHttpHeaders } from 'node:http';

async function serve(handler: http.RequestListener): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

async function proxyTo(t: Test, upstreamPort: number): Promise<number> {
  const proxy = createHttpProxy(createLogger({ destination: new LogRecorder() }));
  const call: UpstreamCall = {
    upstreamName: 'default',
    target: { url: new URL(`http://127.0.0.1:${upstreamPort}/prefix`), insecureSkipTlsVerify: false },
    offeredProtocols: [],
    rewriteHeaders: (headers) => ({ ...headers }) as OutgoingHttpHeaders,
    path: '',
  };
  const { server, port } = await serve((req, res) => proxy.handle(req, res, { ...call, path: req.url ?? '/' }));
  t.teardown(() => {
    proxy.close();
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return port;
}

t.test('path prefix, Host, hop-by-hop headers stripped both ways, status and body kept', async (t) => {
  let seen: http.IncomingHttpHeaders = {};
  let seenUrl = '';
  const upstream = await serve((req, res) => {
    seen = req.headers;
    seenUrl = req.url ?? '';
    res.writeHead(418, { 'x-upstream': 'yes', 'keep-alive': 'timeout=5', 'x-private': 'drop me', connection: 'x-private' });
    res.end('teapot');
  });
  t.teardown(() => upstream.server.close());
  const port = await proxyTo(t, upstream.port);
  // node:http rather than fetch: fetch refuses to send a Connection header.
  const req = http.request({
    host: '127.0.0.1',
    port,
    path: '/api/v1/pods?watch=false',
    headers: { authorization: 'Bearer abc', 'proxy-authorization': 'secret', 'x-drop': '1', connection: 'x-drop' },
  });
  req.end();
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  let body = '';
  for await (const chunk of res) body += chunk;
  t.equal(res.statusCode, 418);
  t.equal(body, 'teapot');
  t.equal(res.headers['x-upstream'], 'yes');
  t.equal(res.headers['x-private'], undefined);
  t.equal(seenUrl, '/prefix/api/v1/pods?watch=false');
  t.equal(seen.host, `127.0.0.1:${upstream.port}`);
  t.equal(seen.authorization, 'Bearer abc', 'the caller credential passes through');
  t.equal(seen['proxy-authorization'], undefined);
  t.equal(seen['x-drop'], undefined);
});

t.test('a watch streams: each chunk reaches the client before the response ends', async (t) => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const upstream = await serve(async (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"type":"ADDED"}\n');
    await released;
    res.end('{"type":"DELETED"}\n');
  });
  t.teardown(() => upstream.server.close());
  const port = await proxyTo(t, upstream.port);
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/pods?watch=true`);
  const reader = res.body!.getReader();
  const first = await reader.read();
  t.equal(Buffer.from(first.value!).toString(), '{"type":"ADDED"}\n', 'first event arrived while the upstream still holds the response open');
  release();
  let rest = '';
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += Buffer.from(chunk.value).toString();
  t.equal(rest, '{"type":"DELETED"}\n');
});

t.test('a client that goes away aborts the upstream request', async (t) => {
  let upstreamClosed!: () => void;
  const closed = new Promise<void>((resolve) => (upstreamClosed = resolve));
  const upstream = await serve((req, res) => {
    res.writeHead(200);
    res.write('x');
    req.socket.on('close', () => upstreamClosed());
  });
  t.teardown(() => upstream.server.close());
  const port = await proxyTo(t, upstream.port);
  const controller = new AbortController();
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/pods?watch=true`, { signal: controller.signal });
  await res.body!.getReader().read();
  controller.abort();
  await closed;
  t.pass('the upstream connection was closed');
});

t.test('an unreachable upstream gives 503 with a Status', async (t) => {
  const gone = await serve(() => undefined);
  await new Promise((resolve) => gone.server.close(resolve));
  const port = await proxyTo(t, gone.port);
  const res = await fetch(`http://127.0.0.1:${port}/version`);
  t.equal(res.status, 503);
  const status = (await res.json()) as Record<string, unknown>;
  t.match(status, { kind: 'Status', status: 'Failure', reason: 'ServiceUnavailable', code: 503 });
  t.equal(status.message, 'the upstream cluster is unavailable', 'no address or errno for the caller');
});
