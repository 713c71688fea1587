// `kubectl logs -f`: the one long-lived streaming request that is not an upgrade, through the
// gateway over TLS. Each line must reach kubectl as soon as the container writes it (nothing buffered
// in the proxy), also after idle gaps longer than the gateway's ping intervals, and ending kubectl must
// end the upstream request. Also the other `kubectl logs` flags against the embedded cluster.
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { startStack, type Stack } from '../helpers/stack.js';
import { kubectlPath } from '../helpers/kubectl.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import { until } from '../helpers/wait.js';

/** Small on purpose: the idle gap below is longer than both. */
const PING_INTERVAL_MS = 150;

let stack: Stack;
t.before(async () => {
  stack = await startStack({ gateway: { clientPingIntervalMs: PING_INTERVAL_MS, upstreamPingIntervalMs: PING_INTERVAL_MS } });
});
t.teardown(() => stack.close());

t.test('logs -f: each line as it is written, across idle gaps; ending kubectl ends the upstream request', async (t) => {
  stack.cluster.appendContainerLog('demo', 'echo', 'written before kubectl started');
  const child = spawn(kubectlPath(33), ['--kubeconfig', stack.kubeconfig, 'logs', '-f', 'demo', '-c', 'echo'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  /** Resolves once kubectl has printed `text` (on its stdout's own 'data' events, no polling). */
  const printed = (text: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (!stdout.includes(text)) return;
        child.stdout.off('data', onData);
        child.off('exit', onExit);
        resolve();
      };
      const onData = (chunk: Buffer): void => {
        stdout += chunk.toString();
        check();
      };
      const onExit = (code: number | null): void => reject(new Error(`kubectl exited (${code}) before printing ${JSON.stringify(text)}: ${stderr}`));
      child.stdout.on('data', onData);
      child.once('exit', onExit);
      check();
    });

  await printed('written before kubectl started\n');
  await until(() => stack.cluster.logFollowers('demo', 'echo') === 1, 'the legacy cluster to have a follower');
  for (const [index, gapMs] of [0, 0, 4 * PING_INTERVAL_MS, 8 * PING_INTERVAL_MS].entries()) {
    // The idle gap is the scenario under test (longer than the ping intervals), not a synchronisation.
    if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
    const line = `line ${index} after ${gapMs} ms idle`;
    stack.cluster.appendContainerLog('demo', 'echo', line);
    await printed(`${line}\n`);
    t.pass(`${JSON.stringify(line)} reached kubectl before the next was written`);
  }
  t.equal(stdout, ['written before kubectl started', 'line 0 after 0 ms idle', 'line 1 after 0 ms idle', `line 2 after ${4 * PING_INTERVAL_MS} ms idle`, `line 3 after ${8 * PING_INTERVAL_MS} ms idle`].map((l) => `${l}\n`).join(''));

  child.kill('SIGTERM');
  await once(child, 'exit');
  const end = await stack.clusterLogs.waitFor((record) => record.event === 'logs-follow-end' && record.container === 'echo');
  t.match(end, { kind: 'logs', namespace: 'default', pod: 'demo', container: 'echo', follow: true }, 'the legacy cluster saw the request end');
  t.equal(stack.cluster.logFollowers('demo', 'echo'), 0);
});

t.test('logs --tail, --since, --timestamps, -c through the gateway', async (t) => {
  for (const line of ['alpha', 'beta', 'gamma']) stack.cluster.appendContainerLog('demo', 'web', line);
  const run = (args: string[]) => runKubectl(33, ['logs', 'demo', ...args], { kubeconfig: stack.kubeconfig, timeoutMs: 60_000 });
  const all = await run(['-c', 'web']);
  t.equal(all.code, 0, all.stderr);
  t.equal(all.stdout.toString(), 'alpha\nbeta\ngamma\n');
  t.equal((await run(['-c', 'web', '--tail=1'])).stdout.toString(), 'gamma\n');
  t.equal((await run(['-c', 'web', '--tail=0'])).stdout.toString(), '');
  t.equal((await run(['-c', 'web', '--since=1h'])).stdout.toString(), 'alpha\nbeta\ngamma\n');
  const stamped = (await run(['-c', 'web', '--timestamps', '--tail=2'])).stdout.toString();
  t.match(stamped, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z beta\n\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z gamma\n$/);
  const wrong = await run(['-c', 'nope']);
  t.not(wrong.code, 0);
  t.match(wrong.stderr, /container nope is not valid for pod demo/);
});

t.test("the container's own output is its log", async (t) => {
  // The echo container's main process is `cat`: what an attached client sends comes back out, and is logged.
  const attach = await runKubectl(33, ['attach', '-i', 'demo', '-c', 'echo'], { kubeconfig: stack.kubeconfig, stdin: 'from the process\n', timeoutMs: 60_000 });
  t.equal(attach.code, 0, attach.stderr);
  const logs = await runKubectl(33, ['logs', 'demo', '-c', 'echo', '--tail=1'], { kubeconfig: stack.kubeconfig, timeoutMs: 60_000 });
  t.equal(logs.stdout.toString(), 'from the process\n');
});
