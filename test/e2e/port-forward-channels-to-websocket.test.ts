// Port-forward clients of the WebSocket channel protocols (v4.channel.k8s.io, base64: browsers,
// client-go, the Python client) toward a WebSocket-only cluster (`legacy-cluster --streaming
// websocket`): the gateway speaks the tunneling subprotocol SPDY/3.1+portforward.k8s.io upstream and
// maps the channels onto SPDY streams inside it. Each test asserts what each side spoke from the
// gateway's session log, and from the cluster's that it served the tunnel and never saw a SPDY upgrade.
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import type { Stack } from '../helpers/stack.js';
import { refusedByCluster, startWebSocketOnlyStack } from '../helpers/to-websocket.js';
import { connect, waitForMessage, type ReceivedMessage } from '../helpers/ws-client.js';
import { until } from '../helpers/wait.js';
import { startPortForward } from '../helpers/port-forward.js';
import { echoThrough } from '../helpers/echo.js';
import type { LogRecord } from '../helpers/log-recorder.js';

let stack: Stack;
t.before(async () => {
  stack = await startWebSocketOnlyStack();
});
t.teardown(() => stack.close());

const PF = '/api/v1/namespaces/default/pods/demo/portforward';
const TUNNEL = 'SPDY/3.1+portforward.k8s.io';
const le = (port: number): Buffer => Buffer.from([port & 0xff, port >> 8]);

/** Channel `n`'s payloads after its port prefix, joined (binary framing). */
const channelBytes = (messages: ReceivedMessage[], channel: number): Buffer =>
  Buffer.concat(messages.filter((m) => m.isBinary && m.data[0] === channel).map((m) => m.data.subarray(1))).subarray(2);

const portForwardEnds = (s: Stack): LogRecord[] => s.gatewayLogs.find((r) => r.event === 'session-end' && r.mode === 'to-websocket' && Array.isArray(r.ports));
const tunnelsAtCluster = (s: Stack): LogRecord[] => s.clusterLogs.find((r) => r.event === 'session-identity' && r.protocol === TUNNEL);

/** The session's end line: the client's channel protocol, the tunnel upstream, one tunnel at the cluster, no SPDY upgrade refused there. */
async function assertBothSides(t: Test, before: { ends: number; tunnels: number }, clientProtocol: string): Promise<LogRecord> {
  await until(() => portForwardEnds(stack).length > before.ends, 'the port-forward session-end line');
  const end = portForwardEnds(stack)[before.ends]!;
  t.match(end, { clientTransport: 'websocket', upstreamTransport: 'websocket', clientProtocol, upstreamProtocol: TUNNEL }, `the client spoke ${clientProtocol}, the gateway the tunnel upstream`);
  t.equal(tunnelsAtCluster(stack).length - before.tunnels, 1, 'the cluster served one tunnel');
  t.equal(refusedByCluster(stack), 0, 'the cluster never saw a SPDY upgrade');
  return end;
}

const counts = (): { ends: number; tunnels: number } => ({ ends: portForwardEnds(stack).length, tunnels: tunnelsAtCluster(stack).length });

t.test('v4.channel.k8s.io: one echo port twice, bytes each way checked on both pairs of channels', async (t) => {
  const before = counts();
  const outcome = await connect(stack, `${PF}?ports=7&ports=7`, ['v4.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail(`refused: ${outcome.statusCode} ${outcome.body}`);
  t.equal(outcome.protocol, 'v4.channel.k8s.io');
  const { socket, messages } = outcome;
  for (const channel of [0, 1, 2, 3]) {
    const first = await waitForMessage(socket, messages, (m) => m.data[0] === channel);
    t.same(first.data, Buffer.concat([Buffer.from([channel]), le(7)]), `channel ${channel} announces port 7`);
  }
  const payloads = [randomBytes(256 * 1024), randomBytes(256 * 1024)];
  for (let at = 0; at < payloads[0]!.length; at += 32 * 1024) {
    payloads.forEach((payload, index) => socket.send(Buffer.concat([Buffer.from([2 * index]), payload.subarray(at, at + 32 * 1024)])));
  }
  await until(() => channelBytes(messages, 0).length >= payloads[0]!.length && channelBytes(messages, 2).length >= payloads[1]!.length, 'both echoes', 30_000);
  t.ok(channelBytes(messages, 0).equals(payloads[0]!), 'the first pair echoed byte for byte');
  t.ok(channelBytes(messages, 2).equals(payloads[1]!), 'the second pair echoed byte for byte');
  socket.close();
  await outcome.closed;
  const end = await assertBothSides(t, before, 'v4.channel.k8s.io');
  t.same(end.ports, [7, 7]);
});

t.test('v4.channel.k8s.io: a closed port gets the kubelet\'s error on its error channel, then a normal close', async (t) => {
  const before = counts();
  const outcome = await connect(stack, `${PF}?ports=81`, ['v4.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail(`refused: ${outcome.statusCode} ${outcome.body}`);
  const closed = await outcome.closed;
  t.equal(closed.code, 1000);
  const error = channelBytes(outcome.messages, 1).toString();
  t.match(error, /^error forwarding port 81 to pod demo, uid [^:]+: /, 'the error as the kubelet words it');
  const atCluster = await stack.clusterLogs.waitFor((r) => r.event === 'portforward-error' && r.port === 81);
  t.ok(error.endsWith(String(atCluster.reason)), 'the cluster\'s own reason, unchanged');
  await assertBothSides(t, before, 'v4.channel.k8s.io');
});

t.test('v4.base64.channel.k8s.io: digit channel prefixes and base64 payloads through the tunnel', async (t) => {
  const before = counts();
  const outcome = await connect(stack, `${PF}?ports=7`, ['v4.base64.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail(`refused: ${outcome.statusCode} ${outcome.body}`);
  t.equal(outcome.protocol, 'v4.base64.channel.k8s.io');
  const decoded = (m: ReceivedMessage): Buffer => Buffer.from(m.data.subarray(1).toString(), 'base64');
  const first = await waitForMessage(outcome.socket, outcome.messages, (m) => m.data[0] === 0x30);
  t.equal(first.isBinary, false);
  t.same(decoded(first), le(7));
  outcome.socket.send('0' + Buffer.from('abc').toString('base64'));
  const echoed = await waitForMessage(outcome.socket, outcome.messages, (m) => m.data[0] === 0x30 && decoded(m).toString() === 'abc');
  t.ok(echoed, 'the echo came back base64-framed');
  outcome.socket.close();
  await outcome.closed;
  await assertBothSides(t, before, 'v4.base64.channel.k8s.io');
});

t.test('kubectl 1.33 port-forward (the tunneling client) is still relayed as it is', async (t) => {
  const before = counts();
  const relays = (): LogRecord[] => stack.gatewayLogs.find((r) => r.event === 'session-start' && r.mode === 'relay');
  const relaysBefore = relays().length;
  const forward = await startPortForward(33, stack.kubeconfig, 'demo', 7);
  const payload = randomBytes(64 * 1024);
  t.ok((await echoThrough(forward.localPort, payload)).equals(payload), 'the echo came back byte for byte');
  await forward.stop();
  t.equal(relays().length - relaysBefore, 1, 'one relayed upgrade');
  t.equal(portForwardEnds(stack).length, before.ends, 'nothing mapped by the gateway');
  t.equal(tunnelsAtCluster(stack).length - before.tunnels, 1, 'the cluster served the client\'s own tunnel');
});
