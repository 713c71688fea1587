import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import t, { type Test } from 'tap';
import { WebSocket } from 'ws';
import { until } from '../helpers/wait.js';
import { acceptClientWebSocket, ClientWebSocket, type ClientWebSocketLimits, type IncomingMessages } from '../../src/connections/websocket/client-websocket.js';
import { WebSocketPeer } from '../../src/connections/websocket/websocket-peer.js';

interface Received {
  binary: Buffer[][];
  text: string[];
}

/** An HTTP server whose upgrades become ClientWebSockets recording what they receive. */
async function serve(t: Test, limits: ClientWebSocketLimits = {}, protocol?: string, tooLarge?: (client: ClientWebSocket, limit: number) => void) {
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
      ...(tooLarge ? { tooLarge: (limit: number) => tooLarge(client, limit) } : {}),
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

t.test('a prefixed message (a channel message): one copied frame below 1 KiB, else header+prefix and the payload buffer itself; counted as payload + 1', async (t) => {
  const chunks: Buffer[][] = [];
  // Writes complete at once, except while `held` (the kernel not taking them: back-pressure).
  let held: (() => void) | undefined;
  const complete = (callback: () => void, hold: boolean): void => {
    if (hold) held = callback;
    else callback();
  };
  let hold = false;
  const socket = new Duplex({
    read: () => undefined,
    write: (chunk: Buffer, _encoding, callback) => (chunks.push([chunk]), complete(callback, hold)),
    writev: (pieces, callback) => (chunks.push(pieces.map((piece) => piece.chunk as Buffer)), complete(callback, hold)),
  });
  const client = new ClientWebSocket(socket, Buffer.alloc(0), '');
  const small = Buffer.alloc(1023, 0x61);
  const large = Buffer.alloc(1024, 0x62);
  client.sendPrefixed(1, Buffer.from('x'));
  client.sendPrefixed(2, small);
  hold = true;
  const peer = new WebSocketPeer(client, { highWaterMark: 1025 });
  t.teardown(() => peer.terminate());
  t.equal(peer.sendPrefixed(3, large), false, 'payload + channel byte reach the high-water mark');
  t.equal(peer.unflushedBytes, 1025);
  t.same(chunks.map((pieces) => pieces.map((piece) => piece.length)), [[4], [4 + 1024], [5, 1024]]);
  t.same([...chunks[0]![0]!], [0x82, 2, 1, 0x78]);
  t.same([...chunks[1]![0]!.subarray(0, 5)], [0x82, 126, 0x04, 0x00, 2]);
  t.same([...chunks[2]![0]!], [0x82, 126, 0x04, 0x01, 3]);
  t.equal(chunks[2]![1], large, "the payload is the caller's buffer, not a copy");
  const drained = once(peer, 'drain');
  held!();
  await drained;
  t.equal(peer.unflushedBytes, 0);
});

t.test('protocol errors close with their code and the reason', async (t) => {
  for (const [name, act, expected] of [
    ['text message above the limit', (ws: WebSocket) => ws.send('x'.repeat(2000)), 1009],
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

t.test('a binary message over maxMessageBytes is streamed on, not refused; a text one is refused with the limit named, after the consumer had its say', async (t) => {
  const said: string[] = [];
  const server = await serve(t, { maxMessageBytes: 1000 }, undefined, (client, limit) => {
    said.push(`limit ${limit}`);
    client.send(`over ${limit}`, false);
  });
  const ws = await open(server.url);
  const { client, received } = await server.next();
  const serverClosed = once(client, 'close');
  const payload = Buffer.alloc(5000, 7);
  ws.send(payload);
  ws.send('short text');
  const messages: string[] = [];
  ws.on('message', (data) => messages.push(data.toString()));
  ws.send('y'.repeat(1001));
  const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
  t.equal(code, 1009);
  t.match(reason.toString(), /over 1000 bytes \(limits\.maxMessageBytes\)/, 'the close reason names the limit');
  t.same(said, ['limit 1000'], 'the consumer was told');
  t.same(messages, ['over 1000'], "the consumer's message went out before the close frame");
  t.ok(Buffer.concat(received.binary[0]!).equals(payload), 'the 5000-byte binary message arrived whole');
  t.same(received.text, ['short text']);
  const [, , cut] = await serverClosed;
  t.same(cut, { outcome: 'message-too-large', reason: 'a text message over 1000 bytes (limits.maxMessageBytes)' });
});

/** A socket whose peer never reads: writes are queued and never complete; what the test pushes is what the client sent. */
class UnreadSocket extends Duplex {
  override _read(): void {}
  override _write(_chunk: Buffer, _encoding: BufferEncoding, _callback: () => void): void {
    // Never called back: the kernel buffer toward the client is full.
  }
}

/** Masked pings, `n` of them in one buffer (one socket read). */
function pings(n: number): Buffer {
  const one = clientFrame(0x9, Buffer.from('hi'));
  return Buffer.concat(Array.from({ length: n }, () => one));
}

t.test('a client flooding pings without reading: one pong queued at most, reading paused, then cut with 1008 naming the flood', async (t) => {
  const socket = new UnreadSocket();
  const client = new ClientWebSocket(socket, Buffer.alloc(0), '', { controlFloodTimeoutMs: 1_000 });
  client.receive({ binaryStart: () => undefined, binaryData: () => undefined, binaryEnd: () => undefined, text: () => undefined });
  const closed = once(client, 'close');
  for (let i = 0; i < 5; i++) socket.push(pings(10_000));
  await new Promise((resolve) => setImmediate(resolve));
  t.ok(socket.writableLength <= 16, `${socket.writableLength} bytes of answers queued for 50,000 pings (one pong)`);
  t.ok(client.queuedControlBytes <= 129, 'counted in what the session holds');
  t.ok(socket.isPaused(), 'the socket is no longer read');
  const [code, reason, cut] = await closed;
  t.equal(code, 1008, 'policy violation');
  t.match(reason, /pings sent without reading the answers/);
  t.equal(cut?.outcome, 'control-flood');
});

t.test('pings that are read and answered promptly are never treated as a flood', async (t) => {
  const { ws, client } = await connected(t, { controlFloodTimeoutMs: 20 });
  let pongs = 0;
  ws.on('pong', () => pongs++);
  for (let i = 0; i < 200; i++) {
    ws.ping();
    if (i % 50 === 0) await once(ws, 'pong');
  }
  await until(() => pongs >= 4, 'pongs');
  ws.send('still here');
  const closed = once(client, 'close');
  ws.close(1000);
  const [code] = await closed;
  t.equal(code, 1000, 'the client closed it, the gateway did not cut it');
});

t.test('liveness is any traffic: a client that never answers pings but keeps sending stays; a silent one is cut after 12 intervals + 1 s', async (t) => {
  const server = await serve(t);
  const ws = new WebSocket(server.url, { autoPong: false });
  ws.on('error', () => undefined);
  await once(ws, 'open');
  const { client, received } = await server.next();
  const peer = new WebSocketPeer(client, { pingIntervalMs: 20 });
  let pingsSeen = 0;
  // The old rule cut a client whose ping was unanswered at the next one (40 ms here); 80 pings is 1.6 s, past the 1.24 s silence bound too.
  await new Promise<void>((resolve) => {
    ws.on('ping', () => {
      if (++pingsSeen <= 80) ws.send(`stdin ${pingsSeen}`);
      if (pingsSeen === 80) resolve();
    });
    ws.on('close', () => resolve());
  });
  t.ok(peer.isOpen, 'still open after 80 unanswered pings while sending');
  await until(() => received.text.length === 80, 'every message to arrive');
  const started = Date.now();
  const [code, reason, cut] = (await once(peer, 'close')) as [number, string, { outcome: string } | undefined];
  const silentMs = Date.now() - started;
  t.equal(cut?.outcome, 'ping-timeout');
  t.equal(code, 1008);
  t.match(reason, /nothing received from the client for 1\.24 s \(12 × limits\.pingIntervalSeconds \+ 1 s\)/);
  t.ok(silentMs >= 1_200, `cut after ${silentMs} ms of silence, not before the bound`);
});

t.test('a client is not cut as silent while the gateway itself is not reading it (back-pressure toward the upstream)', async (t) => {
  const server = await serve(t);
  const ws = new WebSocket(server.url, { autoPong: false });
  ws.on('error', () => undefined);
  await once(ws, 'open');
  const { client } = await server.next();
  const peer = new WebSocketPeer(client, { pingIntervalMs: 20 });
  client.pause();
  let pingsSeen = 0;
  // 80 pings (1.6 s) of saying nothing, past the 1.24 s silence bound, while the gateway is not reading.
  await new Promise<void>((resolve) => {
    ws.on('ping', () => ++pingsSeen === 80 && resolve());
    ws.on('close', () => resolve());
  });
  t.ok(peer.isOpen, 'not cut while paused');
  client.resume();
  const [, , cut] = (await once(peer, 'close')) as [number, string, { outcome: string } | undefined];
  t.equal(cut?.outcome, 'ping-timeout', 'reading again, the silence bound applies once more');
});
