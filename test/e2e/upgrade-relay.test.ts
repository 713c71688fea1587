// Upgrades the gateway does not translate (old kubectl's SPDY) are relayed as they are: the upstream's
// refusal reaches the client intact, and an unreachable upstream gets a real HTTP answer.
import t, { type Test } from 'tap';
import http from 'node:http';
import tls from 'node:tls';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { until } from '../helpers/wait.js';
import { closedPort } from '../helpers/closed-port.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { rawExchange } from '../helpers/raw-exchange.js';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Direction, SessionTap, SessionTapFactory } from '../../src/translators/bridge.js';
import { RecordingTaps } from '../../src/recording/recording-taps.js';
import { createLogger } from '../../src/observability/logger.js';

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

/** An upstream that answers a SPDY upgrade with 101 and `greeting` in one write, then echoes every byte. */
async function echoingUpstream(greeting: string): Promise<{ port: number; close(): void }> {
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (_req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n${greeting}`);
    if (head.length) socket.write(head);
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

/** A tap that keeps what it is handed each way, opened for port-forwards; `content` as a recording says it. */
function keepingTaps(content: boolean): { factory: SessionTapFactory; handed: Record<Direction, string>; ended: () => boolean } {
  const handed: Record<Direction, string> = { 'to-upstream': '', 'to-client': '' };
  let ended = false;
  const tap: SessionTap = {
    bytes: (direction, _route, payload) => void (handed[direction] += payload.toString('latin1')),
    event: (name) => void (ended ||= name === 'end'),
  };
  const factory: SessionTapFactory = { open: async ({ subject }) => (subject.kind === 'portforward' ? { tap, name: 'kept.rec', ...(content ? { content } : {}) } : undefined) };
  return { factory, handed, ended: () => ended };
}

const portForwardUpgrade = (stack: Stack, first: string): string =>
  `POST /api/v1/namespaces/default/pods/demo/portforward HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${stack.token}\r\n` +
  `Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\nContent-Length: 0\r\n\r\n${first}`;

/** Relays a SPDY port-forward through a gateway recording with `factory`: sends `first` with the upgrade, then `later`; resolves once the echo of both is back. */
async function relayedForward(t: Test, factory: SessionTapFactory, first: string, later: string): Promise<{ end: Record<string, unknown>; received: () => string }> {
  const upstream = await echoingUpstream('GREETING');
  t.teardown(() => upstream.close());
  const stack = await startStack({ upstream: () => ({ url: new URL(`http://127.0.0.1:${upstream.port}`), insecureSkipTlsVerify: false }), gateway: { recording: factory } });
  t.teardown(() => stack.close());
  const client = tls.connect({ host: '127.0.0.1', port: stack.gateway.port, ca: stack.caPem, servername: 'localhost' });
  t.teardown(() => client.destroy());
  await once(client, 'secureConnect');
  let answer = '';
  client.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
  client.write(portForwardUpgrade(stack, first));
  await until(() => answer.includes('\r\n\r\n'), 'the 101');
  t.match(answer, /^HTTP\/1\.1 101 /);
  client.write(later);
  const received = (): string => answer.slice(answer.indexOf('\r\n\r\n') + 4);
  await until(() => received() === `GREETING${first}${later}`, 'the echo of every byte');
  client.destroy();
  // Relayed sessions are left out of stack.sessionEnds().
  const ends = (): Record<string, unknown>[] => stack.gatewayLogs.find((record) => record.event === 'session-end');
  await until(() => ends().length > 0, 'the session-end line');
  return { end: ends()[0]!, received };
}

t.test('a relayed SPDY port-forward: a content recording is handed every byte each way from the first after the 101', async (t) => {
  const { factory, handed, ended } = keepingTaps(true);
  const { end } = await relayedForward(t, factory, 'BYTES-WITH-THE-UPGRADE', 'LATER-BYTES');
  t.match(end, { mode: 'relay', recording: 'kept.rec' });
  t.equal(handed['to-upstream'], 'BYTES-WITH-THE-UPGRADE' + 'LATER-BYTES', 'what the client sent, in order, the bytes that came with the upgrade first');
  t.equal(handed['to-client'], 'GREETING' + 'BYTES-WITH-THE-UPGRADE' + 'LATER-BYTES', 'what the upstream sent, in order, the bytes that came with its 101 first');
  await until(ended, 'the end event');
});

t.test('a relayed SPDY port-forward: a metadata recording is handed no bytes (they are only counted)', async (t) => {
  const { factory, handed, ended } = keepingTaps(false);
  const { end } = await relayedForward(t, factory, 'BYTES-WITH-THE-UPGRADE', 'LATER-BYTES');
  t.match(end, { mode: 'relay', recording: 'kept.rec' });
  t.same(handed, { 'to-upstream': '', 'to-client': '' }, 'nothing handed, nothing parsed');
  await until(ended, 'the end event');
});

t.test('a relayed port-forward recorded with content whose bytes are not SPDY: an unreadable line, the session unharmed', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ksg-relay-recording-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const settings = { directory: dir, rules: [{ users: ['*'], verbs: ['portforward'], content: true }], captureInput: false, maxBytesPerSession: 1024 * 1024, required: false };
  const factory = new RecordingTaps(settings, createLogger({ destination: { write: () => undefined } }));
  // A DATA frame on stream 0: no SPDY peer sends it.
  const notSpdy = '\0\0\0\0\0\0\0\0 is not SPDY, but the session goes on';
  const { end, received } = await relayedForward(t, factory, '', notSpdy);
  t.equal(received(), `GREETING${notSpdy}`, 'every byte went through');
  let text = '';
  await until(() => (text = readFileOrEmpty(join(dir, end.recording as string))).includes('"end":true'), 'the complete recording');
  const lines = text.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  t.match(lines[0], { format: 'ksg-portforward', content: true });
  t.match(lines[1], { unreadable: /the tunnel's SPDY could not be read/ });
  t.match(lines.at(-1), { end: true, bytesFromClient: end.bytesFromClient, bytesToClient: end.bytesToClient });
  t.equal(lines.length, 3, 'nothing else');
});

function readFileOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
