// Hostile input for every parser, with fast-check (bounded runs here; FUZZ_RUNS raises them): none may
// throw anything but its own protocol error, hang, or hold more than its bound.
import t from 'tap';
import fc from 'fast-check';
import { deflateSync } from 'node:zlib';
import { SpdyFrameParser, encodeDataFrameHeader, encodeSynStream, encodePing } from '../../src/codecs/spdy/frames.js';
import { HeaderBlockDecoder, HeaderBlockEncoder } from '../../src/codecs/spdy/header-block.js';
import { SpdyProtocolError } from '../../src/codecs/spdy/errors.js';
import { SPDY3_DICTIONARY } from '../../src/codecs/spdy/dictionary.js';
import { ChannelProtocolError, decodeChannelMessage, encodeChannelMessage } from '../../src/codecs/channels/framing.js';
import { PORT_FORWARD_CHANNEL_PROTOCOLS, REMOTE_COMMAND_PROTOCOLS } from '../../src/codecs/channels/protocols.js';
import { TerminalSizeDecoder, TerminalSizeError } from '../../src/codecs/k8s/terminal-size.js';
import { parsePorts, PortForwardRequestError } from '../../src/codecs/k8s/port-forward-request.js';
import { parseRemoteCommandRequest } from '../../src/codecs/k8s/remote-command-request.js';
import { Opcode, WebSocketFrameParser, WebSocketProtocolError, type WebSocketFrameHandler } from '../../src/codecs/websocket/frames.js';
import { readCapture } from '../helpers/captures.js';

const numRuns = Number(process.env.FUZZ_RUNS ?? 300);

/** Runs `fn`; only errors of the expected classes are allowed out. */
function onlyThrows(fn: () => unknown, ...allowed: Array<new (...args: never[]) => Error>): void {
  try {
    fn();
  } catch (error) {
    if (!allowed.some((kind) => error instanceof kind)) throw error;
  }
}

t.test('SPDY parser: random bytes, in random chunks', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 4096 }), fc.integer({ min: 1, max: 64 }), (bytes, step) => {
      const parser = new SpdyFrameParser();
      onlyThrows(() => {
        for (let i = 0; i < bytes.length; i += step) parser.push(Buffer.from(bytes.subarray(i, i + step)));
      }, SpdyProtocolError);
    }),
    { numRuns },
  );
  t.pass();
});

t.test('SPDY parser: real captures with one byte flipped, truncated, or with frames out of order', async (t) => {
  const capture = readCapture('spdy-exec-cat-stdin.client-to-server.bin').spdy;
  fc.assert(
    fc.property(fc.nat(capture.length - 1), fc.integer({ min: 0, max: 255 }), fc.nat(capture.length), (at, value, cut) => {
      const mutated = Buffer.from(capture);
      mutated[at] = value;
      const parser = new SpdyFrameParser();
      const decoder = new HeaderBlockDecoder({ maxDecompressedBytes: 64 * 1024 });
      onlyThrows(() => {
        for (const frame of parser.push(mutated.subarray(0, cut))) if ('headerBlock' in frame) decoder.decode(frame.headerBlock);
      }, SpdyProtocolError);
    }),
    { numRuns },
  );
  t.pass();
});

t.test('SPDY: duplicate and invalid stream ids, huge DATA lengths, never-ending frames stay bounded', async (t) => {
  const encoder = new HeaderBlockEncoder();
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 0x7fffffff }), { maxLength: 20 }), (ids) => {
      const parser = new SpdyFrameParser();
      const bytes = Buffer.concat(ids.flatMap((id) => [encodeSynStream(id, encoder.encode({ streamtype: 'stdin' })), encodePing(id)]));
      onlyThrows(() => parser.push(bytes), SpdyProtocolError);
    }),
    { numRuns: Math.min(numRuns, 100) },
  );
  // A DATA frame announcing 16 MiB but sending only a little: payload is handed out as it comes, nothing piles up.
  const parser = new SpdyFrameParser();
  const frames = parser.push(Buffer.concat([encodeDataFrameHeader(1, 0xffffff, false), Buffer.alloc(1000)]));
  t.equal(frames.length, 1);
  t.equal(frames[0]!.type === 'data' && frames[0]!.payload.length, 1000);
});

t.test('header blocks: random compressed input and bombs end in SpdyProtocolError within the bound', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
      onlyThrows(() => new HeaderBlockDecoder({ maxDecompressedBytes: 64 * 1024 }).decode(Buffer.from(bytes)), SpdyProtocolError);
    }),
    { numRuns },
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 32 }), (mebibytes) => {
      const bomb = deflateSync(Buffer.alloc(mebibytes * 1024 * 1024), { dictionary: SPDY3_DICTIONARY });
      t.throws(() => new HeaderBlockDecoder({ maxDecompressedBytes: 256 * 1024 }).decode(bomb), SpdyProtocolError);
    }),
    { numRuns: 10 },
  );
});

t.test('channel framing: random messages in every protocol; encode/decode round trip', async (t) => {
  const protocols = [...REMOTE_COMMAND_PROTOCOLS, ...PORT_FORWARD_CHANNEL_PROTOCOLS];
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), fc.boolean(), fc.constantFrom(...protocols), (bytes, isBinary, protocol) => {
      onlyThrows(() => decodeChannelMessage(Buffer.from(bytes), isBinary, protocol), ChannelProtocolError);
    }),
    { numRuns },
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 63 }), fc.uint8Array({ maxLength: 512 }), fc.constantFrom(...protocols), (channel, bytes, protocol) => {
      const encoded = encodeChannelMessage(channel, Buffer.from(bytes), protocol);
      const raw = typeof encoded.data === 'string' ? Buffer.from(encoded.data, 'latin1') : encoded.data;
      const decoded = decodeChannelMessage(raw, encoded.binary, protocol);
      return decoded.kind === 'data' && decoded.channel === channel && decoded.payload.equals(Buffer.from(bytes));
    }),
    { numRuns },
  );
  t.pass();
});

t.test('resize stream: random text in random chunks never grows beyond its bound', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.string({ maxLength: 200 }), { maxLength: 50 }), (chunks) => {
      const decoder = new TerminalSizeDecoder();
      onlyThrows(() => {
        for (const chunk of chunks) decoder.push(Buffer.from(chunk));
      }, TerminalSizeError);
    }),
    { numRuns },
  );
  t.pass();
});

t.test('ports and exec URLs: random input parses or fails with its own error', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.string({ maxLength: 20 }), { maxLength: 5 }), (values) => {
      onlyThrows(() => {
        for (const port of parsePorts(values)) if (!(port >= 1 && port <= 65535)) throw new Error(`accepted ${port}`);
      }, PortForwardRequestError);
    }),
    { numRuns },
  );
  fc.assert(
    fc.property(fc.webPath(), fc.webQueryParameters(), (path, query) => {
      parseRemoteCommandRequest(`${path}?${query}`);
    }),
    { numRuns },
  );
  t.pass();
});

// --- WebSocket client frames (RFC 6455 §5)

/** Event strings as a WebSocketFrameHandler hears them; consecutive data pieces merge into one entry. */
class WsEvents implements WebSocketFrameHandler {
  readonly events: string[] = [];
  messageStart(binary: boolean): void {
    this.events.push(binary ? 'binary' : 'text');
  }
  messageData(piece: Buffer): void {
    if (piece.length === 0) throw new Error('empty piece');
    this.data(piece);
  }
  messageEnd(): void {
    this.events.push('end');
  }
  ping(payload: Buffer): void {
    if (payload.length > 125) throw new Error('ping payload over 125 bytes');
    this.events.push('ping:' + payload.toString('hex'));
  }
  pong(payload: Buffer): void {
    this.events.push('pong:' + payload.toString('hex'));
  }
  close(code: number, reason: string): void {
    this.events.push(`close:${code}:${reason}`);
  }
  data(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const last = this.events.length - 1;
    const hex = Buffer.from(bytes).toString('hex');
    if (last >= 0 && this.events[last]!.startsWith('data:')) this.events[last] += hex;
    else this.events.push('data:' + hex);
  }
}

type WsFrame = { opcode: number; fin: boolean; payload: Uint8Array; mask: number[]; lengthForm: 7 | 16 | 64 };

/** A masked client frame; a length form too small for the payload is widened (wider forms are legal). */
function encodeWsClientFrame({ opcode, fin, payload, mask, lengthForm }: WsFrame): Buffer {
  const length = payload.length;
  const form = lengthForm === 7 && length >= 126 ? 16 : lengthForm === 16 && length >= 0x10000 ? 64 : lengthForm;
  const head = [(fin ? 0x80 : 0) | opcode];
  if (form === 7) head.push(0x80 | length);
  else if (form === 16) head.push(0x80 | 126, length >> 8, length & 0xff);
  else head.push(0x80 | 127, 0, 0, 0, 0, length >>> 24, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i]! ^= mask[i & 3]!;
  return Buffer.concat([Buffer.from([...head, ...mask]), body]);
}

const wsMask = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 });
const wsControl = fc.record({
  opcode: fc.constantFrom(Opcode.ping, Opcode.pong),
  payload: fc.uint8Array({ maxLength: 125 }),
  mask: wsMask,
});
const wsMessage = fc.record({
  binary: fc.boolean(),
  fragments: fc.array(
    fc.record({
      payload: fc.uint8Array({ maxLength: 300 }),
      mask: wsMask,
      lengthForm: fc.constantFrom<7 | 16 | 64>(7, 16, 64),
      before: fc.option(wsControl, { nil: undefined }),
    }),
    { minLength: 1, maxLength: 4 },
  ),
});
const wsClose = fc.record({
  code: fc.constantFrom(1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999),
  reason: fc.string({ maxLength: 30 }),
  mask: wsMask,
});
/** A valid client byte stream and the events it must produce. */
const wsSequence = fc
  .record({ items: fc.array(fc.oneof(wsMessage, wsControl), { maxLength: 8 }), close: fc.option(wsClose, { nil: undefined }) })
  .map(({ items, close }) => {
    const frames: Buffer[] = [];
    const expected = new WsEvents();
    const control = (c: { opcode: number; payload: Uint8Array; mask: number[] }): void => {
      frames.push(encodeWsClientFrame({ ...c, fin: true, lengthForm: 7 }));
      expected.events.push(`${c.opcode === Opcode.ping ? 'ping' : 'pong'}:${Buffer.from(c.payload).toString('hex')}`);
    };
    for (const item of items) {
      if (!('fragments' in item)) {
        control(item);
        continue;
      }
      expected.messageStart(item.binary);
      item.fragments.forEach((fragment, i) => {
        if (fragment.before && i > 0) control(fragment.before);
        const opcode = i === 0 ? (item.binary ? Opcode.binary : Opcode.text) : Opcode.continuation;
        frames.push(encodeWsClientFrame({ ...fragment, opcode, fin: i === item.fragments.length - 1 }));
        expected.data(fragment.payload);
      });
      expected.messageEnd();
    }
    if (close) {
      const reason = Buffer.from(close.reason);
      frames.push(encodeWsClientFrame({ opcode: Opcode.close, fin: true, payload: Buffer.concat([Buffer.from([close.code >> 8, close.code & 0xff]), reason]), mask: close.mask, lengthForm: 7 }));
      expected.close(close.code, reason.toString());
    }
    return { bytes: Buffer.concat(frames), events: expected.events };
  });
/** Cut positions for `length` bytes, sorted. */
const wsCuts = fc.array(fc.nat(), { maxLength: 12 });

/** Parses a copy (the parser unmasks in place) in the given cuts; an error ends the events as `error:<code>`. */
function wsParse(bytes: Uint8Array, cuts: number[], maxMessageBytes: number): string[] {
  const handler = new WsEvents();
  const parser = new WebSocketFrameParser(handler, { maxMessageBytes });
  const copy = Buffer.from(bytes);
  const positions = cuts.map((cut) => cut % (copy.length + 1)).sort((a, b) => a - b);
  let from = 0;
  onlyThrows(() => {
    try {
      for (const cut of [...positions, copy.length]) {
        parser.push(copy.subarray(from, cut));
        from = cut;
      }
    } catch (error) {
      if (error instanceof WebSocketProtocolError) handler.events.push(`error:${error.closeCode}`);
      throw error;
    }
  }, WebSocketProtocolError);
  return handler.events;
}

t.test('WebSocket parser: random bytes, mutated valid streams, any split; valid streams reassemble alike', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 4096 }), wsCuts, (bytes, cuts) => {
      wsParse(bytes, cuts, 1024);
    }),
    { numRuns },
  );
  fc.assert(
    fc.property(wsSequence, fc.nat(), fc.integer({ min: 0, max: 255 }), wsCuts, fc.constantFrom(64, 1 << 20), ({ bytes }, at, value, cuts, max) => {
      const mutated = Buffer.from(bytes);
      if (mutated.length) mutated[at % mutated.length] = value;
      // Whatever the mutation did, the split never changes the outcome.
      return JSON.stringify(wsParse(mutated, cuts, max)) === JSON.stringify(wsParse(mutated, [], max));
    }),
    { numRuns },
  );
  fc.assert(
    fc.property(wsSequence, wsCuts, ({ bytes, events }, cuts) => {
      const whole = wsParse(bytes, [], 1 << 20);
      const byteByByte = wsParse(bytes, Array.from({ length: bytes.length }, (_, i) => i), 1 << 20);
      const json = JSON.stringify(events);
      return JSON.stringify(whole) === json && JSON.stringify(wsParse(bytes, cuts, 1 << 20)) === json && JSON.stringify(byteByByte) === json;
    }),
    { numRuns },
  );
  t.pass();
});
