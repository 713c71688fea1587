import t from 'tap';
import { setImmediate as setImmediatePromise } from 'node:timers/promises';
import { ClientWebSocket } from '../../src/sessions/client-websocket.js';
import { WebSocketChannels } from '../../src/sessions/websocket-channels.js';
import { REMOTE_COMMAND_PROTOCOLS } from '../../src/codecs/channels/protocols.js';
import { encodeChannelMessage } from '../../src/codecs/channels/framing.js';
import { encodeFrameHeader, Opcode } from '../../src/codecs/websocket/frames.js';
import { recordingSocket } from '../helpers/recording-socket.js';

const protocol = (name: string) => REMOTE_COMMAND_PROTOCOLS.find((p) => p.name === name)!;

t.test('binary framing: the channel byte goes with the frame header and the payload itself is written, never copied', async (t) => {
  const { socket, calls } = recordingSocket();
  const channels = new WebSocketChannels(new ClientWebSocket(socket, Buffer.alloc(0), 'v5.channel.k8s.io'), protocol('v5.channel.k8s.io'));
  t.teardown(() => channels.terminate());
  const output = Buffer.alloc(32_768, 'o');
  t.equal(channels.send(1, output), true);
  t.equal(channels.send(2, Buffer.alloc(0)), true);
  await setImmediatePromise();
  t.equal(calls.length, 1, 'one writev');
  const [header, payload, emptyHeader] = calls[0]!;
  t.equal(payload, output, 'the caller’s buffer, not a copy');
  t.same(Buffer.concat(calls[0]!), Buffer.concat([
    encodeFrameHeader(Opcode.binary, 32_769), encodeChannelMessage(1, output, protocol('v5.channel.k8s.io')).data as Buffer,
    encodeFrameHeader(Opcode.binary, 1), Buffer.from([2]),
  ]), 'the same bytes as the codec frames');
  t.same([header!.length, emptyHeader!.length], [5, 3]);
  t.equal(channels.peer.unflushedBytes, 0, 'both counted out once written');
});

t.test('base64 framing still goes as text, channel character and base64 together', async (t) => {
  const { socket, calls } = recordingSocket();
  const channels = new WebSocketChannels(new ClientWebSocket(socket, Buffer.alloc(0), 'base64.channel.k8s.io'), protocol('base64.channel.k8s.io'));
  t.teardown(() => channels.terminate());
  channels.send(1, Buffer.from('hi'));
  await setImmediatePromise();
  t.same(Buffer.concat(calls.flat()), Buffer.concat([encodeFrameHeader(Opcode.text, 5), Buffer.from('1aGk=')]));
});

t.test('an invalid channel number is refused before anything is written', async (t) => {
  const { socket, calls } = recordingSocket();
  const channels = new WebSocketChannels(new ClientWebSocket(socket, Buffer.alloc(0), 'v5.channel.k8s.io'), protocol('v5.channel.k8s.io'));
  t.teardown(() => channels.terminate());
  t.throws(() => channels.send(256, Buffer.from('x')), RangeError);
  await setImmediatePromise();
  t.same(calls, []);
});
