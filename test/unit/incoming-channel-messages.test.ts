import t from 'tap';
import fc from 'fast-check';
import { ChannelProtocolError, decodeChannelMessage } from '../../src/codecs/channels/framing.js';
import { ChannelMessageTooLargeError, IncomingChannelMessages } from '../../src/codecs/channels/incoming.js';
import { REMOTE_COMMAND_PROTOCOLS, type RemoteCommandProtocol } from '../../src/codecs/channels/protocols.js';

type Outcome = { data: [number, string][]; closed: number[]; error?: string };

/** Feeds one binary message in the given pieces; data pieces of one channel are joined for comparison. */
function streamed(protocol: RemoteCommandProtocol, message: Buffer, cuts: number[], channelCount?: number): Outcome & { pieces: number } {
  const outcome: Outcome & { pieces: number } = { data: [], closed: [], pieces: 0 };
  const incoming = new IncomingChannelMessages(
    protocol,
    {
      data: (channel, payload) => {
        outcome.pieces++;
        const last = outcome.data.at(-1);
        if (last && last[0] === channel) last[1] += payload.toString('hex');
        else outcome.data.push([channel, payload.toString('hex')]);
      },
      close: (channel) => outcome.closed.push(channel),
    },
    channelCount,
  );
  try {
    incoming.start();
    let from = 0;
    for (const cut of [...cuts.filter((c) => c > 0 && c < message.length)].sort((a, b) => a - b).concat(message.length)) {
      if (cut > from) incoming.piece(message.subarray(from, cut));
      from = cut;
    }
    incoming.end();
  } catch (error) {
    if (!(error instanceof ChannelProtocolError)) throw error;
    outcome.error = 'protocol error';
  }
  return outcome;
}

function whole(protocol: RemoteCommandProtocol, message: Buffer, channelCount?: number): Outcome {
  const outcome: Outcome = { data: [], closed: [] };
  try {
    const decoded = decodeChannelMessage(message, true, protocol, channelCount);
    if (decoded.kind === 'data') outcome.data.push([decoded.channel, decoded.payload.toString('hex')]);
    if (decoded.kind === 'close') outcome.closed.push(decoded.channel);
  } catch (error) {
    if (!(error instanceof ChannelProtocolError)) throw error;
    outcome.error = 'protocol error';
  }
  return outcome;
}

const byName = (name: string) => REMOTE_COMMAND_PROTOCOLS.find((p) => p.name === name)!;
const V5 = byName('v5.channel.k8s.io');
const V4 = byName('v4.channel.k8s.io');
const BASE64 = byName('v4.base64.channel.k8s.io');

t.test('a binary message read in pieces means what it means read whole, wherever it is cut', async (t) => {
  const message = fc.oneof(
    fc.uint8Array({ maxLength: 40 }),
    fc.tuple(fc.constantFrom(0xff), fc.uint8Array({ maxLength: 3 })).map(([b, rest]) => Uint8Array.from([b, ...rest])),
    fc.tuple(fc.integer({ min: 0, max: 9 }), fc.uint8Array({ maxLength: 30 })).map(([c, rest]) => Uint8Array.from([c, ...rest])),
    fc.base64String({ maxLength: 24 }).map((text) => new TextEncoder().encode(`0${text}`)),
  );
  fc.assert(
    fc.property(
      fc.constantFrom(V5, V4, BASE64),
      message,
      fc.array(fc.nat({ max: 45 }), { maxLength: 6 }),
      fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
      (protocol, bytes, cuts, channelCount) => {
        const data = Buffer.from(bytes);
        const { pieces: _pieces, ...got } = streamed(protocol, data, cuts, channelCount);
        t.same(got, whole(protocol, data, channelCount));
      },
    ),
    { numRuns: 2_000 },
  );
});

t.test('stdin is handed on piece by piece as it arrives, as views of the pieces', async (t) => {
  const message = Buffer.concat([Buffer.from([0]), Buffer.alloc(100_000, 7)]);
  const seen: Buffer[] = [];
  const incoming = new IncomingChannelMessages(V5, { data: (_c, payload) => seen.push(payload), close: () => t.fail('no close') });
  incoming.start();
  const first = message.subarray(0, 30_000);
  incoming.piece(first);
  t.equal(seen.length, 1, 'the first piece is out before the message ends');
  t.equal(seen[0]!.buffer, first.buffer, 'not copied');
  t.equal(seen[0]!.length, 29_999, 'the channel byte is not payload');
  incoming.piece(message.subarray(30_000));
  incoming.end();
  t.equal(seen.length, 2);
  t.equal(Buffer.concat(seen).length, 100_000);
});

t.test('a CLOSE signal split across pieces is recognised; a long one fails as soon as it is too long', async (t) => {
  const closed: number[] = [];
  const incoming = new IncomingChannelMessages(V5, { data: () => t.fail('no data'), close: (c) => closed.push(c) });
  incoming.start();
  incoming.piece(Buffer.from([0xff]));
  incoming.piece(Buffer.from([0]));
  incoming.end();
  t.same(closed, [0]);
  incoming.start();
  incoming.piece(Buffer.from([0xff, 0]));
  t.throws(() => incoming.piece(Buffer.alloc(1_000_000)), ChannelProtocolError, 'no megabyte is collected to find that out');
});

t.test('a message that is only its channel byte is empty data, as when read whole', async (t) => {
  t.same(streamed(V4, Buffer.from([0]), []), { data: [[0, '']], closed: [], pieces: 1 });
  t.same(streamed(V4, Buffer.alloc(0), []), { data: [], closed: [], pieces: 0 }, 'an empty message is nothing');
});

t.test('a binary message collected whole (base64 framing) fails at the bound as it grows; binary framing is not bounded', async (t) => {
  const base64 = new IncomingChannelMessages(BASE64, { data: () => t.fail('no data'), close: () => t.fail('no close') }, undefined, 8);
  base64.start();
  base64.piece(Buffer.from('0AAAA'));
  const error = t.throws(() => base64.piece(Buffer.from('AAAA'))) as ChannelMessageTooLargeError;
  t.ok(error instanceof ChannelMessageTooLargeError, 'before the message ends, nothing past the bound held');
  t.equal(error.maxBytes, 8);
  const seen: number[] = [];
  const binary = new IncomingChannelMessages(V5, { data: (_channel, payload) => seen.push(payload.length), close: () => undefined }, undefined, 8);
  binary.start();
  binary.piece(Buffer.alloc(100));
  binary.piece(Buffer.alloc(100));
  binary.end();
  t.same(seen, [99, 100], 'streamed on, whatever its size');
});
