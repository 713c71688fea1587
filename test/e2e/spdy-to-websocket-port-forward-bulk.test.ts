// kubectl 1.27 port-forward through the gateway to a WebSocket-only cluster at the size: 20
// parallel connections, 100 MB each way each (4 GB through the tunnel), streamed and hashed (never
// held), with the protocols asserted. On its own file: it is the slowest test of the suite.
import t from 'tap';
import type { Stack } from '../helpers/stack.js';
import { startPortForward } from '../helpers/port-forward.js';
import { hashedEcho } from '../helpers/hashed-echo.js';
import { until } from '../helpers/wait.js';
import { assertSpdyToWebSocket, startWebSocketOnlyStack, towardWebSocket } from '../helpers/to-websocket.js';

const CONNECTIONS = 20;
const BYTES = 100 * 1024 * 1024;

let stack: Stack;
t.before(async () => {
  stack = await startWebSocketOnlyStack();
});
t.teardown(() => stack.close());

t.test(`kubectl 1.27 port-forward: ${CONNECTIONS} parallel connections, 100 MB each way each, hashes equal`, async (t) => {
  const before = towardWebSocket(stack).length;
  const forward = await startPortForward(27, stack.kubeconfig, 'demo', 7);
  const started = Date.now();
  const echoes = await Promise.all(Array.from({ length: CONNECTIONS }, () => hashedEcho(forward.localPort, BYTES)));
  t.comment(`${CONNECTIONS} × 100 MB each way in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  echoes.forEach((echo, i) => {
    t.equal(echo.receivedBytes, BYTES, `connection ${i}: every byte came back`);
    t.equal(echo.receivedSha256, echo.sentSha256, `connection ${i}: byte for byte`);
  });
  await forward.stop();
  await until(() => towardWebSocket(stack).length > before, 'the port-forward session-end line');
  const [end] = assertSpdyToWebSocket(t, stack, before, { clientProtocol: 'SPDY/3.1 portforward.k8s.io', upstreamProtocol: 'SPDY/3.1+portforward.k8s.io' });
  t.ok((end!.bytesFromClient as number) > CONNECTIONS * BYTES, 'every connection went up through the gateway');
  t.ok((end!.bytesToClient as number) > CONNECTIONS * BYTES, 'and came back down through it');
});
