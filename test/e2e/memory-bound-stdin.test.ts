// The other direction: a client flooding stdin into a command that never reads it must be held back
// by the gateway (WebSocket paused while the SPDY stdin stream is full), with bounded buffering.
import t from 'tap';
import { startStack } from '../helpers/stack.js';
import { connect } from '../helpers/ws-client.js';
import { until } from '../helpers/wait.js';

const BUDGET = 1024 * 1024;
const TOTAL = 200 * 1024 * 1024;

t.test('stdin flood into a command that never reads: client held back, gateway buffering bounded', async (t) => {
  // A client that vanishes while the gateway holds its socket paused (stdin back-pressure) cannot be
  // seen closing until the socket is read again; the ping timeout (two intervals) catches it. A short
  // interval keeps this test quick; the default is 30 s.
  const stack = await startStack({ gateway: { clientPingIntervalMs: 200 } });
  t.teardown(() => stack.close());
  const outcome = await connect(stack, '/api/v1/namespaces/default/pods/demo/exec?command=sleep&command=600&stdin=true&stdout=true', ['v5.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail('refused');
  const chunk = Buffer.concat([Buffer.from([0]), Buffer.alloc(64 * 1024, 0x62)]);
  let accepted = 0;
  let stopped = false;
  // Like a real client: keep at most 1 MiB queued in its own WebSocket, send more as it drains.
  const pump = (): void => {
    while (!stopped && accepted < TOTAL && outcome.socket.bufferedAmount < 1024 * 1024) {
      outcome.socket.send(chunk);
      accepted += chunk.length - 1;
    }
    if (!stopped && accepted < TOTAL) setImmediate(pump);
  };
  pump();
  let maxBuffered = 0;
  let lastAccepted = -1;
  let unchanged = 0;
  await until(() => {
    maxBuffered = Math.max(maxBuffered, stack.gateway.bufferedBytes);
    unchanged = accepted === lastAccepted ? unchanged + 1 : 0;
    lastAccepted = accepted;
    return unchanged >= 100;
  }, 'the upload to stall', 30_000);
  stopped = true;
  t.ok(accepted < TOTAL / 4, `the client was held back (${accepted} of ${TOTAL} bytes accepted)`);
  t.ok(maxBuffered <= BUDGET, `gateway buffering peaked at ${maxBuffered} bytes (budget ${BUDGET})`);
  outcome.socket.terminate();
  const end = await stack.gatewayLogs.waitFor((r) => r.event === 'session-end');
  t.match(end.reason, /client closed the connection \(code 1006\)/);
  await until(() => stack.gateway.activeSessions === 0 && stack.gateway.openConnections === 0, 'the session and its socket to be released');
});
