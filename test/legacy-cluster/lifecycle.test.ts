// close(): every child process and pty killed, every socket closed, the scratch directory removed
// (unless it was given); session logs carry the fields and never the token.
import t from 'tap';
import { access, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, dialSpdy, openStreams, execPath, until, isAlive, type Harness } from './harness.js';
import { until as waitUntil } from '../helpers/wait.js';
import { humanDuration, tableRequested } from '../../src/legacy-cluster/tables.js';

async function pidsFrom(h: Harness, query: Record<string, string>, streams: string[]): Promise<{ pids: number[]; socket: import('node:net').Socket }> {
  const session = await dialSpdy(h, execPath(['sh', '-c', 'sleep 1000 & echo $! $$; wait'], { container: 'shell', ...query }));
  const s = openStreams(session.connection, streams);
  let text = '';
  s.stdout!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  await until(() => /\d+ \d+\s/.test(text));
  return { pids: text.trim().split(/\s+/).map(Number), socket: session.socket };
}

t.test('close() kills running execs (pipes and pty), attached main processes, ends connections, removes its scratch dir', async (t) => {
  const h = await startHarness();
  const workRoot = (h.logs.find((r) => r.event === 'listening')[0]!.workRoot as string);
  t.ok(workRoot.startsWith(tmpdir()));
  t.same(await readdir(workRoot), ['default_demo']);
  const piped = await pidsFrom(h, { stdout: 'true' }, ['error', 'stdout']);
  const tty = await pidsFrom(h, { stdout: 'true', stdin: 'true', tty: 'true' }, ['error', 'stdin', 'stdout', 'resize']);
  const attach = await dialSpdy(h, execPath([], { container: 'echo', stdin: 'true', stdout: 'true' }, 'demo', 'attach'));
  openStreams(attach.connection, ['error', 'stdin', 'stdout']);
  const started = await h.logs.waitFor((r) => r.event === 'container-start' && r.container === 'echo');
  const pids = [...piped.pids, ...tty.pids, started.pid as number];
  t.ok(pids.every(isAlive), 'all running');
  const closedSockets = [piped.socket, tty.socket, attach.socket].map((socket) => new Promise((resolve) => socket.once('close', resolve)));
  await h.close();
  // SIGKILL went to every process group before close() resolved; the kernel may take a moment to end them.
  await waitUntil(() => !pids.some(isAlive), 'every process to be gone', 5000);
  t.pass('every process is gone');
  await Promise.all(closedSockets);
  await t.rejects(access(workRoot), 'scratch directory removed');
});

t.test('a given workRoot is used and left in place', async (t) => {
  const workRoot = await mkdtemp(join(tmpdir(), 'ksg-given-root-'));
  t.teardown(() => rm(workRoot, { recursive: true, force: true }));
  const h = await startHarness({ workRoot });
  await h.close();
  t.same(await readdir(workRoot), ['default_demo']);
});

t.test('one start and one end line per session, with pod, container, command, protocol and exit code; never the token', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const session = await dialSpdy(h, execPath(['sh', '-c', 'exit 2'], { container: 'shell', stdout: 'true' }));
  openStreams(session.connection, ['error', 'stdout']);
  await session.closed;
  const end = await h.logs.waitFor((r) => r.event === 'session-end');
  const start = h.logs.find((r) => r.event === 'session-start');
  t.equal(start.length, 1);
  t.match(start[0], { kind: 'exec', namespace: 'default', pod: 'demo', container: 'shell', command: ['sh', '-c', 'exit 2'], protocol: 'v4.channel.k8s.io', tty: false });
  t.match(end, { kind: 'exec', namespace: 'default', pod: 'demo', container: 'shell', command: ['sh', '-c', 'exit 2'], protocol: 'v4.channel.k8s.io', exitCode: 2, status: 'NonZeroExitCode' });
  t.equal(h.logs.find((r) => r.event === 'session-end').length, 1);
  t.notOk(JSON.stringify(h.logs.records).includes(h.token), 'no log line carries the token');
});

t.test('tables: duration printing and Accept negotiation', async (t) => {
  const s = 1000;
  const cases: Array<[number, string]> = [
    [-5 * s, '<invalid>'],
    [-1 * s, '0s'],
    [119 * s, '119s'],
    [120 * s, '2m'],
    [125 * s, '2m5s'],
    [45 * 60 * s, '45m'],
    [3 * 3600 * s, '3h'],
    [(3 * 3600 + 60) * s, '3h1m'],
    [20 * 3600 * s, '20h'],
    [3 * 86400 * s, '3d'],
    [(3 * 86400 + 3600) * s, '3d1h'],
    [100 * 86400 * s, '100d'],
    [3 * 365 * 86400 * s, '3y'],
    [(3 * 365 + 2) * 86400 * s, '3y2d'],
    [10 * 365 * 86400 * s, '10y'],
  ];
  for (const [ms, text] of cases) t.equal(humanDuration(ms), text, text);
  const q = new URLSearchParams();
  t.same(tableRequested('application/json;as=Table;v=v1;g=meta.k8s.io,application/json', q), { apiVersion: 'meta.k8s.io/v1', include: 'Metadata' });
  t.same(tableRequested('application/json;as=Table;v=v1beta1;g=meta.k8s.io', new URLSearchParams('includeObject=Object')), { apiVersion: 'meta.k8s.io/v1beta1', include: 'Object' });
  t.equal(tableRequested('application/json', q), undefined);
  t.equal(tableRequested(undefined, q), undefined);
  t.equal(tableRequested('application/json;as=APIGroupDiscoveryList;v=v2;g=apidiscovery.k8s.io,application/json', q), undefined);
  t.equal(tableRequested('application/yaml,application/json;as=Table;v=v1;g=meta.k8s.io', q)?.include, 'Metadata');
});
