// The WebSocket channel protocol of port-forward (JavaScript/Python clients, browser tools),
// translated to SPDY port-forward upstream: a real third-party client and hand-written frames.
import t from 'tap';
import { PassThrough } from 'node:stream';
import { KubeConfig, PortForward } from '@kubernetes/client-node';
import { closedPort } from '../helpers/closed-port.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { connect, waitForMessage, type ReceivedMessage } from '../helpers/ws-client.js';
import { until } from '../helpers/wait.js';

let stack: Stack;
t.before(async () => {
  stack = await startStack();
});
t.teardown(() => stack.close());

const PF = '/api/v1/namespaces/default/pods/demo/portforward';
const le = (port: number): Buffer => Buffer.from([port & 0xff, port >> 8]);
const onChannel = (channel: number) => (m: ReceivedMessage) => m.data[0] === channel;

t.test('@kubernetes/client-node PortForward through the gateway', async (t) => {
  const kc = new KubeConfig();
  kc.loadFromFile(stack.kubeconfig);
  const output = new PassThrough();
  const errors = new PassThrough();
  const input = new PassThrough();
  let received = '';
  output.on('data', (chunk: Buffer) => (received += chunk.toString()));
  const ws = await new PortForward(kc).portForward('default', 'demo', [80], output, errors, input);
  input.write('GET / HTTP/1.0\r\nHost: demo\r\n\r\n');
  await until(() => received.includes('Hello from pod default/demo'), 'the HTTP answer through the forward');
  t.match(received, /^HTTP\/1\.1 200 OK\r\n/);
  (ws as { close(): void }).close();
  const end = await stack.gatewayLogs.waitFor((r) => r.event === 'session-end' && r.mode === 'channels');
  t.equal(end.clientProtocol, 'v4.channel.k8s.io', 'the client library spoke the v4 channel protocol');
  const start = stack.gatewayLogs.find((r) => r.event === 'session-start' && r.mode === 'channels')[0]!;
  t.equal(start.upstreamProtocol, 'portforward.k8s.io', 'and the gateway spoke SPDY port-forward upstream');
});

t.test('two ports: port prefixes on both channels of each, data both ways', async (t) => {
  const outcome = await connect(stack, `${PF}?ports=80&ports=7`, ['v4.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail('refused');
  const { socket, messages } = outcome;
  for (const [channel, port] of [[0, 80], [1, 80], [2, 7], [3, 7]] as const) {
    const first = await waitForMessage(socket, messages, onChannel(channel));
    t.same(first.data, Buffer.concat([Buffer.from([channel]), le(port)]), `channel ${channel} announces port ${port}`);
  }
  socket.send(Buffer.concat([Buffer.from([2]), Buffer.from('echo me')]));
  const echoed = await waitForMessage(socket, messages, (m) => m.data[0] === 2 && m.data.subarray(1).toString() === 'echo me');
  t.ok(echoed, 'the echo port answered on its data channel');
  // Something on an error channel is ignored (only the server writes there); the session goes on.
  socket.send(Buffer.concat([Buffer.from([1]), Buffer.from('not for you')]));
  socket.send(Buffer.concat([Buffer.from([0]), Buffer.from('GET / HTTP/1.0\r\n\r\n')]));
  let http80 = '';
  await until(() => {
    http80 = messages.filter((m) => m.data[0] === 0).map((m) => m.data.subarray(1).toString('latin1')).join('');
    return http80.includes('Hello from pod');
  }, 'the HTTP answer on channel 0');
  t.match(http80, /200 OK/);
  socket.close();
  await outcome.closed;
});

t.test('base64 framing: digit channel prefixes and base64 payloads', async (t) => {
  const outcome = await connect(stack, `${PF}?ports=7`, ['v4.base64.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail('refused');
  t.equal(outcome.protocol, 'v4.base64.channel.k8s.io');
  const first = await waitForMessage(outcome.socket, outcome.messages, (m) => m.data[0] === 0x30);
  t.equal(first.isBinary, false);
  t.same(Buffer.from(first.data.subarray(1).toString(), 'base64'), le(7));
  outcome.socket.send('0' + Buffer.from('abc').toString('base64'));
  const echoed = await waitForMessage(outcome.socket, outcome.messages, (m) => m.data[0] === 0x30 && Buffer.from(m.data.subarray(1).toString(), 'base64').toString() === 'abc');
  t.ok(echoed);
  outcome.socket.close();
  await outcome.closed;
});

t.test('a port that fails: the upstream error on its error channel, then a normal close', async (t) => {
  const outcome = await connect(stack, `${PF}?ports=81`, ['v4.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail('refused');
  const closed = await outcome.closed;
  t.equal(closed.code, 1000);
  const errorText = outcome.messages.filter((m) => m.data[0] === 1).map((m) => m.data.subarray(1)).slice(1);
  t.match(Buffer.concat(errorText).toString(), /error forwarding port 81 to pod demo/);
});

t.test('bad requests get a 400 Status before any upgrade', async (t) => {
  for (const [query, message] of [
    ['', /query parameter "port" is required/],
    ['?ports=abc', /invalid port "abc"/],
    ['?ports=70000', /invalid port "70000"/],
    ['?ports=0', /invalid port "0"/],
  ] as const) {
    const outcome = await connect(stack, `${PF}${query}`, ['v4.channel.k8s.io']);
    t.equal(outcome.kind, 'refused', query);
    if (outcome.kind !== 'refused') continue;
    t.equal(outcome.statusCode, 400);
    t.match(JSON.parse(outcome.body), { kind: 'Status', code: 400, message });
  }
});

t.test('a message that must be held whole (text) over the limit closes with 1009 naming it; the gateway goes on', async (t) => {
  const outcome = await connect(stack, `${PF}?ports=7`, ['v4.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail('refused');
  // 32 MiB is the default limit; binary messages are streamed and not bounded by it.
  outcome.socket.send('x'.repeat(32 * 1024 * 1024 + 1));
  const closed = await outcome.closed;
  t.equal(closed.code, 1009);
  t.match(closed.reason, /over 33554432 bytes was refused \(limits\.maxMessageBytes\)/);
  const next = await connect(stack, `${PF}?ports=7`, ['v4.channel.k8s.io']);
  t.equal(next.kind, 'open');
  if (next.kind === 'open') {
    next.socket.close();
    await next.closed;
  }
  await until(() => stack.gateway.activeSessions === 0, 'every port-forward session to end');
});

t.test('an upstream that is down: 503 with a Status', async (t) => {
  const port = await closedPort();
  const down = await startStack({ upstream: () => ({ url: new URL(`http://127.0.0.1:${port}`), insecureSkipTlsVerify: false }) });
  t.teardown(() => down.close());
  const outcome = await connect(down, `${PF}?ports=80`, ['v4.channel.k8s.io']);
  t.equal(outcome.kind, 'refused');
  if (outcome.kind === 'refused') {
    t.equal(outcome.statusCode, 503);
    t.equal(JSON.parse(outcome.body).message, 'the upstream cluster is unavailable');
  }
});
