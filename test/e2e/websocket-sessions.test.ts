// Session-level robustness of client WebSockets through the gateway, with raw clients (client
// libraries and browsers behave like this; kubectl always answers pings): liveness is any traffic, a
// single 20 MiB stdin message streams through, an oversized whole message is refused with a Status
// naming the limit, and the gateway's own ends are logged and counted under their true outcome.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { startStack } from '../helpers/stack.js';
import { connect, waitForMessage } from '../helpers/ws-client.js';
import { until } from '../helpers/wait.js';
import type { SessionObserver } from '../../src/server/session-registry.js';

const STDIN = 0;
const STDOUT = 1;
const ERROR = 3;
/** v5's CLOSE signal for stdin: the client will send no more. */
const CLOSE_STDIN = Buffer.from([255, STDIN]);

function exec(command: string[], query = 'stdin=true&stdout=true'): string {
  return `/api/v1/namespaces/default/pods/demo/exec?${command.map((part) => `command=${encodeURIComponent(part)}`).join('&')}&${query}`;
}

/** An observer recording the outcome every session ended with: what the sessions_ended metric counts. */
function outcomes(): { observer: SessionObserver; seen: string[] } {
  const seen: string[] = [];
  return { seen, observer: { started: () => undefined, moved: () => undefined, ended: (_session, _labels, outcome) => seen.push(outcome) } };
}

t.test('a client that never answers pings but keeps writing stdin is kept well past the old cut-off', async (t) => {
  const { observer, seen } = outcomes();
  // Pings every 50 ms: the old rule cut at the second unanswered one (100 ms); silence may last 1.6 s.
  const stack = await startStack({ gateway: { clientPingIntervalMs: 50, observer } });
  t.teardown(() => stack.close());
  const outcome = await connect(stack, exec(['cat']), ['v5.channel.k8s.io'], {}, { autoPong: false });
  if (outcome.kind !== 'open') return t.fail('refused');
  const { socket, messages } = outcome;
  let pings = 0;
  // One line of stdin per ping of the gateway's own timer, for 60 pings (3 s): events, not sleeps.
  socket.on('ping', () => {
    pings++;
    if (pings <= 60) socket.send(Buffer.concat([Buffer.from([STDIN]), Buffer.from(`line ${pings}\n`)]));
    if (pings === 60) socket.send(CLOSE_STDIN);
  });
  const { code } = await outcome.closed;
  t.equal(code, 1000, 'closed normally by the gateway after the command ended');
  t.ok(pings >= 60, `${pings} pings went unanswered`);
  const stdout = Buffer.concat(messages.filter((m) => m.data[0] === STDOUT).map((m) => m.data.subarray(1))).toString();
  t.equal(stdout, Array.from({ length: 60 }, (_, i) => `line ${i + 1}\n`).join(''), 'every line echoed');
  const status = messages.find((m) => m.data[0] === ERROR && m.data.length > 1);
  t.match(JSON.parse(status!.data.subarray(1).toString()), { status: 'Success' });
  t.equal(stack.sessionEnds().at(-1)!.outcome, 'completed');
  t.same(seen, ['completed']);
});

t.test('a client that sends nothing at all is cut after 12 intervals + 1 s, and the log and metrics say ping-timeout', async (t) => {
  const { observer, seen } = outcomes();
  const stack = await startStack({ gateway: { clientPingIntervalMs: 50, observer } });
  t.teardown(() => stack.close());
  const outcome = await connect(stack, exec(['sleep', '30']), ['v5.channel.k8s.io'], {}, { autoPong: false });
  if (outcome.kind !== 'open') return t.fail('refused');
  const { code, reason } = await outcome.closed;
  t.equal(code, 1008, 'policy violation, not an abnormal closure');
  t.match(reason, /nothing received from the client for 1\.6 s \(12 × limits\.pingIntervalSeconds \+ 1 s\)/);
  const end = await stack.gatewayLogs.waitFor((record) => record.event === 'session-end');
  t.equal(end.outcome, 'ping-timeout');
  t.match(end.reason, /nothing received from the client/);
  t.notMatch(end.reason, /client closed the connection/);
  await until(() => seen.length === 1, 'the registry to report the end');
  t.same(seen, ['ping-timeout']);
});

t.test('a single 20 MiB stdin message goes through whole (sha256 at the pod side)', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const outcome = await connect(stack, exec(['sha256sum']), ['v5.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail('refused');
  const payload = randomBytes(20 * 1024 * 1024);
  outcome.socket.send(Buffer.concat([Buffer.from([STDIN]), payload]));
  outcome.socket.send(CLOSE_STDIN);
  const { code } = await outcome.closed;
  t.equal(code, 1000);
  const stdout = Buffer.concat(outcome.messages.filter((m) => m.data[0] === STDOUT).map((m) => m.data.subarray(1))).toString();
  t.equal(stdout.split(' ')[0], createHash('sha256').update(payload).digest('hex'), 'the pod hashed exactly the bytes sent');
  const status = outcome.messages.find((m) => m.data[0] === ERROR && m.data.length > 1);
  t.match(JSON.parse(status!.data.subarray(1).toString()), { status: 'Success' });
});

t.test('a whole (base64) message over limits.maxMessageBytes: a Status naming the limit, then 1009', async (t) => {
  const { observer, seen } = outcomes();
  const stack = await startStack({ gateway: { maxMessageBytes: 64 * 1024, observer } });
  t.teardown(() => stack.close());
  const outcome = await connect(stack, exec(['cat']), ['v4.base64.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail('refused');
  outcome.socket.send('0' + randomBytes(60 * 1024).toString('base64'));
  const { code, reason } = await outcome.closed;
  t.equal(code, 1009);
  t.match(reason, /limits\.maxMessageBytes/);
  // Everything sent before the close frame has arrived by now.
  const statusMessage = outcome.messages.find((m) => m.data.toString()[0] === '3' && m.data.length > 1);
  if (!statusMessage) return t.fail('no Status on the error channel');
  const status = JSON.parse(Buffer.from(statusMessage.data.toString().slice(1), 'base64').toString());
  t.match(status, { status: 'Failure', code: 413, reason: 'RequestEntityTooLarge' });
  t.match(status.message, /over 65536 bytes was refused \(limits\.maxMessageBytes\)/);
  const end = await stack.gatewayLogs.waitFor((record) => record.event === 'session-end');
  t.equal(end.outcome, 'message-too-large');
  await until(() => seen.length === 1, 'the registry to report the end');
  t.same(seen, ['message-too-large']);
});

/** `n` masked empty pings in one buffer, as a client would put them on the wire. */
function maskedPings(n: number): Buffer {
  const one = Buffer.from([0x89, 0x80, 1, 2, 3, 4]);
  const all = Buffer.allocUnsafe(one.length * n);
  for (let at = 0; at < all.length; at += one.length) one.copy(all, at);
  return all;
}

t.test('a client flooding pings while not reading: memory stays flat, it is paused, then cut and counted as control-flood', async (t) => {
  const { observer, seen } = outcomes();
  const budget = 256 * 1024;
  const stack = await startStack({ gateway: { sessionBufferBytes: budget, controlFloodTimeoutMs: 1_000, observer } });
  t.teardown(() => stack.close());
  const outcome = await connect(stack, exec(['yes'], 'stdout=true'), ['v5.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail('refused');
  const raw = (outcome.socket as unknown as { _socket: { pause(): void; write(data: Buffer): boolean } })._socket;
  await waitForMessage(outcome.socket, outcome.messages, (m) => m.data[0] === STDOUT && m.data.length > 1);
  // The client stops reading: output fills the kernel buffers, then the session's share of the budget.
  raw.pause();
  await until(() => stack.gateway.bufferedBytes >= budget / 2, "the session's WebSocket share to fill");
  const flood = maskedPings(1_000_000);
  const memory = (): number => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const before = memory();
  let peak = 0;
  raw.write(flood);
  await until(() => {
    peak = Math.max(peak, memory() - before);
    return stack.sessionEnds().length > 0;
  }, 'the session to end', 30_000);
  t.ok(peak < 64 * 1024 * 1024, `memory grew by ${Math.round(peak / 1024 / 1024)} MiB at most for a million pings (a pong each grew it by hundreds)`);
  t.ok(stack.gateway.bufferedBytes <= budget + 128 * 1024, 'the session stayed within its budget');
  const end = stack.sessionEnds()[0]!;
  t.equal(end.outcome, 'control-flood');
  t.match(end.reason, /pings sent without reading the answers for 1 s \(limits\.sessionBufferBytes\)/);
  await until(() => seen.length === 1, 'the registry to report the end');
  t.same(seen, ['control-flood']);
});
