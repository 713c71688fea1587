import type { Test } from 'tap';
import { startPtyTerminal } from './pty-terminal.js';
import { kubectlPath } from './kubectl.js';

/**
 * `kubectl exec -it demo -- sh` under a real pseudo-terminal: the pod's terminal must start at
 * 24x80, follow a resize to 50x132, and kubectl must exit with the shell's exit code (7).
 */
export async function checkTerminalFollowsResize(t: Test, minor: number, kubeconfig: string): Promise<void> {
  const { terminal, screen: printed, waitFor, exited } = startPtyTerminal(kubectlPath(minor), ['--kubeconfig', kubeconfig, 'exec', '-it', 'demo', '--', 'sh']);
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
    reported = pattern.exec(printed())![1]!;
  }
  t.equal(reported, '50 132', 'the resize reached the pod');

  terminal.write('exit 7\r');
  t.equal(await exited, 7, 'kubectl exits with the shell exit code');
  clearTimeout(killer);
}
