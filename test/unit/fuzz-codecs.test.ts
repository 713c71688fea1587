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
