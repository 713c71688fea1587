// ChannelConnection: each Kubernetes channel a Stream over one client WebSocket, framed by the
// negotiated protocol (v5 binary with CLOSE, v4 base64). Byte vectors on the wire, both ways.
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import t, { type Test } from 'tap';
import { WebSocket } from 'ws';
import { acceptClientWebSocket } from '../../src/connections/websocket/client-websocket.js';
import { ChannelConnection } from '../../src/connections/websocket/channel-connection.js';
import { REMOTE_COMMAND_PROTOCOLS, type ChannelProtocol } from '../../src/codecs/channels/protocols.js';
import { until } from '../helpers/wait.js';

const byName = (name: string): ChannelProtocol => REMOTE_COMMAND_PROTOCOLS.find((protocol) => protocol.name === name)!;

/** A ChannelConnection on the server side and a `ws` client speaking `protocol` to it. */
async function pair(t: Test, protocol: ChannelProtocol) {
  const server = createServer();
  let accept!: (connection: ChannelConnection) => void;
  const accepted = new Promise<ChannelConnection>((resolve) => (accept = resolve));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    accept(new ChannelConnection(acceptClientWebSocket(req, socket, head, protocol.name), protocol));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`, protocol.name);
  const received: { data: Buffer; binary: boolean }[] = [];
  ws.on('message', (data: Buffer, binary: boolean) => received.push({ data, binary }));
  await once(ws, 'open');
  t.teardown(() => ws.terminate());
  return { ws, connection: await accepted, received };
}

t.test('v5: a channel stream writes [channel, ...payload]; reads its own channel only; CLOSE ends it', async (t) => {
  const { ws, connection, received } = await pair(t, byName('v5.channel.k8s.io'));
  const stdout = connection.channel(1);
  t.equal(connection.channel(1), stdout, 'one stream per channel');
  t.same(stdout.headers, { channel: '1' });
  t.equal(stdout.write(Buffer.from([0xca, 0xfe])), true);
  await until(() => received.length === 1, 'the message');
  t.same(received[0], { data: Buffer.from([0x01, 0xca, 0xfe]), binary: true });

  const stdin: Buffer[] = [];
  let ended = false;
  connection.channel(0).read((payload) => stdin.push(Buffer.from(payload)), () => (ended = true));
  ws.send(Buffer.from([0x00, 0x68, 0x69]));
  ws.send(Buffer.from([0x04, 0x7b, 0x7d])); // resize: nobody reads channel 4 here, dropped
  ws.send(Buffer.from([0xff, 0x00])); // CLOSE stdin
  await until(() => ended, 'the CLOSE');
  t.same(Buffer.concat(stdin), Buffer.from('hi'));
  t.equal(connection.channel(0).bytesRead, 2);
  t.equal(connection.bytesRead, 2, 'the connection counts what its streams read');
});

t.test('v4 base64: a channel stream writes text "1" + base64; reads decode', async (t) => {
  const { ws, connection, received } = await pair(t, byName('v4.base64.channel.k8s.io'));
  connection.channel(2).write(Buffer.from([0x00, 0xff, 0x10]));
  await until(() => received.length === 1, 'the message');
  t.same({ text: received[0]!.data.toString(), binary: received[0]!.binary }, { text: '2AP8Q', binary: false });
  const got: Buffer[] = [];
  connection.channel(0).read((payload) => got.push(Buffer.from(payload)));
  ws.send('0aGk=');
  await until(() => got.length === 1, 'the decoded message');
  t.same(got[0], Buffer.from('hi'));
});

t.test('a large binary message arrives whole as [channel, ...payload]; the memory around the payload is never written', async (t) => {
  const { connection, received } = await pair(t, byName('v5.channel.k8s.io'));
  const memory = Buffer.alloc(70_001, 0x10);
  memory[0] = 0xaa;
  const payload = memory.subarray(1);
  t.equal(connection.channel(1).write(payload), true);
  t.equal(connection.bufferedBytes, payload.length + 1, 'counted for back-pressure: the payload and its channel byte');
  t.equal(memory[0], 0xaa, 'the byte before the payload is left alone');
  await until(() => received.length === 1, 'the message');
  t.equal(received[0]!.binary, true);
  t.equal(received[0]!.data.length, 70_001, 'a 64-bit length frame');
  t.equal(received[0]!.data[0], 1, 'the channel byte first');
  t.ok(received[0]!.data.subarray(1).equals(payload), 'then the payload, byte for byte');
  await until(() => connection.bufferedBytes === 0, 'everything written');
});

t.test('onClose reports the client\'s close code; close(reason) sends the code and text', async (t) => {
  const { ws, connection } = await pair(t, byName('v5.channel.k8s.io'));
  const closed = new Promise<{ code: number; message: string }>((resolve) => connection.onClose(resolve));
  const wsClosed = once(ws, 'close');
  connection.close({ code: 1011, message: 'upstream gone' });
  const [code, reason] = await wsClosed;
  t.equal(code, 1011);
  t.equal(String(reason), 'upstream gone');
  t.match(await closed, { code: 1011 });
});
