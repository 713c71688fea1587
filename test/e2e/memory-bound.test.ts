// A client that stops reading must stop the upstream, not grow the gateway: 200 MB pushed at a
// stalled WebSocket client, the gateway's buffered bytes sampled throughout.
import t from 'tap';
import { startStack } from '../helpers/stack.js';
import { connect } from '../helpers/ws-client.js';
import { until } from '../helpers/wait.js';

/** The default session budget: 512 KiB unflushed toward the client + 128 KiB per SPDY stream buffer, with room for one more chunk. */
const BUDGET = 1024 * 1024;
const TOTAL = 200 * 1024 * 1024;

t.test('200 MB toward a client that stops reading: buffering stays within the budget, nothing is lost', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const outcome = await connect(stack, `/api/v1/namespaces/default/pods/demo/exec?command=head&command=-c&command=${TOTAL}&command=%2Fdev%2Fzero&stdout=true`, ['v5.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail('refused');
  const { socket } = outcome;
  let received = 0;
  socket.removeAllListeners('message');
  socket.on('message', (data: Buffer) => {
    if (data[0] === 1) received += data.length - 1;
  });
  // Read a little, then stop reading the socket altogether.
  await until(() => received > 4 * 1024 * 1024, 'the first 4 MiB');
  const rawSocket = (socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  rawSocket.pause();

  // Sample until the transfer has visibly stalled: 100 samples (≥ 1 s) without progress.
  let maxBuffered = 0;
  let lastReceived = -1;
  let unchanged = 0;
  await until(() => {
    maxBuffered = Math.max(maxBuffered, stack.gateway.bufferedBytes);
    unchanged = received === lastReceived ? unchanged + 1 : 0;
    lastReceived = received;
    return unchanged >= 100;
  }, 'the transfer to stall', 60_000);
  t.ok(received < TOTAL / 2, `the upstream was stopped (${received} of ${TOTAL} bytes delivered)`);
  t.ok(maxBuffered <= BUDGET, `gateway buffering peaked at ${maxBuffered} bytes (budget ${BUDGET})`);

  rawSocket.resume();
  const closed = await outcome.closed;
  t.equal(closed.code, 1000);
  t.equal(received, TOTAL, 'every byte arrived once the client read again');
  const end = stack.sessionEnds()[0]!;
  t.equal(end.exitCode, 0);
  t.equal(end.bytesToClient, TOTAL);
});

