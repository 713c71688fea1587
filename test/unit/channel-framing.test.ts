import t from 'tap';
import { ChannelProtocolError, decodeChannelMessage, encodeChannelMessage, encodeCloseSignal } from '../../src/codecs/channels/framing.js';
import { REMOTE_COMMAND_PROTOCOLS, negotiateSubprotocol, parseSubprotocolHeader, type ChannelProtocol } from '../../src/codecs/channels/protocols.js';

const protocol = (name: string): ChannelProtocol => REMOTE_COMMAND_PROTOCOLS.find((p) => p.name === name)!;
const V5 = protocol('v5.channel.k8s.io');
const V4 = protocol('v4.channel.k8s.io');
const V4_BASE64 = protocol('v4.base64.channel.k8s.io');

t.test('the frames kubectl 1.33 sent (captures/kubectl-1.33-exec-websocket.txt)', async (t) => {
  t.same(decodeChannelMessage(Buffer.from('00616263', 'hex'), true, V5), { kind: 'data', channel: 0, payload: Buffer.from('abc') });
  t.same(decodeChannelMessage(Buffer.from('ff00', 'hex'), true, V5), { kind: 'close', channel: 0 });
  const empty = encodeChannelMessage(1, Buffer.alloc(0), V5);
  t.same(empty, { data: Buffer.from([1]), binary: true }, 'the empty first stdout message');
  t.same(encodeChannelMessage(3, Buffer.from('{}'), V5).data, Buffer.from('037b7d', 'hex'));
});

t.test('every channel round-trips in binary and base64 framing', async (t) => {
  const payload = Buffer.from([0, 1, 2, 250, 255, 10]);
  for (const p of [V5, V4, V4_BASE64, protocol('base64.channel.k8s.io'), protocol('channel.k8s.io'), protocol('')]) {
    for (let channel = 0; channel <= 4; channel++) {
      const encoded = encodeChannelMessage(channel, payload, p);
      t.equal(encoded.binary, p.framing === 'binary');
      const data = typeof encoded.data === 'string' ? Buffer.from(encoded.data, 'latin1') : encoded.data;
      t.same(decodeChannelMessage(data, encoded.binary, p), { kind: 'data', channel, payload }, `${p.name || '""'} channel ${channel}`);
    }
  }
  t.equal(encodeChannelMessage(2, Buffer.from('hi'), V4_BASE64).data, '2aGk=');
});

t.test('decoding does not copy binary payloads', async (t) => {
  const data = Buffer.from('01deadbeef', 'hex');
  const decoded = decodeChannelMessage(data, true, V5);
  t.equal(decoded.kind === 'data' && decoded.payload.buffer, data.buffer);
});

t.test('edge cases and malformed messages', async (t) => {
  t.same(decodeChannelMessage(Buffer.alloc(0), true, V5), { kind: 'ignored', reason: 'empty message' });
  t.throws(() => decodeChannelMessage(Buffer.from([0xff]), true, V5), ChannelProtocolError, 'CLOSE without a channel');
  t.throws(() => decodeChannelMessage(Buffer.from([0xff, 0, 0]), true, V5), /2 bytes/);
  t.throws(() => decodeChannelMessage(Buffer.from([0xff, 9]), true, V5), /unknown channel 9/);
  t.same(decodeChannelMessage(Buffer.from([0xff, 0]), true, V4), { kind: 'data', channel: 255, payload: Buffer.from([0]) }, 'no CLOSE before v5');
  t.throws(() => decodeChannelMessage(Buffer.from('0abc'), false, V5), /text message on a binary/);
  t.throws(() => decodeChannelMessage(Buffer.from([0, 1]), true, V4_BASE64), /binary message on a base64/);
  t.throws(() => decodeChannelMessage(Buffer.from('!YWJj'), false, V4_BASE64), /channel digit/);
  t.same(encodeCloseSignal(0), Buffer.from([0xff, 0]));
});

t.test('subprotocol negotiation follows the client order', async (t) => {
  t.same(parseSubprotocolHeader('v4.channel.k8s.io, v5.channel.k8s.io'), ['v4.channel.k8s.io', 'v5.channel.k8s.io']);
  t.same(parseSubprotocolHeader(['a', 'b, c']), ['a', 'b', 'c']);
  t.same(parseSubprotocolHeader(undefined), []);
  t.equal(negotiateSubprotocol(['v4.channel.k8s.io', 'v5.channel.k8s.io'], REMOTE_COMMAND_PROTOCOLS)?.name, 'v4.channel.k8s.io');
  t.equal(negotiateSubprotocol(['base64url.bearer.authorization.k8s.io.abc', 'v5.channel.k8s.io'], REMOTE_COMMAND_PROTOCOLS)?.name, 'v5.channel.k8s.io', 'token subprotocol never chosen');
  t.equal(negotiateSubprotocol([], REMOTE_COMMAND_PROTOCOLS)?.name, '', 'no header means the binary v1 protocol ""');
  t.equal(negotiateSubprotocol(['v9.channel.k8s.io'], REMOTE_COMMAND_PROTOCOLS), undefined);
  t.equal(negotiateSubprotocol([''], REMOTE_COMMAND_PROTOCOLS), undefined);
});
