// Session limits end or refuse sessions with a Status that names the limit, seen through real kubectl.
import t from 'tap';
import { spawn } from 'node:child_process';
import { startStack } from '../helpers/stack.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import { kubectlPath } from '../helpers/kubectl.js';
import { until } from '../helpers/wait.js';
import { connect } from '../helpers/ws-client.js';

t.test('an idle session ends with a Status naming limits.idleTimeoutSeconds', async (t) => {
  const stack = await startStack({ gateway: { limits: { idleTimeoutMs: 300 } } });
  t.teardown(() => stack.close());
  const result = await runKubectl(33, ['exec', 'demo', '--', 'sleep', '30'], { kubeconfig: stack.kubeconfig, timeoutMs: 20_000 });
  t.not(result.code, 0, 'kubectl fails');
  t.equal(result.signal, null, 'kubectl ended by itself, not by the test timeout');
  t.match(result.stderr, /idle \(no data either way\) for 0\.3 s \(limits\.idleTimeoutSeconds\)/);
  const end = stack.sessionEnds().at(-1)!;
  t.match(end.reason, /limits\.idleTimeoutSeconds/);
  await until(() => stack.gateway.activeSessions === 0, 'no session left');
});

t.test('a session that keeps moving bytes is not idle; the maximum duration still ends it', async (t) => {
  const stack = await startStack({ gateway: { limits: { idleTimeoutMs: 400, maxSessionMs: 1_500 } } });
  t.teardown(() => stack.close());
  // Prints every 100 ms: never idle for 400 ms, but older than 1.5 s.
  const result = await runKubectl(33, ['exec', 'demo', '--', 'sh', '-c', 'while :; do echo tick; sleep 0.1; done'], { kubeconfig: stack.kubeconfig, timeoutMs: 20_000 });
  t.not(result.code, 0);
  t.match(result.stdout.toString(), /^(tick\n){5,}/, 'output flowed until the limit');
  t.match(result.stderr, /maximum duration of 1\.5 s \(limits\.maxSessionSeconds\)/);
  t.notMatch(result.stderr, /idle/);
});

t.test('past limits.maxSessions a new session is refused with 429; kubectl falls back to SPDY and is refused there too', async (t) => {
  const stack = await startStack({ gateway: { limits: { maxSessions: 1 } } });
  t.teardown(() => stack.close());
  const holder = spawn(kubectlPath(33), ['--kubeconfig', stack.kubeconfig, 'exec', '-i', 'demo', '--', 'cat'], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => holder.kill('SIGKILL'));
  await until(() => stack.gateway.activeSessions === 1, 'the holder session running');

  const second = await runKubectl(33, ['exec', 'demo', '--', 'echo', 'no room'], { kubeconfig: stack.kubeconfig });
  t.not(second.code, 0);
  t.notMatch(second.stdout.toString(), /no room/, 'the command did not run');
  const refusals = stack.gatewayLogs.find((record) => record.event === 'session-refused' && record.status === 429);
  t.ok(refusals.length >= 1, 'refused with 429');
  t.match(refusals[0]!.reason, /limit of 1 concurrent sessions \(limits\.maxSessions\)/);
  t.equal(stack.gatewayLogs.find((record) => record.event === 'session-start' && record.mode === 'relay').length, 0, 'the SPDY fallback did not get through either');

  holder.stdin.end();
  await until(() => stack.gateway.activeSessions === 0, 'the holder session ended');
  const third = await runKubectl(33, ['exec', 'demo', '--', 'echo', 'room again'], { kubeconfig: stack.kubeconfig });
  t.equal(third.code, 0, third.stderr);
  t.equal(third.stdout.toString(), 'room again\n');
});

t.test('limits.sessionBufferBytes bounds what one session holds for a client that stops reading', async (t) => {
  const budget = 256 * 1024;
  const stack = await startStack({ gateway: { sessionBufferBytes: budget } });
  t.teardown(() => stack.close());
  const total = 50 * 1024 * 1024;
  const outcome = await connect(stack, `/api/v1/namespaces/default/pods/demo/exec?command=head&command=-c&command=${total}&command=%2Fdev%2Fzero&stdout=true`, ['v5.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail('refused');
  let received = 0;
  outcome.socket.removeAllListeners('message');
  outcome.socket.on('message', (data: Buffer) => {
    if (data[0] === 1) received += data.length - 1;
  });
  await until(() => received > 1024 * 1024, 'the first MiB');
  const raw = (outcome.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  raw.pause();
  let peak = 0;
  let last = -1;
  let unchanged = 0;
  await until(() => {
    peak = Math.max(peak, stack.gateway.bufferedBytes);
    unchanged = received === last ? unchanged + 1 : 0;
    last = received;
    return unchanged >= 100;
  }, 'the transfer to stall', 60_000);
  // One read past each share at most: a SPDY DATA frame (≤ 32 KiB) per stream, one message on the WebSocket side.
  t.ok(peak <= budget + 128 * 1024, `peak ${peak} bytes with a budget of ${budget} (the default budget would allow 2 MiB)`);
  raw.resume();
  t.equal((await outcome.closed).code, 1000);
  t.equal(received, total, 'nothing lost');
});
