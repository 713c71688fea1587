// ClientWebSocket in the client role (the gateway as the WebSocket client of an upstream): every
// frame it sends is masked (RFC 6455 §5.1) and reads back as sent; frames from the server are
// unmasked, and a masked one fails the connection with 1002.
import t from 'tap';
import { PassThrough } from 'node:stream';
import { encodeFrame, maskFrame, Opcode, WebSocketFrameParser } from '../../src/codecs/websocket/frames.js';
import { ClientWebSocket } from '../../src/connections/websocket/client-websocket.js';

/** What a server reads from the client's frames (the parser requires masking by default). */
function serverSide(): { parser: WebSocketFrameParser; messages: Buffer[]; closes: number[]; pings: number } {
  const seen = { messages: [] as Buffer[], closes: [] as number[], pings: 0 };
  let pieces: Buffer[] = [];
  const parser = new WebSocketFrameParser(
    {
      messageStart: () => (pieces = []),
      messageData: (piece) => pieces.push(Buffer.from(piece)),
      messageEnd: () => seen.messages.push(Buffer.concat(pieces)),
      ping: () => seen.pings++,
      pong: () => undefined,
      close: (code) => seen.closes.push(code),
    },
    { maxMessageBytes: 1 << 20 },
  );
  return Object.assign(seen, { parser });
}

t.test('maskFrame: the masked copy reads back as the original, for each length form', async (t) => {
  for (const size of [0, 5, 125, 126, 70_000]) {
    const payload = Buffer.alloc(size, 0x5a);
    const server = serverSide();
    server.parser.push(maskFrame(encodeFrame(Opcode.binary, payload), Buffer.from([1, 2, 3, 4])));
    t.ok(server.messages[0]!.equals(payload), `${size} bytes`);
  }
});

t.test('the client role masks messages, pings and its close; server frames are read unmasked', async (t) => {
  const socket = new PassThrough();
  const written: Buffer[] = [];
  const wire = { write: (chunk: Buffer) => written.push(chunk) };
  const duplex = Object.assign(socket, { write: (chunk: Buffer, cb?: () => void) => (wire.write(Buffer.from(chunk)), cb?.(), true) });
  const client = new ClientWebSocket(duplex as unknown as PassThrough, Buffer.alloc(0), 'v5.channel.k8s.io', { role: 'client', closeTimeoutMs: 10 });
  const received: Buffer[] = [];
  client.receive({ binaryStart: () => undefined, binaryData: (piece) => received.push(Buffer.from(piece)), binaryEnd: () => undefined, text: () => undefined });
  client.send(Buffer.from([0, 104, 105]), true);
  client.send(Buffer.alloc(20_000, 7), true);
  client.ping();
  client.close(1000, '');
  const server = serverSide();
  for (const chunk of written) server.parser.push(chunk);
  t.same(server.messages.map((m) => m.length), [3, 20_000], 'both messages read back by a server');
  t.equal(server.pings, 1);
  t.same(server.closes, [1000]);
  socket.emit('data', encodeFrame(Opcode.binary, Buffer.from([1, 111, 107])));
  t.same(Buffer.concat(received), Buffer.from([1, 111, 107]), 'an unmasked server frame is read');
  socket.destroy();
});

t.test('a masked frame from the server fails the connection with 1002', async (t) => {
  const socket = new PassThrough();
  const written: Buffer[] = [];
  const duplex = Object.assign(socket, { write: (chunk: Buffer, cb?: () => void) => (written.push(Buffer.from(chunk)), cb?.(), true) });
  const client = new ClientWebSocket(duplex as unknown as PassThrough, Buffer.alloc(0), '', { role: 'client', closeTimeoutMs: 10 });
  client.receive({ binaryStart: () => undefined, binaryData: () => undefined, binaryEnd: () => undefined, text: () => undefined });
  socket.emit('data', maskFrame(encodeFrame(Opcode.binary, Buffer.from('x')), Buffer.from([9, 9, 9, 9])));
  const server = serverSide();
  for (const chunk of written) server.parser.push(chunk);
  t.same(server.closes, [1002]);
  socket.destroy();
});
