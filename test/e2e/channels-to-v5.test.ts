// WebSocket exec clients that a WebSocket-only upstream is not promised to speak — v4.channel.k8s.io
// and the base64 framings — are translated to v5.channel.k8s.io toward a `streaming: websocket`
// upstream (`legacy-cluster --streaming websocket`, which would otherwise serve them as they are).
// Each test asserts what the client spoke (the gateway's log, the negotiated subprotocol) and that
// the cluster served v5; a v5 client is still relayed untouched.
import t, { type Test } from 'tap';
import type { Stack } from '../helpers/stack.js';
import { startWebSocketOnlyStack } from '../helpers/to-websocket.js';
import { connect, type ReceivedMessage } from '../helpers/ws-client.js';
import { until } from '../helpers/wait.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import { handleCounts, noHandlesLeft } from '../helpers/handles.js';
import type { LogRecord } from '../helpers/log-recorder.js';
import { SessionTapRefusal, type SessionTapFactory } from '../../src/translators/bridge.js';

let stack: Stack;
t.before(async () => {
  stack = await startWebSocketOnlyStack();
});
t.teardown(() => stack.close());

const exec = (command: string[], query: string): string =>
  `/api/v1/namespaces/default/pods/demo/exec?${command.map((word) => `command=${encodeURIComponent(word)}`).join('&')}&${query}`;

/** Channel `n`'s payloads as text, decoding the base64 framing ('0'+channel digit, then base64) where `base64`. */
function channelText(messages: ReceivedMessage[], channel: number, base64 = false): string {
  if (base64) {
    return messages
      .filter((m) => !m.isBinary && m.data.toString()[0] === String(channel))
      .map((m) => Buffer.from(m.data.toString().slice(1), 'base64').toString())
      .join('');
  }
  return messages.filter((m) => m.isBinary && m.data[0] === channel).map((m) => m.data.subarray(1).toString()).join('');
}

const commandHas = (r: LogRecord, marker: string): boolean => r.event === 'session-end' && Array.isArray(r.command) && (r.command as string[]).join(' ').includes(marker);

/** The gateway's session-end line of this command, translated toward v5. */
const translatedEnd = (s: Stack, marker: string): Promise<LogRecord> => s.gatewayLogs.waitFor((r) => commandHas(r, marker) && r.mode === 'to-websocket');

/** The cluster's session-end line of this command. */
const clusterEnd = (s: Stack, marker: string): Promise<LogRecord> => s.clusterLogs.waitFor((r) => commandHas(r, marker));

/** A session tap factory noting each payload as `<direction> <route> <text>` in `seen`; refuses while `refuse()` says so. */
function tapInto(seen: string[], name: string, refuse = (): boolean => false): SessionTapFactory {
  return {
    async open() {
      if (refuse()) throw new SessionTapRefusal('recording unavailable');
      return { name, tap: { bytes: (direction, route, payload) => seen.push(`${direction} ${route} ${payload.toString()}`), event: () => undefined } };
    },
  };
}

function assertBothSides(t: Test, end: LogRecord, clientProtocol: string, clusterEnd: LogRecord): void {
  t.match(end, { clientTransport: 'websocket', upstreamTransport: 'websocket', clientProtocol, upstreamProtocol: 'v5.channel.k8s.io' }, `the client spoke ${clientProtocol}, the gateway v5 upstream`);
  t.equal(clusterEnd.protocol, 'v5.channel.k8s.io', 'the cluster served v5');
}

t.test('v4.channel.k8s.io exec: stdin, stdout, stderr and exit 3 through a v5 upstream', async (t) => {
  const command = ['sh', '-c', 'read line; echo "got $line"; echo err >&2; exit 3 # v4-exec'];
  const outcome = await connect(stack, exec(command, 'stdin=true&stdout=true&stderr=true'), ['v4.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail(`refused: ${outcome.statusCode} ${outcome.body}`);
  t.equal(outcome.protocol, 'v4.channel.k8s.io', 'the client got the protocol it asked for');
  outcome.socket.send(Buffer.concat([Buffer.from([0]), Buffer.from('v4 input\n')]));
  t.equal((await outcome.closed).code, 1000);
  t.equal(channelText(outcome.messages, 1), 'got v4 input\n');
  t.equal(channelText(outcome.messages, 2), 'err\n');
  t.match(JSON.parse(channelText(outcome.messages, 3)), { status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } }, 'the v4 JSON Status with the exit code');
  const end = await translatedEnd(stack, 'v4-exec');
  t.equal(end.exitCode, 3);
  assertBothSides(t, end, 'v4.channel.k8s.io', await clusterEnd(stack, 'v4-exec'));
});

t.test('v4.channel.k8s.io exec -t: resize on channel 4 reaches the terminal through v5', async (t) => {
  const command = ['sh', '-c', 'read x; stty size # v4-resize'];
  const outcome = await connect(stack, exec(command, 'stdin=true&stdout=true&tty=true'), ['v4.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail(`refused: ${outcome.statusCode} ${outcome.body}`);
  outcome.socket.send(Buffer.concat([Buffer.from([4]), Buffer.from('{"Width":123,"Height":45}')]));
  outcome.socket.send(Buffer.from('\x00go\r'));
  await until(() => /45 123/.test(channelText(outcome.messages, 1)), 'the terminal to report the size', 15_000);
  t.match(channelText(outcome.messages, 1), /45 123/, 'the size reached the terminal');
  t.equal((await outcome.closed).code, 1000);
  t.match(JSON.parse(channelText(outcome.messages, 3)), { status: 'Success' });
  const end = await translatedEnd(stack, 'v4-resize');
  t.match(end, { tty: true, exitCode: 0 });
  assertBothSides(t, end, 'v4.channel.k8s.io', await clusterEnd(stack, 'v4-resize'));
});

t.test('base64.channel.k8s.io exec: text framing both ways, the failure Status as text', async (t) => {
  const command = ['sh', '-c', 'read line; echo "b64 $line"; exit 5 # base64-exec'];
  const outcome = await connect(stack, exec(command, 'stdin=true&stdout=true'), ['base64.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail(`refused: ${outcome.statusCode} ${outcome.body}`);
  t.equal(outcome.protocol, 'base64.channel.k8s.io');
  outcome.socket.send('0' + Buffer.from('line\n').toString('base64'));
  t.equal((await outcome.closed).code, 1000);
  t.ok(outcome.messages.every((m) => !m.isBinary), 'every message to the client is a text (base64) message');
  t.equal(channelText(outcome.messages, 1, true), 'b64 line\n');
  t.equal(channelText(outcome.messages, 3, true), 'command terminated with non-zero exit code: exit status 5', 'the v1 text Status');
  const end = await translatedEnd(stack, 'base64-exec');
  t.equal(end.exitCode, 5);
  assertBothSides(t, end, 'base64.channel.k8s.io', await clusterEnd(stack, 'base64-exec'));
});

t.test('v4.base64.channel.k8s.io exec: JSON Status in base64 text messages', async (t) => {
  const outcome = await connect(stack, exec(['sh', '-c', 'echo hi; exit 0 # v4b64-exec'], 'stdout=true'), ['v4.base64.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail(`refused: ${outcome.statusCode} ${outcome.body}`);
  t.equal((await outcome.closed).code, 1000);
  t.equal(channelText(outcome.messages, 1, true), 'hi\n');
  t.match(JSON.parse(channelText(outcome.messages, 3, true)), { status: 'Success' });
  const end = await translatedEnd(stack, 'v4b64-exec');
  t.match(end, { clientProtocol: 'v4.base64.channel.k8s.io', upstreamProtocol: 'v5.channel.k8s.io', exitCode: 0 });
});

t.test('a v5 client is relayed untouched', async (t) => {
  const relaysBefore = stack.gatewayLogs.find((r) => r.event === 'session-start' && r.mode === 'relay').length;
  const outcome = await connect(stack, exec(['sh', '-c', 'exit 6 # v5-relay'], 'stdout=true'), ['v5.channel.k8s.io', 'v4.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail(`refused: ${outcome.statusCode} ${outcome.body}`);
  t.equal(outcome.protocol, 'v5.channel.k8s.io');
  await outcome.closed;
  t.equal(stack.gatewayLogs.find((r) => r.event === 'session-start' && r.mode === 'relay').length, relaysBefore + 1, 'relayed');
  t.equal((await clusterEnd(stack, 'v5-relay')).protocol, 'v5.channel.k8s.io');
});

t.test('recorded like every translated session: the tap sees the bytes; a refused recording refuses the session', async (t) => {
  const seen: string[] = [];
  let refuse = false;
  const s = await startWebSocketOnlyStack({ recording: tapInto(seen, 'v4.cast', () => refuse) });
  t.teardown(() => s.close());
  const outcome = await connect(s, exec(['sh', '-c', 'read line; echo "rec $line" # v4-rec'], 'stdin=true&stdout=true'), ['v4.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail(`refused: ${outcome.statusCode} ${outcome.body}`);
  outcome.socket.send(Buffer.concat([Buffer.from([0]), Buffer.from('x\n')]));
  await outcome.closed;
  t.same(seen, ['to-upstream stdin x\n', 'to-client stdout rec x\n'], 'both directions through the tap');
  t.equal((await translatedEnd(s, 'v4-rec')).recording, 'v4.cast', 'the session line names its recording');
  refuse = true;
  const refused = await connect(s, exec(['true'], 'stdout=true'), ['v4.channel.k8s.io']);
  t.match(refused, { kind: 'refused', statusCode: 500, body: /recording unavailable/ }, 'no recording, no session');
});

t.test('with a recording, v5 clients and SPDY clients toward the WebSocket upstream are recorded too', async (t) => {
  // A raw relay cannot be recorded: with a tap configured, a v5 client is bridged v5 to v5 instead,
  // and a SPDY client's translation carries the tap; recording.required must never be bypassed.
  const seen: string[] = [];
  const s = await startWebSocketOnlyStack({ recording: { ...tapInto(seen, 'any.cast'), failClosed: true } });
  t.teardown(() => s.close());
  const outcome = await connect(s, exec(['sh', '-c', 'cat # v5-rec'], 'stdin=true&stdout=true'), ['v5.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail(`refused: ${outcome.statusCode} ${outcome.body}`);
  outcome.socket.send(Buffer.concat([Buffer.from([0]), Buffer.from('v5 in\n')]));
  outcome.socket.send(Buffer.from([0xff, 0]));
  t.equal((await outcome.closed).code, 1000);
  t.equal(channelText(outcome.messages, 1), 'v5 in\n', 'cat got its stdin and its end (the v5 CLOSE passed on)');
  t.match(JSON.parse(channelText(outcome.messages, 3)), { status: 'Success' });
  t.same(seen.splice(0), ['to-upstream stdin v5 in\n', 'to-client stdout v5 in\n'], 'the v5 session through the tap');
  t.match(await translatedEnd(s, 'v5-rec'), { clientProtocol: 'v5.channel.k8s.io', upstreamProtocol: 'v5.channel.k8s.io', recording: 'any.cast' });

  const result = await runKubectl(27, ['exec', '-i', 'demo', '--', 'sh', '-c', 'cat # spdy-rec'], { kubeconfig: s.kubeconfig, stdin: 'spdy in\n', timeoutMs: 60_000 });
  t.equal(result.stdout.toString(), 'spdy in\n', result.stderr);
  t.same(seen, ['to-upstream stdin spdy in\n', 'to-client stdout spdy in\n'], 'the SPDY client\'s session through the tap');
  t.match(await translatedEnd(s, 'spdy-rec'), { clientTransport: 'spdy', recording: 'any.cast' });

  // Port-forward toward this upstream is tunnelled or relayed unread: with recording.required it does not run.
  for (const minor of [27, 33]) {
    const forward = await runKubectl(minor, ['port-forward', 'pod/demo', ':7'], { kubeconfig: s.kubeconfig, timeoutMs: 60_000 });
    t.equal(forward.code, 1, `kubectl 1.${minor} port-forward refused`);
    t.match(forward.stderr, /port-forward sessions to this cluster are not recorded/, `kubectl 1.${minor} is told why`);
  }
  t.equal(s.clusterLogs.find((r) => r.event === 'session-identity' && r.protocol === 'SPDY/3.1+portforward.k8s.io').length, 0, 'no port-forward reached the cluster');
});

t.test('the upstream closes without a Status: the v4 client gets an error Status, not a hang', async (t) => {
  // The command is killed from outside the session: the cluster's WebSocket is cut with no Status.
  const baseline = handleCounts();
  const outcome = await connect(stack, exec(['sh', '-c', 'echo $$; exec sleep 30 # v4-cut'], 'stdout=true'), ['v4.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail(`refused: ${outcome.statusCode} ${outcome.body}`);
  await until(() => channelText(outcome.messages, 1).length > 0, 'the pid');
  await stack.cluster.close();
  t.equal((await outcome.closed).code, 1000);
  t.match(JSON.parse(channelText(outcome.messages, 3)), { status: 'Failure', reason: 'InternalError', message: /without a status/ });
  const end = await translatedEnd(stack, 'v4-cut');
  t.equal(end.outcome, 'upstream-error');
  await until(() => stack.gateway.activeSessions === 0 && stack.gateway.openConnections === 0, 'no session or connection left on the gateway');
  await noHandlesLeft(t, baseline);
});
