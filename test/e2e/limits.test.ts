// Session limits end or refuse sessions with a Status that names the limit, seen through real kubectl.
import t from 'tap';
import { spawn } from 'node:child_process';
import { startStack } from '../helpers/stack.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import { kubectlPath } from '../helpers/kubectl.js';
import { until } from '../helpers/wait.js';

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
  t.equal(stack.gatewayLogs.find((record) => record.msg === 'relayed upgrade started').length, 0, 'the SPDY fallback did not get through either');

  holder.stdin.end();
  await until(() => stack.gateway.activeSessions === 0, 'the holder session ended');
  const third = await runKubectl(33, ['exec', 'demo', '--', 'echo', 'room again'], { kubeconfig: stack.kubeconfig });
  t.equal(third.code, 0, third.stderr);
  t.equal(third.stdout.toString(), 'room again\n');
});
