// SPDY/3 framing against real captures of kubectl ↔ kubelet (moby/spdystream), split at every byte
// boundary; encoders checked byte for byte against the same captures; round trips; malformed input.
import t from 'tap';
import {
  SpdyFrameParser,
  SpdyProtocolError,
  GoawayStatus,
  RstStatus,
  encodeDataFrame,
  encodeDataFrameHeader,
  encodeGoaway,
  encodeHeaders,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeSynReply,
  encodeSynStream,
  encodeWindowUpdate,
  type SpdyFrame,
} from '../../src/codecs/spdy/frames.js';
import { HeaderBlockDecoder } from '../../src/codecs/spdy/header-block.js';
import { readCapture } from '../helpers/captures.js';
import { random } from '../helpers/random.js';

type Summary = Record<string, unknown>;
type DataFrame = Extract<SpdyFrame, { type: 'data' }>;

/** Frames with header blocks decoded in order and the pieces of each DATA frame merged. */
function summarize(frames: SpdyFrame[]): Summary[] {
  const decoder = new HeaderBlockDecoder();
  const out: Summary[] = [];
  let open: Summary | undefined;
  for (const frame of frames) {
    if (frame.type === 'data') {
      if (open) open.payload = (open.payload as string) + frame.payload.toString('latin1');
      else out.push((open = { type: 'data', streamId: frame.streamId, payload: frame.payload.toString('latin1') }));
      if (frame.frameComplete) {
        open.fin = frame.fin;
        open = undefined;
      }
      continue;
    }
    const summary: Summary = { ...frame };
    if ('headerBlock' in frame) {
      summary.headers = { ...decoder.decode(frame.headerBlock) };
      delete summary.headerBlock;
    }
    out.push(summary);
  }
  return out;
}

function parseInPieces(bytes: Buffer, cuts: number[]): Summary[] {
  const parser = new SpdyFrameParser();
  const frames: SpdyFrame[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    frames.push(...parser.push(bytes.subarray(from, cut)));
    from = cut;
  }
  return summarize(frames);
}

const SUCCESS = '{"metadata":{},"status":"Success"}';
const syn = (streamId: number, headers: Record<string, string>): Summary => ({
  type: 'syn_stream', streamId, associatedStreamId: 0, priority: 0, fin: false, unidirectional: false, headers,
});
const reply = (streamId: number): Summary => ({ type: 'syn_reply', streamId, fin: false, headers: {} });
const data = (streamId: number, payload: string, fin = false): Summary => ({ type: 'data', streamId, payload, fin });
const cancel = (streamId: number): Summary => ({ type: 'rst_stream', streamId, status: RstStatus.CANCEL });
const HTTP_REQUEST = 'GET / HTTP/1.1\r\nHost: 127.0.0.1:18681\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n';
const PORT_FORWARD_ANSWER = 'spdy-portforward-2conns.server-to-client.bin';

const EXPECTED: Record<string, Summary[]> = {
  'spdy-exec-cat-stdin.client-to-server.bin': [
    syn(1, { streamtype: 'error' }),
    syn(3, { streamtype: 'stdin' }),
    syn(5, { streamtype: 'stdout' }),
    syn(7, { streamtype: 'stderr' }),
    data(3, 'hello\n'),
    data(3, '', true),
  ],
  'spdy-exec-cat-stdin.server-to-client.bin': [
    reply(1), reply(3), reply(5), reply(7),
    data(5, 'hello\n'),
    data(1, SUCCESS),
    cancel(1), cancel(3), cancel(5), cancel(7),
    { type: 'goaway', lastGoodStreamId: 7, status: GoawayStatus.OK },
  ],
  'spdy-exec-exit3.client-to-server.bin': [
    syn(1, { streamtype: 'error' }),
    syn(3, { streamtype: 'stdout' }),
    syn(5, { streamtype: 'stderr' }),
  ],
  'spdy-exec-exit3.server-to-client.bin': [
    reply(1), reply(3), reply(5),
    data(3, 'out\n'),
    data(5, 'err\n'),
    data(1, JSON.stringify({
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: exit status 3',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    })),
    cancel(1), cancel(3), cancel(5),
    { type: 'goaway', lastGoodStreamId: 5, status: GoawayStatus.OK },
  ],
  'spdy-portforward-2conns.client-to-server.bin': [
    syn(1, { streamtype: 'error', port: '18680', requestid: '0' }),
    data(1, '', true),
    syn(3, { streamtype: 'data', port: '18680', requestid: '0' }),
    data(3, HTTP_REQUEST),
    data(3, '', true),
    syn(5, { streamtype: 'error', port: '18680', requestid: '1' }),
    data(5, '', true),
    syn(7, { streamtype: 'data', port: '18680', requestid: '1' }),
    data(7, HTTP_REQUEST),
    data(7, '', true),
    { type: 'ping', id: 1 },
  ],
};
const ALL_CAPTURES = [...Object.keys(EXPECTED), PORT_FORWARD_ANSWER];

t.test('every frame of the exec and port-forward captures, client → server and back', async (t) => {
  for (const [name, expected] of Object.entries(EXPECTED)) {
    t.same(parseInPieces(readCapture(name).spdy, []), expected, name);
  }
  // The port-forward answers carry a date; check their shape and exact lengths instead.
  const frames = parseInPieces(readCapture(PORT_FORWARD_ANSWER).spdy, []);
  t.same(frames.map((f) => `${f.type}:${f.streamId ?? f.id}${f.fin ? ':fin' : ''}`), [
    'syn_reply:1', 'syn_reply:3', 'data:3', 'data:3', 'data:3:fin', 'data:1:fin',
    'syn_reply:5', 'syn_reply:7', 'data:7', 'data:7', 'data:7:fin', 'data:5:fin', 'ping:1',
  ]);
  t.same(frames[0]!.headers, {}, 'header-less SYN_REPLY');
  for (const at of [2, 8]) {
    t.match(frames[at]!.payload, /^HTTP\/1\.0 200 OK\r\n[^]*Content-Length: 603\r\n\r\n$/, 'response head in its own frame');
    t.equal((frames[at + 1]!.payload as string).length, 603, 'the body, exactly Content-Length bytes');
    t.match(frames[at + 1]!.payload, /^<!DOCTYPE HTML>[^]*<\/html>\n$/);
  }
});

t.test('each capture parses identically when split at every byte offset and at random points', async (t) => {
  for (const name of ALL_CAPTURES) {
    const bytes = readCapture(name).spdy;
    const whole = JSON.stringify(parseInPieces(bytes, []));
    let mismatches = 0;
    for (let cut = 1; cut < bytes.length; cut++) {
      if (JSON.stringify(parseInPieces(bytes, [cut])) !== whole) mismatches++;
    }
    t.equal(mismatches, 0, `${name}: all ${bytes.length - 1} two-piece splits`);
    const everyByte = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
    t.equal(JSON.stringify(parseInPieces(bytes, everyByte)), whole, `${name}: one byte at a time`);
    const next = random(bytes.length);
    for (let run = 0; run < 50; run++) {
      const cuts = Array.from({ length: 1 + Math.floor(next() * 20) }, () => Math.floor(next() * bytes.length)).sort((a, b) => a - b);
      if (JSON.stringify(parseInPieces(bytes, cuts)) !== whole) mismatches++;
    }
    t.equal(mismatches, 0, `${name}: 50 random multi-piece splits`);
  }
});

t.test('re-encoding every parsed frame of every capture reproduces the capture byte for byte', async (t) => {
  for (const name of ALL_CAPTURES) {
    const bytes = readCapture(name).spdy;
    const parts: Buffer[] = [];
    for (const frame of new SpdyFrameParser().push(bytes)) {
      switch (frame.type) {
        case 'data':
          parts.push(encodeDataFrameHeader(frame.streamId, frame.payload.length, frame.fin), frame.payload);
          break;
        case 'syn_stream':
          parts.push(encodeSynStream(frame.streamId, frame.headerBlock, frame));
          break;
        case 'syn_reply':
          parts.push(encodeSynReply(frame.streamId, frame.headerBlock, frame.fin));
          break;
        case 'rst_stream':
          parts.push(encodeRstStream(frame.streamId, frame.status));
          break;
        case 'ping':
          parts.push(encodePing(frame.id));
          break;
        case 'goaway':
          parts.push(encodeGoaway(frame.lastGoodStreamId, frame.status));
          break;
        default:
          t.fail(`unexpected ${frame.type} in ${name}`);
      }
    }
    t.ok(Buffer.concat(parts).equals(bytes), name);
  }
  // And literally: the tail of the kubelet's answer is four RST_STREAM CANCEL and a GOAWAY OK.
  const kubelet = readCapture('spdy-exec-cat-stdin.server-to-client.bin').spdy;
  const tail = Buffer.concat([1, 3, 5, 7].map((id) => encodeRstStream(id, RstStatus.CANCEL)).concat(encodeGoaway(7, GoawayStatus.OK)));
  t.equal(kubelet.subarray(kubelet.length - tail.length).toString('hex'), tail.toString('hex'));
  t.equal(tail.subarray(0, 16).toString('hex'), '80030003000000080000000100000005');
  const kubectl = readCapture('spdy-exec-cat-stdin.client-to-server.bin').spdy;
  const stdin = Buffer.concat([encodeDataFrameHeader(3, 6, false), Buffer.from('hello\n'), encodeDataFrameHeader(3, 0, true)]);
  t.equal(kubectl.subarray(kubectl.length - stdin.length).toString('hex'), stdin.toString('hex'));
  t.equal(stdin.subarray(0, 8).toString('hex'), '0000000300000006');
  t.equal(encodePing(1).toString('hex'), '800300060000000400000001');
});

t.test('encoders and parser agree on every frame type and flag', async (t) => {
  const block = Buffer.from('opaque header block');
  const payload = Buffer.alloc(70_000, 0x61);
  const bytes = Buffer.concat([
    encodeSynStream(0x7fffffff, block, { fin: true, unidirectional: true, associatedStreamId: 6, priority: 7 }),
    encodeSynStream(1, Buffer.alloc(0)),
    encodeSynReply(2, block, true),
    encodeHeaders(3, block),
    encodeHeaders(3, block, true),
    encodeDataFrameHeader(5, payload.length, true),
    payload,
    encodeDataFrameHeader(5, 0, false),
    encodeRstStream(9, RstStatus.FRAME_TOO_LARGE),
    encodeSettings([{ id: 7, value: 65536, flags: 1 }, { id: 4, value: 0xffffffff }]),
    encodeSettings([]),
    encodePing(0xfffffffe),
    encodeGoaway(11, GoawayStatus.INTERNAL_ERROR),
    encodeWindowUpdate(13, 0x7fffffff),
  ]);
  const frames = new SpdyFrameParser().push(bytes);
  const readable = (frame: SpdyFrame): unknown => ('headerBlock' in frame ? { ...frame, headerBlock: frame.headerBlock.toString() } : frame);
  t.same(frames.filter((f) => f.type !== 'data').map(readable), [
    { type: 'syn_stream', streamId: 0x7fffffff, associatedStreamId: 6, priority: 7, fin: true, unidirectional: true, headerBlock: 'opaque header block' },
    { type: 'syn_stream', streamId: 1, associatedStreamId: 0, priority: 0, fin: false, unidirectional: false, headerBlock: '' },
    { type: 'syn_reply', streamId: 2, fin: true, headerBlock: 'opaque header block' },
    { type: 'headers', streamId: 3, fin: false, headerBlock: 'opaque header block' },
    { type: 'headers', streamId: 3, fin: true, headerBlock: 'opaque header block' },
    { type: 'rst_stream', streamId: 9, status: 11 },
    { type: 'settings', entries: [{ flags: 1, id: 7, value: 65536 }, { flags: 0, id: 4, value: 0xffffffff }] },
    { type: 'settings', entries: [] },
    { type: 'ping', id: 0xfffffffe },
    { type: 'goaway', lastGoodStreamId: 11, status: 2 },
    { type: 'window_update', streamId: 13, delta: 0x7fffffff },
  ]);
  const dataFrames = frames.filter((f): f is DataFrame => f.type === 'data');
  t.same(dataFrames.map((f) => [f.streamId, f.payload.length, f.fin, f.frameComplete]), [[5, 70_000, true, true], [5, 0, false, true]]);
  t.ok(dataFrames[0]!.payload.equals(payload));
  // The layout the spec fixes: control bit + version 3, type, flags, 24-bit length, then the fields.
  t.equal(encodeSynStream(1, block, { fin: true, priority: 2 }).subarray(0, 18).toString('hex'), '800300010100001d' + '00000001' + '00000000' + '4000');
  t.equal(encodeSettings([{ id: 7, value: 65536, flags: 1 }]).toString('hex'), '800300040000000c000000010100000700010000');
  t.equal(encodeWindowUpdate(13, 1024).toString('hex'), '80030009000000080000000d00000400');
  t.equal(encodeDataFrameHeader(0x7fffffff, 0xffffff, true).toString('hex'), '7fffffff01ffffff');
  t.equal(encodeDataFrame(0x7fffffff, Buffer.from('ab'), true).toString('hex'), '7fffffff010000026162', 'a whole DATA frame: its header, then the payload');
  t.equal(encodeDataFrame(3, Buffer.alloc(0), false).toString('hex'), '0000000300000000');
});

t.test('DATA payloads are handed out as they arrive, as subarrays of the input (no copy)', async (t) => {
  const parser = new SpdyFrameParser();
  const first = Buffer.concat([encodeDataFrameHeader(5, 10, true), Buffer.from('abcd')]);
  const pieces1 = parser.push(first);
  t.equal(pieces1.length, 1);
  t.match(pieces1[0], { type: 'data', streamId: 5, fin: false, frameComplete: false });
  const payload1 = (pieces1[0] as DataFrame).payload;
  t.equal(payload1.toString(), 'abcd');
  t.equal(payload1.buffer, first.buffer, 'same memory as the input');
  t.equal(payload1.byteOffset, first.byteOffset + 8);
  const second = Buffer.from('efghij');
  const [piece2] = parser.push(second);
  t.match(piece2, { type: 'data', streamId: 5, fin: true, frameComplete: true });
  t.equal((piece2 as DataFrame).payload.buffer, second.buffer);
  t.equal((piece2 as DataFrame).payload.toString(), 'efghij');
});

t.test('a control frame dribbled in one byte at a time, and one at the size limit', async (t) => {
  const block = Buffer.alloc(60_000, 7);
  const frame = encodeHeaders(3, block, true);
  const parser = new SpdyFrameParser();
  const frames: SpdyFrame[] = [];
  for (let i = 0; i < frame.length; i++) frames.push(...parser.push(frame.subarray(i, i + 1)));
  t.equal(frames.length, 1);
  t.ok((frames[0] as Extract<SpdyFrame, { type: 'headers' }>).headerBlock.equals(block));
  const limited = new SpdyFrameParser({ maxControlFrameLength: 100 });
  t.equal(limited.push(encodeSynReply(1, Buffer.alloc(96))).length, 1, 'exactly at the limit: accepted');
  t.throws(() => new SpdyFrameParser({ maxControlFrameLength: 100 }).push(encodeSynReply(1, Buffer.alloc(97))), /control frame of 101 bytes exceeds 100/);
});

t.test('unknown control frame types are skipped, even split across chunks', async (t) => {
  // Type 10 (CREDENTIAL in SPDY/3) and 5 (NOOP in SPDY/2) with bodies, then a PING.
  const unknown = (type: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([0x80, 0x03, 0x00, type, 0x00, 0, 0, body.length]), body]);
  const bytes = Buffer.concat([unknown(10, Buffer.alloc(200, 1)), unknown(5, Buffer.alloc(0)), encodePing(9)]);
  t.same(new SpdyFrameParser().push(bytes), [{ type: 'ping', id: 9 }]);
  const parser = new SpdyFrameParser();
  const pieces = [bytes.subarray(0, 5), bytes.subarray(5, 100), bytes.subarray(100, 215), bytes.subarray(215)];
  t.same(pieces.flatMap((piece) => parser.push(piece)), [{ type: 'ping', id: 9 }]);
  t.throws(() => new SpdyFrameParser().push(Buffer.from('8003000a00010001', 'hex')), /exceeds 65536/, 'the size limit applies to them too');
});

t.test('malformed input is a SpdyProtocolError with a GOAWAY status, never a crash', async (t) => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['SPDY/2 control frame', Buffer.from('800200060000000400000001', 'hex'), /unsupported SPDY version 2/],
    ['control frame header announcing 16 MiB', Buffer.from('8003000100ffffff', 'hex'), /exceeds 65536/],
    ['DATA on stream 0', Buffer.from('0000000000000001ff', 'hex'), /DATA frame on stream 0/],
    ['SYN_STREAM shorter than its fixed fields', Buffer.from('80030001000000080000000100000000', 'hex'), /SYN_STREAM frame has an invalid length/],
    ['SYN_STREAM on stream 0', encodeSynStream(0, Buffer.alloc(0)), /SYN_STREAM frame on stream 0/],
    ['SYN_REPLY on stream 0', encodeSynReply(0, Buffer.alloc(0)), /SYN_REPLY frame on stream 0/],
    ['RST_STREAM of 2 bytes', Buffer.from('8003000300000002aaaa', 'hex'), /RST_STREAM frame has an invalid length/],
    ['RST_STREAM with status 0', encodeRstStream(1, 0), /status 0/],
    ['RST_STREAM on stream 0', encodeRstStream(0, 5), /RST_STREAM frame on stream 0/],
    ['SETTINGS whose count overruns it', Buffer.from('80030004000000080000000200000001', 'hex'), /SETTINGS frame has an invalid length/],
    ['PING of 8 bytes', Buffer.from('80030006000000080000000100000000', 'hex'), /PING frame has an invalid length/],
    ['PING id 0', encodePing(0), /PING with id 0/],
    ['GOAWAY of 4 bytes (SPDY/2 layout)', Buffer.from('800300070000000400000001', 'hex'), /GOAWAY frame has an invalid length/],
    ['WINDOW_UPDATE of 4 bytes', Buffer.from('800300090000000400000001', 'hex'), /WINDOW_UPDATE frame has an invalid length/],
  ];
  for (const [what, bytes, message] of cases) {
    let caught: unknown;
    try {
      new SpdyFrameParser().push(Buffer.concat([bytes, encodePing(3)]));
    } catch (error) {
      caught = error;
    }
    t.type(caught, SpdyProtocolError, what);
    t.match((caught as Error).message, message, what);
    t.equal((caught as SpdyProtocolError).goawayStatus, GoawayStatus.PROTOCOL_ERROR, `${what}: GOAWAY PROTOCOL_ERROR`);
  }
  // Decided from the 8-byte header alone: no body needs to arrive (or be buffered) first.
  t.throws(() => new SpdyFrameParser().push(Buffer.from('8003000100ffffff', 'hex')), SpdyProtocolError);
  t.throws(() => new SpdyFrameParser().push(Buffer.from('8002000100000010', 'hex')), SpdyProtocolError);
});

t.test('DATA pieces are views of the chunks read, after a header or continuing a frame, and the chunks are never written', async (t) => {
  const parser = new SpdyFrameParser();
  const piece = (frames: SpdyFrame[], at = 0): DataFrame => frames.filter((f): f is DataFrame => f.type === 'data')[at]!;
  const chunks = [
    Buffer.concat([encodeDataFrameHeader(5, 6, false), Buffer.from('abc')]), // header and the start of the payload
    Buffer.from('def'), // a continuation at the start of a chunk
    Buffer.concat([encodeDataFrameHeader(7, 3, false), Buffer.from('xyz')]).subarray(0, 5), // a header split across chunks
    Buffer.concat([encodeDataFrameHeader(7, 3, false), Buffer.from('xyz')]).subarray(5),
    Buffer.concat([encodeDataFrameHeader(1, 1, false), Buffer.from('a'), encodeDataFrameHeader(3, 1, true), Buffer.from('b')]),
  ];
  const before = chunks.map((chunk) => Buffer.from(chunk));
  const pieces = chunks.map((chunk) => parser.push(chunk));
  t.same(
    pieces.map((frames) => frames.map((frame) => (frame as DataFrame).payload.toString())),
    [['abc'], ['def'], [], ['xyz'], ['a', 'b']],
  );
  t.equal(piece(pieces[1]!).payload.buffer, chunks[1]!.buffer, 'a continuation is a view of its chunk');
  t.equal(piece(pieces[3]!).payload.byteOffset, chunks[3]!.byteOffset + 3, 'after the straddling header, in place');
  t.same(chunks, before, 'no byte of any chunk was written');
});
