// SpdyConnection over real loopback sockets: large transfers with no WINDOW_UPDATE from the peer,
// bounded buffering when a reader stops, data before RST delivered, pings, replay of a capture.
import t, { type Test } from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { SpdyConnection, type SpdyStream } from '../../src/sessions/spdy-connection.js';
import { SpdyFrameParser } from '../../src/codecs/spdy/frames.js';
import { readCapture } from '../helpers/captures.js';

interface Pair {
  client: SpdyConnection;
  server: SpdyConnection;
  clientSocket: net.Socket;
  serverSocket: net.Socket;
  /** Every frame type the client side received, to prove the peer never granted window. */
  framesSeenByClient: string[];
}

async function connectedPair(t: Test): Promise<Pair> {
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const clientSocket = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  const [serverSocket] = (await once(listener, 'connection')) as [net.Socket];
  listener.close();
  const framesSeenByClient: string[] = [];
  const spy = new SpdyFrameParser();
  clientSocket.on('data', (chunk: Buffer) => {
    try {
      for (const frame of spy.push(chunk)) framesSeenByClient.push(frame.type);
    } catch {
      framesSeenByClient.push('unparseable');
    }
  });
  const client = new SpdyConnection(clientSocket, { role: 'client' });
  const server = new SpdyConnection(serverSocket, { role: 'server' });
  t.teardown(() => {
    clientSocket.destroy();
    serverSocket.destroy();
  });
  return { client, server, clientSocket, serverSocket, framesSeenByClient };
}

/** Polls observable state once per event-loop turn (no timers): resolves when `condition` holds. */
function until(condition: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => (condition() ? resolve() : void setImmediate(check));
    check();
  });
}

function pattern(size: number, seed: number): Buffer {
  const data = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += 4) data.writeUInt32LE(((i + seed) * 2654435761) >>> 0, i);
  return data;
}
const sha = (data: Buffer | Buffer[]): string => {
  const hash = createHash('sha256');
  for (const part of Array.isArray(data) ? data : [data]) hash.update(part);
  return hash.digest('hex');
};

/**
 * Reads a stream to its end with events: `for await` would destroy the Duplex when its readable
 * side ends, cutting off its writable side mid-transfer.
 */
function collect(stream: SpdyStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve, reject) => {
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

t.test('20 MB each way on one stream, headers and replies, without any WINDOW_UPDATE', async (t) => {
  const { client, server, framesSeenByClient } = await connectedPair(t);
  const upload = pattern(20 * 1024 * 1024, 1);
  const download = pattern(20 * 1024 * 1024, 2);
  const serverSide = new Promise<string>((resolve) => {
    server.on('stream', (stream) => {
      t.same(stream.headers, { streamtype: 'stdin' });
      stream.reply();
      stream.end(download);
      void collect(stream).then((data) => resolve(sha(data)));
    });
  });
  const stream = client.openStream({ streamType: 'stdin' });
  const replied = once(stream, 'reply');
  stream.end(upload);
  const received = await collect(stream);
  await replied;
  t.equal(sha(received), sha(download), 'download intact');
  t.equal(await serverSide, sha(upload), 'upload intact');
  t.notOk(framesSeenByClient.includes('window_update'), 'the peer granted no window, and nothing waited for one');
  t.equal(client.bytesWritten, upload.length);
  t.equal(client.bytesRead, download.length);
});

t.test('a reader that stops: the writer is held back and buffering stays bounded', async (t) => {
  const { client, server, clientSocket, serverSocket } = await connectedPair(t);
  let serverStream!: SpdyStream;
  const accepted = new Promise<void>((resolve) =>
    server.on('stream', (stream) => {
      serverStream = stream;
      stream.pause();
      resolve();
    }),
  );
  const stream = client.openStream({ streamtype: 'stdin' });
  await accepted;
  const chunk = Buffer.alloc(64 * 1024, 7);
  const total = 200 * 1024 * 1024;
  let accepted_ = 0;
  let waitingForDrain = false;
  // A producer that honours back-pressure, as pipe() does: write until told to stop, then wait for drain.
  const produce = (): void => {
    waitingForDrain = false;
    while (accepted_ < total) {
      accepted_ += chunk.length;
      if (!stream.write(chunk)) {
        waitingForDrain = true;
        stream.once('drain', produce);
        return;
      }
    }
    stream.end();
  };
  produce();
  // Back-pressure has reached the writer once the server stopped reading its socket and the
  // kernel buffers are full (bytes pile up in the client socket's user-space buffer).
  await until(() => serverSocket.isPaused() && clientSocket.writableLength > 0 && waitingForDrain);
  const buffered = stream.writableLength + clientSocket.writableLength + serverStream.readableLength + serverSocket.readableLength;
  t.ok(buffered < 8 * 1024 * 1024, `user-space buffering bounded (${buffered} bytes)`);
  t.ok(accepted_ < 32 * 1024 * 1024, `the writer was held back early (${accepted_} of ${total} bytes accepted)`);
  const heldAt = accepted_;

  let received = 0;
  serverStream.on('data', (data: Buffer) => (received += data.length));
  serverStream.resume();
  await once(serverStream, 'end');
  t.ok(heldAt < total, 'the writer had been stopped before the end');
  t.equal(received, total, 'all 200 MB arrived once the reader resumed');
});

t.test('data sent before RST_STREAM is delivered, then the stream ends with a reset event', async (t) => {
  const { client, server } = await connectedPair(t);
  server.on('stream', (stream) => {
    stream.reply();
    stream.write('last words', () => stream.reset());
  });
  const stream = client.openStream({ streamtype: 'stdout' });
  const reset = once(stream, 'reset');
  t.equal((await collect(stream)).toString(), 'last words');
  t.same(await reset, [5]);
});

t.test('ping round trip and answering the peer', async (t) => {
  const { client, server } = await connectedPair(t);
  t.type(await client.ping(), 'number');
  t.type(await server.ping(), 'number');
});

t.test('a connection lost mid-stream fails the streams still expecting data', async (t) => {
  const { client, serverSocket } = await connectedPair(t);
  const stream = client.openStream({ streamtype: 'stdout' });
  const failed = once(stream, 'error');
  serverSocket.destroy();
  const [error] = await failed;
  t.match((error as Error).message, /connection closed/);
});

t.test('garbage from the peer: GOAWAY PROTOCOL_ERROR, error event, socket closed', async (t) => {
  const { client, serverSocket } = await connectedPair(t);
  const seenByServer: string[] = [];
  const parser = new SpdyFrameParser();
  serverSocket.on('data', (chunk: Buffer) => {
    for (const frame of parser.push(chunk)) seenByServer.push(frame.type === 'goaway' ? `goaway:${frame.status}` : frame.type);
  });
  const errored = once(client, 'error');
  // Not once(client, 'close'): that promise would reject on the 'error' event this test expects.
  const closed = new Promise<void>((resolve) => client.on('close', () => resolve()));
  serverSocket.write(Buffer.from([0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1]));
  const [error] = await errored;
  t.match((error as Error).message, /unsupported SPDY version 2/);
  await closed;
  await once(serverSocket, 'end');
  t.same(seenByServer, ['goaway:1']);
});

t.test('the real kubectl 1.27 client bytes, replayed into a server-role connection', async (t) => {
  const { clientSocket, server } = await connectedPair(t);
  const streams: SpdyStream[] = [];
  const stdinData = new Promise<string>((resolve) =>
    server.on('stream', (stream) => {
      streams.push(stream);
      if (stream.headers.streamtype === 'stdin') void collect(stream).then((data) => resolve(data.toString()));
    }),
  );
  clientSocket.write(readCapture('spdy-exec-cat-stdin.client-to-server.bin').spdy);
  t.equal(await stdinData, 'hello\n', 'stdin data then FIN');
  t.same(streams.map((s) => [s.id, s.headers.streamtype]), [[1, 'error'], [3, 'stdin'], [5, 'stdout'], [7, 'stderr']]);
});
