// An interactive shell with a terminal through the gateway: kubectl runs under a real pseudo-terminal,
// and resizing that terminal must resize the one in the pod (resize channel → SPDY resize stream).
import t from 'tap';
import { spawn as spawnPty } from 'node-pty';
import { startStack, type Stack } from '../helpers/stack.js';
import { kubectlPath } from '../helpers/kubectl.js';

let stack: Stack;
t.before(async () => {
  stack = await startStack();
});
t.teardown(() => stack.close());

t.test('kubectl exec -it: shell, stty size follows resizes, exit code', async (t) => {
  const sessionsBefore = stack.sessionEnds().length;
  const terminal = spawnPty(kubectlPath(33), ['--kubeconfig', stack.kubeconfig, 'exec', '-it', 'demo', '--', 'sh'], {
    cols: 80,
    rows: 24,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', TERM: 'xterm' },
  });
  let screen = '';
  const waiters: Array<{ pattern: RegExp; resolve: () => void }> = [];
  terminal.onData((data) => {
    screen += data;
    for (const waiter of [...waiters]) {
      if (waiter.pattern.test(screen)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  });
  const exited = new Promise<number>((resolve) => terminal.onExit(({ exitCode }) => resolve(exitCode)));
  const waitFor = (pattern: RegExp): Promise<void> =>
    pattern.test(screen) ? Promise.resolve() : new Promise((resolve) => waiters.push({ pattern, resolve }));
  const killer = setTimeout(() => terminal.kill('SIGKILL'), 60_000);

  // Markers are computed by the shell, so the echo of what we typed never matches them.
  terminal.write('echo "size-$((40+2)):$(stty size)"\r');
  await waitFor(/size-42:24 80/);
  t.pass('initial size 24x80 reached the pod');

  terminal.resize(132, 50);
  // The resize message travels asynchronously: ask the pod until it reports the new size, each
  // question with its own marker (bounded; no sleeping).
  let reported = '';
  for (let marker = 100; reported !== '50 132' && marker < 150; marker++) {
    terminal.write(`echo "size-$((${marker - 1}+1)):$(stty size)"\r`);
    const pattern = new RegExp(`size-${marker}:(\\d+ \\d+)`);
    await waitFor(pattern);
    reported = pattern.exec(screen)![1]!;
  }
  t.equal(reported, '50 132', 'the resize reached the pod');

  terminal.write('exit 7\r');
  t.equal(await exited, 7, 'kubectl exits with the shell exit code');
  clearTimeout(killer);

  const sessions = stack.sessionEnds().slice(sessionsBefore);
  t.equal(sessions.length, 1);
  t.equal(sessions[0]!.clientProtocol, 'v5.channel.k8s.io');
  t.equal(sessions[0]!.upstreamProtocol, 'v4.channel.k8s.io');
  t.equal(sessions[0]!.tty, true);
  t.equal(sessions[0]!.exitCode, 7);
});
