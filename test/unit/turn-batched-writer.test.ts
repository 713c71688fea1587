import t from 'tap';
import { Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { turnBatchedWriter } from '../../src/connections/turn-batched-writer.js';

/** A sink that records each call the stream machinery makes: one entry per write or writev, with its chunks. */
function recordingSink(highWaterMark = 16 * 1024): { sink: Writable; calls: string[][] } {
  const calls: string[][] = [];
  const sink = new Writable({
    highWaterMark,
    write(chunk: Buffer, _encoding, done) {
      calls.push([chunk.toString()]);
      done();
    },
    writev(chunks, done) {
      calls.push(chunks.map(({ chunk }) => (chunk as Buffer).toString()));
      done();
    },
  });
  return { sink, calls };
}

t.test('the writes of one turn reach the sink as one writev, in order, once the turn is over', async (t) => {
  const { sink, calls } = recordingSink();
  const write = turnBatchedWriter(sink);
  // kubectl's framer: stream id, flags and length, then the data, each its own message.
  write(Buffer.from('id..'));
  write(Buffer.from('len.'));
  write(Buffer.from('data'));
  t.same(calls, [], 'nothing is written while the turn runs');
  await nextTurn();
  t.same(calls, [['id..', 'len.', 'data']]);
});

t.test('each turn is a batch of its own: nothing waits for a later one', async (t) => {
  const { sink, calls } = recordingSink();
  const write = turnBatchedWriter(sink);
  write(Buffer.from('a'));
  write(Buffer.from('b'));
  await nextTurn();
  write(Buffer.from('c'));
  await nextTurn();
  write(Buffer.from('d'));
  write(Buffer.from('e'));
  await nextTurn();
  t.same(calls, [['a', 'b'], ['c'], ['d', 'e']]);
  t.equal(sink.writableCorked, 0, 'the sink is left uncorked');
});

t.test('back-pressure is the sink’s: false once a turn’s writes reach its high-water mark, drain after the batch', async (t) => {
  const { sink, calls } = recordingSink(8);
  const write = turnBatchedWriter(sink);
  t.equal(write(Buffer.from('1234')), true);
  t.equal(write(Buffer.from('5678')), false, 'at the mark: the writer must wait');
  let drained = false;
  sink.once('drain', () => (drained = true));
  await nextTurn();
  t.ok(drained, 'drain once the batch went out');
  t.same(calls, [['1234', '5678']]);
});

t.test('a sink destroyed before the turn ends: no throw, nothing written', async (t) => {
  const { sink, calls } = recordingSink();
  sink.on('error', () => undefined);
  const write = turnBatchedWriter(sink);
  write(Buffer.from('lost'));
  sink.destroy();
  await nextTurn();
  t.same(calls, []);
});
