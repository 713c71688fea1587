// Credential extraction: Authorization header rules, duplicate headers through a real Node server, and
// the browser's base64url bearer subprotocol (decoded, removed from the list, never echoed).
import t from 'tap';
import http, { type IncomingMessage } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { extractCredentials, BEARER_PROTOCOL_PREFIX, type CredentialExtraction } from '../../../src/auth/credentials.js';

/** A request as Node's parser would hand it over, from raw header pairs. */
function request(rawHeaders: string[]): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) headers[rawHeaders[i]!.toLowerCase()] ??= rawHeaders[i + 1]!;
  return { rawHeaders, headers, socket: new net.Socket() } as unknown as IncomingMessage;
}

const WS = ['Upgrade', 'websocket', 'Connection', 'Upgrade'];
const encode = (token: string): string => BEARER_PROTOCOL_PREFIX + Buffer.from(token).toString('base64url');

t.test('Authorization: Bearer <token>, scheme in any case', async (t) => {
  t.same(extractCredentials(request(['Authorization', 'Bearer abc.def-ghi'])), {
    ok: true,
    credentials: { bearerToken: 'abc.def-ghi' },
    webSocketProtocols: undefined,
    tokenSource: 'authorization-header',
  });
  t.match(extractCredentials(request(['authorization', 'bearer x:y'])), { ok: true, credentials: { bearerToken: 'x:y' } });
  t.same(extractCredentials(request(['Host', 'h'])), { ok: true, credentials: {}, webSocketProtocols: undefined, tokenSource: undefined });
});

t.test('malformed Authorization headers are refused', async (t) => {
  for (const value of ['Basic YWxpY2U6c2VjcmV0', 'Bearer', 'Bearer ', 'Bearer a b', 'Token abc', 'Bearerabc']) {
    t.same(extractCredentials(request(['Authorization', value])), { ok: false, reason: 'malformed Authorization header: expected "Bearer <token>"' }, value);
  }
});

t.test('two Authorization headers are refused (rawHeaders), even where req.headers shows one', async (t) => {
  let seen: CredentialExtraction | undefined;
  let headerSeen: string | undefined;
  const server = http.createServer((req, res) => {
    seen = extractCredentials(req);
    headerSeen = req.headers.authorization;
    res.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  await once(socket, 'connect');
  socket.end('GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer user-token\r\nauthorization: Bearer admin-token\r\nConnection: close\r\n\r\n');
  socket.resume();
  await once(socket, 'close');
  t.equal(headerSeen, 'Bearer user-token', 'Node keeps only the first Authorization in req.headers');
  t.same(seen, { ok: false, reason: 'more than one Authorization header' });
});

t.test('the base64url bearer subprotocol: decoded, removed from the offered list', async (t) => {
  const result = extractCredentials(request([...WS, 'Sec-WebSocket-Protocol', `v5.channel.k8s.io, ${encode('tök=en+/?')}, v4.channel.k8s.io`]));
  t.same(result, {
    ok: true,
    credentials: { bearerToken: 'tök=en+/?' },
    webSocketProtocols: ['v5.channel.k8s.io', 'v4.channel.k8s.io'],
    tokenSource: 'websocket-protocol',
  });
  t.notOk(JSON.stringify((result as { webSocketProtocols: string[] }).webSocketProtocols).includes('bearer'));
  // Repeated Sec-WebSocket-Protocol headers are one list (RFC 6455 §11.3.4).
  t.match(extractCredentials(request([...WS, 'Sec-WebSocket-Protocol', 'v5.channel.k8s.io', 'Sec-WebSocket-Protocol', encode('t')])), {
    ok: true,
    credentials: { bearerToken: 't' },
    webSocketProtocols: ['v5.channel.k8s.io'],
  });
});

t.test('subprotocol errors, as kube-apiserver refuses them', async (t) => {
  const cases: Array<[string, string]> = [
    [`v5.channel.k8s.io, ${encode('a')}, ${encode('b')}`, 'more than one base64url.bearer.authorization.k8s.io subprotocol'],
    [`v5.channel.k8s.io, ${BEARER_PROTOCOL_PREFIX}dG9r=`, 'invalid base64url.bearer.authorization.k8s.io token encoding'],
    [`v5.channel.k8s.io, ${BEARER_PROTOCOL_PREFIX}a`, 'invalid base64url.bearer.authorization.k8s.io token encoding'],
    [`v5.channel.k8s.io, ${BEARER_PROTOCOL_PREFIX}${Buffer.from([0xff, 0xfe]).toString('base64url')}`, 'invalid base64url.bearer.authorization.k8s.io token encoding'],
    [`v5.channel.k8s.io, ${BEARER_PROTOCOL_PREFIX}`, 'empty base64url.bearer.authorization.k8s.io token'],
    [encode('alone'), 'a token subprotocol needs at least one other subprotocol'],
  ];
  for (const [header, reason] of cases) {
    t.same(extractCredentials(request([...WS, 'Sec-WebSocket-Protocol', header])), { ok: false, reason }, header);
  }
  t.same(extractCredentials(request([...WS, 'Authorization', 'Bearer a', 'Sec-WebSocket-Protocol', `v5.channel.k8s.io, ${encode('b')}`])), {
    ok: false,
    reason: 'a bearer token both in the Authorization header and in a WebSocket subprotocol',
  });
});

t.test('on a request that is not a WebSocket upgrade the token entry is dropped but not used', async (t) => {
  t.same(extractCredentials(request(['Sec-WebSocket-Protocol', `v5.channel.k8s.io, ${encode('t')}`])), {
    ok: true,
    credentials: {},
    webSocketProtocols: ['v5.channel.k8s.io'],
    tokenSource: undefined,
  });
});
