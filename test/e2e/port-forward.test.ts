// kubectl port-forward through the gateway: WebSocket tunneling (SPDY/3.1+portforward.k8s.io) on the
// client side, SPDY port-forward upstream; kubectl 1.27's SPDY relayed untouched.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { startStack, type Stack } from '../helpers/stack.js';
import { startPortForward } from '../helpers/port-forward.js';
import type { LogRecord } from '../helpers/log-recorder.js';
import { until } from '../helpers/wait.js';
import { echoThrough as echo } from '../helpers/echo.js';

let stack: Stack;
t.before(async () => {
  stack = await startStack();
});
t.teardown(() => stack.close());

const TUNNELING = { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'true' };
const tunnelEnds = (): LogRecord[] => stack.gatewayLogs.find((r) => r.event === 'session-end' && r.kind === 'portforward' && r.mode === 'tunnel');
const relayed = (): LogRecord[] => stack.gatewayLogs.find((r) => r.event === 'session-start' && r.mode === 'relay');


const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

for (const minor of [31, 33]) {
  t.test(`kubectl 1.${minor} port-forward over WebSocket tunneling`, async (t) => {
    const tunnelsBefore = tunnelEnds().length;
    const relaysBefore = relayed().length;
    const http = await startPortForward(minor, stack.kubeconfig, 'demo', 80, TUNNELING);
    const echoForward = await startPortForward(minor, stack.kubeconfig, 'demo', 7, TUNNELING);

    t.test('HTTP requests through the forward', async (t) => {
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`http://127.0.0.1:${http.localPort}/`);
        t.equal(res.status, 200);
        t.equal(await res.text(), 'Hello from pod default/demo\n');
      }
    });

    t.test('20 parallel connections through one forward', async (t) => {
      const payloads = Array.from({ length: 20 }, (_, i) => Buffer.concat([Buffer.from(`connection ${i}:`), randomBytes(64 * 1024)]));
      const answers = await Promise.all(payloads.map((payload) => echo(echoForward.localPort, payload)));
      answers.forEach((answer, i) => t.ok(answer.equals(payloads[i]!), `connection ${i} echoed intact`));
    });

    t.test('100 MB each way with checksums', async (t) => {
      const payload = randomBytes(100 * 1024 * 1024);
      const answer = await echo(echoForward.localPort, payload);
      t.equal(answer.length, payload.length);
      t.equal(sha(answer), sha(payload));
    });

    t.test('the target port closed: kubectl reports the upstream error; once back, forwarding works', async (t) => {
      const forward = await startPortForward(minor, stack.kubeconfig, 'demo', 80, TUNNELING);
      await stack.cluster.setPodPortOpen('demo', 80, false);
      const attempt = await fetch(`http://127.0.0.1:${forward.localPort}/`).then(
        () => 'answered',
        () => 'failed',
      );
      t.equal(attempt, 'failed', 'no answer while the pod port is closed');
      // Real kubectl ends the whole forward on an error from the error stream ("lost connection to
      // pod"), against a real kubelet too; the gateway relays the error unchanged.
      t.equal(await forward.exited, 1);
      t.match(forward.stderr(), /error forwarding port 80 to pod demo, uid [0-9a-f-]+: failed to connect to localhost:80 .*connect: connection refused/);
      t.match(forward.stderr(), /lost connection to pod/);
      await stack.cluster.setPodPortOpen('demo', 80, true);
      const next = await startPortForward(minor, stack.kubeconfig, 'demo', 80, TUNNELING);
      const res = await fetch(`http://127.0.0.1:${next.localPort}/`);
      t.equal(res.status, 200, 'a forward serves again once the port is back');
      t.equal(await next.stop(), 0);
      const echoed = await echo(echoForward.localPort, Buffer.from('still alive'));
      t.equal(echoed.toString(), 'still alive', 'the other forward was not harmed');
    });

    t.test('Ctrl-C tears the forward down cleanly', async (t) => {
      t.equal(await http.stop(), 0);
      t.equal(await echoForward.stop(), 0);
      await until(() => stack.gateway.activeSessions === 0 && stack.gateway.openConnections === 0, 'the gateway to hold no session and no socket');
      t.pass('no session or socket left on the gateway');
      const ends = tunnelEnds().slice(tunnelsBefore);
      t.equal(ends.length, 4, 'every tunnel ended (two forwards, the failed one and its successor)');
      for (const end of ends) t.match(end.reason, /client closed/);
      t.equal(relayed().length, relaysBefore, 'kubectl did not fall back to SPDY');
      const starts = stack.gatewayLogs.find((r) => r.event === 'session-start' && r.kind === 'portforward').slice(-4);
      for (const start of starts) {
        t.equal(start.clientProtocol, 'SPDY/3.1+portforward.k8s.io', 'WebSocket tunneling on the client side');
        t.equal(start.upstreamProtocol, 'portforward.k8s.io', 'SPDY port-forward upstream');
      }
    });
  });
}

t.test('kubectl 1.27 port-forward (SPDY only) is relayed untouched', async (t) => {
  const relaysBefore = relayed().length;
  const tunnelsBefore = tunnelEnds().length;
  const forward = await startPortForward(27, stack.kubeconfig, 'demo', 80);
  const res = await fetch(`http://127.0.0.1:${forward.localPort}/`);
  t.equal(await res.text(), 'Hello from pod default/demo\n');
  t.equal(await forward.stop(), 0);
  t.equal(relayed().length, relaysBefore + 1);
  t.equal(relayed().at(-1)!.upstreamProtocol, 'portforward.k8s.io');
  t.equal(tunnelEnds().length, tunnelsBefore, 'not tunneled');
});
