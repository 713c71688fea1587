// Resize at the WebSocket level: each TerminalSize message on channel 4 must arrive on the upstream's
// SPDY resize stream as the bytes client-go's SPDY executor writes (the API server's translator is
// one): one JSON object per size, Go field order, a newline after each (json.Encoder).
// A byte-recording relay sits between the gateway and a plain-HTTP cluster and the SPDY frames it
// saw are decoded afterwards.
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../../src/observability/logger.js';
import { startLegacyCluster } from '../../src/legacy-cluster/cluster.js';
import { startGateway } from '../../src/server/gateway.js';
import { SpdyFrameParser } from '../../src/codecs/spdy/frames.js';
import { HeaderBlockDecoder } from '../../src/codecs/spdy/header-block.js';
import { LogRecorder } from '../helpers/log-recorder.js';
import { connect } from '../helpers/ws-client.js';
import { until } from '../helpers/wait.js';

/** The bytes each upstream connection carried from the gateway to the cluster. */
const upstreamBytes: Buffer[][] = [];

t.test('v5 resize messages reach the SPDY resize stream as client-go would write them, in order', async (t) => {
  const token = randomBytes(24).toString('base64url');
  const cluster = await startLegacyCluster({ listen: { host: '127.0.0.1', port: 0 }, token, logger: createLogger({ destination: new LogRecorder(), level: 'debug' }) });
  t.teardown(() => cluster.close());
  const clusterPort = new URL(cluster.url).port;
  const relay = net.createServer((client) => {
    const chunks: Buffer[] = [];
    upstreamBytes.push(chunks);
    const server = net.connect(Number(clusterPort), '127.0.0.1');
    client.on('data', (chunk: Buffer) => chunks.push(Buffer.from(chunk)));
    client.pipe(server).pipe(client);
    client.on('error', () => server.destroy());
    server.on('error', () => client.destroy());
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  t.teardown(() => relay.close());
  const gateway = await startGateway({
    listen: { host: '127.0.0.1', port: 0 },
    upstream: { url: new URL(`http://127.0.0.1:${(relay.address() as AddressInfo).port}`), insecureSkipTlsVerify: false },
    logger: createLogger({ destination: new LogRecorder(), level: 'debug' }),
  });
  t.teardown(() => gateway.close());

  const command = ['sh', '-c', 'read x; stty size'].map((word) => `command=${encodeURIComponent(word)}`).join('&');
  const outcome = await connect({ gateway, caPem: '', token }, `/api/v1/namespaces/default/pods/demo/exec?${command}&stdin=true&stdout=true&tty=true`, ['v5.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail(`refused: ${outcome.statusCode} ${outcome.body}`);
  // As browsers and client libraries send them: without or with a newline, fields in any order.
  const sizes = ['{"Width":100,"Height":30}', '{"Width":120,"Height":40}\n', '{ "Height": 50, "Width": 132 }'];
  for (const size of sizes) outcome.socket.send(Buffer.concat([Buffer.from([4]), Buffer.from(size)]));
  outcome.socket.send(Buffer.from('\x00go\r'));
  const output = (): string => outcome.messages.filter((m) => m.data[0] === 1).map((m) => m.data.subarray(1).toString()).join('');
  await until(() => /50 132/.test(output()), 'the terminal to report the last size', 15_000);
  t.match(output(), /50 132/, 'the last size reached the terminal');
  await outcome.closed;

  const resize = resizeStreamBytes(upstreamBytes.at(-1)!);
  t.equal(resize.toString(), '{"Width":100,"Height":30}\n{"Width":120,"Height":40}\n{"Width":132,"Height":50}\n', 'the resize stream carried each size, in order, as json.Encoder writes it');
});

/** Decodes the gateway → cluster SPDY bytes (after the HTTP upgrade) and returns the resize stream's data. */
function resizeStreamBytes(chunks: Buffer[]): Buffer {
  const all = Buffer.concat(chunks);
  const spdy = all.subarray(all.indexOf('\r\n\r\n') + 4);
  const decoder = new HeaderBlockDecoder();
  let resizeStream = -1;
  const data: Buffer[] = [];
  for (const frame of new SpdyFrameParser().push(spdy)) {
    if (frame.type === 'syn_stream' && decoder.decode(frame.headerBlock).streamtype === 'resize') resizeStream = frame.streamId;
    else if (frame.type === 'syn_stream') continue;
    if (frame.type === 'data' && frame.streamId === resizeStream) data.push(Buffer.from(frame.payload));
  }
  return Buffer.concat(data);
}
