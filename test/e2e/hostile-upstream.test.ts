// An upstream that answers the SPDY upgrade and then sends a header block that inflates to 32 MiB:
// the gateway stops at limits.maxHeaderBlockBytes, reports an InternalError Status on the client's
// error channel, and a healthy session next to it is untouched. One that floods PINGs without
// reading the answers gets one answer at a time, then its session ends with a Status.
import t, { type Test } from 'tap';
import net from 'node:net';
import zlib from 'node:zlib';
import { once } from 'node:events';
import { SPDY3_DICTIONARY } from '../../src/codecs/spdy/dictionary.js';
import { encodePing, encodeSynReply } from '../../src/codecs/spdy/frames.js';
import { createLogger } from '../../src/observability/logger.js';
import { startGateway, type GatewayOptions } from '../../src/server/gateway.js';
import { LogRecorder } from '../helpers/log-recorder.js';
import { connect, waitForMessage } from '../helpers/ws-client.js';
import { startStack } from '../helpers/stack.js';
import { until } from '../helpers/wait.js';

const MiB = 1024 * 1024;
const SPDY_101 = 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n';

/**
 * A hostile upstream that answers the SPDY upgrade and then does `act` with the socket; a healthy
 * stack (for its CA) and a second gateway in front of the hostile upstream.
 */
async function hostileSetup(t: Test, act: (socket: net.Socket) => void, options: Partial<GatewayOptions>) {
  const hostile = net.createServer((socket) => {
    socket.once('data', () => {
      socket.write(SPDY_101);
      act(socket);
    });
    socket.on('error', () => undefined);
  });
  hostile.listen(0, '127.0.0.1');
  await once(hostile, 'listening');
  t.teardown(() => hostile.close());
  const stack = await startStack();
  t.teardown(() => stack.close());
  const logs = new LogRecorder();
  const gateway = await startGateway({
    listen: { host: '127.0.0.1', port: 0 },
    upstream: { url: new URL(`http://127.0.0.1:${(hostile.address() as net.AddressInfo).port}`), insecureSkipTlsVerify: false },
    logger: createLogger({ destination: logs }),
    ...options,
  });
  t.teardown(() => gateway.close());
  return { stack, gateway, logs };
}

t.test('a header-block zlib bomb from the upstream ends that session only, with a Status naming the bound', async (t) => {
  const bomb = zlib.deflateSync(Buffer.alloc(32 * MiB), { dictionary: SPDY3_DICTIONARY, level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  // The reply to the client's first stream (the error stream), with the bomb as its headers.
  const { stack, gateway } = await hostileSetup(t, (socket) => socket.write(encodeSynReply(1, bomb)), { maxHeaderBlockBytes: 64 * 1024 });

  const healthy = await connect(stack, '/api/v1/namespaces/default/pods/demo/exec?command=cat&stdin=true&stdout=true', ['v5.channel.k8s.io']);
  if (healthy.kind !== 'open') return t.fail('the healthy session was refused');

  const heapBefore = process.memoryUsage().arrayBuffers;
  const victim = await connect({ gateway: { url: gateway.url }, caPem: stack.caPem, token: 'x' }, '/api/v1/namespaces/default/pods/demo/exec?command=true&stdout=true', ['v5.channel.k8s.io']);
  if (victim.kind !== 'open') return t.fail('refused before the upgrade');
  const closed = await victim.closed;
  t.equal(closed.code, 1000, 'closed normally after the Status');
  const statusMessage = victim.messages.find((message) => message.data[0] === 3);
  t.ok(statusMessage, 'a Status on the error channel');
  const status = JSON.parse(statusMessage!.data.subarray(1).toString()) as { reason: string; code: number; message: string };
  t.equal(status.reason, 'InternalError');
  t.match(status.message, /inflates beyond 65536 bytes/);
  t.ok(process.memoryUsage().arrayBuffers - heapBefore < 16 * MiB, 'the 32 MiB block was never inflated');

  healthy.socket.send(Buffer.concat([Buffer.from([0]), Buffer.from('still alive\n')]));
  await waitForMessage(healthy.socket, healthy.messages, (message) => message.data[0] === 1 && message.data.subarray(1).toString() === 'still alive\n');
  t.pass('the session next to it kept working');
  healthy.socket.close();
  await healthy.closed;
});

t.test('an upstream flooding SPDY PINGs while not reading: one answer queued, then the session ends as control-flood with a Status', async (t) => {
  // Never reads past the upgrade request; floods PINGs of the server's parity once stdin has filled its socket.
  let upstreamSocket: net.Socket | undefined;
  const { stack, gateway, logs } = await hostileSetup(t, (socket) => {
    socket.pause();
    upstreamSocket = socket;
  }, { controlFloodTimeoutMs: 1_000 });

  const victim = await connect({ gateway: { url: gateway.url }, caPem: stack.caPem, token: 'x' }, '/api/v1/namespaces/default/pods/demo/exec?command=cat&stdin=true&stdout=true', ['v5.channel.k8s.io']);
  if (victim.kind !== 'open') return t.fail('refused before the upgrade');
  // stdin the upstream never reads: the kernel buffers toward it fill, then the session's budget.
  const chunk = Buffer.concat([Buffer.from([0]), Buffer.alloc(MiB)]);
  for (let i = 0; i < 32; i++) victim.socket.send(chunk);
  await until(() => upstreamSocket !== undefined && gateway.bufferedBytes > 0, 'stdin to back up toward the upstream');
  const ping = encodePing(2);
  const flood = Buffer.allocUnsafe(ping.length * 500_000);
  for (let at = 0; at < flood.length; at += ping.length) ping.copy(flood, at);
  upstreamSocket!.write(flood);
  const closed = await victim.closed;
  t.equal(closed.code, 1000, 'closed after the Status');
  const statusMessage = victim.messages.find((message) => message.data[0] === 3 && message.data.length > 1);
  if (!statusMessage) return t.fail('no Status on the error channel');
  const status = JSON.parse(statusMessage.data.subarray(1).toString()) as { reason: string; message: string };
  t.equal(status.reason, 'InternalError');
  t.match(status.message, /sent PINGs without reading the answers for 1 s/);
  const end = await logs.waitFor((record) => record.event === 'session-end');
  t.equal(end.outcome, 'control-flood', 'logged under its true outcome');
});
