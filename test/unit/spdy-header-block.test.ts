// SPDY/3 header blocks: the captures' blocks decoded with one context per direction, our encoder
// checked against node:zlib as an independent inflater (and the reverse), bounds and malformed input.
import v8 from 'node:v8';
import vm from 'node:vm';
import t from 'tap';
import zlib from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { SpdyFrameParser, SpdyProtocolError, encodeSynStream } from '../../src/codecs/spdy/frames.js';
import { HeaderBlockDecoder, HeaderBlockEncoder, type SpdyHeaders } from '../../src/codecs/spdy/header-block.js';
import { SPDY3_DICTIONARY } from '../../src/codecs/spdy/dictionary.js';
import { readCapture } from '../helpers/captures.js';

const CAPTURES = [
  'spdy-exec-cat-stdin.client-to-server.bin',
  'spdy-exec-cat-stdin.server-to-client.bin',
  'spdy-exec-exit3.client-to-server.bin',
  'spdy-exec-exit3.server-to-client.bin',
  'spdy-portforward-2conns.client-to-server.bin',
  'spdy-portforward-2conns.server-to-client.bin',
];

function headerBlocks(name: string): Buffer[] {
  return new SpdyFrameParser().push(readCapture(name).spdy).flatMap((f) => ('headerBlock' in f ? [f.headerBlock] : []));
}

/** The uncompressed SPDY/3 name/value block, built by hand: 32-bit count, then 32-bit length + bytes each. */
function rawBlock(pairs: Array<[string, string]>): Buffer {
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  return Buffer.concat([u32(pairs.length), ...pairs.flatMap(([n, v]) => [u32(Buffer.byteLength(n)), Buffer.from(n), u32(Buffer.byteLength(v)), Buffer.from(v)])]);
}

const SYNC = { dictionary: SPDY3_DICTIONARY, finishFlush: zlib.constants.Z_SYNC_FLUSH };
/** node:zlib as an independent inflater: one direction's blocks back to back are one zlib stream. */
const inflateAll = (blocks: Buffer[]): Buffer => zlib.inflateSync(Buffer.concat(blocks), SYNC);
/** node:zlib as an independent deflater of a single, sync-flushed block. */
const deflateRaw = (raw: Buffer): Buffer => zlib.deflateSync(raw, SYNC);

t.test('the captures decode with one persistent context per direction', async (t) => {
  const decoded = CAPTURES.map((name) => {
    const decoder = new HeaderBlockDecoder();
    return headerBlocks(name).map((block) => ({ ...decoder.decode(block) }));
  });
  t.same(decoded, [
    [{ streamtype: 'error' }, { streamtype: 'stdin' }, { streamtype: 'stdout' }, { streamtype: 'stderr' }],
    [{}, {}, {}, {}],
    [{ streamtype: 'error' }, { streamtype: 'stdout' }, { streamtype: 'stderr' }],
    [{}, {}, {}],
    [
      { streamtype: 'error', port: '18680', requestid: '0' },
      { streamtype: 'data', port: '18680', requestid: '0' },
      { streamtype: 'error', port: '18680', requestid: '1' },
      { streamtype: 'data', port: '18680', requestid: '1' },
    ],
    [{}, {}, {}, {}],
  ]);
  // The later blocks are only back-references into the context the earlier ones built.
  const blocks = headerBlocks('spdy-exec-cat-stdin.client-to-server.bin');
  t.throws(() => new HeaderBlockDecoder().decode(blocks[1]!), SpdyProtocolError, 'a block out of its context does not decode');
  t.equal(
    inflateAll(blocks).toString('hex'),
    Buffer.concat(['error', 'stdin', 'stdout', 'stderr'].map((v) => rawBlock([['streamtype', v]]))).toString('hex'),
    'node:zlib reads the direction the same way: the raw blocks, back to back',
  );
});

t.test('our blocks are one zlib stream with the SPDY dictionary, readable by an independent inflater', async (t) => {
  const encoder = new HeaderBlockEncoder();
  const inputs: SpdyHeaders[] = [
    { streamType: 'error' },
    { StreamType: 'stdin' },
    {},
    { streamtype: 'data', Port: '8080', requestID: '0' },
    { 'x-multi': 'a\0b\0c', empty: '' },
    { 'x-unicode': 'grüße ✓' },
  ];
  const expectedRaw = [
    rawBlock([['streamtype', 'error']]),
    rawBlock([['streamtype', 'stdin']]),
    rawBlock([]),
    rawBlock([['streamtype', 'data'], ['port', '8080'], ['requestid', '0']]),
    rawBlock([['x-multi', 'a\0b\0c'], ['empty', '']]),
    rawBlock([['x-unicode', 'grüße ✓']]),
  ];
  const blocks = inputs.map((headers) => encoder.encode(headers));
  t.equal(inflateAll(blocks).toString('hex'), Buffer.concat(expectedRaw).toString('hex'), 'names lower-cased, exact name/value layout');
  // A zlib header with FDICT and the dictionary's Adler-32: the same id kubectl's first block carries.
  const ours = blocks[0]!;
  const kubectls = headerBlocks('spdy-exec-cat-stdin.client-to-server.bin')[0]!;
  t.equal(ours[1]! & 0x20, 0x20, 'FDICT set');
  t.equal((ours[0]! * 256 + ours[1]!) % 31, 0, 'header check bits');
  t.equal(ours.subarray(2, 6).toString('hex'), kubectls.subarray(2, 6).toString('hex'), 'same dictionary id as kubectl');
  for (const block of blocks) t.equal(block.subarray(block.length - 4).toString('hex'), '0000ffff', 'each block ends with a sync flush');
  // Each block is complete on its own: nothing of it stays behind in the encoder.
  t.equal(inflateAll(blocks.slice(0, 1)).toString('hex'), expectedRaw[0]!.toString('hex'));
});

t.test('blocks from an independent deflater (node:zlib, flushed per block) decode in order', async (t) => {
  const deflate = zlib.createDeflate({ dictionary: SPDY3_DICTIONARY, level: 9 });
  const flushed = async (raw: Buffer): Promise<Buffer> => {
    const parts: Buffer[] = [];
    const collect = (chunk: Buffer): number => parts.push(chunk);
    deflate.on('data', collect);
    deflate.write(raw);
    await new Promise<void>((resolve) => deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
    deflate.off('data', collect);
    return Buffer.concat(parts);
  };
  const decoder = new HeaderBlockDecoder();
  const expected: SpdyHeaders[] = [];
  const decoded: SpdyHeaders[] = [];
  for (let i = 0; i < 200; i++) {
    const pairs: Array<[string, string]> = [['streamtype', ['error', 'stdin', 'stdout', 'data'][i % 4]!], ['requestid', String(i)], ['port', String(1000 + i)]];
    if (i % 7 === 0) pairs.push(['x-big', 'v'.repeat(i * 100)]);
    expected.push(Object.fromEntries(pairs));
    decoded.push({ ...decoder.decode(await flushed(rawBlock(pairs))) });
  }
  deflate.destroy();
  t.same(decoded, expected);
});

t.test('our encoder and decoder over a thousand blocks sharing one context', async (t) => {
  const encoder = new HeaderBlockEncoder();
  const decoder = new HeaderBlockDecoder();
  let mismatches = 0;
  for (let i = 0; i < 1000; i++) {
    const headers: SpdyHeaders = { streamtype: i % 2 ? 'stdout' : 'stderr', requestid: String(i), 'x-value': 'x'.repeat(i % 300) };
    if (JSON.stringify({ ...decoder.decode(encoder.encode(headers)) }) !== JSON.stringify(headers)) mismatches++;
  }
  t.equal(mismatches, 0);
  const big = { 'x-large': 'y'.repeat(100_000) };
  t.same({ ...decoder.decode(encoder.encode(big)) }, big, 'a 100 KB value');
  // Our blocks are stored, not compressed (no deflate context per connection): after the zlib header
  // of the first block, a block is its raw name/value bytes in stored blocks plus the sync-flush marker.
  const again = { streamtype: 'stdin', port: '22' };
  const raw = rawBlock([['streamtype', 'stdin'], ['port', '22']]);
  const stored = Buffer.concat([Buffer.from([0, raw.length, 0, ~raw.length & 0xff, 0xff]), raw, Buffer.from([0, 0, 0, 0xff, 0xff])]);
  const first = encoder.encode(again);
  t.equal(first.toString('hex'), stored.toString('hex'), 'a later block: stored block + sync-flush marker');
  t.same({ ...decoder.decode(first) }, again);
  const fresh = new HeaderBlockEncoder().encode(again);
  t.equal(fresh.subarray(0, 2).toString('hex'), '7820', 'the first block starts the zlib stream: deflate, FDICT');
  t.equal(fresh.readUInt32BE(2), zlib.deflateSync(Buffer.alloc(0), { dictionary: SPDY3_DICTIONARY }).readUInt32BE(2), 'the dictionary id, as node:zlib writes it');
  t.equal(fresh.subarray(6).toString('hex'), stored.toString('hex'));
  const huge = { 'x-huge': 'h'.repeat(200_000) };
  t.same({ ...new HeaderBlockDecoder({ maxDecompressedBytes: 1 << 20 }).decode(new HeaderBlockEncoder().encode(huge)) }, huge, 'a block over 64 KiB spans several stored blocks');
});

t.test('names are lower-cased and repeated names merged (spdystream rejects both otherwise)', async (t) => {
  const block = new HeaderBlockEncoder().encode({ Accept: 'a', accept: 'b', ACCEPT: 'c' });
  t.equal(inflateAll([block]).toString('hex'), rawBlock([['accept', 'a\0b\0c']]).toString('hex'));
  // Received: upper case lower-cased, a repeated name's values joined by NUL.
  t.same({ ...new HeaderBlockDecoder().decode(deflateRaw(rawBlock([['StreamType', 'x'], ['streamtype', 'y']]))) }, { streamtype: 'x\0y' });
  // A peer's __proto__ header is a header, not a prototype.
  const headers = new HeaderBlockDecoder().decode(deflateRaw(rawBlock([['__proto__', 'polluted']])));
  t.equal(headers['__proto__'], 'polluted');
  t.equal(Object.getPrototypeOf(headers), null);
  t.equal(({} as Record<string, unknown>).polluted, undefined);
});

t.test('malformed blocks are a SpdyProtocolError, and the context stays failed', async (t) => {
  const valid = rawBlock([['streamtype', 'stdin'], ['port', '80']]);
  const cases: Array<[string, Buffer, RegExp]> = [
    ['zlib garbage', Buffer.from('not zlib at all'), /header block: /],
    ['zlib primed with another dictionary', zlib.deflateSync(valid, { dictionary: Buffer.from('streamtype') }), /header block: /],
    ['count larger than the entries', deflateRaw(Buffer.concat([Buffer.from([0, 0, 0, 3]), valid.subarray(4)])), /truncated name/],
    ['a value cut short', deflateRaw(valid.subarray(0, valid.length - 1)), /truncated value/],
    ['fewer than 4 bytes', deflateRaw(Buffer.from([0, 0])), /truncated/],
    ['bytes after the last header', deflateRaw(Buffer.concat([valid, Buffer.from([0])])), /bytes after the last header/],
    ['an empty name', deflateRaw(rawBlock([['', 'x']])), /empty header name/],
    ['an empty block', Buffer.alloc(0), /truncated/],
  ];
  for (const [what, block, message] of cases) {
    const decoder = new HeaderBlockDecoder();
    t.throws(() => decoder.decode(block), SpdyProtocolError, what);
    t.throws(() => decoder.decode(block), message, what);
    t.throws(() => decoder.decode(deflateRaw(valid)), SpdyProtocolError, `${what}: the decoder stays failed`);
  }
  const encoded = new HeaderBlockEncoder().encode({ streamtype: 'stdin', 'x-long': 'z'.repeat(200) });
  t.throws(() => new HeaderBlockDecoder().decode(encoded.subarray(0, encoded.length >> 1)), SpdyProtocolError, 'the first half of a block');
});

t.test('decompression is bounded: a zlib bomb fails at the limit without allocating', async (t) => {
  // 32 MiB of zeros deflate to ~32 KiB with the dictionary: small enough for one control frame.
  const bomb = zlib.deflateSync(Buffer.alloc(32 * 1024 * 1024), { ...SYNC, level: 9 });
  t.ok(bomb.length < 64 * 1024, `a bomb of ${bomb.length} bytes fits in a control frame`);
  const frames = new SpdyFrameParser().push(encodeSynStream(1, bomb));
  t.equal(frames.length, 1, 'the frame itself is acceptable');
  const before = process.memoryUsage().arrayBuffers;
  t.throws(() => new HeaderBlockDecoder().decode((frames[0] as { headerBlock: Buffer }).headerBlock), /inflates beyond 262144 bytes/, 'default limit 256 KiB');
  const grown = process.memoryUsage().arrayBuffers - before;
  t.ok(grown < 2 * 1024 * 1024, `about the limit was allocated, not 32 MiB (${grown} bytes)`);
  t.throws(() => new HeaderBlockDecoder({ maxDecompressedBytes: 1000 }).decode(bomb), /inflates beyond 1000 bytes/);
  // The limit is exact: a block of exactly the limit passes, one byte more does not.
  const raw = rawBlock([['x-pad', 'p'.repeat(5000)]]);
  t.same({ ...new HeaderBlockDecoder({ maxDecompressedBytes: raw.length }).decode(deflateRaw(raw)) }, { 'x-pad': 'p'.repeat(5000) });
  t.throws(() => new HeaderBlockDecoder({ maxDecompressedBytes: raw.length - 1 }).decode(deflateRaw(raw)), /inflates beyond/);
});

t.test('the decoder starts with a small window and moves to the full one when the peer refers further back', async (t) => {
  // One node:zlib context for the whole direction, sync-flushed per block, as a SPDY peer compresses.
  const deflate = zlib.createDeflate({ dictionary: SPDY3_DICTIONARY });
  const out: Buffer[] = [];
  deflate.on('data', (chunk: Buffer) => out.push(chunk));
  const compress = async (raw: Buffer): Promise<Buffer> => {
    deflate.write(raw);
    await new Promise<void>((resolve) => deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
    await new Promise((resolve) => setImmediate(resolve));
    return Buffer.concat(out.splice(0));
  };
  const noise = (n: number): string => randomBytes(n).toString('base64').slice(0, n);
  const first = noise(2000);
  // Block 1 keeps the history (1,423 + ~2,030 bytes) inside the 4 KiB window.
  const headers1 = { 'x-first': first };
  // Block 2 repeats block 1's value after 3,000 new bytes: a reference > 4 KiB back, which the small
  // window cannot follow — the block is decoded again with the full one.
  const headers2 = { 'x-fresh': noise(3000), 'x-again': first };
  // Block 3 refers back further still (~7 KiB), within the full window.
  const headers3 = { 'x-third': first, streamtype: 'stdout' };
  const decoder = new HeaderBlockDecoder();
  const block1 = await compress(rawBlock(Object.entries(headers1)));
  t.same({ ...decoder.decode(block1) }, headers1);
  t.ok((decoder as unknown as { history?: Buffer }).history, 'still on the small window after a small history');
  const block2 = await compress(rawBlock(Object.entries(headers2)));
  t.ok(block2.length < 3000 + 2000, `block 2 really refers back to block 1 (${block2.length} bytes compressed)`);
  t.same({ ...decoder.decode(block2) }, headers2, 'a reference beyond the small window decodes');
  t.equal((decoder as unknown as { history?: Buffer }).history, undefined, 'on the full window from then on');
  t.same({ ...decoder.decode(await compress(rawBlock(Object.entries(headers3)))) }, headers3);
  deflate.destroy();
});

t.test('idle cost: between blocks a decoder keeps only the history beyond the dictionary, no inflate state', async (t) => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  // Backing stores are released after the collection that finds them dead: collect until it settles.
  const collectGarbage = async (): Promise<number> => {
    let previous = Infinity;
    for (let round = 0; round < 10; round++) {
      gc();
      await new Promise((resolve) => setImmediate(resolve));
      const now = process.memoryUsage().arrayBuffers;
      if (now >= previous) return now;
      previous = now;
    }
    return previous;
  };
  const encoder = new HeaderBlockEncoder();
  const blocks = ['error', 'stdin', 'stdout', 'stderr'].map((streamtype) => encoder.encode({ streamtype }));
  const decoders = Array.from({ length: 200 }, () => new HeaderBlockDecoder());
  const before = await collectGarbage();
  for (const decoder of decoders) for (const block of blocks) decoder.decode(block);
  const each = ((await collectGarbage()) - before) / decoders.length;
  // A session's four SYN_REPLY blocks inflate to ~150 bytes; a standing small inflater alone held ~19 KiB.
  t.ok(each < 1024, `${Math.round(each)} bytes of buffers kept per decoder`);
  t.equal(decoders.length, 200, 'the decoders are still referenced while measured');
});
