// A SPDY stream read with readPayloads: payloads reach the reader as they arrive, each with whether
// the byte before it is the reader's (the parser's spareByteBefore). Channel framing over that byte
// is the zero-copy download; a byte the reader does not own must never be written.
import t from 'tap';
import { Duplex } from 'node:stream';
import { setImmediate as turn } from 'node:timers/promises';
import { SpdyConnection } from '../../src/connections/spdy/spdy-connection.js';
import { encodeDataFrameHeader } from '../../src/codecs/spdy/frames.js';
import { encodeChannelMessage } from '../../src/codecs/channels/framing.js';
import { REMOTE_COMMAND_PROTOCOLS } from '../../src/codecs/channels/protocols.js';

const V5 = REMOTE_COMMAND_PROTOCOLS.find((protocol) => protocol.name === 'v5.channel.k8s.io')!;

function fakeSocket(): Duplex {
  return new Duplex({ read() {}, write(_chunk, _encoding, callback) { callback(); } });
}

async function openedStream() {
  const socket = fakeSocket();
  const connection = new SpdyConnection(socket, { role: 'client', streamHighWaterMark: 16 });
  const stream = connection.openStream({ streamtype: 'stdout' });
  const got: { payload: Buffer; spareByteBefore: boolean }[] = [];
  stream.readPayloads((payload, spareByteBefore) => got.push({ payload, spareByteBefore }));
  await turn();
  return { socket, connection, stream, got };
}

t.test('a payload after its header in the same socket read: framed over the header byte, sharing the read buffer', async (t) => {
  const { socket, got } = await openedStream();
  const text = Buffer.alloc(8192, 'x');
  const read = Buffer.concat([encodeDataFrameHeader(1, text.length, false), text]);
  socket.emit('data', read);
  t.equal(got.length, 1);
  t.equal(got[0]!.spareByteBefore, true);
  t.equal(got[0]!.payload.buffer, read.buffer, 'the payload is a view of the socket read');
  const message = encodeChannelMessage(1, got[0]!.payload, V5, got[0]!.spareByteBefore).data as Buffer;
  t.equal(message.buffer, read.buffer, 'the message sent shares the ArrayBuffer of the socket read');
  t.equal(message.byteOffset, read.byteOffset + 7);
  t.same(message, Buffer.concat([Buffer.from([1]), text]));
});

t.test('a continuation at the start of a read in shared memory: not the reader\'s byte, copied, neighbour untouched', async (t) => {
  const { socket, got } = await openedStream();
  socket.emit('data', encodeDataFrameHeader(1, 6, false));
  // The next read sits inside a larger allocation (as Node's pooled reads do): the byte before it is someone else's.
  const pool = Buffer.from('Zabcdef');
  socket.emit('data', pool.subarray(1));
  t.equal(got.length, 1);
  t.equal(got[0]!.spareByteBefore, false);
  const message = encodeChannelMessage(1, got[0]!.payload, V5, got[0]!.spareByteBefore).data as Buffer;
  t.notOk(message.buffer === pool.buffer && message.byteOffset === pool.byteOffset, 'not framed over the neighbour byte');
  t.equal(pool[0], 'Z'.charCodeAt(0), 'the byte before it is left alone');
  t.same(message, Buffer.from([1, ...Buffer.from('abcdef')]));
});

t.test('a paused reader: payloads held in order with their flags, the socket paused past the high-water mark, end after the last', async (t) => {
  const { socket, stream, got } = await openedStream();
  let ended = false;
  stream.on('end', () => (ended = true));
  stream.pauseReader();
  socket.emit('data', Buffer.concat([encodeDataFrameHeader(1, 10, false), Buffer.from('0123456789')]));
  socket.emit('data', Buffer.concat([encodeDataFrameHeader(1, 10, true), Buffer.from('abcdefghij')]));
  t.equal(got.length, 0, 'nothing delivered while paused');
  t.equal(stream.unreadBytes, 20);
  t.equal(socket.isPaused(), true, 'the socket is no longer read past 16 bytes held');
  await turn();
  t.equal(ended, false, 'the end waits behind the held payloads');
  stream.resumeReader();
  t.same(got.map((piece) => [piece.payload.toString(), piece.spareByteBefore]), [['0123456789', true], ['abcdefghij', true]]);
  t.equal(stream.unreadBytes, 0);
  t.equal(socket.isPaused(), false, 'reading resumes');
  await turn();
  t.equal(ended, true);
});
