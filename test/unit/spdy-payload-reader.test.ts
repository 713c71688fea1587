// A SPDY stream read with readPayloads, and the download path behind it: payloads reach the reader as
// views of the socket reads, and a Bridge to a binary channel hands them to the client socket as is —
// the same buffer, never copied, the memory around it never written — whether a piece follows its
// frame header in the same read or continues a frame at the start of the next one (what TLS's 16 KiB
// reads make of every 32 KiB DATA frame). The channel byte travels with the WebSocket frame header.
import t from 'tap';
import { Duplex } from 'node:stream';
import { setImmediate as turn } from 'node:timers/promises';
import { SpdyConnection } from '../../src/connections/spdy/spdy-connection.js';
import { SpdyStreams } from '../../src/connections/spdy/spdy-streams.js';
import { ClientWebSocket } from '../../src/connections/websocket/client-websocket.js';
import { ChannelConnection } from '../../src/connections/websocket/channel-connection.js';
import { Bridge } from '../../src/translators/bridge.js';
import { encodeDataFrameHeader } from '../../src/codecs/spdy/frames.js';
import { REMOTE_COMMAND_PROTOCOLS } from '../../src/codecs/channels/protocols.js';

const V5 = REMOTE_COMMAND_PROTOCOLS.find((protocol) => protocol.name === 'v5.channel.k8s.io')!;

function fakeSocket(): Duplex {
  return new Duplex({ read() {}, write(_chunk, _encoding, callback) { callback(); } });
}

async function openedStream() {
  const socket = fakeSocket();
  const connection = new SpdyConnection(socket, { role: 'client', streamHighWaterMark: 16 });
  const stream = connection.openStream({ streamtype: 'stdout' });
  const got: Buffer[] = [];
  stream.readPayloads((payload) => got.push(payload));
  await turn();
  return { socket, connection, stream, got };
}

/** Upstream SPDY socket → Bridge → channel 2 of a v5 client WebSocket whose socket records each write as its list of buffers. */
async function downloadPath() {
  const upstream = fakeSocket();
  const spdy = new SpdyStreams(new SpdyConnection(upstream, { role: 'client' }));
  const writes: Buffer[][] = [];
  const client = new Duplex({
    read: () => undefined,
    write: (chunk: Buffer, _encoding, done) => (writes.push([chunk]), done()),
    writev: (pieces, done) => (writes.push(pieces.map((piece) => piece.chunk as Buffer)), done()),
  });
  const channels = new ChannelConnection(new ClientWebSocket(client, Buffer.alloc(0), V5.name), V5);
  new Bridge().pump({ name: 'stderr', direction: 'to-client', from: spdy.openStream({ streamtype: 'stderr' }), to: channels.channel(2) });
  await turn();
  return { upstream, writes };
}

t.test('a payload after its header in the same socket read is written to the client as is; the header byte is untouched', async (t) => {
  const { upstream, writes } = await downloadPath();
  // Above Buffer's pool size; the length's last byte (0x33) is what a frame-in-place would overwrite.
  const text = Buffer.alloc(8192 + 0x33, 'x');
  const read = Buffer.concat([encodeDataFrameHeader(1, text.length, false), text]);
  upstream.emit('data', read);
  t.equal(writes.length, 1, 'one write: header and payload gathered');
  const [header, payload] = writes[0]!;
  t.same([...header!], [0x82, 126, (text.length + 1) >>> 8, (text.length + 1) & 0xff, 2], 'frame header + channel byte, one small buffer');
  t.equal(payload!.buffer, read.buffer, 'the payload written is a view of the socket read: no copy');
  t.equal(payload!.byteOffset, read.byteOffset + 8);
  t.equal(payload!.length, text.length);
  t.equal(read[7], 0x33, 'the byte before the payload is never written');
  t.same(Buffer.concat(writes[0]!).subarray(4), Buffer.concat([Buffer.from([2]), text]), 'the message on the wire');
});

t.test('a continuation at the start of a read (pooled memory) is written as is too, its neighbour untouched', async (t) => {
  const { upstream, writes } = await downloadPath();
  const text = Buffer.alloc(8192, 'y'); // above Buffer's pool size: a copy cannot share the read's ArrayBuffer
  upstream.emit('data', Buffer.concat([encodeDataFrameHeader(1, 2 * text.length, false), text]));
  // The next read sits inside a larger allocation (as Node's pooled reads do): the byte before it is someone else's.
  const pool = Buffer.concat([Buffer.from('Z'), Buffer.alloc(text.length, 'z')]);
  const continuation = pool.subarray(1);
  upstream.emit('data', continuation);
  t.equal(writes.length, 2);
  const [header, payload] = writes[1]!;
  t.same([...header!], [0x82, 126, (text.length + 1) >>> 8, (text.length + 1) & 0xff, 2]);
  t.equal(payload!.buffer, continuation.buffer, 'a view of the socket read, no copy');
  t.equal(payload!.byteOffset, continuation.byteOffset);
  t.equal(payload!.length, continuation.length);
  t.equal(pool[0], 'Z'.charCodeAt(0), 'the byte before it is left alone');
});

t.test('a small payload goes out as one copied frame (a keystroke costs one write)', async (t) => {
  const { upstream, writes } = await downloadPath();
  upstream.emit('data', Buffer.concat([encodeDataFrameHeader(1, 2, false), Buffer.from('hi')]));
  t.same(writes.map((pieces) => pieces.map((piece) => [...piece])), [[[0x82, 3, 2, 0x68, 0x69]]]);
});

t.test('a paused reader: payloads held in order, the socket paused past the high-water mark, end after the last', async (t) => {
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
  t.same(got.map((piece) => piece.toString()), ['0123456789', 'abcdefghij']);
  t.equal(stream.unreadBytes, 0);
  t.equal(socket.isPaused(), false, 'reading resumes');
  await turn();
  t.equal(ended, true);
});

t.test('payloads held for a paused reader survive the connection closing after the peer FIN: all arrive, then the end', async (t) => {
  // The download that lost its last ~140 KiB: the upstream sent its last DATA with FIN and closed the
  // connection while the client was behind, and the stream was failed with what it still held.
  const { socket, stream, got } = await openedStream();
  let ended = false;
  let failure: Error | undefined;
  stream.on('end', () => (ended = true));
  stream.on('error', (error) => (failure = error));
  stream.pauseReader();
  socket.emit('data', Buffer.concat([encodeDataFrameHeader(1, 5, false), Buffer.from('hello'), encodeDataFrameHeader(1, 6, true), Buffer.from(' world')]));
  socket.destroy();
  await turn();
  t.same(got, [], 'held while the reader is paused');
  stream.resumeReader();
  await turn();
  t.equal(Buffer.concat(got).toString(), 'hello world', 'every byte the peer sent before its FIN');
  t.ok(ended, 'then the end');
  t.equal(failure, undefined, 'not failed: the peer had finished it');
});
