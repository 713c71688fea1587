// kubectl 1.33 WebSocket v5 exec through the gateway, held to what the real kube-apiserver 1.31+
// StreamTranslatorHandler did in the same session (captures websocket-apiserver-exec-v5-*): a scripted
// kubelet plays the legacy cluster's recorded answers (`*-upstream.server-to-client`), a scripted
// kubectl plays the recorded client bytes, and both sides of the gateway are compared with the capture.
//
// Compared exactly: (a) toward kubectl, the 101's status line, Sec-WebSocket-Accept (same key, so the
// same value) and subprotocol; every WebSocket message (type, channel byte, payload bytes) in order,
// and the close code — as decoded messages, because frame headers carry no choice that matters here;
// (b) toward the kubelet, the upgrade's method and target, Upgrade and the X-Stream-Protocol-Version
// list in order; the streams opened (their header sets: the order of SYN_STREAMs is the client's
// choice, the kubelet waits for all); every DATA frame in order across streams with its payload bytes
// and FIN flag (stdin bytes, the stdin half-close, resize JSON byte for byte). Not compared: header
// blocks' compressed bytes (each side's own zlib state), stream ids (the client's numbering, mapped by
// stream type), RST_STREAM/GOAWAY after the kubelet's own end of session (the real translator's are
// cut short by the closing kubelet, see the capture README), Date and header order.
import t, { type Test } from 'tap';
import {
  capturedClientFrames,
  capturedServerMessages,
  dataSequence,
  describeMessages,
  gatewayMessages,
  handshakeView,
  openedStreams,
  replay,
  upgradeRequestView,
} from '../helpers/capture-replay.js';
import { captureParts } from '../helpers/scripted-peers.js';
import type { WebSocketFrame } from '../helpers/capture-frames.js';

const gotClose = (frames: WebSocketFrame[]): boolean => frames.some((frame) => frame.opcode === 0x8);

/** What both sides of the gateway saw, against the capture pair `capture` / `capture-upstream`. */
async function checkExec(
  t: Test,
  capture: string,
  kubeletGates: Record<number, number>,
  clientGates: Record<number, (frames: WebSocketFrame[]) => boolean>,
): Promise<void> {
  const { kubelet, kubectl } = await replay(t, { capture: `${capture}-upstream`, gates: kubeletGates, endAfterLast: true }, { capture, gates: clientGates });

  t.same(handshakeView(kubectl.head()), handshakeView(captureParts(`${capture}.server-to-client.bin`).head), 'the 101 the real API server sent');
  const expected = describeMessages(capturedServerMessages(capture));
  const got = describeMessages(gatewayMessages(kubectl.frames()));
  const isStatus = (line: string): boolean => line.startsWith('binary 03 ');
  t.same(got.filter((l) => !isStatus(l)), expected.filter((l) => !isStatus(l)), 'the same messages on stdout/stderr, in order, and the same close');
  t.same(got.filter(isStatus), expected.filter(isStatus), 'the same Status bytes on channel 3 (an exit code in the message the translator rebuilds)');

  const upstream = `${capture}-upstream`;
  const request = upgradeRequestView(kubelet.requests[0]);
  const realRequest = upgradeRequestView(captureParts(`${upstream}.client-to-server.bin`).head);
  t.same([request.line, request.upgrade, request.authorization], [realRequest.line, realRequest.upgrade, realRequest.authorization], 'the SPDY upgrade the real API server sent: POST, same target, Upgrade: SPDY/3.1, no credential added');
  t.same(request.streamProtocols, realRequest.streamProtocols, 'the same X-Stream-Protocol-Version list, in order: v5 first');
  t.same(openedStreams(kubelet.received), openedStreams(capturedClientFrames(upstream)), 'the same streams opened');
  t.same(dataSequence(kubelet.received), dataSequence(capturedClientFrames(upstream)), 'the same DATA frames, payloads and half-closes, in order');
}



t.test('exec v5, exit 3 (websocket-apiserver-exec-v5-exit3)', async (t) => {
  await checkExec(
    t,
    'websocket-apiserver-exec-v5-exit3',
    // The kubelet runs the command once its 3 streams (error, stdout, stderr) are open.
    { 3: 3 },
    // kubectl's only frame is its reply to the server's CLOSE.
    { 0: gotClose },
  );
});

t.test('exec v5, stdin then CLOSE of stdin (websocket-apiserver-exec-v5-stdin)', async (t) => {
  await checkExec(
    t,
    'websocket-apiserver-exec-v5-stdin',
    // cat echoes `hello\n` once it arrived (after 4 SYN_STREAMs and DATA 3), and ends at stdin's FIN.
    { 4: 5, 5: 6 },
    { 2: gotClose },
  );
});

t.test('exec v5, tty with resize (websocket-apiserver-exec-v5-tty-resize)', async (t) => {
  await checkExec(
    t,
    'websocket-apiserver-exec-v5-tty-resize',
    // The pty prompt once 4 streams and the first size are in; each echo after its keystrokes:
    // client frames 4 streams, resize, `stty size\r`, resize, `stty size\r`, `exit 5\r`.
    { 4: 5, 5: 6, 7: 6, 8: 8, 10: 8, 11: 9 },
    {
      // The first size at once; each line of input after the prompt that precedes it.
      1: (frames) => prompts(frames) >= 1,
      2: (frames) => prompts(frames) >= 2,
      3: (frames) => prompts(frames) >= 2,
      4: (frames) => prompts(frames) >= 3,
      5: gotClose,
    },
  );
});

/** How many shell prompts (`# ` on stdout) the gateway has passed on. */
function prompts(frames: WebSocketFrame[]): number {
  return frames.filter((frame) => frame.payload.equals(Buffer.from('\x01# '))).length;
}

t.test('exec v5 tty: the kubelet gets what kubectl 1.27 sent it directly over SPDY (spdy-exec-tty-resize)', async (t) => {
  // The same terminal session recorded twice: kubectl 1.33 through the real translator (client side
  // played here) and kubectl 1.27 straight to the kubelet over SPDY (its kubelet answers played here,
  // without the echo of kubectl 1.27's timer PING). client-go's own SPDY executor is the authority
  // for the upstream side: same streams, same resize JSON and keystrokes, in the same order.
  const { kubelet, kubectl } = await replay(
    t,
    { capture: 'spdy-exec-tty-resize', gates: { 4: 5, 5: 6, 8: 8, 11: 9 }, endAfterLast: true, skipPingEchoes: true },
    {
      capture: 'websocket-apiserver-exec-v5-tty-resize',
      gates: { 1: (frames) => prompts(frames) >= 1, 2: (frames) => prompts(frames) >= 2, 3: (frames) => prompts(frames) >= 2, 4: (frames) => prompts(frames) >= 3, 5: gotClose },
    },
  );
  const direct = capturedClientFrames('spdy-exec-tty-resize');
  t.same(openedStreams(kubelet.received), openedStreams(direct), 'the streams kubectl 1.27 opened');
  t.same(dataSequence(kubelet.received), dataSequence(direct), 'the DATA frames kubectl 1.27 sent: resize JSON and keystrokes, byte for byte, in order');
  const stdout = (messages: string[]): string[] => messages.filter((line) => line.startsWith('binary 01 '));
  t.same(stdout(describeMessages(gatewayMessages(kubectl.frames()))), stdout(describeMessages(capturedServerMessages('websocket-apiserver-exec-v5-tty-resize'))), 'kubectl 1.33 gets the pty output the real translator relayed');
});
