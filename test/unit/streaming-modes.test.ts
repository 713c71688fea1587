// upstreams[].streaming: what each setting asks first, and auto's memory — learnt, kept for its
// time from the last success, forgotten on a refusal or when the time runs out (then SPDY first again).
import t from 'tap';
import { STREAMING_MEMORY_MS, StreamingModes } from '../../src/server/streaming-modes.js';

t.test('spdy and websocket are as configured; auto starts with SPDY', async (t) => {
  const modes = new StreamingModes();
  modes.learnWebSocket('a');
  t.equal(modes.first('a', 'spdy'), 'spdy', 'spdy ignores what auto learnt');
  t.equal(modes.first('b', 'websocket'), 'websocket');
  t.equal(modes.first('b', 'auto'), 'spdy');
  t.equal(modes.first('b', undefined), 'spdy', 'absent is auto');
});

t.test('auto remembers a WebSocket upstream for its time, per upstream, then re-learns SPDY first', async (t) => {
  let now = 1_000_000;
  const modes = new StreamingModes(STREAMING_MEMORY_MS, () => now);
  modes.learnWebSocket('a');
  t.equal(modes.first('a', 'auto'), 'websocket');
  t.equal(modes.first('b', 'auto'), 'spdy', 'another upstream is not affected');
  now += STREAMING_MEMORY_MS - 1;
  t.equal(modes.first('a', 'auto'), 'websocket', 'still within the memory');
  modes.learnWebSocket('a');
  now += STREAMING_MEMORY_MS - 1;
  t.equal(modes.first('a', 'auto'), 'websocket', 'a success renews the memory');
  now += 1;
  t.equal(modes.first('a', 'auto'), 'spdy', 'the memory ran out: SPDY first again');
});

t.test('an upstream that changes mode between sessions: a WebSocket refusal forgets at once', async (t) => {
  const modes = new StreamingModes();
  modes.learnWebSocket('a');
  modes.forget('a');
  t.equal(modes.first('a', 'auto'), 'spdy');
});

t.test('only a 400 refusal of SPDY is worth a WebSocket attempt', async (t) => {
  t.ok(StreamingModes.refusesSpdy(400));
  for (const code of [401, 403, 404, 500, 503]) t.notOk(StreamingModes.refusesSpdy(code), String(code));
});
