// Faults on the upstream side, mid-session: the client gets a Status saying what happened and a
// normal close within a bounded time, and the gateway keeps no session or socket afterwards.
import t from 'tap';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { startStack } from '../helpers/stack.js';
import { connect, waitForMessage } from '../helpers/ws-client.js';
import { until } from '../helpers/wait.js';

const EXEC = '/api/v1/namespaces/default/pods/demo/exec?command=cat&stdin=true&stdout=true';

/** An upstream that upgrades to SPDY and then misbehaves as `after` decides. */
async function misbehavingUpstream(t: { teardown(fn: () => unknown): void }, after: (socket: Socket) => void): Promise<number> {
  const server = http.createServer();
  const sockets = new Set<Socket>();
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
  const outcome = await connect(stack, EXEC, ['v5.channel.k8s.io']);
  if (outcome.kind !== 'open') throw new Error('upgrade refused');
  return { stack, outcome };
}

function statusOf(messages: Array<{ data: Buffer }>): Record<string, unknown> {
  return JSON.parse(messages.find((m) => m.data[0] === 3)!.data.subarray(1).toString());
}

t.test('the upstream connection is reset mid-stream', async (t) => {
  let upstreamSocket!: Socket;
  const port = await misbehavingUpstream(t, (socket) => (upstreamSocket = socket));
  const { stack, outcome } = await sessionAgainst(t, port);
  await until(() => upstreamSocket !== undefined, 'the upstream connection');
  upstreamSocket.resetAndDestroy();
  t.equal((await outcome.closed).code, 1000);
  t.match(statusOf(outcome.messages), { status: 'Failure', reason: 'InternalError', code: 500 });
  await until(() => stack.gateway.activeSessions === 0 && stack.gateway.openConnections === 0, 'nothing left on the gateway');
});

t.test('the upstream stops answering SPDY pings', async (t) => {
  // Accepts the upgrade, then never reads or writes again: a hung kubelet.
  const port = await misbehavingUpstream(t, (socket) => socket.pause());
  const { stack, outcome } = await sessionAgainst(t, port, 100);
  t.equal((await outcome.closed).code, 1000);
  const status = statusOf(outcome.messages);
  t.match(status, { status: 'Failure', reason: 'InternalError' });
  t.match(status.message, /stopped answering SPDY pings/);
  const end = await stack.gatewayLogs.waitFor((r) => r.event === 'session-end');
  t.match(end.reason, /stopped answering SPDY pings/);
  await until(() => stack.gateway.activeSessions === 0, 'the session to be released');
});

t.test('the client vanishes without a close frame while output flows', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const outcome = await connect(stack, '/api/v1/namespaces/default/pods/demo/exec?command=sh&command=-c&command=yes&stdout=true', ['v5.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail('refused');
  await waitForMessage(outcome.socket, outcome.messages, (m) => m.data[0] === 1 && m.data.length > 1);
  outcome.socket.terminate();
  const end = await stack.gatewayLogs.waitFor((r) => r.event === 'session-end');
  t.match(end.reason, /client closed the connection \(code 1006\)/);
  await until(() => stack.gateway.activeSessions === 0 && stack.gateway.openConnections === 0, 'nothing left on the gateway');
  await stack.clusterLogs.waitFor((r) => r.event === 'session-end');
  t.pass('the legacy cluster ended the command too');
});
