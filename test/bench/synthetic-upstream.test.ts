// The benchmark's synthetic upstream, driven by the benchmark's own clients: every built-in produces
// exactly the bytes the real command would and ends with the Status the bench relies on; anything
// else fails loudly; and the gateway in front of it carries the same bytes.
import t from 'tap';
import { createLogger } from '../../src/observability/logger.js';
import { startGateway } from '../../src/server/gateway.js';
import { directExec, gatewayExec, type ExecSession } from '../../bench/clients.js';
import { startSyntheticUpstream } from '../../bench/synthetic-upstream.js';
import { until } from '../helpers/wait.js';

const upstream = await startSyntheticUpstream({ listen: { host: '127.0.0.1', port: 0 }, token: 'bench-token', logger: createLogger({ level: 'silent' }) });
t.teardown(() => upstream.close());

/** Everything on stdout until the session is over. */
async function collect(session: ExecSession): Promise<Buffer> {
  const chunks: Buffer[] = [];
  session.onStdout((chunk) => chunks.push(chunk));
  await session.finished;
  return Buffer.concat(chunks);
}

const isZeros = (bytes: Buffer): boolean => bytes.every((byte) => byte === 0);

t.test('head -c N /dev/zero: exactly N zero bytes, then Success', async (t) => {
  const session = await directExec(upstream.url, ['head', '-c', '100000', '/dev/zero'], false);
  const stdout = await collect(session);
  t.equal(stdout.length, 100_000);
  t.ok(isZeros(stdout), 'every byte is zero');
  t.same(await session.status, { metadata: {}, status: 'Success' });
});

t.test('head -c 0 /dev/zero: nothing, then Success', async (t) => {
  const session = await directExec(upstream.url, ['head', '-c', '0', '/dev/zero'], false);
  t.equal((await collect(session)).length, 0);
  t.equal((await session.status)?.status, 'Success');
});

t.test('cat echoes stdin on stdout until stdin ends', async (t) => {
  const session = await directExec(upstream.url, ['cat'], true);
  const stdout = collect(session);
  const input = Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 251));
  await session.write(input.subarray(0, 100_000));
  await session.write(input.subarray(100_000));
  session.endStdin();
  t.ok((await stdout).equals(input), 'stdout is stdin, byte for byte');
  t.equal((await session.status)?.status, 'Success');
});

t.test("sh -c 'cat > /dev/null' reads stdin to its end and succeeds, writing nothing", async (t) => {
  const session = await directExec(upstream.url, ['sh', '-c', 'cat > /dev/null'], true);
  const stdout = collect(session);
  let over = false;
  void session.finished.then(() => (over = true));
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  // 4 MiB: far beyond every buffer on the way, so it is read, not just buffered.
  for (let i = 0; i < 64; i++) await session.write(chunk);
  t.notOk(over, 'still running while stdin is open');
  session.endStdin();
  t.equal((await stdout).length, 0);
  t.equal((await session.status)?.status, 'Success');
});

t.test('echo and read-then-head', async (t) => {
  const echo = await directExec(upstream.url, ['echo', 'x', 'y'], false);
  t.equal((await collect(echo)).toString(), 'x y\n');
  t.equal((await echo.status)?.status, 'Success');

  const gated = await directExec(upstream.url, ['sh', '-c', 'read go; exec head -c 70000 /dev/zero'], true);
  let received = 0;
  gated.onStdout((chunk) => (received += chunk.length));
  // A round trip through another session, so the gated one had its chance to write early.
  await collect(await directExec(upstream.url, ['echo', 'x'], false));
  t.equal(received, 0, 'nothing before the line');
  await gated.write(Buffer.from('go\n'));
  await gated.finished;
  t.equal(received, 70_000);
  t.equal((await gated.status)?.status, 'Success');
});

t.test('an unknown command fails with exit code 127 and a message naming it', async (t) => {
  const session = await directExec(upstream.url, ['ls', '-l'], false);
  t.equal((await collect(session)).length, 0);
  const status = await session.status;
  t.equal(status?.status, 'Failure');
  t.equal(status?.reason, 'NonZeroExitCode');
  t.same(status?.details?.causes, [{ reason: 'ExitCode', message: '127' }]);
  t.match(status?.message, /no built-in command \["ls","-l"\]/);
});

t.test('a client that vanishes mid-download stops the command', async (t) => {
  const session = await directExec(upstream.url, ['head', '-c', String(1024 ** 4), '/dev/zero'], false);
  let received = 0;
  await new Promise<void>((resolve) =>
    session.onStdout((chunk) => {
      received += chunk.length;
      if (received >= 1024 * 1024) resolve();
    }),
  );
  t.equal(upstream.activeSessions(), 1, 'streaming');
  session.kill();
  await until(() => upstream.activeSessions() === 0, 'the session to end on the upstream', 5_000);
  t.pass('the 1 TiB download ended with its client');
});

t.test('a wrong token is refused before the upgrade', async (t) => {
  const refused = await startSyntheticUpstream({ listen: { host: '127.0.0.1', port: 0 }, token: 'another-token', logger: createLogger({ level: 'silent' }) });
  t.teardown(() => refused.close());
  await t.rejects(directExec(refused.url, ['cat'], true), /direct upgrade refused: 401/);
});

t.test('through a real gateway: the same bytes and the same Status', async (t) => {
  const gateway = await startGateway({
    listen: { host: '127.0.0.1', port: 0 },
    upstream: { url: new URL(upstream.url), insecureSkipTlsVerify: false },
    logger: createLogger({ level: 'silent' }),
  });
  t.teardown(() => gateway.close());

  const download = await gatewayExec(gateway.url, ['head', '-c', '1000000', '/dev/zero'], false);
  const stdout = await collect(download);
  t.equal(stdout.length, 1_000_000);
  t.ok(isZeros(stdout), 'every byte is zero');
  t.equal((await download.status)?.status, 'Success');

  const echo = await gatewayExec(gateway.url, ['cat'], true);
  const echoed = collect(echo);
  const input = Buffer.from('through the gateway and back\n');
  await echo.write(input);
  echo.endStdin();
  t.ok((await echoed).equals(input), 'stdout is stdin');
  t.equal((await echo.status)?.status, 'Success');

  const unknown = await gatewayExec(gateway.url, ['nosuch'], false);
  await unknown.finished;
  // A v5 client gets what the API server's translator would make of the upstream's exit-127 Status.
  t.match(await unknown.status, { reason: 'NonZeroExitCode', message: 'command terminated with non-zero exit code: command terminated with exit code 127' });
});
