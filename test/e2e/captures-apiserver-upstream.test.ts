// The real 1.31 API server's WebSocket side (`websocket-apiserver-*`, what it sent kubectl 1.33)
// replayed as a WebSocket-only upstream behind `streaming: websocket`, driven by SPDY clients
// (kubectl 1.27, or its recorded bytes): the gateway must send that upstream, byte for byte, the
// v5 messages kubectl 1.33 sent the real API server, and hand the SPDY client what that server
// answered.
import t, { type Test } from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { startStack, type Stack } from '../helpers/stack.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import { startPortForward } from '../helpers/port-forward.js';
import { captureParts, within } from '../helpers/scripted-peers.js';
import { until } from '../helpers/wait.js';
import { GOAWAY, PING, readSpdy, splitSpdy, SYN_STREAM, type SpdyFrame, type WebSocketMessage } from '../helpers/capture-frames.js';
import { describeMessages, capturedServerMessages, dataSequence, openedStreams } from '../helpers/capture-replay.js';
import {
  capturedClientMessages,
  scriptedSpdyClient,
  scriptedWebSocketUpstream,
  spdyStreamBytes,
  type ScriptedSpdyClient,
  type ScriptedWebSocketUpstream,
  type ScriptedWebSocketUpstreamOptions,
} from '../helpers/scripted-websocket-upstream.js';

const LIMIT_MS = 30_000;

/** A scripted API server and a gateway toward it with `streaming: websocket`. */
async function behindGateway(t: Test, options: ScriptedWebSocketUpstreamOptions): Promise<{ upstream: ScriptedWebSocketUpstream; stack: Stack }> {
  const upstream = await scriptedWebSocketUpstream(options);
  t.teardown(() => upstream.close());
  const stack = await startStack({ upstream: () => ({ url: upstream.url, insecureSkipTlsVerify: false, streaming: 'websocket' }) });
  t.teardown(() => stack.close());
  return { upstream, stack };
}

/** The request line and subprotocols as kubectl 1.33 sent them to the real API server. */
function requestView(head: string): { line: string; protocol: string | undefined; upgrade: string | undefined } {
  const lines = head.split('\r\n');
  const header = (name: string): string | undefined => lines.find((l) => l.toLowerCase().startsWith(`${name}:`))?.slice(name.length + 1).trim();
  return { line: lines[0]!, protocol: header('sec-websocket-protocol'), upgrade: header('upgrade')?.toLowerCase() };
}

function assertUpstreamGot(t: Test, upstream: ScriptedWebSocketUpstream, capture: string): void {
  t.equal(upstream.requests.length, 1, 'one upgrade upstream, and it was a WebSocket one');
  t.same(requestView(upstream.requests[0]!), requestView(captureParts(`${capture}.client-to-server.bin`).head), 'the request line and subprotocol kubectl 1.33 sent');
  t.same(describeMessages(upstream.messages()), describeMessages(capturedClientMessages(capture)), 'the v5 messages kubectl 1.33 sent, in order');
  t.ok(
    upstream.messages().every((m, i) => m.payload.equals(capturedClientMessages(capture)[i]?.payload ?? Buffer.alloc(0))),
    'byte for byte, unmasked',
  );
  t.ok(upstream.frames().every((f) => (f.raw[1]! & 0x80) !== 0), 'every frame masked, as a client must');
}

/** The channel-3 Status the real API server sent, without its channel byte. */
function capturedStatus(capture: string): string {
  const status = capturedServerMessages(capture).find((m) => m.kind === 'binary' && m.payload[0] === 3)!;
  return status.payload.subarray(1).toString('utf8');
}

t.test('kubectl 1.27 exec, exit 3 (websocket-apiserver-exec-v5-exit3)', async (t) => {
  const capture = 'websocket-apiserver-exec-v5-exit3';
  const { upstream, stack } = await behindGateway(t, { capture });
  const result = await runKubectl(27, ['exec', 'demo', '-c', 'c', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3'], { kubeconfig: stack.kubeconfig, timeoutMs: 60_000 });
  t.equal(result.stdout.toString(), 'out\n', 'stdout as the API server sent it');
  t.equal(result.stderr, 'err\ncommand terminated with exit code 3\n', 'stderr, then the exit code from the Status');
  t.equal(result.code, 3);
  await until(() => upstream.messages().some((m) => m.kind === 'close'), 'the gateway closing the upstream');
  assertUpstreamGot(t, upstream, capture);
  const end = await stack.gatewayLogs.waitFor((r) => r.event === 'session-end' && r.mode === 'to-websocket');
  t.match(end, { clientTransport: 'spdy', upstreamTransport: 'websocket', upstreamProtocol: 'v5.channel.k8s.io', exitCode: 3 });
});

t.test('kubectl 1.27 exec -i, stdin then its end (websocket-apiserver-exec-v5-stdin)', async (t) => {
  const capture = 'websocket-apiserver-exec-v5-stdin';
  // Recorded answers: the empty stdout at once, `hello` after stdin, the Status and close after the CLOSE signal.
  const { upstream, stack } = await behindGateway(t, { capture, gates: { 1: 1, 2: 2, 3: 2 } });
  const result = await runKubectl(27, ['exec', '-i', 'demo', '-c', 'c', '--', 'cat'], { kubeconfig: stack.kubeconfig, stdin: 'hello\n', timeoutMs: 60_000 });
  t.equal(result.stdout.toString(), 'hello\n');
  t.equal(result.code, 0, result.stderr);
  await until(() => upstream.messages().some((m) => m.kind === 'close'), 'the gateway closing the upstream');
  assertUpstreamGot(t, upstream, capture);
  t.equal(capturedStatus(capture), '{"metadata":{},"status":"Success"}');
});

/** How many shell prompts the gateway has passed to the SPDY client on stdout (stream 5 in the recording). */
const SYN_REPLY = 2;
const prompts = (frames: SpdyFrame[]): number => frames.filter((f) => f.type === 'data' && f.streamId === 5 && f.payload.toString() === '# ').length;

t.test('kubectl 1.27 exec -it with resize, its recorded bytes (spdy-exec-tty-resize → websocket-apiserver-exec-v5-tty-resize)', async (t) => {
  // The same terminal session recorded twice: kubectl 1.27 → kubelet over SPDY (its client side
  // played here, without its timer PING) and kubectl 1.33 → API server over v5 (the server side
  // played here). The gateway in between must turn the one into the other.
  const capture = 'websocket-apiserver-exec-v5-tty-resize';
  let client: ScriptedSpdyClient | undefined;
  const { upstream, stack } = await behindGateway(t, {
    capture,
    // Server frames: the empty stdout, then the prompt once the first size is in, each echo and answer after its keystrokes.
    gates: { 1: 1, 2: 2, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 8: 5, 9: 5, 10: 5 },
    onReceive: () => client?.nudge(),
  });
  const sent = readSpdy(captureParts('spdy-exec-tty-resize.client-to-server.bin').body);
  const count = (): number => upstream.messages().length;
  client = await scriptedSpdyClient(
    { port: stack.gateway.port, caPem: stack.caPem },
    {
      capture: 'spdy-exec-tty-resize',
      last: 8,
      // Each keystroke or size once the one before it is upstream (they travel on different SPDY streams) and its prompt is back.
      gates: { 5: (f) => count() >= 1 && prompts(f) >= 1, 6: (f) => count() >= 2 && prompts(f) >= 2, 7: () => count() >= 3, 8: (f) => count() >= 4 && prompts(f) >= 3 },
    },
  );
  const goneAway = (): boolean => client!.frames().some((f) => f.type === 'control' && f.kind === GOAWAY);
  await within(until(goneAway, 'GOAWAY', LIMIT_MS + 1000), LIMIT_MS, () => `the gateway did not end the session (client got ${JSON.stringify(client?.frames().map((f) => (f.type === "data" ? `D${f.streamId} ${f.payload.toString("latin1")}` : `C${f.kind} ${f.streamId}`)))}, wrote ${JSON.stringify(client?.progress())}, upstream wrote ${JSON.stringify(upstream.progress())}, upstream got ${JSON.stringify(describeMessages(upstream.messages()))})`);
  assertUpstreamGot(t, upstream, capture);
  t.match(client.head(), /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  t.match(client.head(), /\r\nX-Stream-Protocol-Version: v4\.channel\.k8s\.io\r\n/);
  const got = spdyStreamBytes(sent, client.frames());
  const stdout = capturedServerMessages(capture).filter((m) => m.kind === 'binary' && m.payload[0] === 1).map((m) => m.payload.subarray(1));
  t.equal(got['stdout']?.toString('latin1'), Buffer.concat(stdout).toString('latin1'), 'the pty output the API server sent, byte for byte');
  t.equal(got['error']?.toString('utf8'), capturedStatus(capture), 'the API server\'s Status on the error stream, byte for byte (exit code 5 in its details)');
  // The end as the kubelet ends a session (kubectl 1.27 closes on GOAWAY): every stream reset, then GOAWAY.
  const ending = (frames: SpdyFrame[]): string[] => frames.filter((f) => f.type === 'control' && f.kind !== SYN_REPLY && f.kind !== PING).map((f) => `${f.type === 'control' ? f.kind : ''} ${f.type === 'control' ? (f.streamId ?? '') : ''}`);
  t.same(ending(client.frames()), ending(readSpdy(captureParts('spdy-exec-tty-resize.server-to-client.bin').body)), 'RST_STREAM on each stream, then GOAWAY, as the kubelet did');
  const end = await stack.gatewayLogs.waitFor((r) => r.event === 'session-end' && r.mode === 'to-websocket');
  t.match(end, { clientProtocol: 'SPDY/3.1 v4.channel.k8s.io', upstreamProtocol: 'v5.channel.k8s.io', exitCode: 5, tty: true });
});

/** The SPDY bytes inside a tunnel's binary messages, joined. */
const tunnelled = (messages: WebSocketMessage[]): Buffer => Buffer.concat(messages.filter((m) => m.kind === 'binary').map((m) => m.payload));

t.test('kubectl 1.27 port-forward through the tunnel (websocket-apiserver-portforward-tunnel)', async (t) => {
  const capture = 'websocket-apiserver-portforward-tunnel';
  const recordedClient = readSpdy(tunnelled(capturedClientMessages(capture)));
  const recordedServer = capturedServerMessages(capture);
  const request = (recordedClient.find((f) => f.type === 'data' && f.payload.length > 0) as { payload: Buffer }).payload;
  const port = Number((recordedClient.find((f) => f.type === 'control' && f.headers?.['streamtype'] === 'data') as { headers: Record<string, string> }).headers['port']);
  const spdyUpstream = (): SpdyFrame[] => readSpdy(tunnelled(upstream.messages()).subarray(0, tunnelled(upstream.messages()).length - splitSpdy(tunnelled(upstream.messages())).rest.length));
  const opened = (): number => spdyUpstream().filter((f) => f.type === 'control' && f.kind === SYN_STREAM).length;
  // Server messages: each SYN_REPLY once its stream is open (kubectl 1.27 waits for the error
  // stream's reply before it opens the data stream), the response once the request is in, the ends;
  // its PING echo (kubectl 1.33's timer) and its close are left for the test.
  const { upstream, stack } = await behindGateway(t, {
    capture,
    when: { 0: () => opened() >= 1, 1: () => opened() >= 2, 2: () => spdyUpstream().some((f) => f.type === 'data' && f.payload.length > 0), 4: () => false },
  });
  const forward = await startPortForward(27, stack.kubeconfig, 'demo', port);
  t.teardown(() => forward.stop());
  const socket = net.connect(forward.localPort, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(socket, 'connect');
  socket.write(request);
  await within(once(socket, 'end'), LIMIT_MS, () => `no answer through the forward (upstream wrote ${JSON.stringify(upstream.progress())}, got ${JSON.stringify(dataSequence(spdyUpstream()))} ${JSON.stringify(openedStreams(spdyUpstream()))})`);
  socket.destroy();
  // kubectl ends its data stream once the local connection is gone.
  await until(() => dataSequence(spdyUpstream()).some((line) => line.startsWith('data#0 FIN')), 'kubectl 1.27 ending its data stream', LIMIT_MS);
  // The answer inside the recorded DATA frame on the data stream, as the pod's server wrote it.
  const answer = readSpdy(tunnelled(recordedServer)).find((f) => f.type === 'data' && f.payload.length > 0) as { payload: Buffer };
  t.equal(Buffer.concat(chunks).toString('latin1'), answer.payload.toString('latin1'), 'the response the pod sent, byte for byte');
  t.same(openedStreams(spdyUpstream()), openedStreams(recordedClient), 'kubectl 1.27 opened the streams kubectl 1.33 did, relayed as they are');
  t.same(dataSequence(spdyUpstream()), dataSequence(recordedClient).filter((line) => !line.startsWith('?')), 'its DATA frames (error stream ended, the request) as kubectl 1.33 sent them');
  t.equal(requestView(upstream.requests[0]!).protocol, 'SPDY/3.1+portforward.k8s.io', 'the tunneling subprotocol');
  t.same(requestView(upstream.requests[0]!), requestView(captureParts(`${capture}.client-to-server.bin`).head), 'the request line kubectl 1.33 sent');
});

t.test('kubectl 1.27 port-forward to a closed port through the tunnel (websocket-apiserver-portforward-tunnel-closed-port)', async (t) => {
  // The API server's tunnel carries the kubelet's SPDY answer unchanged (data stream FIN, the error
  // text, RST_STREAM on the error stream: spdy-portforward-closed-port's order), so kubectl 1.27
  // must end as it did against that kubelet: the error text logged, "lost connection to pod", exit 1.
  const capture = 'websocket-apiserver-portforward-tunnel-closed-port';
  const kubeletFrames = readSpdy(captureParts('spdy-portforward-closed-port.server-to-client.bin').body);
  const tunnelFrames = readSpdy(tunnelled(capturedServerMessages(capture)));
  const described = (frames: SpdyFrame[]): string[] => frames.map((f) => (f.type === 'data' ? `DATA ${f.streamId} ${f.flags} ${f.payload.toString('latin1')}` : `CONTROL ${f.kind} ${f.streamId ?? ''}`));
  t.same(described(tunnelFrames), described(kubeletFrames.slice(0, tunnelFrames.length)), 'the tunnel carries the kubelet\'s SPDY answer, frame for frame');
  const errorText = (tunnelFrames.find((f) => f.type === 'data' && f.streamId === 1) as { payload: Buffer }).payload.toString();

  const spdyUpstream = (): SpdyFrame[] => {
    const bytes = tunnelled(upstream.messages());
    return readSpdy(bytes.subarray(0, bytes.length - splitSpdy(bytes).rest.length));
  };
  const opened = (): number => spdyUpstream().filter((f) => f.type === 'control' && f.kind === SYN_STREAM).length;
  // Each SYN_REPLY once its stream is open, the port's answer once the request is in, the close once the gateway's.
  const { upstream, stack } = await behindGateway(t, {
    capture,
    when: {
      0: () => opened() >= 1,
      1: () => opened() >= 2,
      2: () => spdyUpstream().some((f) => f.type === 'data' && f.payload.length > 0),
      4: (messages) => messages.some((m) => m.kind === 'close'),
    },
  });
  const forward = await startPortForward(27, stack.kubeconfig, 'demo', 1);
  t.teardown(() => forward.stop());
  const socket = net.connect(forward.localPort, '127.0.0.1');
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  const code = await within(forward.exited, LIMIT_MS, () => `kubectl did not exit (upstream wrote ${JSON.stringify(upstream.progress())}, got ${JSON.stringify(dataSequence(spdyUpstream()))})`);
  socket.destroy();
  t.equal(code, 1, 'kubectl exits 1');
  t.ok(forward.stderr().includes(errorText), `the kubelet's error text reached kubectl: ${errorText}`);
  t.match(forward.stderr(), /lost connection to pod/, 'and it ends as against the kubelet');
  t.equal(requestView(upstream.requests[0]!).protocol, 'SPDY/3.1+portforward.k8s.io', 'the tunneling subprotocol upstream');
  const end = await stack.gatewayLogs.waitFor((r) => r.event === 'session-end' && r.mode === 'to-websocket');
  t.match(end, { clientTransport: 'spdy', upstreamTransport: 'websocket', clientProtocol: 'SPDY/3.1 portforward.k8s.io', upstreamProtocol: 'SPDY/3.1+portforward.k8s.io' });
});
