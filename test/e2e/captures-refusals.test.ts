// Upstream refusals (401 wrong token, 403 forbidden token, 404 unknown pod) through the gateway, held to
// what the real kube-apiserver 1.31+ translators answered the same raw client (captures
// websocket-apiserver-refusals-{exec,portforward}-{401,403,404}): the scripted kubelet answers with the
// legacy cluster's recorded refusal, the scripted client sends the recorded handshake (its own fake
// token: the test gateway passes credentials through, so the upstream decides, as in the capture).
//
// Port-forward tunnelling: the real TunnelingHandler replays the upstream's answer as the HTTP response;
// compared exactly: status line, Content-Type, Content-Length and the body bytes (not Date, not header
// order), and that no 101 and nothing else follows. Exec: the real StreamTranslatorHandler upgrades
// first and reports the refusal as a Status on channel 3; compared: the whole exchange (101, messages,
// close), and apart from that, the Status fields the client reads (status, message, reason, code), from
// whichever answer the gateway gave. Both: the upstream request's method, target and credential.
import t, { type Test } from 'tap';
import { captureBytes, captureParts } from '../helpers/scripted-peers.js';
import { capturedServerMessages, describeMessages, gatewayMessages, handshakeView, replay, upgradeRequestView } from '../helpers/capture-replay.js';
import { parseHead, splitHead } from '../helpers/capture-frames.js';

const gotClose = (frames: Array<{ opcode: number }>): boolean => frames.some((frame) => frame.opcode === 0x8);

/** The parts of an HTTP answer a client reads: status line, Content-Type, Content-Length, body. */
function answerView(bytes: Buffer): { line: string; contentType: string[]; contentLength: string[]; body: string } {
  const split = splitHead(bytes);
  if (!split) return { line: '(no answer)', contentType: [], contentLength: [], body: bytes.toString('latin1') };
  const parsed = parseHead(split.head);
  const values = (name: string): string[] => parsed.headers.filter(([n]) => n === name).map(([, v]) => v);
  return { line: parsed.line, contentType: values('content-type'), contentLength: values('content-length'), body: split.rest.toString('latin1') };
}

/** The Status fields a client acts on. */
function statusFields(json: string): Record<string, unknown> {
  const status = JSON.parse(json) as Record<string, unknown>;
  return { status: status['status'], message: status['message'], reason: status['reason'], code: status['code'] };
}

async function checkUpstreamRequest(t: Test, capture: string, request: string | undefined): Promise<void> {
  const got = upgradeRequestView(request);
  const real = upgradeRequestView(captureParts(`${capture}-upstream.client-to-server.bin`).head);
  t.same([got.line, got.upgrade, got.authorization], [real.line, real.upgrade, real.authorization], 'the upstream request the real API server sent: method, target, Upgrade, the caller\'s own credential');
  t.same(got.streamProtocols, real.streamProtocols, 'the same X-Stream-Protocol-Version list');
}

for (const code of [401, 403, 404]) {
  const capture = `websocket-apiserver-refusals-portforward-${code}`;
  t.test(`port-forward tunnel, upstream ${code} (${capture})`, async (t) => {
    const { kubelet, kubectl } = await replay(t, { capture: `${capture}-upstream` }, { capture });
    t.same(answerView(kubectl.bytes()), answerView(captureBytes(`${capture}.server-to-client.bin`)), 'the upstream\'s answer replayed: status line, Content-Type, Content-Length, body bytes; then the connection closes');
    await checkUpstreamRequest(t, capture, kubelet.requests[0]);
  });
}

const REFUSAL_TRANSPORT_TODO =
  'divergence: the real StreamTranslatorHandler answers an exec refused upstream with 101, an empty stdout message, the Status ' +
  '(kind/apiVersion dropped, code kept) on channel 3 and CLOSE 1000; the gateway replays the upstream\'s HTTP refusal before any upgrade ' +
  '(kubectl ≥ 1.31 then retries over SPDY, see client-go\'s FallbackExecutor)';

for (const code of [401, 403, 404]) {
  const capture = `websocket-apiserver-refusals-exec-${code}`;
  t.test(`exec v5, upstream ${code} (${capture})`, async (t) => {
    const { kubelet, kubectl } = await replay(t, { capture: `${capture}-upstream` }, { capture, gates: { 0: gotClose } });
    const expected = capturedServerMessages(capture);
    t.same(
      [handshakeView(kubectl.head()), describeMessages(gatewayMessages(kubectl.frames()))],
      [handshakeView(captureParts(`${capture}.server-to-client.bin`).head), describeMessages(expected)],
      'the real translator\'s answer: 101, empty stdout, the Status on channel 3, CLOSE 1000',
      { todo: REFUSAL_TRANSPORT_TODO },
    );
    const realStatus = expected.find((m) => m.kind === 'binary' && m.payload[0] === 3)!.payload.subarray(1).toString();
    const upgraded = kubectl.head()?.startsWith('HTTP/1.1 101 ') ?? false;
    const gotStatus = upgraded
      ? (gatewayMessages(kubectl.frames()).find((m) => m.kind === 'binary' && m.payload[0] === 3)?.payload.subarray(1).toString() ?? '{}')
      : answerView(kubectl.bytes()).body;
    t.same(statusFields(gotStatus), statusFields(realStatus), 'the client reads the same Status: status, message, reason, code');
    await checkUpstreamRequest(t, capture, kubelet.requests[0]);
  });
}
