import { readFileSync } from 'node:fs';
import t from 'tap';
import {
  binaryChannelByte,
  ChannelProtocolError,
  decodeChannelMessage,
  encodeChannelMessage,
  encodeCloseSignal,
  type EncodedMessage,
} from '../../src/codecs/channels/framing.js';
import {
  CLOSE_SIGNAL,
  Channel,
  PORT_FORWARD_CHANNEL_PROTOCOLS,
  REMOTE_COMMAND_CHANNEL_COUNT,
  REMOTE_COMMAND_PROTOCOLS,
  negotiateSubprotocol,
  parseSubprotocolHeader,
  tunneledSpdyProtocols,
  REMOTE_COMMAND_UPSTREAM_PROTOCOLS,
  upstreamRemoteCommandProtocol,
  type RemoteCommandProtocol,
} from '../../src/codecs/channels/protocols.js';
import { MAX_CLOSE_REASON_BYTES } from '../../src/codecs/websocket/frames.js';
import { CAPTURES_DIR } from '../helpers/captures.js';

const protocol = (name: string): RemoteCommandProtocol => {
  const found = REMOTE_COMMAND_PROTOCOLS.find((p) => p.name === name);
  if (!found) throw new Error(`no protocol ${name}`);
  return found;
};
const V5 = protocol('v5.channel.k8s.io');
const V4 = protocol('v4.channel.k8s.io');
const V4_BASE64 = protocol('v4.base64.channel.k8s.io');
const V1 = protocol('channel.k8s.io');
const V1_BASE64 = protocol('base64.channel.k8s.io');
const NONE = protocol('');
const RC = REMOTE_COMMAND_CHANNEL_COUNT;

/** The bytes a WebSocket peer receives for an encoded message (ws sends strings as UTF-8 text). */
const wire = (message: EncodedMessage): Buffer => (typeof message.data === 'string' ? Buffer.from(message.data, 'utf8') : message.data);

/** Messages of captures/kubectl-1.33-exec-websocket.txt: direction, hex of the leading bytes, text after "+". */
function captureMessages(): { from: 'client' | 'server'; bytes: Buffer }[] {
  const text = readFileSync(CAPTURES_DIR + 'kubectl-1.33-exec-websocket.txt', 'utf8');
  const messages: { from: 'client' | 'server'; bytes: Buffer }[] = [];
  for (const line of text.split('\n')) {
    const match = /^(client|server)->\w+ bin ([0-9a-f]+)(?: +\+ (.*?))?(?: {2,}\(.*\))?$/.exec(line.trimEnd());
    if (!match) continue;
    let tail = match[3] ?? '';
    if (tail.startsWith("'") && tail.endsWith("'")) tail = tail.slice(1, -1).replace(/\\n/g, '\n');
    messages.push({ from: match[1] as 'client' | 'server', bytes: Buffer.concat([Buffer.from(match[2]!, 'hex'), Buffer.from(tail)]) });
  }
  return messages;
}

t.test('the frames of kubectl 1.33 against a v5 server (captures/kubectl-1.33-exec-websocket.txt)', async (t) => {
  const messages = captureMessages();
  t.equal(messages.length, 5, 'two client messages, three server messages');
  const [stdin, close, firstStdout, stdout, status] = messages;
  t.same(decodeChannelMessage(stdin!.bytes, true, V5, RC), { kind: 'data', channel: Channel.stdin, payload: Buffer.from('abc') });
  t.same(decodeChannelMessage(close!.bytes, true, V5, RC), { kind: 'close', channel: Channel.stdin }, 'ff 00 = CLOSE stdin');
  t.same(encodeCloseSignal(Channel.stdin), close!.bytes, 'our CLOSE signal is the one kubectl sent');
  t.same(wire(encodeChannelMessage(Channel.stdout, Buffer.alloc(0), V5)), firstStdout!.bytes, 'the empty first stdout message is the single byte 01');
  t.same(wire(encodeChannelMessage(Channel.stdout, Buffer.from('hello from fake\n'), V5)), stdout!.bytes);
  const json = status!.bytes.subarray(1);
  t.match(json.toString(), /^\{"metadata":\{\},"status":"Failure"/);
  t.same(wire(encodeChannelMessage(Channel.error, json, V5)), status!.bytes, 'the Status goes out on channel 3');
  for (const message of messages.filter((m) => m.from === 'server')) {
    t.same(decodeChannelMessage(message.bytes, true, V5, RC), { kind: 'data', channel: message.bytes[0], payload: message.bytes.subarray(1) });
  }
});

t.test('the examples in wsstream/conn.go', async (t) => {
  // channel.k8s.io: WRITE {0, 'f','o','o','\n'}, READ {1, '\n'}
  t.same(decodeChannelMessage(Buffer.from([0, 102, 111, 111, 10]), true, V1, RC), { kind: 'data', channel: 0, payload: Buffer.from('foo\n') });
  t.same(encodeChannelMessage(1, Buffer.from('\n'), V1), { data: Buffer.from([1, 10]), binary: true });
  // base64.channel.k8s.io: WRITE "0Zm9vCgo=", READ "1Cg=="
  t.same(decodeChannelMessage(Buffer.from([48, 90, 109, 57, 118, 67, 103, 111, 61]), false, V1_BASE64, RC), {
    kind: 'data',
    channel: 0,
    payload: Buffer.from('foo\n\n'),
  });
  t.same(encodeChannelMessage(1, Buffer.from('\n'), V1_BASE64), { data: '1Cg==', binary: false });
  t.same(wire(encodeChannelMessage(1, Buffer.from('\n'), V1_BASE64)), Buffer.from([49, 67, 103, 61, 61]));
});

t.test('every channel in every remote-command protocol: exact bytes and round trip', async (t) => {
  const payload = Buffer.from([0, 1, 2, 0x30, 0xfa, 0xff, 10]);
  for (const p of REMOTE_COMMAND_PROTOCOLS) {
    for (let channel = 0; channel < RC; channel++) {
      const label = `${p.name || '""'} channel ${channel}`;
      const encoded = encodeChannelMessage(channel, payload, p);
      if (p.framing === 'binary') {
        t.same(encoded, { data: Buffer.from([channel, ...payload]), binary: true }, label);
      } else {
        t.same(encoded, { data: `${channel}AAECMPr/Cg==`, binary: false }, label);
      }
      t.same(decodeChannelMessage(wire(encoded), encoded.binary, p, RC), { kind: 'data', channel, payload }, label);
    }
  }
});

t.test('empty payloads keep their channel byte; empty messages are ignored', async (t) => {
  for (const p of REMOTE_COMMAND_PROTOCOLS) {
    const encoded = encodeChannelMessage(Channel.stderr, Buffer.alloc(0), p);
    t.same(wire(encoded), p.framing === 'binary' ? Buffer.from([2]) : Buffer.from('2'), p.name || '""');
    t.same(decodeChannelMessage(wire(encoded), encoded.binary, p, RC), { kind: 'data', channel: 2, payload: Buffer.alloc(0) });
    t.same(decodeChannelMessage(Buffer.alloc(0), p.framing === 'binary', p, RC), { kind: 'ignored', reason: 'empty message' });
  }
});

t.test('binary payloads are subarrays of the message, not copies', async (t) => {
  const data = Buffer.from('01deadbeef', 'hex');
  const decoded = decodeChannelMessage(data, true, V5, RC);
  if (decoded.kind !== 'data') throw new Error('expected data');
  t.equal(decoded.payload.buffer, data.buffer);
  t.equal(decoded.payload.byteOffset, data.byteOffset + 1);
  t.equal(decoded.payload.length, 4);
  data[1] = 0x00;
  t.equal(decoded.payload[0], 0x00, 'a write through the message shows in the payload');
});

t.test('base64: padding variants round-trip; Go-strict decoding', async (t) => {
  for (let length = 0; length <= 9; length++) {
    const payload = Buffer.from(Array.from({ length }, (_, i) => (i * 73 + 11) & 0xff));
    for (const p of [V4_BASE64, V1_BASE64]) {
      const encoded = encodeChannelMessage(0, payload, p);
      t.equal(encoded.data, `0${payload.toString('base64')}`);
      t.same(decodeChannelMessage(wire(encoded), false, p, RC), { kind: 'data', channel: 0, payload }, `${length} bytes`);
    }
  }
  const ignoredBase64 = (text: string): void => {
    t.same(decodeChannelMessage(Buffer.from(text), false, V4_BASE64, RC), { kind: 'ignored', reason: 'invalid base64 on channel 0' }, JSON.stringify(text));
  };
  ignoredBase64('0YWJ'); // 3 characters left over: not a whole group
  ignoredBase64('0YQ'); // padding missing (Node alone would accept it)
  ignoredBase64('0YW=j'); // '=' inside
  ignoredBase64('0Y===');
  ignoredBase64('0Zg==Zg==');
  ignoredBase64('0_-8A'); // URL alphabet
  ignoredBase64('0YW Jj');
  t.same(decodeChannelMessage(Buffer.from('0YW\r\nJj'), false, V4_BASE64, RC), { kind: 'data', channel: 0, payload: Buffer.from('abc') }, 'CR/LF skipped like Go');
  t.same(decodeChannelMessage(Buffer.from('4'), false, V4_BASE64, RC), { kind: 'data', channel: 4, payload: Buffer.alloc(0) });
});

t.test('what wsstream/conn.go ignores (the connection goes on)', async (t) => {
  // Channels beyond the connection's five.
  t.same(decodeChannelMessage(Buffer.from([5, 1, 2]), true, V5, RC), { kind: 'ignored', reason: 'no channel 5' });
  t.same(decodeChannelMessage(Buffer.from([0xff, 0]), true, V4, RC), { kind: 'ignored', reason: 'no channel 255' }, '0xFF is only CLOSE in v5');
  t.same(decodeChannelMessage(Buffer.from([0xff, 0]), true, V4), { kind: 'data', channel: 255, payload: Buffer.from([0]) }, 'without a channel count, passed on');
  // The opcode does not matter: a base64-looking text message on a binary protocol is channel '0' = 48.
  t.same(decodeChannelMessage(Buffer.from('0YWJj'), false, V5, RC), { kind: 'ignored', reason: 'no channel 48' });
  t.same(decodeChannelMessage(Buffer.from('\x00abc'), false, V1, RC), { kind: 'data', channel: 0, payload: Buffer.from('abc') }, 'text frame on a binary protocol read as bytes');
  t.same(decodeChannelMessage(Buffer.from('0YWJj'), true, V4_BASE64, RC), { kind: 'data', channel: 0, payload: Buffer.from('abc') }, 'binary frame on a base64 protocol decoded as base64');
  // base64 channel characters below '0' wrap around as bytes do in Go.
  t.same(decodeChannelMessage(Buffer.from('!YWJj'), false, V4_BASE64, RC), { kind: 'ignored', reason: 'no channel 241' });
  t.same(decodeChannelMessage(Buffer.from('!YWJj'), false, V4_BASE64), { kind: 'data', channel: 241, payload: Buffer.from('abc') });
  t.same(decodeChannelMessage(Buffer.from('5YWJj'), false, V4_BASE64, RC), { kind: 'ignored', reason: 'no channel 5' });
  // Port-forward: 2 × ports channels.
  const [pfBinary] = PORT_FORWARD_CHANNEL_PROTOCOLS;
  t.same(decodeChannelMessage(Buffer.from([3, 9]), true, pfBinary!, 4), { kind: 'data', channel: 3, payload: Buffer.from([9]) });
  t.same(decodeChannelMessage(Buffer.from([4, 9]), true, pfBinary!, 4), { kind: 'ignored', reason: 'no channel 4' });
});

t.test('what ends the connection: only a malformed v5 CLOSE', async (t) => {
  t.throws(() => decodeChannelMessage(Buffer.from([0xff]), true, V5, RC), new ChannelProtocolError('CLOSE signal must be 2 bytes, got 1'));
  t.throws(() => decodeChannelMessage(Buffer.from([0xff, 0, 0]), true, V5, RC), new ChannelProtocolError('CLOSE signal must be 2 bytes, got 3'));
  t.throws(() => decodeChannelMessage(Buffer.from([0xff, 5]), true, V5, RC), new ChannelProtocolError('CLOSE signal for unknown channel 5'));
  t.throws(() => decodeChannelMessage(Buffer.from([0xff, 0xff]), true, V5), ChannelProtocolError, 'at most 5 channels even when the caller does not say');
  t.same(decodeChannelMessage(Buffer.from([0xff, 0]), false, V5, RC), { kind: 'close', channel: 0 }, 'the opcode does not matter for CLOSE either');
  for (let channel = 0; channel < RC; channel++) {
    t.same(decodeChannelMessage(encodeCloseSignal(channel), true, V5, RC), { kind: 'close', channel }, `CLOSE ${channel}`);
  }
  t.same(decodeChannelMessage(Buffer.from([0xff, 1]), true, V5, 2), { kind: 'close', channel: 1 });
  t.throws(() => decodeChannelMessage(Buffer.from([0xff, 2]), true, V5, 2), ChannelProtocolError);
  const error = new ChannelProtocolError('x'.repeat(500));
  t.equal(Buffer.byteLength(error.message), MAX_CLOSE_REASON_BYTES, 'a close reason fits a control frame');
  t.ok(error.message.endsWith('...'));
  const multibyte = new ChannelProtocolError('é'.repeat(100));
  t.ok(Buffer.byteLength(multibyte.message) <= MAX_CLOSE_REASON_BYTES);
  t.notOk(multibyte.message.includes('\uFFFD'), 'no character cut in half');
  t.equal(error.name, 'ChannelProtocolError');
});

t.test('encoding refuses channels it cannot represent', async (t) => {
  t.throws(() => encodeChannelMessage(256, Buffer.alloc(0), V5), RangeError);
  t.throws(() => encodeChannelMessage(-1, Buffer.alloc(0), V5), RangeError);
  t.throws(() => encodeChannelMessage(1.5, Buffer.alloc(0), V5), RangeError);
  t.throws(() => encodeCloseSignal(300), RangeError);
  t.same(encodeChannelMessage(255, Buffer.from([1]), V4), { data: Buffer.from([255, 1]), binary: true });
  t.same(encodeChannelMessage(79, Buffer.alloc(0), V4_BASE64), { data: '\x7f', binary: false });
  t.throws(() => encodeChannelMessage(80, Buffer.alloc(0), V4_BASE64), RangeError, "'0'+80 would be two bytes of UTF-8");
  t.same(encodeCloseSignal(4), Buffer.from([CLOSE_SIGNAL, 4]));
});

t.test('port-forward channel numbers above 9 in base64 framing', async (t) => {
  const base64 = PORT_FORWARD_CHANNEL_PROTOCOLS.find((p) => p.framing === 'base64')!;
  const encoded = encodeChannelMessage(11, Buffer.from('hi'), base64);
  t.equal(encoded.data, ';aGk=', "'0' + 11 = ';'");
  t.same(decodeChannelMessage(wire(encoded), false, base64, 12), { kind: 'data', channel: 11, payload: Buffer.from('hi') });
});

t.test('the protocol table', async (t) => {
  t.same(
    REMOTE_COMMAND_PROTOCOLS.map((p) => [p.name, p.version, p.framing, p.supportsClose, p.statusFormat]),
    [
      ['v5.channel.k8s.io', 5, 'binary', true, 'json'],
      ['v4.channel.k8s.io', 4, 'binary', false, 'json'],
      ['v4.base64.channel.k8s.io', 4, 'base64', false, 'json'],
      ['channel.k8s.io', 1, 'binary', false, 'text'],
      ['base64.channel.k8s.io', 1, 'base64', false, 'text'],
      ['', 1, 'binary', false, 'text'],
    ],
  );
  t.ok(Object.isFrozen(REMOTE_COMMAND_PROTOCOLS) && REMOTE_COMMAND_PROTOCOLS.every((p) => Object.isFrozen(p)));
  t.same(Channel, { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4 });
  t.equal(CLOSE_SIGNAL, 255);
  t.same(
    PORT_FORWARD_CHANNEL_PROTOCOLS.map((p) => [p.name, p.framing, p.supportsClose]),
    [
      ['v4.channel.k8s.io', 'binary', false],
      ['v4.base64.channel.k8s.io', 'base64', false],
      ['portforward.k8s.io', 'binary', false],
      ['', 'binary', false],
    ],
  );
});

t.test('Sec-WebSocket-Protocol parsing', async (t) => {
  t.same(parseSubprotocolHeader('v4.channel.k8s.io, v5.channel.k8s.io'), ['v4.channel.k8s.io', 'v5.channel.k8s.io']);
  t.same(parseSubprotocolHeader(['a', 'b, c']), ['a', 'b', 'c'], 'repeated headers, in order');
  t.same(parseSubprotocolHeader('a,b'), ['a', 'b']);
  t.same(parseSubprotocolHeader(' \ta \t,\tb '), ['a', 'b'], 'spaces and tabs trimmed');
  t.same(parseSubprotocolHeader(undefined), []);
  t.same(parseSubprotocolHeader(''), []);
  t.same(parseSubprotocolHeader(' , ,'), [], 'empty tokens dropped');
  t.same(parseSubprotocolHeader([]), []);
});

t.test('negotiation walks the client list in order', async (t) => {
  const pick = (offered: string[], supported = REMOTE_COMMAND_PROTOCOLS): string | undefined => negotiateSubprotocol(offered, supported)?.name;
  t.equal(pick(['v5.channel.k8s.io']), 'v5.channel.k8s.io', 'kubectl 1.31+ sends v5 only');
  t.equal(pick(['v4.channel.k8s.io', 'v5.channel.k8s.io']), 'v4.channel.k8s.io', "the client's first choice wins, not ours");
  t.equal(pick(['v5.channel.k8s.io', 'v4.channel.k8s.io']), 'v5.channel.k8s.io');
  t.equal(pick(['base64.channel.k8s.io', 'channel.k8s.io']), 'base64.channel.k8s.io');
  t.equal(pick(['v4.base64.channel.k8s.io']), 'v4.base64.channel.k8s.io');
  t.equal(pick(['base64url.bearer.authorization.k8s.io.ZXlK', 'v4.channel.k8s.io']), 'v4.channel.k8s.io', 'the token subprotocol is skipped');
  t.equal(pick(['base64url.bearer.authorization.k8s.io.ZXlK']), undefined, '…and never chosen, not even as ""');
  t.equal(pick([]), '', 'no header = the binary v1 protocol ""');
  t.equal(pick(['']), undefined, 'an explicit empty token is not "no header"');
  t.equal(pick(['v2.channel.k8s.io', 'v3.channel.k8s.io']), undefined, 'v2/v3 exist over SPDY only');
  t.equal(pick(['V5.channel.k8s.io']), undefined, 'case-sensitive, like conn.go');
  t.equal(pick(['SPDY/3.1+portforward.k8s.io']), undefined);
  t.equal(pick([], [V5]), undefined, 'a v5-only server (the API server) refuses a request without a subprotocol');
  t.equal(pick(['channel.k8s.io'], [V5, V4]), undefined);
  t.equal(pick([], PORT_FORWARD_CHANNEL_PROTOCOLS), '');
  t.equal(pick(['portforward.k8s.io'], PORT_FORWARD_CHANNEL_PROTOCOLS), 'portforward.k8s.io');
  t.equal(pick(['v5.channel.k8s.io', 'v4.base64.channel.k8s.io'], PORT_FORWARD_CHANNEL_PROTOCOLS), 'v4.base64.channel.k8s.io');
  t.equal(negotiateSubprotocol(['channel.k8s.io'], REMOTE_COMMAND_PROTOCOLS), V1, 'the table entry itself');
  t.equal(negotiateSubprotocol([], REMOTE_COMMAND_PROTOCOLS), NONE);
});

t.test('tunneling subprotocols as the API server reads them (streamtunnel.go)', async (t) => {
  t.same(tunneledSpdyProtocols(['SPDY/3.1+portforward.k8s.io']), ['portforward.k8s.io']);
  t.same(
    tunneledSpdyProtocols(['v4.channel.k8s.io', 'SPDY/3.1+v2.portforward.k8s.io', 'SPDY/3.1+portforward.k8s.io', 'SPDY/3.1+other.example', 'spdy/3.1+portforward.k8s.io']),
    ['v2.portforward.k8s.io', 'portforward.k8s.io'],
    'client order kept; other suffixes and other case dropped',
  );
  t.same(tunneledSpdyProtocols([]), []);
});

t.test('binary framing: encodeChannelMessage copies into a fresh message, binaryChannelByte names the channel for a message sent without a copy', async (t) => {
  const pool = Buffer.from('Xhello');
  const payload = pool.subarray(1);
  const message = encodeChannelMessage(Channel.stdout, payload, V5).data as Buffer;
  t.same(message, Buffer.from([1, ...Buffer.from('hello')]));
  t.notOk(message.buffer === pool.buffer && message.byteOffset === pool.byteOffset, 'not framed over the byte before the payload');
  t.same(pool, Buffer.from('Xhello'), "the payload's memory, and the byte before it, left alone");
  t.equal(binaryChannelByte(Channel.stderr), 2);
  t.equal(binaryChannelByte(255), 255);
  for (const channel of [-1, 256, 1.5, Number.NaN]) t.throws(() => binaryChannelByte(channel), RangeError, String(channel));
  // Base64 framing never writes into the payload's memory either.
  const text = Buffer.from('Xhi');
  t.same(encodeChannelMessage(Channel.stdout, text.subarray(1), V4_BASE64), { data: '1aGk=', binary: false });
  t.same(text, Buffer.from('Xhi'));
});

t.test('the upstream remote-command registry: preference order and what each version can do', async (t) => {
  t.same(
    REMOTE_COMMAND_UPSTREAM_PROTOCOLS.map((protocol) => protocol.name),
    ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'],
    "the API server translator's offer, v5 first",
  );
  t.same(REMOTE_COMMAND_UPSTREAM_PROTOCOLS.filter((protocol) => protocol.resize).map((protocol) => protocol.name), ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io'], 'resize from v3 on');
  t.equal(upstreamRemoteCommandProtocol('v4.channel.k8s.io')?.statusFormat, 'json', 'only v4 sends a JSON Status');
  t.equal(upstreamRemoteCommandProtocol('v3.channel.k8s.io')?.statusFormat, 'text');
  t.equal(upstreamRemoteCommandProtocol('v5.channel.k8s.io')?.statusFormat, 'json', 'v5 over SPDY, should a kubelet choose it, is v4');
  t.same(tunneledSpdyProtocols(['SPDY/3.1+other.example']), [], 'SPDY/3.1+other.example is not tunneled');
});
