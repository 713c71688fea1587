// An interactive shell with a terminal through the gateway: kubectl runs under a real pseudo-terminal,
// and resizing that terminal must resize the one in the pod (resize channel → SPDY resize stream).
import t from 'tap';
import { startStack, type Stack } from '../helpers/stack.js';
import { checkTerminalFollowsResize } from '../helpers/terminal-resize.js';

let stack: Stack;
t.before(async () => {
  stack = await startStack();
});
t.teardown(() => stack.close());

t.test('kubectl exec -it: shell, stty size follows resizes, exit code', async (t) => {
  const sessionsBefore = stack.sessionEnds().length;
  await checkTerminalFollowsResize(t, 33, stack.kubeconfig);

  const sessions = stack.sessionEnds().slice(sessionsBefore);
  t.equal(sessions.length, 1);
  t.equal(sessions[0]!.clientProtocol, 'v5.channel.k8s.io');
  t.equal(sessions[0]!.upstreamProtocol, 'v4.channel.k8s.io');
  t.equal(sessions[0]!.tty, true);
  t.equal(sessions[0]!.exitCode, 7);
});
