// The tunnel forwards only what the API server would (streamtunnel.go): `SPDY/3.1+` tokens ending in
// `.k8s.io`. One registry (codecs/channels/protocols.ts) decides, for the live path and its tests.
import t from 'tap';
import { startStack, type Stack } from '../helpers/stack.js';
import { rawExchange } from '../helpers/raw-exchange.js';

let stack: Stack;

t.before(async () => {
  stack = await startStack();
});
t.teardown(() => stack.close());

function tunnelUpgrade(protocol: string): string {
  return (
    `GET /api/v1/namespaces/default/pods/demo/portforward HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${stack.token}\r\n` +
    `Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
    `Sec-WebSocket-Protocol: ${protocol}\r\n\r\n`
  );
}

t.test('SPDY/3.1+other.example is not tunneled: refused with 403 before any upstream dial', async (t) => {
  const before = stack.gatewayLogs.records.length;
  const clusterBefore = stack.clusterLogs.records.length;
  const answer = await rawExchange(stack, tunnelUpgrade('SPDY/3.1+other.example'));
  t.match(answer, /^HTTP\/1\.1 403 /, 'refused, not tunneled');
  const records = stack.gatewayLogs.records.slice(before);
  t.ok(records.some((record) => record.event === 'session-refused'), 'logged as refused');
  t.notOk(records.some((record) => record.event === 'session-start' || record.event === 'session-end'), 'no session ran');
  t.same(stack.clusterLogs.records.slice(clusterBefore), [], 'the upstream never saw the request');
  t.match(answer, /the gateway supports \[SPDY\/3\.1\+portforward\.k8s\.io,/, 'the answer names what is tunneled');
});
