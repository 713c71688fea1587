// ClientWebSocket in the client role (the gateway as the WebSocket client of an upstream): every
// frame it sends is masked (RFC 6455 §5.1) and reads back as sent; frames from the server are
// unmasked, and a masked one fails the connection with 1002.
import t from 'tap';
import { PassThrough } from 'node:stream';
import { encodeFrame, encodeMaskedFrame, maskFrame, Opcode, WebSocketFrameParser } from '../../src/codecs/websocket/frames.js';
import { MaskKeys } from '../../src/connections/websocket/mask-keys.js';
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

/** A ClientWebSocket in the client role over a socket whose writes are captured; `binaryData` gets what the server sends. */
function clientRole(protocol: string, binaryData: (piece: Buffer) => void = () => undefined): { socket: PassThrough; written: Buffer[]; client: ClientWebSocket } {
  const socket = new PassThrough();
  const written: Buffer[] = [];
  const duplex = Object.assign(socket, { write: (chunk: Buffer, cb?: () => void) => (written.push(Buffer.from(chunk)), cb?.(), true) });
  const client = new ClientWebSocket(duplex as unknown as PassThrough, Buffer.alloc(0), protocol, { role: 'client', closeTimeoutMs: 10 });
  client.receive({ binaryStart: () => undefined, binaryData, binaryEnd: () => undefined, text: () => undefined });
  return { socket, written, client };
}

t.test('maskFrame: the masked copy reads back as the original, for each length form', async (t) => {
  for (const size of [0, 5, 125, 126, 70_000]) {
    const payload = Buffer.alloc(size, 0x5a);
    const server = serverSide();
    server.parser.push(maskFrame(encodeFrame(Opcode.binary, payload), Buffer.from([1, 2, 3, 4])));
    t.ok(server.messages[0]!.equals(payload), `${size} bytes`);
  }
});

t.test('encodeMaskedFrame: byte for byte, with and without a prefix byte', async (t) => {
  const key = Buffer.from([0x01, 0x02, 0x03, 0x04]);
  t.same([...encodeMaskedFrame(Opcode.binary, Buffer.from([0x10, 0x20, 0x30, 0x40, 0x50]), key)], [0x82, 0x85, 1, 2, 3, 4, 0x11, 0x22, 0x33, 0x44, 0x51]);
  // The prefix is the payload's first byte, masked with key[0]; the payload's masking starts at key[1].
  t.same([...encodeMaskedFrame(Opcode.binary, Buffer.from([0x10, 0x20, 0x30]), key, 0x00)], [0x82, 0x84, 1, 2, 3, 4, 0x01, 0x12, 0x23, 0x34]);
  t.same([...encodeMaskedFrame(Opcode.text, Buffer.alloc(0), key)], [0x81, 0x80, 1, 2, 3, 4]);
  const long = encodeMaskedFrame(Opcode.binary, Buffer.alloc(300, 0xff), key, 0x07);
  t.same([...long.subarray(0, 8)], [0x82, 0xfe, 0x01, 0x2d, 1, 2, 3, 4], '301 bytes: the 16-bit length form, then the key');
  t.same([...long.subarray(8, 13)], [0x06, 0xfd, 0xfc, 0xfb, 0xfe]);
});

t.test('encodeMaskedFrame: reads back as the payload for each length form, the same bytes as maskFrame(encodeFrame)', async (t) => {
  const key = Buffer.from([0x9a, 0x3c, 0x00, 0xf1]);
  for (const size of [0, 1, 5, 31, 32, 33, 125, 126, 127, 65_535, 65_536, 70_000]) {
    const payload = Buffer.from(Array.from({ length: size }, (_, i) => (i * 7 + 3) & 0xff));
    for (const prefix of [undefined, 2]) {
      if (prefix !== undefined && size === 0) continue;
      const frame = encodeMaskedFrame(Opcode.binary, payload, key, prefix);
      t.ok(frame.equals(maskFrame(encodeFrame(Opcode.binary, payload, prefix), key)), `${size} bytes, prefix ${prefix}: as maskFrame makes it`);
      const server = serverSide();
      server.parser.push(frame);
      const expected = prefix === undefined ? payload : Buffer.concat([Buffer.from([prefix]), payload]);
      t.ok(server.messages[0]!.equals(expected), `${size} bytes, prefix ${prefix}: read back`);
    }
  }
  t.equal(key.toString('hex'), '9a3c00f1', 'the key is not changed');
});

t.test('MaskKeys: four fresh bytes per frame, different frame to frame, across pool refills', async (t) => {
  const keys = new MaskKeys();
  const seen = new Set<string>();
  // 8 KiB pool of 4-byte keys: 2,048 per fill, so 5,000 keys cross two refills.
  let lengths = 0;
  for (let i = 0; i < 5_000; i++) {
    const key = keys.next();
    lengths += key.length;
    seen.add(key.toString('hex'));
  }
  t.equal(lengths, 20_000, 'four bytes each');
  // 5,000 draws from 2^32 collide with a chance of about 0.3 %: allow one.
  t.ok(seen.size >= 4_999, `${seen.size} distinct keys of 5,000`);
});

t.test('the client role masks each frame with its own key', async (t) => {
  const { socket, written, client } = clientRole('v5.channel.k8s.io');
  const payload = Buffer.alloc(2_000, 0x41);
  for (let i = 0; i < 50; i++) client.sendPrefixed(0, payload);
  for (let i = 0; i < 50; i++) client.send(payload, true);
  const keys = new Set(written.map((frame) => frame.subarray(4, 8).toString('hex')));
  t.equal(written.length, 100);
  t.ok(keys.size >= 99, `${keys.size} distinct keys over 100 frames`);
  const server = serverSide();
  for (const chunk of written) server.parser.push(chunk);
  t.equal(server.messages.length, 100, 'every frame read back');
  t.ok(server.messages.slice(0, 50).every((m) => m.length === 2_001 && m[0] === 0 && m.subarray(1).equals(payload)), 'prefixed messages read back');
  t.ok(server.messages.slice(50).every((m) => m.equals(payload)), 'plain messages read back');
  t.same(payload, Buffer.alloc(2_000, 0x41), "the caller's payload is not changed");
  socket.destroy();
});

t.test('the client role masks messages, pings and its close; server frames are read unmasked', async (t) => {
  const received: Buffer[] = [];
  const { socket, written, client } = clientRole('v5.channel.k8s.io', (piece) => received.push(Buffer.from(piece)));
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
  const { socket, written } = clientRole('');
  socket.emit('data', maskFrame(encodeFrame(Opcode.binary, Buffer.from('x')), Buffer.from([9, 9, 9, 9])));
  const server = serverSide();
  for (const chunk of written) server.parser.push(chunk);
  t.same(server.closes, [1002]);
  socket.destroy();
});
