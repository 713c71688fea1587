// kubectl 1.33 port-forward tunnelling (SPDY/3.1+portforward.k8s.io) through the gateway, held to what
// the real kube-apiserver 1.31+ TunnelingHandler did in the same session (captures
// websocket-apiserver-portforward-tunnel and -tunnel-closed-port): a scripted kubelet plays the legacy
// cluster's recorded SPDY answers, a scripted kubectl plays the recorded WebSocket frames (kubectl's own
// masks, one message per spdystream write(), empty messages included).
//
// Compared exactly, byte for byte: the 101's status line, accept key and subprotocol; the SPDY bytes
// the kubelet receives (the concatenated client message payloads, compressed header blocks included:
// a tunnel copies bytes, it has no zlib state of its own); the SPDY bytes kubectl receives (the
// concatenated payloads of the gateway's binary messages); the upgrade's method, target, Upgrade and
// X-Stream-Protocol-Version; the close code. Not compared: how the bytes toward kubectl are cut into
// messages (one per upstream read(), the reads' timing is the kernel's), Date, header order.
import t, { type Test } from 'tap';
import { captureParts, within } from '../helpers/scripted-peers.js';
import {
  capturedClientFrames,
  capturedServerMessages,
  dataSequence,
  describeMessages,
  gatewayMessages,
  handshakeView,
  openedStreams,
  replay,
  REPLAY_LIMIT_MS,
  upgradeRequestView,
} from '../helpers/capture-replay.js';
import { splitSpdy, splitWebSocket, webSocketMessages, type WebSocketFrame } from '../helpers/capture-frames.js';

/** The SPDY bytes carried by a side's binary messages, in order. */
function tunnelled(frames: WebSocketFrame[]): Buffer {
  return Buffer.concat(webSocketMessages(frames).filter((m) => m.kind === 'binary').map((m) => m.payload));
}

/** Close frames' codes, in order. */
function closeCodes(frames: WebSocketFrame[]): number[] {
  return frames.filter((frame) => frame.opcode === 0x8).map((frame) => frame.payload.readUInt16BE(0));
}

/**
 * kubectl's gates for a tunnel capture, written per SPDY frame: `spdyGates[k] = n` holds the client
 * message that starts its k-th SPDY frame until n SPDY frames have come back through the tunnel.
 * A frame after the last (k = frame count) names the WebSocket CLOSE.
 */
function tunnelGates(capture: string, spdyGates: Record<number, number>): Record<number, (frames: WebSocketFrame[]) => boolean> {
  const messages = splitWebSocket(captureParts(`${capture}.client-to-server.bin`).body).frames;
  const starts: number[] = [];
  let offset = 0;
  let frameEnd = 0;
  const spdy = tunnelled(messages);
  const frameStarts: number[] = [];
  while (frameEnd < spdy.length) {
    frameStarts.push(frameEnd);
    frameEnd += 8 + spdy.readUIntBE(frameEnd + 5, 3);
  }
  for (const message of messages) {
    starts.push(message.opcode === 0x8 ? -1 : offset);
    if (message.opcode === 0x2 || message.opcode === 0x0) offset += message.payload.length;
  }
  const gates: Record<number, (frames: WebSocketFrame[]) => boolean> = {};
  for (const [frame, needed] of Object.entries(spdyGates)) {
    const at = frameStarts[Number(frame)];
    const index = at === undefined ? starts.indexOf(-1) : starts.indexOf(at);
    gates[index] = (frames) => splitSpdy(tunnelled(frames)).frames.length >= needed;
  }
  return gates;
}

async function checkTunnel(t: Test, capture: string, kubeletGates: Record<number, number>, spdyGates: Record<number, number>): Promise<void> {
  const upstream = `${capture}-upstream`;
  const { kubelet, kubectl } = await replay(t, { capture: upstream, gates: kubeletGates }, { capture, gates: tunnelGates(capture, spdyGates) });
  await within(kubelet.closed, REPLAY_LIMIT_MS, () => 'the gateway did not close the upstream connection after the client left');

  t.same(handshakeView(kubectl.head()), handshakeView(captureParts(`${capture}.server-to-client.bin`).head), 'the 101 the real API server sent');
  const sent = splitWebSocket(captureParts(`${capture}.server-to-client.bin`).body).frames;
  t.equal(tunnelled(kubectl.frames()).toString('hex'), tunnelled(sent).toString('hex'), 'kubectl gets the SPDY bytes the real API server relayed, byte for byte');
  t.same(closeCodes(kubectl.frames()), closeCodes(sent), 'and the same close code');

  const request = upgradeRequestView(kubelet.requests[0]);
  t.same(request, upgradeRequestView(captureParts(`${upstream}.client-to-server.bin`).head), 'the SPDY upgrade the real API server sent');
  t.equal(kubelet.receivedBytes().toString('hex'), captureParts(`${upstream}.client-to-server.bin`).body.toString('hex'), 'the kubelet gets the SPDY bytes the real API server relayed, byte for byte');
}

t.test('tunnel, one request to a port answering hello (websocket-apiserver-portforward-tunnel)', async (t) => {
  await checkTunnel(
    t,
    'websocket-apiserver-portforward-tunnel',
    // kubelet: the target's answer once the GET is in (client frames: SYN 1, FIN 1, SYN 3, GET, FIN 3,
    // PING, GOAWAY); the data stream's FIN, then the error stream's, after curl's FIN.
    { 2: 4, 3: 5, 4: 5 },
    // kubectl: each stream's next step after its SYN_REPLY (client-go waits for it), the PING after
    // both FINs (10 s of idle in the capture), GOAWAY and CLOSE after the PING's echo.
    { 1: 1, 3: 2, 5: 5, 6: 6 },
  );
});

t.test('tunnel to a closed port: data FIN, error text, RST (websocket-apiserver-portforward-tunnel-closed-port)', async (t) => {
  await checkTunnel(
    t,
    'websocket-apiserver-portforward-tunnel-closed-port',
    // kubelet: the dial fails once the data stream exists (client frames: SYN 1, FIN 1, SYN 3, GET, RST 3, GOAWAY).
    { 2: 3 },
    // kubectl: each stream's next step after its SYN_REPLY; RST 3, GOAWAY and CLOSE once the error stream was reset.
    { 1: 1, 3: 2, 4: 5 },
  );
});

t.test('channel mode to a closed port: the kubelet gets what kubectl 1.27 sent, the client what the kubelet\'s handler sent', async (t) => {
  // Client: a raw v4.channel.k8s.io client, ?ports=1 (websocket-kubelet-portforward-closed-port, the
  // kubelet's own WebSocket handler); upstream: the kubelet's SPDY answer to kubectl 1.27
  // (spdy-portforward-closed-port): data FIN, error text and RST_STREAM written back to back here.
  const { kubelet, kubectl } = await replay(
    t,
    { capture: 'spdy-portforward-closed-port', gates: { 2: 3 } },
    { capture: 'websocket-kubelet-portforward-closed-port', gates: { 0: (frames) => closeCodes(frames).length > 0 } },
  );
  t.same(handshakeView(kubectl.head()), handshakeView(captureParts('websocket-kubelet-portforward-closed-port.server-to-client.bin').head), 'the 101 the kubelet sent');
  t.same(
    describeMessages(gatewayMessages(kubectl.frames())),
    describeMessages(capturedServerMessages('websocket-kubelet-portforward-closed-port')),
    'the messages the kubelet sent: both port prefixes, the error text on the error channel, CLOSE 1000',
  );
  // kubectl 1.27 then sent curl's request on the data stream; this client sends nothing.
  const direct = capturedClientFrames('spdy-portforward-closed-port');
  t.same(openedStreams(kubelet.received), openedStreams(direct), 'the streams kubectl 1.27 opened: error and data, port 1, request 0');
  const errorStream = (lines: string[]): string[] => lines.filter((line) => line.startsWith('error'));
  t.same(errorStream(dataSequence(kubelet.received)), errorStream(dataSequence(direct)), 'the error stream half-closed at once with an empty DATA FIN, as client-go does');
});
