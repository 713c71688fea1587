// SPDY/3 framing against real captures of kubectl ↔ kubelet, split at every byte boundary,
// plus round trips and malformed input.
import t from 'tap';
import { deflateSync } from 'node:zlib';
import {
  SpdyFrameParser,
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
import { HeaderBlockDecoder, HeaderBlockEncoder } from '../../src/codecs/spdy/header-block.js';
import { SpdyProtocolError } from '../../src/codecs/spdy/errors.js';
import { SPDY3_DICTIONARY } from '../../src/codecs/spdy/dictionary.js';
import { readCapture } from '../helpers/captures.js';

type Summary = Record<string, unknown>;

/** Frames with header blocks decoded in order and DATA pieces of one frame merged, for comparison. */
function decodeAll(bytes: Buffer, splitEvery?: number): Summary[] {
  const parser = new SpdyFrameParser();
  const decoder = new HeaderBlockDecoder();
  const frames: SpdyFrame[] = [];
  const step = splitEvery ?? bytes.length;
  for (let offset = 0; offset < bytes.length; offset += step) frames.push(...parser.push(bytes.subarray(offset, offset + step)));
  const out: Summary[] = [];
  for (const frame of frames) {
    if (frame.type === 'data') {
      const last = out[out.length - 1];
      if (last && last.type === 'data' && last.open) {
        last.payload = (last.payload as string) + frame.payload.toString('latin1');
        last.fin = frame.fin;
      } else {
        out.push({ type: 'data', streamId: frame.streamId, payload: frame.payload.toString('latin1'), fin: frame.fin });
      }
      const merged = out[out.length - 1]!;
      if (frame.frameComplete) delete merged.open;
      else merged.open = true;
      continue;
    }
    const summary: Summary = { ...frame };
    if ('headerBlock' in frame) {
      summary.headers = decoder.decode(frame.headerBlock);
      delete summary.headerBlock;
    }
    out.push(summary);
  }
  return out;
}

const SUCCESS = '{"metadata":{},"status":"Success"}';

t.test('kubectl 1.27 exec with stdin: client → server', async (t) => {
  const frames = decodeAll(readCapture('spdy-exec-cat-stdin.client-to-server.bin').spdy);
  t.match(frames, [
    { type: 'syn_stream', streamId: 1, headers: { streamtype: 'error' } },
    { type: 'syn_stream', streamId: 3, headers: { streamtype: 'stdin' } },
    { type: 'syn_stream', streamId: 5, headers: { streamtype: 'stdout' } },
    { type: 'syn_stream', streamId: 7, headers: { streamtype: 'stderr' } },
    { type: 'data', streamId: 3, payload: 'hello\n', fin: false },
    { type: 'data', streamId: 3, payload: '', fin: true },
  ]);
  t.equal(frames.length, 6);
  t.same(frames[0]!.headers, { streamtype: 'error' }, 'only the streamtype header, lower case');
});

t.test('kubectl 1.27 exec with stdin: server → client ends with Status, RST CANCEL each, GOAWAY', async (t) => {
  const frames = decodeAll(readCapture('spdy-exec-cat-stdin.server-to-client.bin').spdy);
  t.same(frames, [
    { type: 'syn_reply', streamId: 1, fin: false, headers: {} },
    { type: 'syn_reply', streamId: 3, fin: false, headers: {} },
    { type: 'syn_reply', streamId: 5, fin: false, headers: {} },
    { type: 'syn_reply', streamId: 7, fin: false, headers: {} },
    { type: 'data', streamId: 5, payload: 'hello\n', fin: false },
    { type: 'data', streamId: 1, payload: SUCCESS, fin: false },
    { type: 'rst_stream', streamId: 1, status: 5 },
    { type: 'rst_stream', streamId: 3, status: 5 },
    { type: 'rst_stream', streamId: 5, status: 5 },
    { type: 'rst_stream', streamId: 7, status: 5 },
    { type: 'goaway', lastGoodStreamId: 7, status: 0 },
  ]);
});

t.test('exit code 3: the failure Status on the error stream', async (t) => {
  const frames = decodeAll(readCapture('spdy-exec-exit3.server-to-client.bin').spdy);
  const status = frames.find((f) => f.type === 'data' && f.streamId === 1);
  t.same(JSON.parse(status!.payload as string), {
    metadata: {},
    status: 'Failure',
    message: 'command terminated with non-zero exit code: exit status 3',
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: '3' }] },
  });
  t.same(frames.filter((f) => f.type === 'data' && f.streamId !== 1).map((f) => f.payload), ['out\n', 'err\n']);
});

t.test('port-forward: stream pairs with port and requestid, the error stream half-closed at once, PING', async (t) => {
  const frames = decodeAll(readCapture('spdy-portforward-2conns.client-to-server.bin').spdy);
  t.match(frames.slice(0, 3), [
    { type: 'syn_stream', streamId: 1, headers: { streamtype: 'error', port: '18680', requestid: '0' } },
    { type: 'data', streamId: 1, payload: '', fin: true },
    { type: 'syn_stream', streamId: 3, headers: { streamtype: 'data', port: '18680', requestid: '0' } },
  ]);
  t.same(frames[frames.length - 1], { type: 'ping', id: 1 });
});

t.test('every capture decodes identically whatever the chunking', async (t) => {
  for (const name of [
    'spdy-exec-cat-stdin.client-to-server.bin',
    'spdy-exec-cat-stdin.server-to-client.bin',
    'spdy-exec-exit3.client-to-server.bin',
    'spdy-exec-exit3.server-to-client.bin',
    'spdy-portforward-2conns.client-to-server.bin',
    'spdy-portforward-2conns.server-to-client.bin',
  ]) {
    const bytes = readCapture(name).spdy;
    const whole = decodeAll(bytes);
    for (const split of [1, 2, 3, 7, 8, 9, 100]) t.same(decodeAll(bytes, split), whole, `${name} in pieces of ${split}`);
  }
});

t.test('encoders and parser agree on every frame type; header contexts persist across frames', async (t) => {
  const encoder = new HeaderBlockEncoder();
  const payload = Buffer.from('x'.repeat(70_000));
  const bytes = Buffer.concat([
    encodeSynStream(1, encoder.encode({ streamType: 'stdin' }), { fin: false, priority: 3 }),
    encodeSynReply(1, encoder.encode({})),
    encodeHeaders(1, encoder.encode({ streamtype: 'stdin', extra: 'v' }), true),
    encodeDataFrameHeader(1, payload.length, true),
    payload,
    encodeRstStream(3, 5),
    encodeSettings([{ id: 7, value: 65536 }]),
    encodePing(2),
    encodeGoaway(7, 0),
    encodeWindowUpdate(1, 1024),
  ]);
  const frames = decodeAll(bytes, 4096);
  t.same(frames.map((f) => f.type), ['syn_stream', 'syn_reply', 'headers', 'data', 'rst_stream', 'settings', 'ping', 'goaway', 'window_update']);
  t.same(frames[0]!.headers, { streamtype: 'stdin' }, 'names lower-cased on the wire');
  t.equal(frames[0]!.priority, 3);
  t.same(frames[2]!.headers, { streamtype: 'stdin', extra: 'v' });
  t.equal((frames[3]!.payload as string).length, payload.length);
  t.equal(frames[3]!.fin, true);
  t.same(frames[5]!.entries, [{ flags: 0, id: 7, value: 65536 }]);
  t.same(frames[8], { type: 'window_update', streamId: 1, delta: 1024 });
});

t.test('DATA payloads are handed out as they arrive, without waiting for the whole frame', async (t) => {
  const parser = new SpdyFrameParser();
  const header = encodeDataFrameHeader(5, 10, true);
  t.same(parser.push(Buffer.concat([header, Buffer.from('abcd')])).map((f) => f.type === 'data' && [f.payload.toString(), f.fin, f.frameComplete]), [['abcd', false, false]]);
  t.same(parser.push(Buffer.from('efghij')).map((f) => f.type === 'data' && [f.payload.toString(), f.fin, f.frameComplete]), [['efghij', true, true]]);
});

t.test('malformed input is a SpdyProtocolError, never a crash', async (t) => {
  const wrongVersion = encodePing(1);
  wrongVersion.writeUInt16BE(0x8002, 0);
  t.throws(() => new SpdyFrameParser().push(wrongVersion), SpdyProtocolError, 'SPDY/2 frame');
  const huge = Buffer.from([0x80, 0x03, 0x00, 0x01, 0x00, 0xff, 0xff, 0xff]);
  t.throws(() => new SpdyFrameParser().push(huge), /exceeds/, 'oversized control frame rejected from its header alone');
  const shortRst = Buffer.from([0x80, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01]);
  t.throws(() => new SpdyFrameParser().push(shortRst), /RST_STREAM frame too short/);
  const unknown = Buffer.from([0x80, 0x03, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x02, 0xab, 0xcd]);
  t.same(new SpdyFrameParser().push(Buffer.concat([unknown, encodePing(9)])), [{ type: 'ping', id: 9 }], 'unknown control types skipped');
  t.throws(() => new HeaderBlockDecoder().decode(Buffer.from('not zlib at all')), SpdyProtocolError, 'zlib garbage');
});

t.test('a header-block zlib bomb fails at the bound instead of allocating', async (t) => {
  // 64 MiB of zeros compresses to ~64 KiB; primed with the SPDY dictionary like a real block.
  const bomb = deflateSync(Buffer.alloc(64 * 1024 * 1024), { dictionary: SPDY3_DICTIONARY, level: 9 });
  const decoder = new HeaderBlockDecoder({ maxDecompressedBytes: 128 * 1024 });
  const before = process.memoryUsage().arrayBuffers;
  t.throws(() => decoder.decode(bomb), /inflates beyond 131072 bytes/);
  t.ok(process.memoryUsage().arrayBuffers - before < 16 * 1024 * 1024, 'no large allocation happened');
});

t.test('a truncated name/value block is refused', async (t) => {
  const raw = Buffer.from([0, 0, 0, 2, 0, 0, 0, 1, 0x61, 0, 0, 0, 1, 0x62]);
  const block = deflateSync(raw, { dictionary: SPDY3_DICTIONARY });
  t.throws(() => new HeaderBlockDecoder().decode(block), /truncated|invalid/);
});

t.test('our header blocks decode with an independent zlib (one streaming context, as spdystream reads them)', async (t) => {
  const { createInflate } = await import('node:zlib');
  const encoder = new HeaderBlockEncoder();
  const inflate = createInflate({ dictionary: SPDY3_DICTIONARY });
  const output: Buffer[] = [];
  inflate.on('data', (chunk: Buffer) => output.push(chunk));
  const headers: Array<Record<string, string>> = [{ streamtype: 'error' }, { streamtype: 'stdin' }, { streamtype: 'data', port: '80', requestid: '7' }];
  for (const block of headers) inflate.write(encoder.encode(block));
  await new Promise<void>((resolve) => inflate.flush(() => resolve()));
  const raw = Buffer.concat(output);
  // Three name/value blocks back to back: count, then length-prefixed names and values.
  const names: string[] = [];
  let offset = 0;
  for (let block = 0; block < headers.length; block++) {
    const count = raw.readUInt32BE(offset);
    offset += 4;
    for (let i = 0; i < count; i++) {
      const nameLength = raw.readUInt32BE(offset);
      names.push(raw.subarray(offset + 4, offset + 4 + nameLength).toString());
      offset += 4 + nameLength;
      offset += 4 + raw.readUInt32BE(offset);
    }
  }
  t.equal(offset, raw.length);
  t.same(names, ['streamtype', 'streamtype', 'streamtype', 'port', 'requestid']);
});
