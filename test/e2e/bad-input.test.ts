// Bad input and failing upstreams: each gets a specific error, the gateway stays up, nothing leaks.
import t from 'tap';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { closedPort } from '../helpers/closed-port.js';
import { startStack } from '../helpers/stack.js';
import { connect, waitForMessage } from '../helpers/ws-client.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import { until } from '../helpers/wait.js';
import { rawExchange } from '../helpers/raw-exchange.js';

const EXEC_CAT = '/api/v1/namespaces/default/pods/demo/exec?command=cat&stdin=true&stdout=true&stderr=true';

t.test('an unknown subprotocol is refused with 403 and a Status naming the supported ones', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const outcome = await connect(stack, EXEC_CAT, ['v9.channel.k8s.io']);
  t.equal(outcome.kind, 'refused');
  if (outcome.kind !== 'refused') return;
  t.equal(outcome.statusCode, 403);
  const status = JSON.parse(outcome.body);
  t.match(status, { kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403 });
  t.match(status.message, /v9\.channel\.k8s\.io.*v5\.channel\.k8s\.io/);
  // The gateway is still serving.
  const next = await connect(stack, EXEC_CAT, ['v5.channel.k8s.io']);
  t.equal(next.kind, 'open');
  if (next.kind === 'open') next.socket.terminate();
});

t.test('an upstream that is down: InternalError Status on the error channel, then a normal close', async (t) => {
  const deadPort = await closedPort();
  const stack = await startStack({
    upstream: () => ({ url: new URL(`http://127.0.0.1:${deadPort}`), insecureSkipTlsVerify: false }),
  });
  t.teardown(() => stack.close());

  const outcome = await connect(stack, EXEC_CAT, ['v5.channel.k8s.io']);
  t.equal(outcome.kind, 'open');
  if (outcome.kind !== 'open') return;
  const closed = await outcome.closed;
  t.equal(closed.code, 1000);
  const errorMessage = outcome.messages.find((m) => m.data[0] === 3);
  t.ok(errorMessage, 'a message on the error channel');
  const status = JSON.parse(errorMessage!.data.subarray(1).toString());
  t.match(status, { status: 'Failure', reason: 'InternalError', code: 500 });
  t.match(status.message, /^(Internal error occurred: )?the upstream cluster is unavailable$/);
});

t.test('an upstream that answers 403: the same answer reaches the client before any upgrade', async (t) => {
  const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'pods "demo" is forbidden: User "x" cannot create resource "pods/exec"', reason: 'Forbidden', code: 403 });
  const forbidding = http.createServer((_req, res) => {
    res.writeHead(403, { 'content-type': 'application/json' });
    res.end(body);
  });
  forbidding.listen(0, '127.0.0.1');
  await once(forbidding, 'listening');
  t.teardown(() => new Promise((resolve) => forbidding.close(resolve)));
  const port = (forbidding.address() as AddressInfo).port;
  const stack = await startStack({ upstream: () => ({ url: new URL(`http://127.0.0.1:${port}`), insecureSkipTlsVerify: false }) });
  t.teardown(() => stack.close());

  const outcome = await connect(stack, EXEC_CAT, ['v5.channel.k8s.io']);
  t.equal(outcome.kind, 'refused');
  if (outcome.kind !== 'refused') return;
  t.equal(outcome.statusCode, 403);
  t.equal(outcome.body, body, 'the upstream Status, byte for byte');
});

t.test('a malformed v5 CLOSE ends the session with close code 1002; the upstream streams are reset', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const outcome = await connect(stack, EXEC_CAT, ['v5.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail('upgrade refused');
  await waitForMessage(outcome.socket, outcome.messages, (m) => m.data.length === 1 && m.data[0] === 1);
  outcome.socket.send(Buffer.from([0xff]));
  const closed = await outcome.closed;
  t.equal(closed.code, 1002);
  t.match(closed.reason, /close/i);
  const end = await stack.gatewayLogs.waitFor((r) => r.event === 'session-end');
  t.match(end.reason, /client protocol error/);
  await stack.clusterLogs.waitFor((r) => r.event === 'session-end' || r.msg === 'exec ended' || r.msg === 'session ended');
});

t.test('a client that vanishes mid-stream: upstream reset, session ended, gateway still serves', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const outcome = await connect(stack, EXEC_CAT, ['v5.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail('upgrade refused');
  outcome.socket.send(Buffer.concat([Buffer.from([0]), Buffer.from('echo me\n')]));
  await waitForMessage(outcome.socket, outcome.messages, (m) => m.data[0] === 1 && m.data.subarray(1).toString() === 'echo me\n');
  outcome.socket.terminate();
  const end = await stack.gatewayLogs.waitFor((r) => r.event === 'session-end');
  t.match(end.reason, /client closed/);
  t.equal(end.bytesToClient, 'echo me\n'.length);
  await stack.clusterLogs.waitFor((r) => r.event === 'session-end' || r.msg === 'exec ended' || r.msg === 'session ended');
  const again = await runKubectl(33, ['exec', 'demo', '--', 'echo', 'still here'], { kubeconfig: stack.kubeconfig });
  t.equal(again.stdout.toString(), 'still here\n');
});

t.test('gateway shutdown ends a running session with a Status saying so, then a normal close', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const outcome = await connect(stack, EXEC_CAT, ['v5.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail('upgrade refused');
  await waitForMessage(outcome.socket, outcome.messages, (m) => m.data.length === 1 && m.data[0] === 1);
  await stack.gateway.close();
  const closed = await outcome.closed;
  t.equal(closed.code, 1000);
  const status = JSON.parse(outcome.messages.find((m) => m.data[0] === 3)!.data.subarray(1).toString());
  t.match(status, { status: 'Failure', reason: 'ServiceUnavailable', code: 503, message: 'the gateway is shutting down' });
});

t.test('a back-pressured 32 MiB stdin upload then CLOSE: every byte counted, exit 0, connection released', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const outcome = await connect(stack, '/api/v1/namespaces/default/pods/demo/exec?command=sh&command=-c&command=cat%20%3E%20%2Fdev%2Fnull&stdin=true&stdout=true', ['v5.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail('upgrade refused');
  const chunk = Buffer.concat([Buffer.from([0]), Buffer.alloc(64 * 1024, 0x61)]);
  // 32 MiB with up to 16 messages in flight, as a fast uploader sends: far more than the stdin stream
  // buffers, so the gateway pauses the WebSocket on the way, and the last write leaves it paused.
  const inFlight: Array<Promise<void>> = [];
  for (let i = 0; i < 512; i++) {
    inFlight.push(new Promise((resolve) => outcome.socket.send(chunk, () => resolve())));
    if (inFlight.length >= 16) await inFlight.shift();
  }
  await Promise.all(inFlight);
  outcome.socket.send(Buffer.from([0xff, 0]));
  t.equal((await outcome.closed).code, 1000);
  // Bounded well below ws's 30 s close timeout, which a gateway stuck with a paused socket would wait out.
  await until(() => stack.gateway.openConnections === 0, 'the gateway to release the client connection', 5_000);
  const closed = await stack.gatewayLogs.waitFor((r) => r.event === 'client-closed');
  t.equal(closed.code, 1000, "the gateway read the client's close frame");
  const end = stack.sessionEnds()[0]!;
  t.equal(end.bytesFromClient, 512 * 64 * 1024);
  t.equal(end.exitCode, 0);
});

t.test('odd request targets (`//`, `//x?y`) on upgrades and plain requests get answers; the gateway stays up', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  for (const request of [
    'GET // HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    'GET //x?ports=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    'GET // HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  ]) {
    const answer = await rawExchange(stack, request);
    t.match(answer, /^HTTP\/1\.1 \d{3} /, `answered: ${request.split('\r\n')[0]}`);
  }
  const again = await runKubectl(33, ['exec', 'demo', '--', 'echo', 'still up'], { kubeconfig: stack.kubeconfig });
  t.equal(again.stdout.toString(), 'still up\n');
});

t.test('a malformed resize message stops resizing, not the session (as Kubernetes does)', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const outcome = await connect(stack, '/api/v1/namespaces/default/pods/demo/exec?command=cat&stdin=true&stdout=true&tty=true', ['v5.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail('upgrade refused');
  outcome.socket.send(Buffer.concat([Buffer.from([4]), Buffer.from('{"Width":80,"Height":24}[not a size]')]));
  outcome.socket.send(Buffer.concat([Buffer.from([0]), Buffer.from('still here\r')]));
  await waitForMessage(outcome.socket, outcome.messages, () =>
    outcome.messages.filter((m) => m.data[0] === 1).map((m) => m.data.subarray(1).toString()).join('').includes('still here'),
  );
  t.pass('the session goes on after the bad resize');
  const warning = await stack.gatewayLogs.waitFor((r) => r.event === 'resize-error');
  t.ok(typeof warning.err === 'string' && warning.err.length > 0, `the decoder's reason is logged: ${String(warning.err)}`);
  outcome.socket.close();
  t.equal((await outcome.closed).code, 1005);
});
