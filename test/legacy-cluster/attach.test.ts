// attach over SPDY by hand: the container's main process is shared by the attached clients, its
// stdin closes with the first client's stdin (stdinOnce), the next attach gets a fresh process, and
// the kubelet reports Success whatever the process's exit code.
import t from 'tap';
import { startHarness, dialSpdy, openStreams, collect, execPath, request, json, until, type Harness } from './harness.js';

let h: Harness;
t.before(async () => {
  h = await startHarness();
});
t.teardown(() => h.close());

const attachPath = (container: string, query: Record<string, string>): string => execPath([], { container, ...query }, 'demo', 'attach');
const SUCCESS = '{"metadata":{},"status":"Success"}';
const echoStarts = (): number => h.logs.find((r) => r.event === 'container-start' && r.container === 'echo').length;

t.test('two clients on the echo container: both see the output; the writer closing stdin ends both', async (t) => {
  const writer = await dialSpdy(h, attachPath('echo', { stdin: 'true', stdout: 'true', stderr: 'true' }));
  const w = openStreams(writer.connection, ['error', 'stdin', 'stdout', 'stderr']);
  const writerOut = collect(w.stdout!);
  let writerSeen = '';
  w.stdout!.on('data', (chunk: Buffer) => (writerSeen += chunk.toString()));
  w.stdin!.write('first\n');
  await until(() => writerSeen === 'first\n');

  const reader = await dialSpdy(h, attachPath('echo', { stdout: 'true' }));
  const r = openStreams(reader.connection, ['error', 'stdout']);
  const readerOut = collect(r.stdout!);
  await h.logs.waitFor((rec) => rec.event === 'session-start' && rec.kind === 'attach' && h.logs.find((x) => x.event === 'session-start' && x.kind === 'attach').length === 2);
  w.stdin!.end('second\n');

  t.equal((await writerOut).toString(), 'first\nsecond\n');
  t.equal((await readerOut).toString(), 'second\n', 'the late reader sees what came after it attached');
  t.equal((await collect(w.error!)).toString(), SUCCESS);
  t.equal((await collect(r.error!)).toString(), SUCCESS);
  await h.logs.waitFor((rec) => rec.event === 'container-exit' && rec.container === 'echo');
});

t.test('stdinOnce: the next attach starts a fresh process; the pod status counts the restart', async (t) => {
  const before = echoStarts();
  const restartsBefore = restartsOf(json(await request(h, 'GET', '/api/v1/namespaces/default/pods/demo')), 'echo');
  for (const word of ['one', 'two']) {
    const session = await dialSpdy(h, attachPath('echo', { stdin: 'true', stdout: 'true' }));
    const s = openStreams(session.connection, ['error', 'stdin', 'stdout']);
    const out = collect(s.stdout!);
    s.stdin!.end(`${word}\n`);
    t.equal((await out).toString(), `${word}\n`);
    t.equal((await collect(s.error!)).toString(), SUCCESS);
  }
  t.equal(echoStarts() - before, 2, 'one cat per attach');
  const restartsAfter = restartsOf(json(await request(h, 'GET', '/api/v1/namespaces/default/pods/demo')), 'echo');
  t.equal(restartsAfter - restartsBefore, 2);
});

t.test('a client that vanishes while attached with stdin closes the stdinOnce stdin, like containerd', async (t) => {
  const session = await dialSpdy(h, attachPath('echo', { stdin: 'true', stdout: 'true' }));
  const s = openStreams(session.connection, ['error', 'stdin', 'stdout']);
  let seen = '';
  s.stdout!.on('data', (chunk: Buffer) => (seen += chunk.toString()));
  s.stdin!.write('before vanishing\n');
  await until(() => seen === 'before vanishing\n');
  const exitsBefore = h.logs.find((r) => r.event === 'container-exit' && r.container === 'echo').length;
  session.socket.destroy();
  await until(() => h.logs.find((r) => r.event === 'container-exit' && r.container === 'echo').length > exitsBefore);
  t.pass('cat saw its stdin close and exited');
});

t.test("a container without stdin ignores the client's; a client leaving does not stop the container", async (t) => {
  const session = await dialSpdy(h, attachPath('web', { stdin: 'true', stdout: 'true' }));
  const s = openStreams(session.connection, ['error', 'stdin', 'stdout']);
  s.stdin!.end('ignored\n');
  await h.logs.waitFor((r) => r.event === 'container-start' && r.container === 'web');
  session.socket.destroy();
  await h.logs.waitFor((r) => r.event === 'session-end' && r.kind === 'attach' && r.container === 'web');
  t.equal(h.logs.find((r) => r.event === 'container-exit' && r.container === 'web').length, 0, 'still running');
  // A second attach joins the same process.
  const again = await dialSpdy(h, attachPath('web', { stdout: 'true' }));
  openStreams(again.connection, ['error', 'stdout']);
  await h.logs.waitFor((r) => r.event === 'session-start' && r.kind === 'attach' && r.container === 'web' && h.logs.find((x) => x.event === 'session-start' && x.container === 'web').length === 2);
  t.equal(h.logs.find((r) => r.event === 'container-start' && r.container === 'web').length, 1);
  again.socket.destroy();
});

function restartsOf(pod: Record<string, unknown>, container: string): number {
  const statuses = (pod.status as { containerStatuses: Array<{ name: string; restartCount: number }> }).containerStatuses;
  return statuses.find((s) => s.name === container)!.restartCount;
}
