// The kubelet side of exec over SPDY, driven by hand: stream collection, the Status per protocol
// version, the end of a session (RST_STREAM CANCEL on every stream, then GOAWAY), tty and resize,
// start failures, timeouts and clients that vanish.
import t from 'tap';
import { NO_PTY_MESSAGE } from '../../src/legacy-cluster/processes.js';
import { until as waitUntil } from '../helpers/wait.js';
import { startHarness, dialSpdy, openStreams, collect, execPath, until, isAlive, type Harness, type SpdySession } from './harness.js';

let h: Harness;
t.before(async () => {
  h = await startHarness({ streamCreationTimeoutMs: 1000 });
});
t.teardown(() => h.close());

/** What the server sent after the data: one RST_STREAM CANCEL per stream, then a GOAWAY, then the close. */
function endFrames(session: SpdySession): Array<string> {
  return session.frames.filter((f) => f.type === 'rst_stream' || f.type === 'goaway').map((f) => (f.type === 'rst_stream' ? `rst ${f.streamId} ${f.status}` : `goaway ${f.lastGoodStreamId} ${f.status}`));
}

t.test('v4: stdin to stdout, success Status as JSON, then CANCEL on every stream and GOAWAY', async (t) => {
  const session = await dialSpdy(h, execPath(['cat'], { container: 'shell', stdin: 'true', stdout: 'true', stderr: 'true' }));
  const s = openStreams(session.connection, ['error', 'stdin', 'stdout', 'stderr']);
  const [error, stdout, stderr] = [collect(s.error!), collect(s.stdout!), collect(s.stderr!)];
  s.stdin!.end('hello\n');
  t.equal((await stdout).toString(), 'hello\n');
  t.equal((await stderr).length, 0);
  t.equal((await error).toString(), '{"metadata":{},"status":"Success"}');
  await session.closed;
  t.same(endFrames(session), ['rst 1 5', 'rst 3 5', 'rst 5 5', 'rst 7 5', 'goaway 7 0']);
  // every stream got an (empty) SYN_REPLY
  t.same(
    session.frames.filter((f) => f.type === 'syn_reply').map((f) => (f.type === 'syn_reply' ? f.streamId : 0)),
    [1, 3, 5, 7],
  );
  // nothing ended with FIN from the server: the output streams end with the resets
  t.notOk(session.frames.some((f) => f.type === 'data' && f.fin));
  const end = await h.logs.waitFor((r) => r.event === 'session-end' && Array.isArray(r.command) && r.command[0] === 'cat');
  t.match(end, { kind: 'exec', namespace: 'default', pod: 'demo', container: 'shell', protocol: 'v4.channel.k8s.io', exitCode: 0 });
});

t.test('v4: a non-zero exit code and both output streams', async (t) => {
  const session = await dialSpdy(h, execPath(['sh', '-c', 'echo out; echo err >&2; exit 3'], { container: 'shell', stdout: 'true', stderr: 'true' }));
  const s = openStreams(session.connection, ['error', 'stdout', 'stderr']);
  const [error, stdout, stderr] = [collect(s.error!), collect(s.stdout!), collect(s.stderr!)];
  t.equal((await stdout).toString(), 'out\n');
  t.equal((await stderr).toString(), 'err\n');
  t.same(JSON.parse((await error).toString()), {
    metadata: {},
    status: 'Failure',
    message: 'command terminated with non-zero exit code: exit status 3',
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: '3' }] },
  });
});

t.test('a process killed by a signal reports 128 + the signal number', async (t) => {
  const session = await dialSpdy(h, execPath(['sh', '-c', 'kill -9 $$'], { container: 'shell', stdout: 'true' }));
  const s = openStreams(session.connection, ['error', 'stdout']);
  const status = JSON.parse((await collect(s.error!)).toString());
  t.match(status, { reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '137' }] } });
});

t.test('every byte of a large output arrives before the Status', async (t) => {
  const size = 3 * 1024 * 1024;
  const session = await dialSpdy(h, execPath(['head', '-c', String(size), '/dev/zero'], { container: 'shell', stdout: 'true' }));
  const s = openStreams(session.connection, ['error', 'stdout']);
  let bytesWhenStatusArrived = -1;
  let received = 0;
  s.stdout!.on('data', (chunk: Buffer) => (received += chunk.length));
  s.error!.on('data', () => (bytesWhenStatusArrived = received));
  await session.closed;
  t.equal(received, size);
  t.equal(bytesWhenStatusArrived, size);
});

t.test('v3 and v2: text Status on failure only; v1: the error stream is reset at once, as the kubelet does', async (t) => {
  for (const version of ['v3.channel.k8s.io', 'v2.channel.k8s.io']) {
    const failing = await dialSpdy(h, execPath(['sh', '-c', 'exit 7'], { container: 'shell', stdout: 'true' }), [version]);
    const f = openStreams(failing.connection, ['error', 'stdout']);
    t.equal((await collect(f.error!)).toString(), 'command terminated with non-zero exit code: exit status 7', version);
    const fine = await dialSpdy(h, execPath(['true'], { container: 'shell', stdout: 'true' }), [version]);
    const g = openStreams(fine.connection, ['error', 'stdout']);
    t.equal((await collect(g.error!)).length, 0, `${version}: nothing on success`);
    await fine.closed;
  }
  const v1 = await dialSpdy(h, execPath(['sh', '-c', 'cat; exit 7'], { container: 'shell', stdin: 'true', stdout: 'true' }), ['channel.k8s.io']);
  const s = openStreams(v1.connection, ['error', 'stdin', 'stdout']);
  let errorReset = false;
  s.error!.on('reset', () => (errorReset = true));
  const stdinEnded = new Promise<void>((resolve) => s.stdin!.once('end', () => resolve()));
  s.stdin!.resume();
  await stdinEnded;
  t.ok(errorReset, 'error stream reset before the command ran');
  const stdout = collect(s.stdout!);
  s.stdin!.end('v1 input\n');
  t.equal((await stdout).toString(), 'v1 input\n');
  await v1.closed;
  t.equal(
    v1.frames.filter((f) => f.type === 'data' && f.streamId === 1).length,
    0,
    'no Status ever reaches a v1 client',
  );
});

t.test('streams are counted as the kubelet counts them: unknown types are replied to and ignored', async (t) => {
  const session = await dialSpdy(h, execPath(['echo', 'counted'], { container: 'shell', stdout: 'true' }));
  const s = openStreams(session.connection, ['error', 'bogus', 'stdout']);
  t.equal((await collect(s.stdout!)).toString(), 'counted\n');
  t.equal((await collect(s.error!)).toString(), '{"metadata":{},"status":"Success"}');
  await session.closed;
  t.same(endFrames(session), ['rst 1 5', 'rst 3 5', 'rst 5 5', 'goaway 5 0'], 'the ignored stream is reset at the end too');
});

t.test('tty: no stderr stream, a resize stream on v4; the terminal takes the sizes', async (t) => {
  const session = await dialSpdy(
    h,
    execPath(['sh', '-c', 'read line; stty size; exit 5'], { container: 'shell', stdin: 'true', stdout: 'true', stderr: 'true', tty: 'true' }),
  );
  const s = openStreams(session.connection, ['error', 'stdin', 'stdout', 'resize']);
  const stdout = collect(s.stdout!);
  // Two sizes in one chunk, the last one split across writes.
  s.resize!.write('{"Width":100,"Height":30}{"Width":13');
  s.resize!.write('2,"Height":43}');
  // The terminal echoes input; wait for the echo (the sizes were written before) and answer the read.
  s.stdin!.write('go\r');
  const output = (await stdout).toString();
  t.match(output, /43 132\r\n/);
  const status = JSON.parse((await collect(s.error!)).toString());
  t.match(status, { reason: 'NonZeroExitCode', details: { causes: [{ message: '5' }] } });
  t.same(
    session.frames.filter((f) => f.type === 'syn_reply').length,
    4,
  );
});

t.test('garbage on the resize stream is dropped, the session goes on', async (t) => {
  const session = await dialSpdy(h, execPath(['sh', '-c', 'read line; echo "got $line"'], { container: 'shell', stdin: 'true', stdout: 'true', tty: 'true' }));
  const s = openStreams(session.connection, ['error', 'stdin', 'stdout', 'resize']);
  const stdout = collect(s.stdout!);
  s.resize!.write('not json at all');
  s.stdin!.write('x\r');
  t.match((await stdout).toString(), /got x\r\n/);
  t.equal((await collect(s.error!)).toString(), '{"metadata":{},"status":"Success"}');
  t.ok(h.logs.find((r) => r.msg === 'bad resize stream').length >= 1);
});

t.test('a command that cannot be started: the runtime error as an InternalError Status, as on a real node', async (t) => {
  const session = await dialSpdy(h, execPath(['nosuchcmd-ksg'], { container: 'shell', stdout: 'true', stderr: 'true' }));
  const s = openStreams(session.connection, ['error', 'stdout', 'stderr']);
  const status = JSON.parse((await collect(s.error!)).toString());
  t.match(status, { metadata: {}, status: 'Failure', reason: 'InternalError', code: 500 });
  t.match(
    status.message,
    /^Internal error occurred: error executing command in container: failed to exec in container: failed to start exec "[0-9a-f]{64}": OCI runtime exec failed: exec failed: unable to start container process: exec: "nosuchcmd-ksg": executable file not found in \$PATH: unknown$/,
  );
  t.equal(status.details.causes[0].message, status.message.replace('Internal error occurred: ', ''));
  const tty = await dialSpdy(h, execPath(['./not-here'], { container: 'shell', stdout: 'true', tty: 'true' }));
  const u = openStreams(tty.connection, ['error', 'stdout', 'resize']);
  t.match(JSON.parse((await collect(u.error!)).toString()).message, /exec: "\.\/not-here": stat \.\/not-here: no such file or directory: unknown$/);
});

t.test('without node-pty (an optional dependency): a tty exec fails with one clear Status, pipes still work', async (t) => {
  const withoutPty = await startHarness({
    loadPty: async () => {
      throw Object.assign(new Error("Cannot find package 'node-pty'"), { code: 'ERR_MODULE_NOT_FOUND' });
    },
  });
  t.teardown(() => withoutPty.close());
  const tty = await dialSpdy(withoutPty, execPath(['sh'], { container: 'shell', stdin: 'true', stdout: 'true', tty: 'true' }));
  const u = openStreams(tty.connection, ['error', 'stdin', 'stdout', 'resize']);
  const status = JSON.parse((await collect(u.error!)).toString());
  t.match(status, { status: 'Failure', reason: 'InternalError', code: 500 });
  t.equal(status.message, `Internal error occurred: error executing command in container: ${NO_PTY_MESSAGE}`);
  t.notMatch(status.message, /ERR_MODULE_NOT_FOUND|Cannot find package/, 'one message, not the loader\'s error');
  const piped = await dialSpdy(withoutPty, execPath(['echo', 'piped'], { container: 'shell', stdout: 'true' }));
  const p = openStreams(piped.connection, ['error', 'stdout']);
  t.equal((await collect(p.stdout!)).toString(), 'piped\n', 'exec without a tty needs no node-pty');
});

t.test('an empty command is not refused before the upgrade: runc reports it on the error stream', async (t) => {
  const session = await dialSpdy(h, execPath([], { container: 'shell', stdout: 'true' }));
  const s = openStreams(session.connection, ['error', 'stdout']);
  const status = JSON.parse((await collect(s.error!)).toString());
  t.match(status.message, /OCI runtime exec failed: exec failed: args must not be empty: unknown$/);
});

t.test('streams not all created within the stream-creation timeout: the session is given up', async (t) => {
  const session = await dialSpdy(h, execPath(['true'], { container: 'shell', stdin: 'true', stdout: 'true' }));
  openStreams(session.connection, ['error', 'stdout']);
  await session.closed;
  t.same(endFrames(session), ['rst 1 5', 'rst 3 5', 'goaway 3 0']);
  await h.logs.waitFor((r) => r.event === 'stream-timeout');
});

t.test('the client vanishes: the process and its group are killed, the session ends', async (t) => {
  const session = await dialSpdy(h, execPath(['sh', '-c', 'sleep 1000 & echo $! $$; wait'], { container: 'shell', stdout: 'true' }));
  const s = openStreams(session.connection, ['error', 'stdout']);
  let text = '';
  s.stdout!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  await until(() => text.includes('\n'));
  const pids = text.trim().split(' ').map(Number);
  t.equal(pids.length, 2);
  t.ok(pids.every(isAlive));
  session.socket.destroy();
  await h.logs.waitFor((r) => r.event === 'session-end' && r.reason === 'client connection closed');
  await waitUntil(() => !pids.some(isAlive), 'the killed processes to be gone', 5000);
  t.pass('shell and its background child are gone');
});
