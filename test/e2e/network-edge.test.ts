// The listener's edge, tried like an attacker: connections that never finish their head, connection
// floods, PROXY protocol headers (present, missing, forged), X-Forwarded-For from trusted and
// untrusted peers, a cross-scheme Origin, and weak TLS — each closed or refused, the process up.
import t, { type Test } from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import https from 'node:https';
import http from 'node:http';
import { once } from 'node:events';
import { Duplex } from 'node:stream';
import { startStack, type Stack, type StackOptions } from '../helpers/stack.js';
import { rawExchange } from '../helpers/raw-exchange.js';
import { connect } from '../helpers/ws-client.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import { until } from '../helpers/wait.js';
import type { ConnectionRefusal } from '../../src/net/connection-guard.js';

const EXEC_CAT = '/api/v1/namespaces/default/pods/demo/exec?command=cat&stdin=true&stdout=true';

/** A stack whose gateway counts its connection refusals by reason. */
async function stackWithRefusals(t: Test, gateway: StackOptions['gateway']): Promise<{ stack: Stack; refused: ConnectionRefusal[] }> {
  const refused: ConnectionRefusal[] = [];
  const stack = await startStack({ gateway: { ...gateway, onConnectionRefused: (reason) => refused.push(reason) } });
  t.teardown(() => stack.close());
  return { stack, refused };
}

/** Resolves when the peer closes the socket, with what it said. */
function closedBy(socket: net.Socket): Promise<{ text: string; at: number }> {
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  return once(socket, 'close').then(() => ({ text, at: Date.now() }));
}

function tcp(port: number): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port });
  return once(socket, 'connect').then(() => socket);
}

/** A TLS connection to the stack's gateway over `socket` (or a new TCP connection). */
async function tlsTo(stack: Stack, socket?: net.Socket, options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  const secure = tls.connect({ host: '127.0.0.1', port: stack.gateway.port, ca: stack.caPem, servername: 'localhost', ...(socket ? { socket } : {}), ...options });
  await once(secure, 'secureConnect');
  return secure;
}

/** A slowloris: one more header line every 200 ms (at most 100), never the blank line that ends the head. */
function trickleHeaderLines(t: Test, socket: net.Socket): { stop(): number } {
  let lines = 0;
  const timer = setInterval(() => {
    if (socket.writable && lines < 100) socket.write(`X-Slow-${++lines}: a\r\n`);
  }, 200);
  t.teardown(() => clearInterval(timer));
  return {
    stop() {
      clearInterval(timer);
      return lines;
    },
  };
}

/** A stream over `raw` whose first write goes out in one piece with `prefix` in front (TLS writes through it). */
function withFirstWritePrefixed(raw: net.Socket, prefix: Buffer): Duplex {
  let first = true;
  const duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      raw.write(first ? Buffer.concat([prefix, chunk]) : chunk, callback);
      first = false;
    },
    final(callback) {
      raw.end();
      callback();
    },
    destroy(error, callback) {
      raw.destroy();
      callback(error);
    },
  });
  raw.on('data', (chunk: Buffer) => duplex.push(chunk));
  raw.on('end', () => duplex.push(null));
  raw.on('close', () => duplex.destroy());
  raw.on('error', () => undefined);
  return duplex;
}

function podsRequest(stack: Stack, extra = ''): string {
  return `GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${stack.token}\r\nConnection: close\r\n${extra}\r\n`;
}

t.test('limits.headerTimeoutSeconds: silent TCP, a stalled TLS handshake and a slowloris head are all closed', async (t) => {
  const { stack, refused } = await stackWithRefusals(t, { connections: { headerTimeoutMs: 1000 } });
  const started = Date.now();
  const silent = await tcp(stack.gateway.port);
  const silentClosed = closedBy(silent);
  // A TLS record header promising a ClientHello that never comes.
  const stalled = await tcp(stack.gateway.port);
  const stalledClosed = closedBy(stalled);
  stalled.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
  // Completes TLS, then trickles a header line every 200 ms: never a complete head.
  const slow = await tlsTo(stack);
  const slowClosed = closedBy(slow);
  slow.write('GET /api/v1/namespaces HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  const trickle = trickleHeaderLines(t, slow);

  const [a, b, c] = await Promise.all([silentClosed, stalledClosed, slowClosed]);
  const lines = trickle.stop();
  for (const [name, closed] of [['silent TCP', a], ['stalled TLS', b], ['slowloris', c]] as const) {
    t.ok(closed.at - started < 6000, `${name} closed by the gateway after ${closed.at - started} ms`);
  }
  t.ok(lines >= 3, `the slowloris kept sending (${lines} lines) and was closed anyway`);
  t.match(c.text, /^HTTP\/1\.1 408 /, 'the slowloris is told 408 Request Timeout');
  t.equal(refused.filter((reason) => reason === 'header-timeout').length, 3, 'each counted as header-timeout');
  await until(() => stack.gateway.openConnections === 0, 'no connection left open');

  // A session outlives the header deadline: only the head is timed.
  const result = await runKubectl(33, ['exec', 'demo', '--', 'sh', '-c', 'sleep 2; echo still here'], { kubeconfig: stack.kubeconfig, timeoutMs: 20_000 });
  t.equal(result.code, 0, result.stderr);
  t.equal(result.stdout.toString(), 'still here\n');
});

t.test('a later request on a keep-alive connection gets the same head deadline (408)', async (t) => {
  const { stack, refused } = await stackWithRefusals(t, { connections: { headerTimeoutMs: 1000 } });
  const socket = await tlsTo(stack);
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  const closed = once(socket, 'close');
  // An unknown cluster: the gateway's own 404 Status, with a Content-Length, on a kept-alive connection.
  socket.write('GET /clusters/nope/api HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  await until(() => /\r\n\r\n\{.*\}$/s.test(text), 'the first answer');
  t.match(text, /^HTTP\/1\.1 404 /);
  t.notMatch(text, /connection: close/i, 'kept alive');
  text = '';
  const started = Date.now();
  socket.write('GET /clusters/nope/api HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  const trickle = trickleHeaderLines(t, socket);
  await closed;
  trickle.stop();
  t.ok(Date.now() - started < 6000, `closed after ${Date.now() - started} ms`);
  t.match(text, /^HTTP\/1\.1 408 /, 'told 408');
  t.same(refused, ['header-timeout']);
});

t.test('limits.maxConnections closes connections past the cap at accept, before TLS', async (t) => {
  const { stack, refused } = await stackWithRefusals(t, { connections: { maxConnections: 3, maxConnectionsPerClient: 100 } });
  const held = await Promise.all([tlsTo(stack), tlsTo(stack), tlsTo(stack)]);
  const over = await tcp(stack.gateway.port);
  const closed = await closedBy(over);
  t.equal(closed.text, '', 'closed without a byte');
  t.same(refused, ['max-connections']);
  for (const socket of held) socket.destroy();
  await until(() => stack.gateway.openConnections === 0, 'the held connections gone');
  const answer = await rawExchange(stack, podsRequest(stack));
  t.match(answer, /^HTTP\/1\.1 200 /, 'room again once they closed');
});

t.test('limits.maxConnectionsPerClient caps one client address; PROXY protocol names the client it counts', async (t) => {
  const { stack, refused } = await stackWithRefusals(t, { connections: { maxConnectionsPerClient: 2 }, network: { proxyProtocol: true } });
  const viaProxy = async (source: string): Promise<net.Socket> => {
    const socket = await tcp(stack.gateway.port);
    socket.write(`PROXY TCP4 ${source} 127.0.0.1 40000 443\r\n`);
    return socket;
  };
  const first = await tlsTo(stack, await viaProxy('198.51.100.1'));
  const second = await tlsTo(stack, await viaProxy('198.51.100.1'));
  const third = await viaProxy('198.51.100.1');
  await closedBy(third);
  t.same(refused, ['max-connections-per-client'], 'the third connection of 198.51.100.1 refused');
  const other = await tlsTo(stack, await viaProxy('198.51.100.2'));
  other.write(podsRequest(stack));
  t.match((await closedBy(other)).text, /^HTTP\/1\.1 200 /, 'another client behind the same balancer still served');
  first.destroy();
  second.destroy();
});

t.test('network.proxyProtocol: v1 and v2 headers name the client; a connection without one is closed', async (t) => {
  const { stack, refused } = await stackWithRefusals(t, { network: { proxyProtocol: true }, allowedOrigins: [] });
  /** An upgrade the Origin check refuses: its log line names the client address the gateway believed. */
  const refusedUpgrade = 'GET /api/v1/namespaces/default/pods/demo/exec?command=true HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://evil.example\r\n\r\n';

  const v1 = await tcp(stack.gateway.port);
  v1.write('PROXY TCP4 203.0.113.7 10.0.0.1 51234 443\r\n');
  const v1Tls = await tlsTo(stack, v1);
  v1Tls.write(refusedUpgrade);
  t.match((await closedBy(v1Tls)).text, /^HTTP\/1\.1 403 /);

  // v2 for TCP6, with the TLS ClientHello in the same packet as the header (as a balancer sends it).
  const header = Buffer.alloc(16 + 36);
  Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x21]).copy(header);
  header.writeUInt16BE(36, 14);
  Buffer.from('20010db8000000000000000000000042', 'hex').copy(header, 16);
  Buffer.from('20010db8000000000000000000000001', 'hex').copy(header, 32);
  header.writeUInt16BE(50000, 48);
  header.writeUInt16BE(443, 50);
  const v2 = withFirstWritePrefixed(await tcp(stack.gateway.port), header);
  const v2Tls = await tlsTo(stack, v2 as net.Socket);
  v2Tls.write(refusedUpgrade);
  t.match((await closedBy(v2Tls)).text, /^HTTP\/1\.1 403 /);

  const addresses = stack.gatewayLogs.find((record) => record.event === 'session-refused').map((record) => record.clientAddress);
  t.same(addresses, ['203.0.113.7', '2001:db8::42'], 'logs name the client the PROXY header gave');

  const without = await tcp(stack.gateway.port);
  const withoutClosed = closedBy(without);
  without.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00]));
  await withoutClosed;
  const forged = await tcp(stack.gateway.port);
  const forgedClosed = closedBy(forged);
  forged.write('PROXY TCP4 999.1.1.1 10.0.0.1 1 443\r\n');
  await forgedClosed;
  t.same(refused, ['proxy-protocol', 'proxy-protocol'], 'no header and a malformed header: both closed and counted');
  t.equal(stack.gatewayLogs.find((record) => record.event === 'connection-refused' && record.reason === 'proxy-protocol').length, 2, 'and logged');
});

t.test('network.proxyProtocol on a plain-HTTP listener', async (t) => {
  const stack = await startStack({ gateway: { tls: undefined, network: { proxyProtocol: true } } });
  t.teardown(() => stack.close());
  const socket = await tcp(stack.gateway.port);
  socket.write(`PROXY TCP4 203.0.113.9 10.0.0.1 1234 80\r\n${podsRequest(stack)}`);
  t.match((await closedBy(socket)).text, /^HTTP\/1\.1 200 /, 'the request after the header is served');
});

t.test('without network.proxyProtocol a PROXY header is just a bad request (400)', async (t) => {
  const stack = await startStack({ gateway: { tls: undefined } });
  t.teardown(() => stack.close());
  const socket = await tcp(stack.gateway.port);
  socket.write(`PROXY TCP4 203.0.113.9 10.0.0.1 1234 80\r\n${podsRequest(stack)}`);
  t.match((await closedBy(socket)).text, /^HTTP\/1\.1 400 /);
});

t.test('network.trustedProxies: sessions per client address count the X-Forwarded-For client, not the proxy', async (t) => {
  const stack = await startStack({ gateway: { limits: { maxSessionsPerUser: 1 }, network: { trustedProxies: ['127.0.0.0/8'] } } });
  t.teardown(() => stack.close());
  const open = async (xff: string) => connect(stack, EXEC_CAT, ['v5.channel.k8s.io'], { 'x-forwarded-for': xff });
  const alice = await open('198.51.100.1');
  t.equal(alice.kind, 'open');
  const bob = await open('198.51.100.2');
  t.equal(bob.kind, 'open', 'another client behind the same proxy is not locked out');
  // A client-written entry left of the real one is not believed: still 198.51.100.1.
  const aliceAgain = await open('10.9.9.9, 198.51.100.1');
  t.equal(aliceAgain.kind, 'refused');
  if (aliceAgain.kind === 'refused') {
    t.equal(aliceAgain.statusCode, 429);
    t.match(aliceAgain.body, /client address 198\.51\.100\.1 is at the limit of 1/);
  }
  for (const outcome of [alice, bob]) if (outcome.kind === 'open') outcome.socket.close();
  await until(() => stack.gateway.activeSessions === 0, 'sessions ended');
  const sessionLines = (event: string) => stack.gatewayLogs.find((record) => record.event === event).map((record) => record.clientAddress).sort();
  t.same(sessionLines('session-start'), ['198.51.100.1', '198.51.100.2'], 'session lines name the client (clientAddress)');
  t.same(sessionLines('session-end'), ['198.51.100.1', '198.51.100.2']);
});

t.test('X-Forwarded-For from a peer that is not a trusted proxy is ignored', async (t) => {
  const stack = await startStack({ gateway: { limits: { maxSessionsPerUser: 1 }, network: { trustedProxies: ['10.0.0.0/8'] } } });
  t.teardown(() => stack.close());
  const first = await connect(stack, EXEC_CAT, ['v5.channel.k8s.io'], { 'x-forwarded-for': '198.51.100.1' });
  t.equal(first.kind, 'open');
  const spoofed = await connect(stack, EXEC_CAT, ['v5.channel.k8s.io'], { 'x-forwarded-for': '198.51.100.2' });
  t.equal(spoofed.kind, 'refused', 'a forged X-Forwarded-For does not make a new client');
  if (spoofed.kind === 'refused') t.match(spoofed.body, /client address 127\.0\.0\.1 is at the limit/);
  if (first.kind === 'open') first.socket.close();
  await until(() => stack.gateway.activeSessions === 0, 'sessions ended');
});

t.test('the upstream is told the believed chain in X-Forwarded-For, for proxied requests and upgrades', async (t) => {
  const seen: Array<string | undefined> = [];
  const upstream = http.createServer((req, res) => {
    seen.push(req.headers['x-forwarded-for'] as string | undefined);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  upstream.on('upgrade', (req, socket: net.Socket) => {
    seen.push(req.headers['x-forwarded-for'] as string | undefined);
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  t.teardown(() => upstream.close());
  const url = new URL(`http://127.0.0.1:${(upstream.address() as net.AddressInfo).port}`);
  for (const [trustedProxies, expected] of [
    [[], '127.0.0.1'],
    [['127.0.0.1'], '203.0.113.1, 127.0.0.1'],
  ] as const) {
    seen.length = 0;
    const stack = await startStack({ upstream: () => ({ url, insecureSkipTlsVerify: false }), gateway: { network: { trustedProxies: [...trustedProxies] } } });
    t.teardown(() => stack.close());
    t.match(await rawExchange(stack, podsRequest(stack, 'X-Forwarded-For: 6.6.6.6, 203.0.113.1\r\n')), /^HTTP\/1\.1 200 /);
    const relayed = await rawExchange(stack, `GET /api/v1/namespaces/default/pods/demo/exec?command=true HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${stack.token}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\nX-Forwarded-For: 6.6.6.6, 203.0.113.1\r\n\r\n`);
    t.match(relayed, /^HTTP\/1\.1 403 /);
    t.same(seen, [expected, expected], `trustedProxies ${JSON.stringify(trustedProxies)}: the client's own entries are not passed on`);
  }
});

t.test('Origin: http://host:port on the HTTPS listener is another origin (403); https://host:port is the same', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const host = `127.0.0.1:${stack.gateway.port}`;
  const cross = await connect(stack, EXEC_CAT, ['v5.channel.k8s.io'], { origin: `http://${host}` });
  t.equal(cross.kind, 'refused');
  if (cross.kind === 'refused') t.equal(cross.statusCode, 403);
  const same = await connect(stack, EXEC_CAT, ['v5.channel.k8s.io'], { origin: `https://${host}` });
  t.equal(same.kind, 'open');
  if (same.kind === 'open') same.socket.close();
  await until(() => stack.gateway.activeSessions === 0, 'session ended');
});

t.test('Origin behind a TLS-terminating proxy: the scheme is what a trusted proxy says in X-Forwarded-Proto', async (t) => {
  let token = '';
  const upgrade = (port: number, headers: string) =>
    new Promise<string>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        // The status line is all this needs; a session that opened is closed at once.
        if (text.includes('\r\n')) socket.destroy();
      });
      socket.on('close', () => resolve(text));
      socket.on('error', () => undefined);
      socket.write(`GET ${EXEC_CAT} HTTP/1.1\r\nHost: gw.example.com\r\nAuthorization: Bearer ${token}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\nOrigin: https://gw.example.com\r\n${headers}\r\n`);
    });
  for (const [trustedProxies, forwardedProto, status] of [
    [['127.0.0.1'], 'https', 101],
    [['127.0.0.1'], undefined, 403],
    [['127.0.0.1'], 'http', 403],
    [[], 'https', 403],
  ] as const) {
    const stack = await startStack({ gateway: { tls: undefined, network: { trustedProxies: [...trustedProxies] } } });
    t.teardown(() => stack.close());
    token = stack.token;
    const answer = await upgrade(stack.gateway.port, forwardedProto ? `X-Forwarded-Proto: ${forwardedProto}\r\n` : '');
    t.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), `trusted ${JSON.stringify(trustedProxies)}, X-Forwarded-Proto ${forwardedProto}: ${status}`);
    await until(() => stack.gateway.activeSessions === 0, 'no session left');
  }
});

t.test('TLS: no non-forward-secret or CBC suites under TLS 1.2; tls.minVersion TLSv1.3 refuses TLS 1.2', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const handshake = (options: tls.ConnectionOptions) =>
    tlsTo(stack, undefined, options).then(
      (socket) => {
        const cipher = socket.getCipher().name;
        socket.destroy();
        return cipher;
      },
      (error: NodeJS.ErrnoException) => `refused: ${error.code}`,
    );
  // CBC with ECDHE (the certificate is ECDSA, so these are the weak suites a client could get today),
  // and static-RSA suites for an RSA certificate.
  for (const suite of ['ECDHE-ECDSA-AES256-SHA384', 'ECDHE-ECDSA-AES128-SHA256', 'ECDHE-ECDSA-AES128-SHA', 'AES128-SHA', 'AES256-GCM-SHA384']) {
    t.match(await handshake({ maxVersion: 'TLSv1.2', ciphers: suite }), /^refused/, `${suite} refused`);
  }
  t.match(await handshake({ maxVersion: 'TLSv1.2' }), /^ECDHE-(RSA|ECDSA)-(AES\d+-GCM|CHACHA20)/, 'a TLS 1.2 client gets ECDHE with AEAD');
  t.match(await handshake({}), /^TLS_/, 'TLS 1.3 as before');

  const strict = await startStack({ gateway: { tls: { ...stack.serverTls, policy: { minVersion: 'TLSv1.3', cipherSuites: ['ECDHE-RSA-AES128-GCM-SHA256'] } } } });
  t.teardown(() => strict.close());
  const toStrict = (options: tls.ConnectionOptions) =>
    tlsTo(strict, undefined, { ca: stack.caPem, ...options }).then(
      (socket) => {
        const version = socket.getProtocol();
        socket.destroy();
        return version;
      },
      (error: NodeJS.ErrnoException) => `refused: ${error.code}`,
    );
  t.match(await toStrict({ maxVersion: 'TLSv1.2' }), /^refused: ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION/, 'TLSv1.3 minimum: a TLS 1.2-only client is refused');
  t.equal(await toStrict({}), 'TLSv1.3', 'a TLS 1.3 client is served');
});

t.test('toward the upstream the same policy holds: an upstream offering only a CBC suite is not used', async (t) => {
  const legacy = await startStack();
  t.teardown(() => legacy.close());
  // An upstream that speaks only TLS 1.2 with a CBC suite, and would answer 200.
  const weak = https.createServer({ ...legacy.serverTls, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA' }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"kind":"PodList","items":[]}');
  });
  weak.listen(0, '127.0.0.1');
  await once(weak, 'listening');
  t.teardown(() => weak.close());
  const port = (weak.address() as net.AddressInfo).port;
  const stack = await startStack({ upstream: () => ({ url: new URL(`https://127.0.0.1:${port}`), ca: legacy.caPem, insecureSkipTlsVerify: false }) });
  t.teardown(() => stack.close());
  const answer = await rawExchange(stack, podsRequest(stack));
  t.match(answer, /^HTTP\/1\.1 503 /, 'the upstream handshake failed: 503');
});

