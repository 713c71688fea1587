// An unreachable upstream: every request form tells the caller only that its cluster is unavailable;
// the upstream's address and the errno go to the log (issue 17.8).
import t, { type Test } from 'tap';
import { closedPort } from '../helpers/closed-port.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { rawExchange } from '../helpers/raw-exchange.js';
import { connect } from '../helpers/ws-client.js';

let stack: Stack;
let deadPort: number;

t.before(async () => {
  deadPort = await closedPort();
  stack = await startStack({ upstream: () => ({ url: new URL(`http://127.0.0.1:${deadPort}`), insecureSkipTlsVerify: false }) });
});
t.teardown(() => stack.close());

/** The body leaks nothing internal: no upstream address, no errno, no dial wording. */
function assertNoDetail(t: Test, body: string): void {
  t.notMatch(body, new RegExp(`127\\.0\\.0\\.1|\\b${deadPort}\\b`), 'no upstream address');
  t.notMatch(body, /ECONNREFUSED|connect |dialing|errno/i, 'no errno or dial detail');
}

/** ...and the log has the detail for the operator. */
function assertLogged(t: Test): void {
  t.ok(
    stack.gatewayLogs.records.some((record) => /ECONNREFUSED/.test(JSON.stringify(record))),
    'the gateway log has the detail',
  );
}

t.test('plain request: 503 Status naming only the unavailable cluster', async (t) => {
  const answer = await rawExchange(stack, `GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${stack.token}\r\nConnection: close\r\n\r\n`);
  t.match(answer, /^HTTP\/1\.1 503 /);
  const status = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
  t.match(status, { kind: 'Status', code: 503, reason: 'ServiceUnavailable', message: 'the upstream cluster is unavailable' });
  assertNoDetail(t, answer);
  assertLogged(t);
});

t.test('WebSocket exec: InternalError on the error channel, without detail', async (t) => {
  const outcome = await connect(stack, '/api/v1/namespaces/default/pods/demo/exec?command=true&stdout=true', ['v5.channel.k8s.io']);
  t.equal(outcome.kind, 'open');
  if (outcome.kind !== 'open') return;
  await outcome.closed;
  const error = outcome.messages.find((message) => message.data[0] === 3);
  const text = error!.data.subarray(1).toString();
  t.match(JSON.parse(text), { reason: 'InternalError', code: 500, message: 'Internal error occurred: the upstream cluster is unavailable' });
  assertNoDetail(t, text);
});

t.test('port-forward tunnel (SPDY over WebSocket): 503 before the upgrade, without detail', async (t) => {
  // kubectl's tunneling subprotocol has a "/", which the ws client refuses to offer: a raw handshake.
  const answer = await rawExchange(
    stack,
    `GET /api/v1/namespaces/default/pods/demo/portforward HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${stack.token}\r\n` +
      `Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
      `Sec-WebSocket-Protocol: SPDY/3.1+portforward.k8s.io\r\n\r\n`,
  );
  t.match(answer, /^HTTP\/1\.1 503 /);
  t.match(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)), { code: 503, message: 'the upstream cluster is unavailable' });
  assertNoDetail(t, answer);
});

t.test('port-forward channels (v4): 503 before the upgrade, without detail', async (t) => {
  const outcome = await connect(stack, '/api/v1/namespaces/default/pods/demo/portforward?ports=80', ['v4.channel.k8s.io']);
  t.equal(outcome.kind, 'refused');
  if (outcome.kind !== 'refused') return;
  t.equal(outcome.statusCode, 503);
  t.match(JSON.parse(outcome.body), { message: 'the upstream cluster is unavailable' });
  assertNoDetail(t, outcome.body);
});

t.test('relayed SPDY upgrade (kubectl ≤ 1.30): 503 Status, without detail', async (t) => {
  const answer = await rawExchange(
    stack,
    `POST /api/v1/namespaces/default/pods/demo/exec?command=true&stdout=true HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
      `Authorization: Bearer ${stack.token}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\nContent-Length: 0\r\n\r\n`,
  );
  t.match(answer, /^HTTP\/1\.1 503 /);
  t.match(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)), { code: 503, message: 'the upstream cluster is unavailable' });
  assertNoDetail(t, answer);
});
