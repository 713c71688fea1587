// A browser-style bearer token in the WebSocket subprotocol, through a real ws client and server:
// authenticated from the subprotocol, which is never the one chosen and echoed back.
import t from 'tap';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { BEARER_PROTOCOL_PREFIX, extractCredentials } from '../../../src/auth/credentials.js';
import { createTokenFileAuthenticator } from '../../../src/auth/token-file.js';

const dir = mkdtempSync(join(tmpdir(), 'ksg-subprotocol-'));
writeFileSync(join(dir, 'tokens.csv'), 'browser-secret,alice,u1,devs\n');
const tokens = await createTokenFileAuthenticator(join(dir, 'tokens.csv'));
const SUPPORTED = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];

const seenUsers: string[] = [];
const wss = new WebSocketServer({
  noServer: true,
  // What the gateway must do: choose from the filtered list, never from the raw header.
  handleProtocols: (_offered, req) => {
    const extraction = extractCredentials(req);
    return (extraction.ok && extraction.webSocketProtocols?.find((p) => SUPPORTED.includes(p))) || false;
  },
});
const server = http.createServer();
server.on('upgrade', (req, socket, head) => {
  const extraction = extractCredentials(req);
  if (!extraction.ok) {
    socket.end(`HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n`);
    return;
  }
  void tokens.authenticate(extraction.credentials).then((result) => {
    if (result.outcome !== 'authenticated') {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
      return;
    }
    seenUsers.push(result.user.name);
    wss.handleUpgrade(req, socket, head, (ws) => ws.close(1000));
  });
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/namespaces/default/pods/web/exec`;
t.teardown(() => {
  wss.close();
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

const tokenProtocol = (token: string): string => BEARER_PROTOCOL_PREFIX + Buffer.from(token).toString('base64url');

t.test('the token subprotocol authenticates and a real subprotocol is chosen', async (t) => {
  const client = new WebSocket(url, ['v5.channel.k8s.io', tokenProtocol('browser-secret')]);
  await once(client, 'open');
  t.equal(client.protocol, 'v5.channel.k8s.io');
  t.same(seenUsers, ['alice']);
  await once(client, 'close');
});

t.test('a wrong token is refused with 401', async (t) => {
  const client = new WebSocket(url, ['v4.channel.k8s.io', tokenProtocol('guess')]);
  const [, response] = (await once(client, 'unexpected-response')) as [unknown, http.IncomingMessage];
  t.equal(response.statusCode, 401);
  response.resume();
  client.on('error', () => {}); // terminate() reports the unfinished handshake as an error
  client.terminate();
});

t.test('a token subprotocol alone is refused (there would be nothing but the token to echo)', async (t) => {
  const client = new WebSocket(url, [tokenProtocol('browser-secret')]);
  const [, response] = (await once(client, 'unexpected-response')) as [unknown, http.IncomingMessage];
  t.equal(response.statusCode, 400);
  response.resume();
  client.on('error', () => {}); // terminate() reports the unfinished handshake as an error
  client.terminate();
});
