// WebSocket (RFC 6455 §5) client→server parsing: hand-made and ws-made frames, split at every byte
// boundary; payload unmasked in place in the pushed chunk; every rule with its close code; the
// server→client encoders checked against ws's own Receiver; both unmask paths against each other.
import t from 'tap';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { isUtf8 } from 'node:buffer';
import WebSocket from 'ws';
import {
  Opcode,
  WebSocketFrameParser,
  WebSocketProtocolError,
  encodeCloseFrame,
  encodeControlFrame,
  encodeFrame,
  encodeFrameHeader,
  type WebSocketFrameHandler,
} from '../../src/codecs/websocket/frames.js';
import { maskInto, unmaskInPlace, unmaskInPlaceJs, usesBufferUtil } from '../../src/codecs/websocket/mask.js';
import { random } from '../helpers/random.js';
import { webSocketAccept } from '../../src/codecs/websocket/handshake.js';

const require = createRequire(import.meta.url);
const { Sender, Receiver } = require('ws') as {
  Sender: { frame(data: Buffer, options: Record<string, unknown>): Buffer[] };
  Receiver: new (options: Record<string, unknown>) => NodeJS.WritableStream & NodeJS.EventEmitter;
};

const MASK = [1, 2, 3, 4];

interface FrameOptions {
  fin?: boolean;
  /** RSV1–3 as a 3-bit number. */
  rsv?: number;
  /** null: no MASK bit and no masking key. */
  mask?: number[] | null;
  /** Length encoding; non-minimal forms allowed (7 only fits < 126). */
  lengthForm?: 7 | 16 | 64;
  /** Writes this length in the header instead of the payload's (64-bit form only). */
  declaredHigh?: number;
}

/** A client frame made by hand. */
function clientFrame(opcode: number, payload: Buffer | string = Buffer.alloc(0), options: FrameOptions = {}): Buffer {
  const data = Buffer.from(payload);
  const mask = options.mask === undefined ? MASK : options.mask;
  const form = options.lengthForm ?? (data.length < 126 ? 7 : data.length < 0x10000 ? 16 : 64);
  const head = [((options.fin ?? true) ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | opcode];
  const maskBit = mask ? 0x80 : 0;
  if (form === 7) head.push(maskBit | data.length);
  else if (form === 16) head.push(maskBit | 126, data.length >> 8, data.length & 0xff);
  else {
    const high = options.declaredHigh ?? Math.floor(data.length / 2 ** 32);
    const low = data.length >>> 0;
    head.push(maskBit | 127, high >>> 24, (high >> 16) & 0xff, (high >> 8) & 0xff, high & 0xff, low >>> 24, (low >> 16) & 0xff, (low >> 8) & 0xff, low & 0xff);
  }
  if (mask) head.push(...mask);
  const body = Buffer.from(data);
  if (mask) for (let i = 0; i < body.length; i++) body[i]! ^= mask[i & 3]!;
  return Buffer.concat([Buffer.from(head), body]);
}

/** Handler that writes what it hears as strings; consecutive data pieces are merged into one entry. */
class Recorder implements WebSocketFrameHandler {
  readonly events: string[] = [];
  readonly pieces: Buffer[] = [];
  messageStart(binary: boolean): void {
    this.events.push(binary ? 'binary' : 'text');
  }
  messageData(piece: Buffer): void {
    this.pieces.push(piece);
    const last = this.events.length - 1;
    if (last >= 0 && this.events[last]!.startsWith('data:')) this.events[last] += piece.toString('hex');
    else this.events.push('data:' + piece.toString('hex'));
  }
  messageEnd(): void {
    this.events.push('end');
  }
  ping(payload: Buffer): void {
    this.events.push('ping:' + payload.toString('hex'));
  }
  pong(payload: Buffer): void {
    this.events.push('pong:' + payload.toString('hex'));
  }
  close(code: number, reason: string): void {
    this.events.push(`close:${code}:${reason}`);
  }
}

const hex = (text: string | Buffer): string => Buffer.from(text).toString('hex');

/** Parses a copy of `bytes` cut at `cuts`; an error ends the list as `error:<closeCode>`. */
function parse(bytes: Buffer, cuts: number[] = [], maxMessageBytes = 1 << 20): { events: string[]; recorder: Recorder; parser: WebSocketFrameParser } {
  const recorder = new Recorder();
  const parser = new WebSocketFrameParser(recorder, { maxMessageBytes });
  const copy = Buffer.from(bytes);
  let from = 0;
  try {
    for (const cut of [...cuts, copy.length]) {
      parser.push(copy.subarray(from, cut));
      from = cut;
    }
  } catch (error) {
    if (!(error instanceof WebSocketProtocolError)) throw error;
    recorder.events.push(`error:${error.closeCode}`);
  }
  return { events: recorder.events, recorder, parser };
}

t.test('single frames: binary, text, empty, and the three length forms', async (t) => {
  t.same(parse(clientFrame(Opcode.binary, Buffer.from([0, 1, 2, 255]))).events, ['binary', 'data:000102ff', 'end']);
  t.same(parse(clientFrame(Opcode.text, 'héllo')).events, ['text', 'data:' + hex('héllo'), 'end']);
  t.same(parse(clientFrame(Opcode.text, '')).events, ['text', 'end'], 'an empty message: start then end, no empty piece');
  for (const length of [0, 1, 125, 126, 127, 65535, 65536, 200_000]) {
    const payload = Buffer.alloc(length, 0x5a);
    const { events, recorder } = parse(clientFrame(Opcode.binary, payload));
    t.same(events, length ? ['binary', 'data:' + payload.toString('hex'), 'end'] : ['binary', 'end'], `length ${length}`);
    t.equal(recorder.pieces.length, length ? 1 : 0, 'one piece for a frame that came in one chunk');
  }
  // Non-minimal length encodings: ws takes them, and so do we.
  t.same(parse(clientFrame(Opcode.binary, 'abc', { lengthForm: 16 })).events, ['binary', 'data:' + hex('abc'), 'end']);
  t.same(parse(clientFrame(Opcode.binary, 'abc', { lengthForm: 64 })).events, ['binary', 'data:' + hex('abc'), 'end']);
  t.same(parse(clientFrame(Opcode.binary, Buffer.alloc(0), { lengthForm: 64 })).events, ['binary', 'end']);
  // A zero mask leaves the payload as it was.
  t.same(parse(clientFrame(Opcode.binary, 'abcdef', { mask: [0, 0, 0, 0] })).events, ['binary', 'data:' + hex('abcdef'), 'end']);
});

t.test("frames made by ws's own Sender (client side, random masks) parse back", async (t) => {
  const rand = random(7);
  for (const length of [0, 5, 31, 32, 33, 125, 126, 65535, 65536, 100_003]) {
    const payload = Buffer.alloc(length);
    for (let i = 0; i < length; i++) payload[i] = (rand() * 256) | 0;
    const frames = [
      ...Sender.frame(Buffer.from(payload), { fin: true, mask: true, opcode: Opcode.binary, readOnly: true }),
      ...Sender.frame(Buffer.from('bye'), { fin: true, mask: true, opcode: Opcode.ping, readOnly: true }),
    ];
    const bytes = Buffer.concat(frames);
    const whole = length ? ['binary', 'data:' + payload.toString('hex'), 'end', 'ping:' + hex('bye')] : ['binary', 'end', 'ping:' + hex('bye')];
    t.same(parse(bytes).events, whole, `length ${length}`);
    t.same(parse(bytes, [1, 3, 7, 40, 41, 1000]).events, whole, `length ${length}, cut`);
  }
});

t.test('fragmented message with control frames between its fragments', async (t) => {
  const bytes = Buffer.concat([
    clientFrame(Opcode.text, 'Hel', { fin: false }),
    clientFrame(Opcode.ping, 'are you there'),
    clientFrame(Opcode.continuation, '', { fin: false }),
    clientFrame(Opcode.continuation, 'lo', { fin: false }),
    clientFrame(Opcode.pong, ''),
    clientFrame(Opcode.continuation, '!'),
    clientFrame(Opcode.binary, 'next'),
  ]);
  t.same(parse(bytes).events, [
    'text',
    'data:' + hex('Hel'),
    'ping:' + hex('are you there'),
    'data:' + hex('lo'),
    'pong:',
    'data:' + hex('!'),
    'end',
    'binary',
    'data:' + hex('next'),
    'end',
  ]);
  // The message may end with an empty final continuation.
  t.same(parse(Buffer.concat([clientFrame(Opcode.binary, 'ab', { fin: false }), clientFrame(Opcode.continuation, '')])).events, ['binary', 'data:' + hex('ab'), 'end']);
});

/** Every kind of frame and header length, with non-minimal lengths and a mask per frame, ending in a close. */
function mixedSequence(): Buffer {
  const payload = (length: number, seed: number): Buffer => {
    const rand = random(seed);
    return Buffer.from(Array.from({ length }, () => (rand() * 256) | 0));
  };
  return Buffer.concat([
    clientFrame(Opcode.text, 'frag-one ', { fin: false, mask: [0x11, 0x22, 0x33, 0x44] }),
    clientFrame(Opcode.ping, payload(125, 1), { mask: [9, 8, 7, 6] }),
    clientFrame(Opcode.continuation, payload(40, 2), { fin: false, lengthForm: 64 }),
    clientFrame(Opcode.continuation, 'end', { lengthForm: 16, mask: [0xff, 0, 0xff, 0] }),
    clientFrame(Opcode.binary, payload(300, 3), { mask: [0xde, 0xad, 0xbe, 0xef] }),
    clientFrame(Opcode.binary, ''),
    clientFrame(Opcode.pong, payload(3, 4)),
    clientFrame(Opcode.binary, payload(7, 5), { fin: false, lengthForm: 64, mask: [1, 1, 2, 3] }),
    clientFrame(Opcode.continuation, payload(0, 6), { fin: false }),
    clientFrame(Opcode.continuation, payload(33, 7), { mask: [5, 6, 7, 8] }),
    clientFrame(Opcode.close, Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from('bye, ünïcode ✓')]), { mask: [0x80, 0x40, 0x20, 0x10] }),
  ]);
}

t.test('every split point gives the same messages as one push', async (t) => {
  const bytes = mixedSequence();
  const whole = parse(bytes).events;
  t.equal(whole.length, 15);
  t.equal(whole.at(-1), 'close:1000:bye, ünïcode ✓');
  let mismatches = 0;
  for (let cut = 0; cut <= bytes.length; cut++) if (JSON.stringify(parse(bytes, [cut]).events) !== JSON.stringify(whole)) mismatches++;
  t.equal(mismatches, 0, 'one cut at each of the positions');
  t.same(parse(bytes, Array.from({ length: bytes.length }, (_, i) => i)).events, whole, 'byte by byte');
  const rand = random(42);
  for (let round = 0; round < 300; round++) {
    const cuts = Array.from({ length: 1 + Math.floor(rand() * 20) }, () => Math.floor(rand() * bytes.length)).sort((a, b) => a - b);
    if (JSON.stringify(parse(bytes, cuts).events) !== JSON.stringify(whole)) mismatches++;
  }
  t.equal(mismatches, 0, 'random sets of cuts');
});

t.test('payload is unmasked in place: pieces are views of the pushed chunk, one per frame segment per chunk', async (t) => {
  const frame = clientFrame(Opcode.binary, Buffer.alloc(1000, 0x61));
  const first = Buffer.alloc(400);
  const second = Buffer.alloc(frame.length - 400);
  frame.copy(first, 0, 0, 400);
  frame.copy(second, 0, 400);
  const recorder = new Recorder();
  const parser = new WebSocketFrameParser(recorder, { maxMessageBytes: 1 << 20 });
  parser.push(first);
  parser.push(second);
  t.equal(recorder.pieces.length, 2);
  const [a, b] = recorder.pieces as [Buffer, Buffer];
  t.equal(a.buffer, first.buffer);
  t.equal(a.byteOffset, first.byteOffset + 8, 'right after the 4-byte header and 4-byte mask');
  t.equal(a.length, 392);
  t.equal(b.buffer, second.buffer);
  t.equal(b.byteOffset, second.byteOffset);
  t.equal(b.length, 608);
  t.ok(first.subarray(8).equals(Buffer.alloc(392, 0x61)), 'the chunk itself now holds the plain payload');
  t.ok(second.equals(Buffer.alloc(608, 0x61)));
  t.same(recorder.events, ['binary', 'data:' + Buffer.alloc(1000, 0x61).toString('hex'), 'end']);

  // A control frame that came whole is a view too; one split across chunks is a copy (scratch is reused).
  const ping = clientFrame(Opcode.ping, 'xyz');
  const pings: Buffer[] = [];
  const handler = Object.assign(new Recorder(), { ping: (payload: Buffer) => pings.push(payload) });
  const split = new WebSocketFrameParser(handler, { maxMessageBytes: 10 });
  // Buffer.alloc: a chunk of its own memory (small Buffer.from/concat results share one pool).
  const unpooled = (bytes: Buffer): Buffer => {
    const chunk = Buffer.alloc(bytes.length);
    bytes.copy(chunk);
    return chunk;
  };
  const chunk = unpooled(Buffer.concat([ping, ping.subarray(0, 8)]));
  const rest = unpooled(ping.subarray(8));
  split.push(chunk);
  split.push(rest);
  split.push(unpooled(ping));
  t.equal(pings.length, 3);
  t.equal(pings[0]!.buffer, chunk.buffer);
  t.ok(pings[1]!.buffer !== chunk.buffer && pings[1]!.buffer !== rest.buffer, 'a copy');
  t.same(pings.map((p) => p.toString()), ['xyz', 'xyz', 'xyz'], 'the copied payload was not overwritten by the next ping');
});

t.test('each protocol rule fails with its close code, before anything of the bad frame is handed on', async (t) => {
  const message = (bytes: Buffer[], maxMessageBytes?: number): string[] => parse(Buffer.concat(bytes), [], maxMessageBytes).events;
  const cases: Array<[string, Buffer[], string[]]> = [
    ['RSV1', [clientFrame(Opcode.binary, 'x', { rsv: 4 })], ['error:1002']],
    ['RSV2', [clientFrame(Opcode.binary, 'x', { rsv: 2 })], ['error:1002']],
    ['RSV3 on a control frame', [clientFrame(Opcode.ping, 'x', { rsv: 1 })], ['error:1002']],
    ...[3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf].map((opcode): [string, Buffer[], string[]] => [`opcode 0x${opcode.toString(16)}`, [clientFrame(opcode, 'x')], ['error:1002']]),
    ['unmasked data frame', [clientFrame(Opcode.binary, 'x', { mask: null })], ['error:1002']],
    ['unmasked close frame', [clientFrame(Opcode.close, '', { mask: null })], ['error:1002']],
    ['fragmented ping', [clientFrame(Opcode.ping, 'x', { fin: false })], ['error:1002']],
    ['fragmented close', [clientFrame(Opcode.close, '', { fin: false })], ['error:1002']],
    ['ping of 126 bytes', [clientFrame(Opcode.ping, Buffer.alloc(126))], ['error:1002']],
    ['pong with a 16-bit length', [clientFrame(Opcode.pong, 'x', { lengthForm: 16 })], ['error:1002']],
    ['continuation with no message', [clientFrame(Opcode.continuation, 'x')], ['error:1002']],
    ['continuation after a finished message', [clientFrame(Opcode.binary, 'a'), clientFrame(Opcode.continuation, 'b')], ['binary', 'data:' + hex('a'), 'end', 'error:1002']],
    ['text inside a fragmented message', [clientFrame(Opcode.binary, 'a', { fin: false }), clientFrame(Opcode.text, 'b')], ['binary', 'data:' + hex('a'), 'error:1002']],
    ['binary inside a fragmented message', [clientFrame(Opcode.text, 'a', { fin: false }), clientFrame(Opcode.binary, '')], ['text', 'data:' + hex('a'), 'error:1002']],
    ['64-bit length with its top bit set', [clientFrame(Opcode.binary, 'x', { lengthForm: 64, declaredHigh: 0x80000000 })], ['error:1002']],
    ['64-bit length of 2^53', [clientFrame(Opcode.binary, 'x', { lengthForm: 64, declaredHigh: 0x200000 })], ['error:1002']],
    ['close body of 1 byte', [clientFrame(Opcode.close, Buffer.from([3]))], ['error:1002']],
    ...[0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535].map((code): [string, Buffer[], string[]] => [`close code ${code}`, [clientFrame(Opcode.close, Buffer.from([code >> 8, code & 0xff]))], ['error:1002']]),
    ['close reason not UTF-8', [clientFrame(Opcode.close, Buffer.from([0x03, 0xe8, 0xc3, 0x28]))], ['error:1007']],
    ['close reason cut inside a character', [clientFrame(Opcode.close, Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from('✓').subarray(0, 2)]))], ['error:1007']],
  ];
  for (const [name, bytes, expected] of cases) t.same(message(bytes), expected, name);

  // Valid close codes and bodies.
  for (const code of [1000, 1001, 1002, 1003, 1007, 1010, 1014, 3000, 4999]) {
    t.same(message([clientFrame(Opcode.close, Buffer.from([code >> 8, code & 0xff]))]), [`close:${code}:`], `close code ${code}`);
  }
  t.same(message([clientFrame(Opcode.close, '')]), ['close:1005:'], 'an empty close body means 1005');

  // The largest safe 64-bit length passes the header checks, then meets maxMessageBytes.
  t.same(message([clientFrame(Opcode.binary, 'x', { lengthForm: 64, declaredHigh: 0x1fffff })]), ['error:1009']);
  t.same(
    parse(clientFrame(Opcode.binary, 'x', { lengthForm: 64, declaredHigh: 0x1fffff }), [], Number.MAX_SAFE_INTEGER).events,
    ['binary', 'data:' + hex('x')],
    'a 2^53-ish frame is streamed: the one byte that came is handed on, nothing waits for the rest',
  );

  // Violations found in the first two bytes do not wait for the rest of the header.
  for (const frame of [clientFrame(Opcode.binary, 'x', { mask: null }), clientFrame(3, 'x'), clientFrame(Opcode.ping, 'x', { fin: false })]) {
    const recorder = new Recorder();
    const parser = new WebSocketFrameParser(recorder, { maxMessageBytes: 100 });
    parser.push(Buffer.from(frame.subarray(0, 1)));
    t.throws(() => parser.push(Buffer.from(frame.subarray(1, 2))), WebSocketProtocolError);
  }
});

t.test('maxMessageBytes counts a whole message across fragments, checked from each header', async (t) => {
  const fragments = (sizes: number[]): Buffer[] =>
    sizes.map((size, i) => clientFrame(i === 0 ? Opcode.binary : Opcode.continuation, Buffer.alloc(size, 0x62), { fin: i === sizes.length - 1 }));
  const data = (size: number): string => 'data:' + Buffer.alloc(size, 0x62).toString('hex');
  t.same(parse(Buffer.concat(fragments([40, 40, 20])), [], 100).events, ['binary', data(100), 'end'], 'exactly the limit');
  t.same(parse(Buffer.concat(fragments([40, 40, 21])), [], 100).events, ['binary', data(80), 'error:1009'], 'the third fragment is refused whole');
  t.same(parse(Buffer.concat(fragments([101])), [], 100).events, ['error:1009'], 'an oversized first frame: not even messageStart');
  t.same(
    parse(Buffer.concat([...fragments([60]), clientFrame(Opcode.ping, Buffer.alloc(100)), ...fragments([60])]), [], 100).events,
    ['binary', data(60), 'end', 'ping:' + Buffer.alloc(100).toString('hex'), 'binary', data(60), 'end'],
    'the count starts again with each message; control frames do not count',
  );
  t.same(parse(Buffer.concat(fragments([0, 0])), [], 0).events, ['binary', 'end'], 'a limit of 0 still allows empty messages');
  t.throws(() => new WebSocketFrameParser(new Recorder(), { maxMessageBytes: -1 }), RangeError);
  t.throws(() => new WebSocketFrameParser(new Recorder(), { maxMessageBytes: NaN }), RangeError);
});

t.test('after an error or a close frame the parser is finished and push() does nothing', async (t) => {
  const closed = parse(Buffer.concat([clientFrame(Opcode.close, Buffer.from([0x0f, 0xa0, 0x68, 0x69])), clientFrame(Opcode.binary, 'after'), Buffer.from([0xff, 0xff])]));
  t.same(closed.events, ['close:4000:hi'], 'the rest of the same chunk is ignored too');
  t.ok(closed.parser.finished);
  closed.parser.push(clientFrame(Opcode.binary, 'later'));
  closed.parser.push(Buffer.from([0x00]));
  t.same(closed.events, ['close:4000:hi']);

  const failed = parse(Buffer.concat([clientFrame(Opcode.binary, 'ok'), clientFrame(Opcode.binary, 'x', { rsv: 4 })]));
  t.same(failed.events, ['binary', 'data:' + hex('ok'), 'end', 'error:1002']);
  t.ok(failed.parser.finished);
  failed.parser.push(clientFrame(Opcode.binary, 'later'));
  failed.parser.push(Buffer.from([0x00, 0x80]));
  t.equal(failed.recorder.events.length, 4);

  t.same(
    parse(Buffer.concat([clientFrame(Opcode.binary, 'half', { fin: false }), clientFrame(Opcode.close, Buffer.from([0x03, 0xe9]))])).events,
    ['binary', 'data:' + hex('half'), 'close:1001:'],
    'a close frame may cut a fragmented message short: no messageEnd for it',
  );

  const fresh = new WebSocketFrameParser(new Recorder(), { maxMessageBytes: 10 });
  t.notOk(fresh.finished);
  // A callback that throws finishes the parser as well (the consumer fails text that is not UTF-8 that way).
  const throwing = Object.assign(new Recorder(), {
    messageEnd: () => {
      throw new WebSocketProtocolError(1007, 'text message is not valid UTF-8');
    },
  });
  const parser = new WebSocketFrameParser(throwing, { maxMessageBytes: 10 });
  t.throws(() => parser.push(clientFrame(Opcode.text, Buffer.from([0xff]))), WebSocketProtocolError);
  t.ok(parser.finished);
  parser.push(clientFrame(Opcode.binary, 'x'));
  t.same(throwing.events, ['text', 'data:ff']);
});

t.test('WebSocketProtocolError: name, code, and a message that fits a close reason', async (t) => {
  const error = new WebSocketProtocolError(1002, 'short');
  t.equal(error.name, 'WebSocketProtocolError');
  t.equal(error.closeCode, 1002);
  t.equal(error.message, 'short');
  t.ok(error instanceof Error);
  const long = new WebSocketProtocolError(1009, '€'.repeat(100));
  t.equal(Buffer.byteLength(long.message), 123);
  t.equal(long.message, '€'.repeat(41));
});

/** What ws's client-side Receiver makes of server frames: messages, pings, pongs and the close. */
function wsReceives(bytes: Buffer): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const receiver = new Receiver({ isServer: false, maxPayload: 0 });
    const seen: unknown[] = [];
    receiver.on('message', (data: Buffer, isBinary: boolean) => seen.push({ message: Buffer.from(data).toString('hex'), isBinary }));
    receiver.on('ping', (data: Buffer) => seen.push({ ping: data.toString('hex') }));
    receiver.on('pong', (data: Buffer) => seen.push({ pong: data.toString('hex') }));
    receiver.on('conclude', (code: number, reason: Buffer) => seen.push({ close: code, reason: reason.toString() }));
    receiver.on('error', reject);
    receiver.write(bytes, () => resolve(seen));
  });
}

t.test("encoders: byte for byte at the length boundaries, and as ws's Receiver reads them", async (t) => {
  t.same([...encodeFrameHeader(Opcode.binary, 0)], [0x82, 0]);
  t.same([...encodeFrameHeader(Opcode.text, 125)], [0x81, 125]);
  t.same([...encodeFrameHeader(Opcode.binary, 126)], [0x82, 126, 0, 126]);
  t.same([...encodeFrameHeader(Opcode.binary, 65535)], [0x82, 126, 0xff, 0xff]);
  t.same([...encodeFrameHeader(Opcode.binary, 65536)], [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
  t.same([...encodeFrameHeader(Opcode.binary, 2 ** 32 + 5)], [0x82, 127, 0, 0, 0, 1, 0, 0, 0, 5]);
  t.same([...encodeFrameHeader(Opcode.binary, Number.MAX_SAFE_INTEGER)], [0x82, 127, 0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  for (const bad of [-1, 1.5, 2 ** 53, NaN]) t.throws(() => encodeFrameHeader(Opcode.binary, bad), RangeError, `length ${bad}`);

  for (const length of [0, 1, 125, 126, 127, 65535, 65536, 70_000]) {
    const payload = Buffer.alloc(length, length & 0xff);
    t.same(await wsReceives(Buffer.concat([encodeFrameHeader(Opcode.binary, length), payload])), [{ message: payload.toString('hex'), isBinary: true }], `ws reads a ${length}-byte binary frame`);
  }
  t.same(await wsReceives(Buffer.concat([encodeFrameHeader(Opcode.text, 3), Buffer.from('abc')])), [{ message: hex('abc'), isBinary: false }]);
  for (const length of [0, 1, 125, 126, 1024]) {
    const payload = Buffer.alloc(length, (length + 1) & 0xff);
    t.equal(encodeFrame(Opcode.binary, payload).toString('hex'), Buffer.concat([encodeFrameHeader(Opcode.binary, length), payload]).toString('hex'), `a whole ${length}-byte frame is its header and payload`);
  }
  t.same([...encodeFrame(Opcode.text, Buffer.from('ok'))], [0x81, 2, 0x6f, 0x6b]);

  // A prefix byte (a channel byte) rides at the end of the header: the header counts it in the length.
  t.same([...encodeFrameHeader(Opcode.binary, 1, 7)], [0x82, 1, 7]);
  t.same([...encodeFrameHeader(Opcode.binary, 126, 1)], [0x82, 126, 0, 126, 1]);
  t.same([...encodeFrameHeader(Opcode.binary, 65536, 2)], [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0, 2]);
  for (const [length, prefix] of [[0, 1], [5, -1], [5, 256], [5, 1.5]] as const) {
    t.throws(() => encodeFrameHeader(Opcode.binary, length, prefix), RangeError, `length ${length}, prefix ${prefix}`);
  }
  for (const length of [0, 124, 125, 65534, 65535, 70_000]) {
    const payload = Buffer.alloc(length, 0x5a);
    const framed = [encodeFrameHeader(Opcode.binary, length + 1, 3), payload];
    t.same(await wsReceives(Buffer.concat(framed)), [{ message: '03' + payload.toString('hex'), isBinary: true }], `ws reads 1 + ${length} bytes sent as header+prefix and payload`);
    t.equal(encodeFrame(Opcode.binary, payload, 3).toString('hex'), Buffer.concat(framed).toString('hex'), `the same ${length}-byte message as one buffer`);
  }

  t.same(await wsReceives(encodeControlFrame(Opcode.ping, Buffer.from('p'))), [{ ping: hex('p') }]);
  t.same(await wsReceives(encodeControlFrame(Opcode.pong, Buffer.alloc(125, 1))), [{ pong: Buffer.alloc(125, 1).toString('hex') }]);
  t.same([...encodeControlFrame(Opcode.ping, Buffer.alloc(0))], [0x89, 0]);
  t.throws(() => encodeControlFrame(Opcode.ping, Buffer.alloc(126)), RangeError);
  t.throws(() => encodeControlFrame(Opcode.binary, Buffer.alloc(1)), RangeError);

  t.same([...encodeCloseFrame(1005, 'ignored')], [0x88, 0], '1005: no body');
  t.same([...encodeCloseFrame(1000, '')], [0x88, 2, 0x03, 0xe8]);
  t.same(await wsReceives(encodeCloseFrame(1001, 'going away')), [{ close: 1001, reason: 'going away' }]);
  t.same(await wsReceives(encodeCloseFrame(1005, '')), [{ close: 1005, reason: '' }]);
  // Reasons are cut to 123 bytes at a character boundary: 1-, 2-, 3- and 4-byte characters.
  for (const [character, bytes] of [['a', 123], ['é', 122], ['€', 123], ['😀', 120]] as const) {
    const frame = encodeCloseFrame(4000, character.repeat(200));
    const reason = frame.subarray(4);
    t.equal(frame[1], 2 + bytes, `'${character}': a body of ${2 + bytes} bytes`);
    t.equal(reason.length, bytes);
    t.ok(isUtf8(reason));
    t.equal(reason.toString(), character.repeat(bytes / Buffer.byteLength(character)));
    t.same(await wsReceives(frame), [{ close: 4000, reason: reason.toString() }]);
  }
  // 122 bytes of ASCII then a 2-byte character: the character does not fit and is left out whole.
  t.equal(encodeCloseFrame(1000, 'a'.repeat(122) + 'é').length, 4 + 122);
  t.equal(encodeCloseFrame(1000, 'a'.repeat(121) + 'é').length, 4 + 123);

  // Our encoders' frames, masked as a client would, round-trip through our own parser.
  t.same(parse(clientFrame(Opcode.close, encodeCloseFrame(3001, 'round trip').subarray(2))).events, ['close:3001:round trip']);
});

t.test('unmask: bufferutil and the JS loop agree at every length, offset and alignment', async (t) => {
  let bufferUtilLoads = false;
  try {
    require('bufferutil');
    bufferUtilLoads = !process.env.WS_NO_BUFFER_UTIL;
  } catch {
    // optional dependency: the JS path is then the only one
  }
  t.equal(usesBufferUtil, bufferUtilLoads, 'bufferutil is used exactly when ws would use it');

  const mask = Buffer.from([0x9c, 0x31, 0xe7, 0x0a]);
  const rand = random(3);
  const reference = (source: Buffer, offset: number): Buffer => Buffer.from(source.map((byte, i) => byte ^ mask[(i + offset) % 4]!));
  let mismatches = 0;
  for (const length of [...Array.from({ length: 80 }, (_, i) => i), 127, 128, 1000, 4097, 65_539]) {
    for (const offset of [0, 1, 2, 3, 4, 5, 6, 7, 1001, 2 ** 32 + 3, Number.MAX_SAFE_INTEGER]) {
      for (const align of [0, 1, 3]) {
        const backing = Buffer.alloc(length + 8);
        for (let i = 0; i < backing.length; i++) backing[i] = (rand() * 256) | 0;
        const source = Buffer.from(backing.subarray(align, align + length));
        const fast = Buffer.from(backing);
        const js = Buffer.from(backing);
        unmaskInPlace(fast.subarray(align, align + length), mask, offset);
        unmaskInPlaceJs(js.subarray(align, align + length), mask, offset);
        const expected = reference(source, offset % 4);
        if (!fast.equals(js) || !fast.subarray(align, align + length).equals(expected)) mismatches++;
        // Bytes around the view are never touched.
        if (!fast.subarray(0, align).equals(backing.subarray(0, align)) || !fast.subarray(align + length).equals(backing.subarray(align + length))) mismatches++;
      }
    }
  }
  t.equal(mismatches, 0);
  // The mask given is not changed by the rotation.
  const before = Buffer.from(mask);
  unmaskInPlace(Buffer.alloc(100), mask, 3);
  t.ok(mask.equals(before));
});

t.test('maskInto: copies and masks in one pass, the same bytes as a copy then unmask, at every length, offset and target position', async (t) => {
  const mask = Buffer.from([0x5a, 0xc3, 0x01, 0xfe]);
  const rand = random(11);
  let mismatches = 0;
  for (const length of [...Array.from({ length: 40 }, (_, i) => i), 127, 4097, 65_539]) {
    for (const offset of [0, 1, 2, 3, 5, 2 ** 32 + 2]) {
      for (const at of [0, 1, 6, 14]) {
        const source = Buffer.alloc(length);
        for (let i = 0; i < length; i++) source[i] = (rand() * 256) | 0;
        const sourceBefore = Buffer.from(source);
        const target = Buffer.alloc(at + length + 3, 0xee);
        maskInto(source, mask, target, at, offset);
        const expected = Buffer.from(source);
        unmaskInPlaceJs(expected, mask, offset);
        if (!target.subarray(at, at + length).equals(expected)) mismatches++;
        // Only the destination range is written, and the source is left as it was.
        if (target.subarray(0, at).some((byte) => byte !== 0xee) || target.subarray(at + length).some((byte) => byte !== 0xee)) mismatches++;
        if (!source.equals(sourceBefore)) mismatches++;
      }
    }
  }
  t.equal(mismatches, 0);
  // Masking twice from the same offset gives the bytes back: the frame a client builds is what the parser unmasks.
  const payload = Buffer.from('a payload that spans more than thirty-two bytes of text');
  const frame = Buffer.alloc(payload.length);
  maskInto(payload, mask, frame, 0, 0);
  t.not(frame.toString(), payload.toString());
  unmaskInPlace(frame, mask, 0);
  t.equal(frame.toString(), payload.toString());
});

t.test('WS_NO_BUFFER_UTIL turns bufferutil off, as it does for ws', async (t) => {
  // A fresh process: the choice is made once, when the module loads. execArgv carries tap's TypeScript loader.
  const maskModule = new URL('../../src/codecs/websocket/mask.ts', import.meta.url).href;
  const script = [
    `const m = await import(${JSON.stringify(maskModule)});`,
    'const b = Buffer.alloc(64, 1);',
    'm.unmaskInPlace(b, Buffer.from([1, 2, 3, 4]), 1);',
    // maskInto's JS path, from the same offset: masking the unmasked bytes again gives the ones back.
    'const c = Buffer.alloc(66, 9); m.maskInto(b, Buffer.from([1, 2, 3, 4]), c, 1, 1);',
    "console.log(m.usesBufferUtil, b.toString('hex'), c.toString('hex'));",
  ].join(' ');
  const child = spawnSync(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], {
    env: { ...process.env, WS_NO_BUFFER_UTIL: '1' },
    encoding: 'utf8',
  });
  const expected = Buffer.from(Array.from({ length: 64 }, (_, i) => 1 ^ [2, 3, 4, 1][i & 3]!)).toString('hex');
  t.equal(child.stdout.trim(), `false ${expected} 09${'01'.repeat(64)}09`, child.stderr);
});

t.test('a WebSocket client talking to our parser: ws-made fragments and pings through a real socket pair', async (t) => {
  // The client masks with fresh random keys; whatever the split, the parser sees what was sent.
  const { createServer } = await import('node:net');
  const recorder = new Recorder();
  const parser = new WebSocketFrameParser(recorder, { maxMessageBytes: 1 << 20 });
  const server = createServer((socket) => {
    let handshake = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      handshake = Buffer.concat([handshake, chunk]);
      const end = handshake.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      const key = /sec-websocket-key: (\S+)/i.exec(handshake.toString())![1]!;
      const accept = webSocketAccept(key);
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      const rest = handshake.subarray(end + 4);
      if (rest.length) parser.push(Buffer.from(rest));
      socket.on('data', (data: Buffer) => {
        parser.push(data);
        if (parser.finished) socket.end(encodeCloseFrame(1000, ''));
      });
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const client = new WebSocket(`ws://127.0.0.1:${port}/`);
  await new Promise((resolve) => client.once('open', resolve));
  const big = Buffer.alloc(300_000, 0x7e);
  client.send(Buffer.from('first '), { fin: false, binary: true });
  client.ping(Buffer.from('mid'));
  client.send(Buffer.from('second'), { fin: true, binary: true });
  client.send(big, { binary: true });
  client.send('text ✓');
  client.close(4001, 'done');
  await new Promise((resolve) => client.once('close', resolve));
  server.close();
  t.same(recorder.events, [
    'binary',
    'data:' + hex('first '),
    'ping:' + hex('mid'),
    'data:' + hex('second'),
    'end',
    'binary',
    'data:' + big.toString('hex'),
    'end',
    'text',
    'data:' + hex('text ✓'),
    'end',
    'close:4001:done',
  ]);
});

t.test('masked: false reads what a server sends (unmasked) and refuses a masked frame', async (t) => {
  const read = (bytes: Buffer): string[] => {
    const recorder = new Recorder();
    const parser = new WebSocketFrameParser(recorder, { maxMessageBytes: 1 << 20, masked: false });
    try {
      for (let i = 0; i < bytes.length; i++) parser.push(bytes.subarray(i, i + 1));
    } catch (error) {
      if (!(error instanceof WebSocketProtocolError)) throw error;
      recorder.events.push(`error:${error.closeCode}:${error.message}`);
    }
    return recorder.events;
  };
  const payload = Buffer.alloc(300, 7);
  t.same(read(Buffer.concat([encodeFrameHeader(Opcode.binary, payload.length), payload, encodeCloseFrame(1000, 'bye')])), ['binary', 'data:' + payload.toString('hex'), 'end', 'close:1000:bye'], 'byte by byte, payload untouched');
  t.same(read(clientFrame(Opcode.binary, 'x')), ['error:1002:server frame is masked']);
  t.same(parse(clientFrame(Opcode.binary, 'x', { mask: null })).events, ['error:1002'], 'and the default (a client) still refuses an unmasked one');
});
