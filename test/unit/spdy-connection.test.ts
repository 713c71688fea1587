// SpdyConnection over real loopback TCP: large transfers with no WINDOW_UPDATE from the peer, bounded
// buffering when a reader stops, data before RST delivered, pings, and the real kubectl/kubelet
// captures replayed against both roles. Waits are on events (or on state checked once per loop turn).
import t, { type Test } from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { SpdyConnection, SpdyPingFloodError, type SpdyStream } from '../../src/connections/spdy/spdy-connection.js';
import { Duplex } from 'node:stream';
import {
  GoawayStatus,
  RstStatus,
  SpdyFrameParser,
  SpdyProtocolError,
  encodeDataFrameHeader,
  encodeGoaway,
  encodeHeaders,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeSynReply,
  encodeSynStream,
  encodeWindowUpdate,
  type SpdyFrame,
} from '../../src/codecs/spdy/frames.js';
import { HeaderBlockDecoder, HeaderBlockEncoder } from '../../src/codecs/spdy/header-block.js';
import { SPDY3_DICTIONARY } from '../../src/codecs/spdy/dictionary.js';
import { readCapture } from '../helpers/captures.js';
import { until } from '../helpers/wait.js';
import zlib from 'node:zlib';

type Summary = Record<string, unknown>;
const MiB = 1024 * 1024;

/** A connected loopback pair: `near` dialled, `far` accepted. */
async function tcpPair(t: Test): Promise<{ near: net.Socket; far: net.Socket }> {
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const near = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  const [far] = (await once(listener, 'connection')) as [net.Socket];
  await once(near, 'connect');
  listener.close();
  t.teardown(() => {
    near.destroy();
    far.destroy();
  });
  return { near, far };
}

/** Frames with header blocks decoded in order (one context) and the pieces of each DATA frame merged. */
class FrameRecorder {
  readonly frames: Summary[] = [];
  private readonly decoder = new HeaderBlockDecoder();
  private open: Summary | undefined;

  constructor(private readonly keepPayload: boolean) {}

  add(frame: SpdyFrame): void {
    if (frame.type === 'data') {
      if (!this.open) {
        this.open = { type: 'data', streamId: frame.streamId, length: 0 };
        if (this.keepPayload) this.open.payload = '';
        this.frames.push(this.open);
      }
      this.open.length = (this.open.length as number) + frame.payload.length;
      if (this.keepPayload) this.open.payload = (this.open.payload as string) + frame.payload.toString('latin1');
      if (frame.frameComplete) {
        this.open.fin = frame.fin;
        this.open = undefined;
      }
      return;
    }
    const summary: Summary = { ...frame };
    if ('headerBlock' in frame) {
      summary.headers = { ...this.decoder.decode(frame.headerBlock) };
      delete summary.headerBlock;
    }
    this.frames.push(summary);
  }
}

/**
 * Every frame one socket receives, i.e. everything its peer sends. Payloads are kept only when
 * asked (the large transfers keep lengths only).
 */
class FrameLog extends FrameRecorder {
  private readonly parser = new SpdyFrameParser();
  private waiters: Array<() => void> = [];
  ended = false;

  constructor(socket: net.Socket, keepPayload = true) {
    super(keepPayload);
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.parser.push(chunk)) this.add(frame);
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
  }

  /** Resolves once `condition` holds for the frames so far, checked as frames arrive. */
  until(condition: (frames: Summary[]) => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (condition(this.frames)) resolve();
        else this.waiters.push(check);
      };
      check();
    });
  }

  of(type: string): Summary[] {
    return this.frames.filter((f) => f.type === type);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}

/** A hand-driven SPDY peer: writes frames we build, reads frames the connection under test sends. */
class RawPeer extends FrameLog {
  readonly encoder = new HeaderBlockEncoder();
  readonly received: Buffer[] = [];
  constructor(readonly socket: net.Socket) {
    super(socket);
    socket.on('data', (chunk: Buffer) => this.received.push(chunk));
  }
  syn(id: number, headers: Record<string, string>, options: { fin?: boolean } = {}): Buffer {
    return encodeSynStream(id, this.encoder.encode(headers), options);
  }
  send(...frames: Buffer[]): void {
    this.socket.write(Buffer.concat(frames));
  }
  get bytes(): Buffer {
    return Buffer.concat(this.received);
  }
}

async function connectedPair(t: Test, keepPayload = false) {
  const { near, far } = await tcpPair(t);
  // Spies on what each side receives, i.e. on everything its peer sends.
  const seenByClient = new FrameLog(near, keepPayload);
  const seenByServer = new FrameLog(far, keepPayload);
  const client = new SpdyConnection(near, { role: 'client' });
  const server = new SpdyConnection(far, { role: 'server' });
  return { client, server, clientSocket: near, serverSocket: far, seenByClient, seenByServer };
}

/** A server-role connection under test facing a raw client, or the reverse. */
async function againstRaw(t: Test, role: 'client' | 'server', head?: (socket: net.Socket) => Buffer | undefined) {
  const { near, far } = await tcpPair(t);
  const peer = new RawPeer(near);
  const connection = new SpdyConnection(far, { role }, head?.(far));
  return { connection, peer, socket: far };
}

/** Deterministic bytes; `seed` makes each transfer different. */
function pattern(size: number, seed: number): Buffer {
  const data = Buffer.allocUnsafe(size);
  for (let i = 0; i + 4 <= size; i += 4) data.writeUInt32LE(Math.imul(i + seed, 2654435761) >>> 0, i);
  return data;
}
const sha = (...parts: Buffer[]): string => parts.reduce((hash, part) => hash.update(part), createHash('sha256')).digest('hex');

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

/** Writes `data` in pieces, honouring write() and 'drain' as pipe() does, then ends. */
function pump(stream: SpdyStream, data: Buffer, piece = MiB): Promise<void> {
  return new Promise((resolve) => {
    let at = 0;
    const next = (): void => {
      while (at < data.length) {
        const ok = stream.write(data.subarray(at, (at += piece)));
        if (!ok) return void stream.once('drain', next);
      }
      stream.end(() => resolve());
    };
    next();
  });
}

/** Resolves when `condition` holds, checked once per event-loop turn (no timers). */
function turnsUntil(condition: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => (condition() ? resolve() : void setImmediate(check));
    check();
  });
}

/** An independent loopback echo: each round trip proves the event loop has done real I/O. */
async function ioClock(t: Test): Promise<(roundTrips: number) => Promise<void>> {
  const { near, far } = await tcpPair(t);
  far.pipe(far);
  return async (roundTrips) => {
    for (let i = 0; i < roundTrips; i++) {
      near.write('.');
      await once(near, 'data');
    }
  };
}

t.test('20 MB each way on one stream: intact, no WINDOW_UPDATE or SETTINGS from either peer, DATA ≤ 32 KiB', async (t) => {
  const { client, server, seenByClient, seenByServer } = await connectedPair(t);
  const upload = pattern(20 * MiB, 1);
  const download = pattern(20 * MiB, 2);
  const serverDone = new Promise<{ received: Buffer; stream: SpdyStream }>((resolve) => {
    server.on('stream', (stream) => {
      t.same({ ...stream.headers }, { streamtype: 'stdin', 'x-id': '1' }, 'headers lower-cased on the wire');
      t.equal(stream.id, 1);
      stream.reply({ 'X-Reply': 'yes' });
      const written = pump(stream, download);
      void collect(stream).then(async (received) => {
        await written;
        resolve({ received, stream });
      });
    });
  });
  const stream = client.openStream({ streamType: 'stdin', 'X-Id': '1' });
  const replied = once(stream, 'reply');
  const uploaded = pump(stream, upload);
  const received = await collect(stream);
  await uploaded;
  t.same({ ...(await replied)[0] }, { 'x-reply': 'yes' });
  const atServer = await serverDone;
  t.equal(sha(received), sha(download), 'download intact');
  t.equal(sha(atServer.received), sha(upload), 'upload intact');
  for (const [who, log] of [['server', seenByClient], ['client', seenByServer]] as const) {
    t.same([...new Set(log.frames.map((f) => f.type))].sort(), who === 'server' ? ['data', 'syn_reply'] : ['data', 'syn_stream'], `${who} sent no WINDOW_UPDATE or SETTINGS, and nothing waited for one`);
    t.ok(log.of('data').every((f) => (f.length as number) <= 32 * 1024), `${who}'s DATA frames are at most 32 KiB`);
    t.equal(log.of('data').filter((f) => f.fin).length, 1, `${who} sent one FIN`);
  }
  t.equal(client.bytesWritten, upload.length);
  t.equal(client.bytesRead, download.length);
  t.equal(server.bytesRead, upload.length);
  t.equal(server.bytesWritten, download.length);
  t.equal(client.openStreams, 0, 'FIN both ways: gone from the client table');
  t.equal(server.openStreams, 0, 'and from the server table');
});

t.test('eight streams at once, echoed by the server, each intact', async (t) => {
  const { client, server } = await connectedPair(t);
  server.on('stream', (stream) => {
    stream.reply();
    stream.pipe(stream);
  });
  const results = await Promise.all(
    Array.from({ length: 8 }, async (_, i) => {
      const data = pattern(2 * MiB + i * 4099, 10 + i);
      const stream = client.openStream({ streamtype: 'data', requestid: String(i) });
      t.equal(stream.id, 2 * i + 1, 'odd ids in order');
      const [echoed] = await Promise.all([collect(stream), pump(stream, data, 50_000)]);
      return sha(echoed) === sha(data);
    }),
  );
  t.same(results, Array(8).fill(true));
});

t.test('a reader that stops: writes stop completing, buffering stays bounded, then all 200 MB arrive', async (t) => {
  const { client, server, clientSocket, serverSocket, seenByClient, seenByServer } = await connectedPair(t);
  const clock = await ioClock(t);
  const accepted = new Promise<SpdyStream>((resolve) =>
    server.on('stream', (stream) => {
      stream.reply();
      resolve(stream);
    }),
  );
  const stream = client.openStream({ streamtype: 'stdin' });
  const serverStream = await accepted; // not read: nothing consumes it yet

  const total = 200 * MiB;
  const chunk = 64 * 1024;
  const sent = createHash('sha256');
  let accepted_ = 0;
  let completed = 0;
  let finished = false;
  let waitingForDrain = false;
  const produce = (): void => {
    waitingForDrain = false;
    while (accepted_ < total) {
      const piece = pattern(chunk, accepted_ / chunk);
      sent.update(piece);
      accepted_ += piece.length;
      if (!stream.write(piece, () => completed++)) {
        waitingForDrain = true;
        return void stream.once('drain', produce);
      }
    }
    stream.end(() => (finished = true));
  };
  produce();

  // Steady state: the writer waits for 'drain', and 50 real I/O round trips later not one more
  // write has completed (kernel buffers full, server socket not read).
  for (let settled = false; !settled; ) {
    t.notOk(finished, 'the writer must be held back before it gets to the end');
    if (finished) return;
    const before = completed;
    await clock(50);
    settled = waitingForDrain && completed === before && serverSocket.isPaused();
  }
  const heldAt = accepted_;
  const completedAt = completed;
  await clock(200);
  t.equal(completed, completedAt, 'no pending write completed while the reader was stopped');
  t.equal(accepted_, heldAt, 'and nothing more was accepted');
  const buffered = stream.writableLength + clientSocket.writableLength + serverStream.readableLength + serverSocket.readableLength;
  t.ok(buffered < 8 * MiB, `user-space buffering bounded: ${buffered} bytes`);
  t.ok(heldAt < 32 * MiB, `the writer was held back early: ${heldAt} of ${total} bytes accepted`);

  const received = createHash('sha256');
  let receivedBytes = 0;
  serverStream.on('data', (data: Buffer) => {
    received.update(data);
    receivedBytes += data.length;
  });
  await once(serverStream, 'end');
  t.equal(receivedBytes, total, 'all 200 MB arrived once the reader resumed');
  t.equal(received.digest('hex'), sent.digest('hex'), 'intact, in order');
  await turnsUntil(() => finished);
  t.ok(finished, 'every write completed');
  t.notOk(seenByClient.of('window_update').length + seenByServer.of('window_update').length, 'no WINDOW_UPDATE either way');
});

t.test('RST_STREAM after data: every byte before it is delivered, then the stream ends; later writes fail softly', async (t) => {
  const { client, server } = await connectedPair(t);
  const payload = pattern(100_000, 5); // below the stream's high-water mark: the socket stays read
  const serverSide = new Promise<SpdyStream>((resolve) =>
    server.on('stream', (stream) => {
      stream.reply();
      stream.write(payload);
      stream.write('last words', () => {
        stream.reset();
        resolve(stream);
      });
    }),
  );
  const stream = client.openStream({ streamtype: 'stdout' });
  // Not read until the reset has arrived: the data must still be there.
  const [status] = (await once(stream, 'reset')) as [number];
  t.equal(status, RstStatus.CANCEL);
  t.equal(stream.resetStatus, RstStatus.CANCEL);
  t.equal(client.openStreams, 0, 'a reset stream leaves the table at once');
  const received = await collect(stream);
  t.equal(received.length, payload.length + 10);
  t.equal(sha(received), sha(payload, Buffer.from('last words')), 'everything sent before the RST');
  // The writable side is closed: writes report an error to their callback, and nothing crashes
  // although nobody listens for 'error' on this stream.
  const [writeError] = await new Promise<unknown[]>((resolve) => stream.write('too late', (...args) => resolve(args)));
  t.match(writeError, { message: /reset by the peer \(status 5\)/ });
  stream.end('also too late');
  t.equal((await serverSide).destroyed, true, 'the resetting side destroyed its stream');
  t.equal(server.openStreams, 0);
});

t.test('a local reset: RST_STREAM CANCEL on the wire, the peer gets reset, both tables empty', async (t) => {
  const { client, server, seenByServer } = await connectedPair(t);
  const peerStream = new Promise<SpdyStream>((resolve) => server.on('stream', resolve));
  const stream = client.openStream({ streamtype: 'stdin' });
  const atServer = await peerStream;
  const reset = once(atServer, 'reset');
  stream.reset();
  t.same(await reset, [RstStatus.CANCEL]);
  t.same(seenByServer.of('rst_stream'), [{ type: 'rst_stream', streamId: 1, status: RstStatus.CANCEL }]);
  t.ok(stream.destroyed);
  t.equal(client.openStreams, 0);
  t.equal(server.openStreams, 0);
  const [error] = await new Promise<unknown[]>((resolve) => atServer.write('x', (...args) => resolve(args)));
  t.type(error, Error, 'the peer cannot write to it any more');
});

t.test('pings: ours odd as client and even as server, the peer echoes, round trips measured', async (t) => {
  const { client, server, seenByClient, seenByServer } = await connectedPair(t);
  const rtts = [await client.ping(), await client.ping(), await server.ping()];
  t.ok(rtts.every((ms) => typeof ms === 'number' && ms >= 0 && ms < 10_000), `round trips ${rtts.join(', ')} ms`);
  t.same(seenByServer.of('ping'), [{ type: 'ping', id: 1 }, { type: 'ping', id: 3 }, { type: 'ping', id: 2 }], 'client pings 1, 3; echo of 2');
  t.same(seenByClient.of('ping'), [{ type: 'ping', id: 1 }, { type: 'ping', id: 3 }, { type: 'ping', id: 2 }], 'echoes of 1, 3; server ping 2');
});

t.test("a peer's pings are echoed byte for byte; pings of our own parity are not", async (t) => {
  const { peer } = await againstRaw(t, 'server');
  // 2 has the server's parity (a reply to a ping it never sent): spdystream ignores those too.
  peer.send(encodePing(2), encodePing(1));
  peer.send(encodePing(3));
  await peer.until((frames) => frames.length >= 2);
  t.same(peer.bytes.toString('hex'), Buffer.concat([encodePing(1), encodePing(3)]).toString('hex'));
});

const SUCCESS = '{"metadata":{},"status":"Success"}';

/** A capture's frames as FrameLog records them, for frame-level comparison with live traffic. */
function captureFrames(name: string): Summary[] {
  const recorder = new FrameRecorder(true);
  for (const frame of new SpdyFrameParser().push(readCapture(name).spdy)) recorder.add(frame);
  return recorder.frames;
}

t.test('server role fed the real kubectl 1.27 exec bytes answers frame for frame like the kubelet', async (t) => {
  const { connection, peer } = await againstRaw(t, 'server');
  const streams = new Map<string, SpdyStream>();
  const stdin = new Promise<string>((resolve) =>
    connection.on('stream', (stream) => {
      streams.set(stream.headers.streamtype!, stream);
      stream.reply();
      if (stream.headers.streamtype === 'stdin') void collect(stream).then((data) => resolve(data.toString()));
    }),
  );
  peer.send(readCapture('spdy-exec-cat-stdin.client-to-server.bin').spdy);
  t.equal(await stdin, 'hello\n', 'stdin data, then FIN');
  t.same([...streams].map(([type, s]) => [s.id, type]), [[1, 'error'], [3, 'stdin'], [5, 'stdout'], [7, 'stderr']]);
  // What the kubelet does at the end of `cat`: output, Status, RST CANCEL on every stream, GOAWAY.
  streams.get('stdout')!.write('hello\n');
  streams.get('error')!.write(SUCCESS, () => {
    for (const stream of streams.values()) stream.reset(RstStatus.CANCEL);
    connection.goAway();
  });
  await peer.until((frames) => frames.some((f) => f.type === 'goaway'));
  t.same(peer.frames, captureFrames('spdy-exec-cat-stdin.server-to-client.bin'), 'the same frames the real kubelet sent');
  t.equal(connection.openStreams, 0);
});

t.test('client role against the real kubelet bytes: kubectl\'s frames out, replies, output, Status, resets, GOAWAY in', async (t) => {
  const { connection, peer } = await againstRaw(t, 'client');
  const streams = Object.fromEntries(['error', 'stdin', 'stdout', 'stderr'].map((type) => [type, connection.openStream({ streamtype: type })]));
  const replies = Promise.all(Object.values(streams).map((s) => once(s, 'reply')));
  const resets = Promise.all(Object.values(streams).map((s) => once(s, 'reset')));
  const goaway = once(connection, 'goaway');
  const outputs = Promise.all([collect(streams.stdout!), collect(streams.error!), collect(streams.stderr!)]);
  streams.stdin!.write('hello\n');
  streams.stdin!.end();
  await peer.until((frames) => frames.some((f) => f.fin));
  t.same(peer.frames, captureFrames('spdy-exec-cat-stdin.client-to-server.bin'), 'the same frames kubectl 1.27 sent');

  peer.send(readCapture('spdy-exec-cat-stdin.server-to-client.bin').spdy);
  t.same((await replies).map(([headers]) => ({ ...headers })), [{}, {}, {}, {}], 'header-less SYN_REPLYs accepted');
  const [stdout, status, stderr] = await outputs;
  t.equal(stdout.toString(), 'hello\n');
  t.equal(status.toString(), SUCCESS);
  t.equal(stderr.length, 0);
  t.same((await resets).map(([status]) => status), [5, 5, 5, 5]);
  t.same(await goaway, [7, GoawayStatus.OK]);
  t.equal(connection.openStreams, 0);
});

t.test('port-forward capture into a server role: stream pairs, the half-closed error stream, the PING echoed', async (t) => {
  const { connection, peer } = await againstRaw(t, 'server');
  const seen: Array<[number, string, string, string]> = [];
  const bodies = new Map<number, Promise<Buffer>>();
  connection.on('stream', (stream) => {
    seen.push([stream.id, stream.headers.streamtype!, stream.headers.port!, stream.headers.requestid!]);
    bodies.set(stream.id, collect(stream));
    stream.reply();
  });
  peer.send(readCapture('spdy-portforward-2conns.client-to-server.bin').spdy);
  await peer.until((frames) => frames.some((f) => f.type === 'ping'));
  t.same(seen, [[1, 'error', '18680', '0'], [3, 'data', '18680', '0'], [5, 'error', '18680', '1'], [7, 'data', '18680', '1']]);
  const request = 'GET / HTTP/1.1\r\nHost: 127.0.0.1:18681\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n';
  t.same((await Promise.all([1, 3, 5, 7].map((id) => bodies.get(id)!))).map(String), ['', request, '', request]);
  t.same(peer.of('ping'), [{ type: 'ping', id: 1 }], "kubectl's PING 1 echoed");
  t.same(peer.bytes.subarray(peer.bytes.length - 12).toString('hex'), encodePing(1).toString('hex'));
});

t.test('head bytes given with the socket come first, and streams in them reach listeners attached later', async (t) => {
  const capture = readCapture('spdy-exec-cat-stdin.client-to-server.bin').spdy;
  const { connection, peer } = await againstRaw(t, 'server', () => capture.subarray(0, 100));
  const ids: number[] = [];
  const stdin = new Promise<string>((resolve) =>
    connection.on('stream', (stream) => {
      ids.push(stream.id);
      if (stream.headers.streamtype === 'stdin') void collect(stream).then((data) => resolve(data.toString()));
    }),
  );
  peer.send(capture.subarray(100));
  t.equal(await stdin, 'hello\n');
  t.same(ids, [1, 3, 5, 7]);
});

t.test('stream ids: wrong parity or going backwards is RST PROTOCOL_ERROR; unserved REFUSED; ignored after GOAWAY', async (t) => {
  const { connection, peer } = await againstRaw(t, 'server');
  const accepted: number[] = [];
  connection.on('stream', (stream) => accepted.push(stream.id));
  peer.send(peer.syn(2, { streamtype: 'x' }), peer.syn(5, { streamtype: 'x' }), peer.syn(3, { streamtype: 'x' }));
  await peer.until((frames) => frames.length >= 2);
  connection.removeAllListeners('stream');
  peer.send(peer.syn(7, { streamtype: 'x' }));
  await peer.until((frames) => frames.length >= 3);
  connection.on('stream', (stream) => accepted.push(stream.id));
  connection.goAway();
  peer.send(peer.syn(9, { streamtype: 'x' }), encodePing(11));
  await peer.until((frames) => frames.some((f) => f.type === 'ping'));
  t.same(accepted, [5]);
  t.same(
    peer.bytes.toString('hex'),
    Buffer.concat([
      encodeRstStream(2, RstStatus.PROTOCOL_ERROR),
      encodeRstStream(3, RstStatus.PROTOCOL_ERROR),
      encodeRstStream(7, RstStatus.REFUSED_STREAM),
      encodeGoaway(7, GoawayStatus.OK),
      encodePing(11),
    ]).toString('hex'),
    'exact frames; stream 9 after GOAWAY drew no answer',
  );
  // Streams the server opens itself take even ids.
  t.same([connection.openStream({ a: '1' }).id, connection.openStream({ a: '2' }).id], [2, 4]);
});

t.test('SETTINGS and WINDOW_UPDATE are ignored: a window of 0 does not stop 1 MB', async (t) => {
  const { connection, peer } = await againstRaw(t, 'server');
  const data = pattern(MiB, 9);
  connection.on('stream', (stream) => void pump(stream, data));
  // SETTINGS_INITIAL_WINDOW_SIZE (7) = 0 before the stream, a zero-ish WINDOW_UPDATE after it.
  peer.send(encodeSettings([{ id: 7, value: 0 }]), peer.syn(1, { streamtype: 'stdout' }), encodeWindowUpdate(1, 1));
  await peer.until((frames) => frames.some((f) => f.type === 'data' && f.fin));
  const payload = Buffer.from(peer.of('data').map((f) => f.payload as string).join(''), 'latin1');
  t.equal(sha(payload), sha(data), 'all of it, at once');
});

t.test('writes: SYN_REPLY before the first DATA, frames of 32 KiB, payloads not copied, end() is one empty FIN', async (t) => {
  const { connection, peer, socket } = await againstRaw(t, 'server');
  const written: Buffer[] = [];
  const write = socket.write.bind(socket) as (chunk: Buffer) => boolean;
  socket.write = ((chunk: Buffer) => (written.push(chunk), write(chunk))) as typeof socket.write;
  const data = pattern(100 * 1024, 3);
  connection.on('stream', (stream) => {
    stream.write(data); // no reply() first: spdystream would drop DATA on a stream it has no reply for
    stream.end();
  });
  peer.send(peer.syn(1, { streamtype: 'stdout' }));
  await peer.until((frames) => frames.some((f) => f.fin));
  t.same(peer.frames.map((f) => [f.type, f.length, f.fin]), [
    ['syn_reply', undefined, false],
    ['data', 32768, false],
    ['data', 32768, false],
    ['data', 32768, false],
    ['data', 4096, false],
    ['data', 0, true],
  ]);
  const payloads = written.filter((chunk) => chunk.length > 8);
  t.equal(payloads.length, 5, 'reply + four payloads, each header written on its own');
  t.ok(payloads.slice(1).every((chunk) => chunk.buffer === data.buffer), 'the payloads are the caller\'s memory');
  t.same(peer.bytes.subarray(peer.bytes.length - 8).toString('hex'), encodeDataFrameHeader(1, 0, true).toString('hex'));
});

t.test('a small write (a keystroke) is one socket write of header and payload; above 1 KiB the payload is not copied', async (t) => {
  const { connection, peer, socket } = await againstRaw(t, 'server');
  const written: Buffer[] = [];
  const write = socket.write.bind(socket) as (chunk: Buffer) => boolean;
  socket.write = ((chunk: Buffer) => (written.push(chunk), write(chunk))) as typeof socket.write;
  const keystroke = Buffer.from('x');
  const atLimit = pattern(1024, 5);
  const aboveLimit = pattern(1025, 7);
  connection.on('stream', (stream) => {
    stream.reply();
    written.length = 0;
    stream.write(keystroke);
    stream.write(atLimit);
    stream.write(aboveLimit);
    stream.end();
  });
  peer.send(peer.syn(1, { streamtype: 'stdout' }));
  await peer.until((frames) => frames.some((f) => f.fin));
  t.same(peer.frames.map((f) => [f.type, f.length, f.fin]), [
    ['syn_reply', undefined, false],
    ['data', 1, false],
    ['data', 1024, false],
    ['data', 1025, false],
    ['data', 0, true],
  ]);
  t.same(written.map((chunk) => chunk.length), [9, 1032, 8, 1025, 8], 'whole frames up to 1 KiB; header and payload apart above');
  t.equal(written[0]!.toString('hex'), Buffer.concat([encodeDataFrameHeader(1, 1, false), keystroke]).toString('hex'));
  t.ok(written[1]!.subarray(8).equals(atLimit), 'the copied payload is the bytes written');
  t.equal(written[3]!.buffer, aboveLimit.buffer, "above the limit the payload is the caller's memory");
});

t.test('openStream({fin}) half-closes in the SYN_STREAM itself; the stream leaves the table on the peer FIN', async (t) => {
  const { connection, peer } = await againstRaw(t, 'client');
  const stream = connection.openStream({ streamtype: 'error' }, { fin: true });
  stream.end();
  await peer.until((frames) => frames.length >= 1);
  t.match(peer.frames[0], { type: 'syn_stream', streamId: 1, fin: true });
  t.equal(connection.openStreams, 1, 'still open for the peer to write');
  const [error] = await new Promise<unknown[]>((resolve) => stream.write('x', (...args) => resolve(args)));
  t.type(error, Error, 'not writable');
  const body = collect(stream);
  peer.send(encodeDataFrameHeader(1, 2, true), Buffer.from('ok'));
  t.equal((await body).toString(), 'ok');
  t.equal(connection.openStreams, 0);
  // The echo of a ping marks the point by which anything else we sent has arrived.
  peer.send(encodePing(2));
  await peer.until((frames) => frames.some((f) => f.type === 'ping'));
  t.same(peer.frames.map((f) => f.type), ['syn_stream', 'ping'], 'no DATA or FIN frame after the SYN_STREAM');
});

t.test("HEADERS and a SYN_REPLY with FIN end the peer's side; close() ends the socket, destroy(err) is the streams' cause", async (t) => {
  const { connection, peer } = await againstRaw(t, 'client');
  const viaReply = connection.openStream({ streamtype: 'a' });
  const viaHeaders = connection.openStream({ streamtype: 'b' });
  const headers = once(viaHeaders, 'headers');
  const ended = Promise.all([collect(viaReply), collect(viaHeaders)]);
  peer.send(
    encodeSynReply(1, peer.encoder.encode({ 'x-done': 'yes' }), true),
    encodeSynReply(3, peer.encoder.encode({})),
    encodeDataFrameHeader(3, 2, false),
    Buffer.from('hi'),
    encodeHeaders(3, peer.encoder.encode({ Trailer: 'x' }), true),
  );
  t.same((await ended).map(String), ['', 'hi']);
  t.same({ ...viaReply.replyHeaders }, { 'x-done': 'yes' });
  t.same({ ...(await headers)[0] }, { trailer: 'x' });
  viaReply.end();
  viaHeaders.end();
  await turnsUntil(() => connection.openStreams === 0);
  connection.close();
  await peer.until(() => peer.ended);
  await once(connection, 'close');
  t.ok(connection.isClosed, 'close() ended the socket; the peer saw the end');

  const other = await againstRaw(t, 'client');
  const stream = other.connection.openStream({ streamtype: 'c' });
  const failed = once(stream, 'error');
  other.connection.destroy(new Error('ping timeout'));
  const [error] = (await failed) as [Error];
  t.equal(error.message, 'SPDY connection closed');
  t.match(error.cause, { message: 'ping timeout' }, 'the reason travels as the cause');
});

t.test('a lost connection: open streams fail, finished ones keep their data, pings reject, no crash', async (t) => {
  const { connection, peer } = await againstRaw(t, 'client');
  const listened = connection.openStream({ streamtype: 'stdout' });
  const unlistened = connection.openStream({ streamtype: 'stderr' });
  const finished = connection.openStream({ streamtype: 'error' });
  const failure = once(listened, 'error');
  peer.send(encodeDataFrameHeader(5, 6, true), Buffer.from('status'));
  await turnsUntil(() => finished.readableLength === 6);
  const ping = connection.ping();
  const closed = once(connection, 'close');
  peer.socket.destroy();
  await closed;
  t.match((await failure)[0], { message: 'SPDY connection closed' });
  await turnsUntil(() => unlistened.destroyed);
  t.match(unlistened.errored, { message: 'SPDY connection closed' }, 'failed without a listener, and nothing crashed');
  t.equal((await collect(finished)).toString(), 'status', 'a stream the peer had finished still delivers');
  await t.rejects(ping, /SPDY connection closed/);
  const late = connection.openStream({ streamtype: 'late' });
  await turnsUntil(() => late.destroyed);
  t.match(late.errored, { message: 'SPDY connection closed' }, 'opening on a closed connection fails the stream, softly');
  t.equal(connection.openStreams, 0);
});

t.test('protocol errors: GOAWAY PROTOCOL_ERROR on the wire, an error event, the socket closed; others unaffected', async (t) => {
  const bystanders = await connectedPair(t);
  // 32 MiB of zeros with the dictionary: a header-block zlib bomb in one SYN_STREAM.
  const bomb = zlib.deflateSync(Buffer.alloc(32 * MiB), { dictionary: SPDY3_DICTIONARY, level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  const cases: Array<[string, Buffer, RegExp, boolean]> = [
    ['a SPDY/2 frame', Buffer.from('800200060000000400000001', 'hex'), /unsupported SPDY version 2/, true],
    ['a header-block zlib bomb', encodeSynStream(1, bomb), /inflates beyond 262144 bytes/, true],
    ['garbage, with nobody listening for errors', Buffer.from('ffffffffffffffffffff', 'hex'), /unsupported SPDY version/, false],
  ];
  for (const [what, bytes, message, listen] of cases) {
    const { connection, peer } = await againstRaw(t, 'server');
    const streams: SpdyStream[] = [];
    connection.on('stream', (stream) => streams.push(stream));
    const errors: Error[] = [];
    if (listen) connection.on('error', (error) => errors.push(error));
    // Not once(connection, 'close'): that promise would reject on the 'error' event expected here.
    const closed = new Promise<void>((resolve) => connection.on('close', resolve));
    peer.send(bytes);
    await closed;
    await peer.until(() => peer.ended);
    t.same(peer.bytes.toString('hex'), encodeGoaway(0, GoawayStatus.PROTOCOL_ERROR).toString('hex'), `${what}: GOAWAY PROTOCOL_ERROR, then the end`);
    if (listen) {
      t.equal(errors.length, 1, `${what}: one error event`);
      t.type(errors[0], SpdyProtocolError);
      t.match(errors[0]!.message, message);
    }
    t.equal(streams.length, 0, `${what}: no stream came of it`);
  }
  t.type(await bystanders.client.ping(), 'number', 'another connection in the process still works');
});

t.test('a peer flooding PINGs without reading: one answer queued at most, the socket no longer read, then the connection fails naming it', async (t) => {
  // The upstream's side of the socket never reads: writes toward it never complete.
  const socket = new Duplex({ read() {}, write() {} });
  const connection = new SpdyConnection(socket, { role: 'client', pingFloodTimeoutMs: 1_000 });
  const failed = once(connection, 'error');
  const flood = Buffer.concat(Array.from({ length: 10_000 }, (_, i) => encodePing(2 * (i + 1))));
  for (let i = 0; i < 5; i++) socket.push(flood);
  await until(() => socket.isPaused(), 'the socket to be paused');
  t.ok(socket.writableLength <= 12, `${socket.writableLength} bytes of answers queued (one PING answer) — not 50,000 answers`);
  const [error] = (await failed) as [Error];
  t.ok(error instanceof SpdyPingFloodError, 'a SpdyPingFloodError');
  t.match(error.message, /sent PINGs without reading the answers for 1 s/);
});
