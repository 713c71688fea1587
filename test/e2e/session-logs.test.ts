// Session log lines that identify: every session kind — translated exec, port-forward tunnel and
// channels, relayed SPDY — logs its start and end with one field set (kind, upstream, user, namespace,
// pod, container, command, protocols on both sides, client address, user agent, bytes each way, exit
// code, duration, reason), so that one query finds any session and who ran it.
import t, { type Test } from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { startStack, type Stack } from '../helpers/stack.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import { startPortForward } from '../helpers/port-forward.js';
import { connect, waitForMessage } from '../helpers/ws-client.js';
import type { LogRecord } from '../helpers/log-recorder.js';

const START_FIELDS = ['kind', 'mode', 'upstream', 'user', 'namespace', 'pod', 'container', 'command', 'clientProtocol', 'upstreamProtocol', 'clientAddress', 'userAgent'];
const END_FIELDS = [...START_FIELDS, 'bytesFromClient', 'bytesToClient', 'exitCode', 'durationMs', 'reason'];

let stack: Stack;
t.before(async () => {
  stack = await startStack();
});
t.teardown(() => stack.close());

/** The start and end lines of the one session of this mode (waits for the end). */
async function sessionLines(mode: string): Promise<{ start: LogRecord; end: LogRecord }> {
  const end = await stack.gatewayLogs.waitFor((record) => record.event === 'session-end' && record.mode === mode);
  const start = stack.gatewayLogs.find((record) => record.event === 'session-start' && record.mode === mode)[0]!;
  return { start, end };
}

function hasFieldSet(t: Test, record: LogRecord, fields: string[], what: string): void {
  t.same(fields.filter((field) => !(field in record)), [], `${what} has every field`);
}

t.test('translated exec (kubectl 1.33, WebSocket)', async (t) => {
  const result = await runKubectl(33, ['exec', 'demo', '--', 'sh', '-c', 'echo hi; exit 3'], { kubeconfig: stack.kubeconfig });
  t.equal(result.code, 3, result.stderr);
  const { start, end } = await sessionLines('translated');
  hasFieldSet(t, start, START_FIELDS, 'start');
  hasFieldSet(t, end, END_FIELDS, 'end');
  t.match(end, {
    kind: 'exec',
    upstream: 'default',
    user: null,
    namespace: 'default',
    pod: 'demo',
    container: 'shell',
    command: ['sh', '-c', 'echo hi; exit 3'],
    clientProtocol: 'v5.channel.k8s.io',
    upstreamProtocol: 'v4.channel.k8s.io',
    clientAddress: '127.0.0.1',
    userAgent: /^kubectl\.1\.33\/v1\.33/,
    bytesToClient: 3,
    exitCode: 3,
  });
});

t.test('relayed SPDY exec (kubectl 1.27): the same fields as a translated one', async (t) => {
  const result = await runKubectl(27, ['exec', 'demo', '-c', 'shell', '--', 'echo', 'relayed'], { kubeconfig: stack.kubeconfig });
  t.equal(result.code, 0, result.stderr);
  const { start, end } = await sessionLines('relay');
  hasFieldSet(t, start, START_FIELDS, 'start');
  hasFieldSet(t, end, END_FIELDS, 'end');
  t.match(end, {
    kind: 'exec',
    upstream: 'default',
    namespace: 'default',
    pod: 'demo',
    container: 'shell',
    command: ['echo', 'relayed'],
    clientProtocol: 'SPDY/3.1',
    upstreamProtocol: /^v\d\.channel\.k8s\.io$/,
    clientAddress: '127.0.0.1',
    userAgent: /^kubectl\.1\.27\/v1\.27/,
    exitCode: null,
    reason: /closed/,
  });
  t.ok((end.bytesToClient as number) > 0 && (end.bytesFromClient as number) > 0, 'bytes both ways');
});

t.test('port-forward tunnel (kubectl 1.33)', async (t) => {
  const forward = await startPortForward(33, stack.kubeconfig, 'demo', 7);
  const socket = net.connect(forward.localPort, '127.0.0.1');
  await once(socket, 'connect');
  socket.write('ping');
  await once(socket, 'data');
  socket.destroy();
  await forward.stop();
  const { start, end } = await sessionLines('tunnel');
  hasFieldSet(t, start, START_FIELDS, 'start');
  hasFieldSet(t, end, END_FIELDS, 'end');
  t.match(end, { kind: 'portforward', namespace: 'default', pod: 'demo', container: null, command: null, clientProtocol: 'SPDY/3.1+portforward.k8s.io', upstreamProtocol: 'portforward.k8s.io', userAgent: /^kubectl\.1\.33/, exitCode: null });
});

t.test('port-forward channels (a WebSocket client)', async (t) => {
  const outcome = await connect(stack, '/api/v1/namespaces/default/pods/demo/portforward?ports=7', ['v4.channel.k8s.io'], { 'user-agent': 'session-logs-test/1.0' });
  if (outcome.kind !== 'open') return t.fail('refused');
  await waitForMessage(outcome.socket, outcome.messages, (m) => m.data[0] === 1);
  outcome.socket.close();
  await outcome.closed;
  const { start, end } = await sessionLines('channels');
  hasFieldSet(t, start, START_FIELDS, 'start');
  hasFieldSet(t, end, END_FIELDS, 'end');
  t.match(end, { kind: 'portforward', namespace: 'default', pod: 'demo', clientProtocol: 'v4.channel.k8s.io', upstreamProtocol: 'portforward.k8s.io', userAgent: 'session-logs-test/1.0', clientAddress: '127.0.0.1', ports: [7] });
});
