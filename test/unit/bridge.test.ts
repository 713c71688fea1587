// The Bridge: bytes pass by the route table unchanged (the same buffers), back-pressure
// both ways, counts per direction, the tap sees every payload, the end half-closes by default.
import t from 'tap';
import { Bridge, type Direction, type SessionTap } from '../../src/translators/bridge.js';
import type { PayloadReader, Stream } from '../../src/connections/stream.js';

/** An in-memory Stream: `feed` plays the peer, `written` records writes, `full` makes writes say "stop". */
class MemoryStream implements Stream {
  readonly headers = {};
  written: Buffer[] = [];
  paused = false;
  ended = false;
  full = false;
  writable = true;
  private reader?: PayloadReader;
  private onEnd?: (error?: Error) => void;
  private drains: (() => void)[] = [];
  read(reader: PayloadReader, onEnd?: (error?: Error) => void): void {
    this.reader = reader;
    this.onEnd = onEnd;
  }
  feed(payload: Buffer): void {
    this.reader!(payload);
  }
  finish(error?: Error): void {
    this.onEnd?.(error);
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  write(payload: Buffer): boolean {
    this.written.push(payload);
    return !this.full;
  }
  onDrain(listener: () => void): void {
    this.drains.push(listener);
  }
  drain(): void {
    this.full = false;
    for (const listener of this.drains) listener();
  }
  end(): void {
    this.ended = true;
  }
  reset(): void {}
  bufferedBytes = 0;
}

t.test('payloads pass unchanged, the same memory; counted per direction', async (t) => {
  const bridge = new Bridge();
  const upstreamOut = new MemoryStream();
  const clientIn = new MemoryStream();
  const clientOut = new MemoryStream();
  const upstreamIn = new MemoryStream();
  bridge.pump({ name: 'stdout', direction: 'to-client', from: upstreamOut, to: clientIn });
  bridge.pump({ name: 'stdin', direction: 'to-upstream', from: clientOut, to: upstreamIn });
  const down = Buffer.from([0x01, 0x02, 0x03]);
  upstreamOut.feed(down);
  clientOut.feed(Buffer.from('ab'));
  t.equal(clientIn.written[0], down, 'the very buffer, no copy');
  t.same(upstreamIn.written, [Buffer.from('ab')]);
  t.equal(bridge.bytesToClient, 3);
  t.equal(bridge.bytesFromClient, 2);
});

t.test('back-pressure: a full destination pauses its source until it drains', async (t) => {
  const bridge = new Bridge();
  const from = new MemoryStream();
  const to = new MemoryStream();
  bridge.pump({ name: 'stdout', direction: 'to-client', from, to });
  to.full = true;
  from.feed(Buffer.from('x'));
  t.equal(from.paused, true, 'paused');
  to.drain();
  t.equal(from.paused, false, 'resumed on drain');
  from.feed(Buffer.from('y'));
  t.equal(from.paused, false, 'not paused while the destination takes it');
});

t.test('the end half-closes the destination by default, or calls the route\'s own', async (t) => {
  const bridge = new Bridge();
  const a = new MemoryStream();
  const b = new MemoryStream();
  bridge.pump({ name: 'stdin', direction: 'to-upstream', from: a, to: b });
  a.finish();
  t.equal(b.ended, true, 'stdin CLOSE becomes the FIN');
  const c = new MemoryStream();
  const d = new MemoryStream();
  let ended: Error | undefined | 'no' = 'no';
  bridge.pump({ name: 'stdout', direction: 'to-client', from: c, to: d, onEnd: (error) => (ended = error) });
  c.finish(new Error('lost'));
  t.equal(d.ended, false);
  t.match(ended, { message: 'lost' });
});

t.test('transform re-encodes and is written piece by piece, uncounted when asked; stop drops what follows', async (t) => {
  const bridge = new Bridge();
  const from = new MemoryStream();
  const to = new MemoryStream();
  bridge.pump({ name: 'resize', direction: 'to-upstream', from, to, counted: false, transform: (payload) => [Buffer.from('<'), payload, Buffer.from('>')] });
  from.feed(Buffer.from('s'));
  t.same(to.written.map((piece) => piece.toString()), ['<', 's', '>']);
  t.equal(bridge.bytesFromClient, 0);
  bridge.stop();
  from.feed(Buffer.from('late'));
  t.equal(to.written.length, 3, 'nothing after stop');
});

t.test('dropAfterEnd: what arrives once the destination is closed is neither written nor counted', async (t) => {
  const bridge = new Bridge();
  const from = new MemoryStream();
  const to = new MemoryStream();
  bridge.pump({ name: 'port', direction: 'to-upstream', from, to, dropAfterEnd: true });
  from.feed(Buffer.from('12'));
  to.writable = false;
  from.feed(Buffer.from('345'));
  t.equal(to.written.length, 1);
  t.equal(bridge.bytesFromClient, 2);
});

t.test('the tap sees every payload once, with its direction and route', async (t) => {
  const seen: [Direction, string, string][] = [];
  const tap: SessionTap = { bytes: (direction, route, payload) => seen.push([direction, route, payload.toString('hex')]), event: () => undefined };
  const bridge = new Bridge(tap);
  const up = new MemoryStream();
  const down = new MemoryStream();
  bridge.pump({ name: 'stdout', direction: 'to-client', from: up, to: new MemoryStream() });
  bridge.pump({ name: 'stdin', direction: 'to-upstream', from: down, to: new MemoryStream() });
  up.feed(Buffer.from([0xde, 0xad]));
  down.feed(Buffer.from([0x00]));
  up.feed(Buffer.from([0xbe, 0xef]));
  t.same(seen, [
    ['to-client', 'stdout', 'dead'],
    ['to-upstream', 'stdin', '00'],
    ['to-client', 'stdout', 'beef'],
  ]);
});
