import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import t, { type Test } from 'tap';
import { WebSocket } from 'ws';
import { acceptClientWebSocket, ClientWebSocket, type ClientWebSocketLimits, type IncomingMessages } from '../../src/sessions/client-websocket.js';

interface Received {
  binary: Buffer[][];
  text: string[];
}

/** An HTTP server whose upgrades become ClientWebSockets recording what they receive. */
async function serve(t: Test, limits: ClientWebSocketLimits = {}, protocol?: string) {
  const accepted: { client: ClientWebSocket; received: Received }[] = [];
  const waiting: ((entry: (typeof accepted)[number]) => void)[] = [];
  const server: Server = createServer();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const client = acceptClientWebSocket(req, socket, head, protocol, limits);
    const received: Received = { binary: [], text: [] };
    const incoming: IncomingMessages = {
      binaryStart: () => received.binary.push([]),
      binaryData: (piece) => received.binary.at(-1)!.push(Buffer.from(piece)),
      binaryEnd: () => undefined,
      text: (message) => received.text.push(message.toString()),
    };
    client.receive(incoming);
    const entry = { client, received };
    accepted.push(entry);
    waiting.shift()?.(entry);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `ws://127.0.0.1:${port}/`,
    next: () => new Promise<(typeof accepted)[number]>((resolve) => (accepted.length > waiting.length ? resolve(accepted[waiting.length]!) : waiting.push(resolve))),
    accepted,
  };
}

async function open(url: string, protocol?: string): Promise<WebSocket> {
  const ws = protocol ? new WebSocket(url, protocol) : new WebSocket(url);
  ws.on('error', () => undefined);
  await once(ws, 'open');
  return ws;
}

/** A server with one ws client connected to it: the client's socket and our side of it. */
async function connected(t: Test, limits: ClientWebSocketLimits = {}) {
  const server = await serve(t, limits);
  const ws = await open(server.url);
  return { ws, ...(await server.next()) };
}

t.test('the handshake: the chosen subprotocol is answered and ws accepts our Sec-WebSocket-Accept', async (t) => {
  const server = await serve(t, {}, 'v5.channel.k8s.io');
  const ws = await open(server.url, 'v5.channel.k8s.io');
  t.equal(ws.protocol, 'v5.channel.k8s.io');
  ws.close();
  await once(ws, 'close');
});

t.test('a large binary message arrives in several pieces, byte for byte; a text message whole', async (t) => {
  const { ws, client, received } = await connected(t);
  const payload = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
  ws.send(payload);
  ws.send('héllo');
  const clientClosed = once(ws, 'close');
  ws.close(4000, 'done');
  const [code, reason] = await once(client, 'close');
  t.equal(code, 4000, "the client's close code");
  t.equal(reason, 'done');
  t.equal(received.binary.length, 1);
  t.ok(received.binary[0]!.length > 1, `streamed: ${received.binary[0]!.length} pieces`);
  t.ok(Buffer.concat(received.binary[0]!).equals(payload), 'unmasked and in order');
  t.same(received.text, ['héllo']);
  const [clientCode] = await clientClosed;
  t.equal(clientCode, 4000, 'the close frame is echoed');
});

t.test('pings are answered; our pings are answered by the client', async (t) => {
  const { ws, client } = await connected(t);
  ws.ping(Buffer.from('abc'));
  const [data] = await once(ws, 'pong');
  t.equal(data.toString(), 'abc', 'the pong carries the ping payload');
  client.ping();
  await once(client, 'pong');
  t.pass('our ping was answered');
  const closed = once(client, 'close');
  ws.terminate();
  const [code] = await closed;
  t.equal(code, 1006, 'no close frame: abnormal closure');
});

t.test('messages go out as frames; close sends code and reason and waits for the echo', async (t) => {
  const { ws, client } = await connected(t);
  const messages: [string, boolean][] = [];
  ws.on('message', (data, isBinary) => messages.push([data.toString(), isBinary]));
  let written = false;
  client.send(Buffer.from('binary'), true, () => (written = true));
  client.send('text', false);
  client.send(Buffer.alloc(70_000, 'x'), true);
  const serverClosed = once(client, 'close');
  client.close(1000, 'x'.repeat(200));
  const [code, reason] = await once(ws, 'close');
  t.equal(code, 1000);
  t.equal(reason.length, 123, 'the reason is cut to what a control frame holds');
  t.same(messages.slice(0, 2), [
    ['binary', true],
    ['text', false],
  ]);
  t.equal(messages[2]![0].length, 70_000, 'a 64-bit length');
  t.ok(written, 'the write callback ran');
  const [serverCode] = await serverClosed;
  t.equal(serverCode, 1000, "the client's echo was read");
});

t.test('a small message (a keystroke) is one socket write of the whole frame; above 1 KiB the payload is not copied', async (t) => {
  const chunks: Buffer[][] = [];
  const socket = new Duplex({
    read: () => undefined,
    write: (chunk: Buffer, _encoding, done) => (chunks.push([chunk]), done()),
    writev: (pieces, done) => (chunks.push(pieces.map((piece) => piece.chunk as Buffer)), done()),
  });
  const client = new ClientWebSocket(socket, Buffer.alloc(0), '');
  const atLimit = Buffer.alloc(1024, 0x61);
  const aboveLimit = Buffer.alloc(1025, 0x62);
  client.send(Buffer.from([1, 0x78]), true);
  client.send(atLimit, true);
  client.send(aboveLimit, true);
  client.send('1', false);
  t.same(
    chunks.map((pieces) => pieces.map((piece) => piece.length)),
    [[4], [4 + 1024], [4, 1025], [3]],
    'whole frames up to 1 KiB, a writev of header and payload above',
  );
  t.same([...chunks[0]![0]!], [0x82, 2, 1, 0x78]);
  t.ok(chunks[1]![0]!.subarray(4).equals(atLimit));
  t.equal(chunks[2]![1], aboveLimit, "above the limit the payload is the caller's buffer");
  t.same([...chunks[3]![0]!], [0x81, 1, 0x31]);
});

t.test('protocol errors close with their code and the reason', async (t) => {
  for (const [name, act, expected] of [
    ['message above the limit', (ws: WebSocket) => ws.send(Buffer.alloc(2000)), 1009],
    ['text that is not UTF-8', (ws: WebSocket) => ws.send(Buffer.from([0xff, 0xfe]), { binary: false }), 1007],
  ] as const) {
    const { ws, client, received } = await connected(t, { maxMessageBytes: 1000 });
    const serverClosed = once(client, 'close');
    act(ws);
    const [code, reason] = await once(ws, 'close');
    t.equal(code, expected, `${name}: ${reason}`);
    const [serverCode] = await serverClosed;
    t.equal(serverCode, expected, `${name}: reported as the session's close`);
    t.same(received, { binary: [], text: [] }, `${name}: nothing of it was handed on`);
  }
});

/** A raw TCP client: sends the upgrade request (and whatever follows in the same write), collects bytes. */
async function rawClient(port: number, after: Buffer = Buffer.alloc(0)): Promise<{ socket: Socket; bytes: () => Buffer }> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk) => chunks.push(chunk));
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  const request = 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
  socket.write(Buffer.concat([Buffer.from(request), after]));
  return { socket, bytes: () => Buffer.concat(chunks) };
}

/** A masked client frame (mask 1,2,3,4). */
function clientFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i]! ^ mask[i % 4]!;
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | payload.length]), mask, masked]);
}

t.test('a frame sent with the upgrade request (the head) is read, before later socket data', async (t) => {
  const server = await serve(t);
  const { socket, bytes } = await rawClient(server.port, clientFrame(2, Buffer.from('early')));
  const { received } = await server.next();
  socket.write(clientFrame(2, Buffer.from('late')));
  socket.write(clientFrame(8, Buffer.from([0x03, 0xe8])));
  await once(socket, 'close');
  t.same(
    received.binary.map((pieces) => Buffer.concat(pieces).toString()),
    ['early', 'late'],
  );
  const text = bytes().toString('latin1');
  t.match(text, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  t.match(text, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/, "RFC 6455's own example key and answer");
  t.ok(bytes().subarray(-4).equals(Buffer.from([0x88, 0x02, 0x03, 0xe8])), 'the close frame (1000) is echoed, then the socket ends');
});

t.test('a client that never answers our close frame is cut after the close timeout', async (t) => {
  const server = await serve(t, { closeTimeoutMs: 50 });
  const { socket } = await rawClient(server.port);
  const { client } = await server.next();
  const closed = once(client, 'close');
  client.close(1001, 'going away');
  const [code] = await closed;
  t.equal(code, 1006, 'cut without a close frame from the client');
  socket.destroy();
});

t.test('a client that half-closes TCP without a close frame ends the session', async (t) => {
  const server = await serve(t);
  const { socket } = await rawClient(server.port);
  const { client } = await server.next();
  const closed = once(client, 'close');
  socket.end();
  const [code] = await closed;
  t.equal(code, 1006);
});
