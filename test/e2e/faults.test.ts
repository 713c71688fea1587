// Faults on either side, mid-session: the surviving side gets a Status or a close saying what
// happened within a bounded time, and afterwards this process — gateway, cluster and test client
// together — holds no more sockets, timers, pipes or child processes than before the session
// (counted with process.getActiveResourcesInfo(); unref'd timers are not listed there).
import t from 'tap';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { startStack } from '../helpers/stack.js';
import { connect, waitForMessage } from '../helpers/ws-client.js';
import { until } from '../helpers/wait.js';
import { handleCounts, noHandlesLeft } from '../helpers/handles.js';

const EXEC = '/api/v1/namespaces/default/pods/demo/exec?command=cat&stdin=true&stdout=true';

const misbehavingSockets = new Set<Socket>();

/** An upstream that upgrades to SPDY and then misbehaves as `after` decides. */
async function misbehavingUpstream(t: { teardown(fn: () => unknown): void }, after: (socket: Socket) => void): Promise<number> {
  const server = http.createServer();
  const sockets = misbehavingSockets;
  server.on('upgrade', (_req, socket: Socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n');
    after(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as AddressInfo).port;
}

async function sessionAgainst(t: Parameters<typeof misbehavingUpstream>[0], port: number, pingMs = 30_000) {
  const stack = await startStack({
    upstream: () => ({ url: new URL(`http://127.0.0.1:${port}`), insecureSkipTlsVerify: false }),
    gateway: { upstreamPingIntervalMs: pingMs },
  });
  t.teardown(() => stack.close());
  const baseline = handleCounts();
  const outcome = await connect(stack, EXEC, ['v5.channel.k8s.io']);
  if (outcome.kind !== 'open') throw new Error('upgrade refused');
  return { stack, outcome, baseline };
}

/** The fake upstream stands for another machine: its own sockets are not the gateway's to count. */
function dropMisbehavingSockets(): void {
  for (const socket of misbehavingSockets) socket.destroy();
  misbehavingSockets.clear();
}

function statusOf(messages: Array<{ data: Buffer }>): Record<string, unknown> {
  return JSON.parse(messages.find((m) => m.data[0] === 3)!.data.subarray(1).toString());
}

t.test('the upstream connection is reset mid-stream', async (t) => {
  let upstreamSocket!: Socket;
  const port = await misbehavingUpstream(t, (socket) => (upstreamSocket = socket));
  const { stack, outcome, baseline } = await sessionAgainst(t, port);
  await until(() => upstreamSocket !== undefined, 'the upstream connection');
  upstreamSocket.resetAndDestroy();
  t.equal((await outcome.closed).code, 1000);
  t.match(statusOf(outcome.messages), { status: 'Failure', reason: 'InternalError', code: 500 });
  await until(() => stack.gateway.activeSessions === 0 && stack.gateway.openConnections === 0, 'nothing left on the gateway');
  dropMisbehavingSockets();
  await noHandlesLeft(t, baseline);
});

t.test('the upstream stops answering SPDY pings', async (t) => {
  // Accepts the upgrade, then never reads or writes again: a hung kubelet.
  const port = await misbehavingUpstream(t, (socket) => socket.pause());
  const { stack, outcome, baseline } = await sessionAgainst(t, port, 100);
  t.equal((await outcome.closed).code, 1000);
  const status = statusOf(outcome.messages);
  t.match(status, { status: 'Failure', reason: 'InternalError' });
  t.match(status.message, /stopped answering SPDY pings/);
  const end = await stack.gatewayLogs.waitFor((r) => r.event === 'session-end');
  t.match(end.reason, /stopped answering SPDY pings/);
  await until(() => stack.gateway.activeSessions === 0 && stack.gateway.openConnections === 0, 'the session to be released');
  dropMisbehavingSockets();
  await noHandlesLeft(t, baseline);
});

t.test('the client vanishes without a close frame while output flows', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const baseline = handleCounts();
  const outcome = await connect(stack, '/api/v1/namespaces/default/pods/demo/exec?command=sh&command=-c&command=yes&stdout=true', ['v5.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail('refused');
  await waitForMessage(outcome.socket, outcome.messages, (m) => m.data[0] === 1 && m.data.length > 1);
  outcome.socket.terminate();
  const end = await stack.gatewayLogs.waitFor((r) => r.event === 'session-end');
  t.match(end.reason, /client closed the connection \(code 1006\)/);
  await until(() => stack.gateway.activeSessions === 0 && stack.gateway.openConnections === 0, 'nothing left on the gateway');
  await stack.clusterLogs.waitFor((r) => r.event === 'session-end');
  t.pass('the legacy cluster ended the command too');
  await noHandlesLeft(t, baseline);
});

t.test('the upstream process exits mid-stream (killed): the client gets its exit code', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const baseline = handleCounts();
  const query = 'command=sh&command=-c&command=' + encodeURIComponent('echo $$; exec cat') + '&stdin=true&stdout=true';
  const outcome = await connect(stack, `/api/v1/namespaces/default/pods/demo/exec?${query}`, ['v5.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail('refused');
  const first = await waitForMessage(outcome.socket, outcome.messages, (m) => m.data[0] === 1 && m.data.length > 1);
  const pid = Number(first.data.subarray(1).toString().trim());
  t.ok(pid > 0, `the command's pid (${pid})`);
  outcome.socket.send(Buffer.concat([Buffer.from([0]), Buffer.alloc(64 * 1024, 0x61)]));
  process.kill(pid, 'SIGKILL');
  t.equal((await outcome.closed).code, 1000, 'a normal close after the Status');
  t.match(statusOf(outcome.messages), { status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '137' }] } });
  await until(() => stack.gateway.activeSessions === 0 && stack.gateway.openConnections === 0, 'nothing left on the gateway');
  await noHandlesLeft(t, baseline);
});

t.test('a slow client over a long session: output is held back, never dropped, and all of it arrives', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const baseline = handleCounts();
  const total = 128 * 1024 * 1024;
  const outcome = await connect(stack, `/api/v1/namespaces/default/pods/demo/exec?command=head&command=-c&command=${total}&command=/dev/zero&stdout=true`, ['v5.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail('refused');
  // Reads in bursts: 20 rounds of pausing the socket until the gateway is holding output back,
  // then reading again — bounded rounds, each ended by an observed state, not a sleep.
  let peak = 0;
  for (let round = 0; round < 20 && outcome.socket.readyState === outcome.socket.OPEN; round++) {
    outcome.socket.pause();
    // (Or the command is done and the rest waits in kernel buffers: then there is nothing to hold.)
    await until(() => stack.gateway.bufferedBytes > 256 * 1024 || stack.gateway.activeSessions === 0, 'the gateway to hold output back');
    peak = Math.max(peak, stack.gateway.bufferedBytes);
    outcome.socket.resume();
    await until(() => stack.gateway.bufferedBytes < 64 * 1024 || outcome.socket.readyState !== outcome.socket.OPEN, 'the client to catch up');
  }
  outcome.socket.resume();
  t.equal((await outcome.closed).code, 1000);
  const received = outcome.messages.filter((m) => m.data[0] === 1).reduce((sum, m) => sum + m.data.length - 1, 0);
  t.equal(received, total, 'every byte of output arrived');
  t.match(statusOf(outcome.messages), { status: 'Success' });
  t.ok(peak > 256 * 1024 && peak <= 1024 * 1024, `the gateway held output back, at most ${peak} bytes (budget 1 MiB)`);
  await until(() => stack.gateway.activeSessions === 0 && stack.gateway.openConnections === 0, 'nothing left on the gateway');
  await noHandlesLeft(t, baseline);
});
