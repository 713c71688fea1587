// Older WebSocket channel clients (channel.k8s.io v1, v4.channel.k8s.io, v4.base64.channel.k8s.io)
// through the gateway, held to what the kubelet's own WebSocket handler sent the same raw client for
// the same command (captures websocket-kubelet-exec-{v4,base64,v1}: `sh -c 'echo out; echo err >&2;
// exit 3'`). Upstream, the scripted kubelet plays the kubelet's SPDY answer to that command (capture
// spdy-exec-exit3, kubectl 1.27 ↔ the kubelet's streaming server).
//
// Compared exactly: the 101's status line, accept key and subprotocol; the messages on each channel
// in order (type, channel byte or base64 digit, payload bytes — for base64 the text as sent), the
// first message (the empty stdout the handler sends first), the Status (v4) or text (v1) on channel 3
// byte for byte, and the close code. Not compared: the order between stdout and stderr messages (the
// README notes it varies run to run at the kubelet; it follows the upstream's order here).
import t from 'tap';
import { captureParts } from '../helpers/scripted-peers.js';
import { capturedServerMessages, describeMessages, gatewayMessages, handshakeView, replay, upgradeRequestView } from '../helpers/capture-replay.js';
import type { WebSocketMessage } from '../helpers/capture-frames.js';

const gotClose = (frames: Array<{ opcode: number }>): boolean => frames.some((frame) => frame.opcode === 0x8);

/** The channel a message is on: its first byte (binary) or first character (base64 text). */
function channelOf(message: WebSocketMessage): string {
  if (message.kind === 'close') return 'close';
  return message.kind === 'text' ? String.fromCharCode(message.payload[0]!) : String(message.payload[0]);
}

/** Messages grouped by channel, each group in order. */
function perChannel(messages: WebSocketMessage[]): Record<string, string[]> {
  const groups: Record<string, string[]> = {};
  for (const message of messages) (groups[channelOf(message)] ??= []).push(describeMessages([message])[0]!);
  return groups;
}

for (const variant of ['v4', 'base64', 'v1']) {
  const capture = `websocket-kubelet-exec-${variant}`;
  t.test(`exec over ${variant} channels, exit 3 (${capture})`, async (t) => {
    // The kubelet runs the command once its 3 streams are open; the client's only frame answers the CLOSE.
    const { kubectl, kubelet } = await replay(t, { capture: 'spdy-exec-exit3', gates: { 3: 3 }, endAfterLast: true }, { capture, gates: { 0: gotClose } });
    // The replayed answer picks v4.channel.k8s.io: it is authentic only if the gateway offered it.
    t.ok(upgradeRequestView(kubelet.requests[0]).streamProtocols.includes('v4.channel.k8s.io'), 'the gateway offered the kubelet v4.channel.k8s.io');
    t.same(handshakeView(kubectl.head()), handshakeView(captureParts(`${capture}.server-to-client.bin`).head), 'the 101 the kubelet sent');
    const got = gatewayMessages(kubectl.frames());
    const expected = capturedServerMessages(capture);
    t.same(describeMessages(got.slice(0, 1)), describeMessages(expected.slice(0, 1)), 'first, the empty stdout message');
    t.same(perChannel(got), perChannel(expected), 'each channel\'s messages in order, the exit report on channel 3 byte for byte, and the close');
  });
}
