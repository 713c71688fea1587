// The recording codecs: byte vectors for asciicast v2 lines and the raw framing, and a reader in a
// few lines (as docs/recording.md shows) that rebuilds streams byte-exact from the framing.
import t from 'tap';
import { asciicastEventLine, asciicastHeaderLine, exitMarkerData, resizeData } from '../../../src/codecs/recording/asciicast.js';
import { rawCutLine, rawDataText, rawEndLine, rawGapLine, rawHeaderLine } from '../../../src/codecs/recording/raw-frames.js';

const rawDataLine = (...args: Parameters<typeof rawDataText>): Buffer => Buffer.from(rawDataText(...args));
import { portForwardEndLine, portForwardHeaderLine } from '../../../src/codecs/recording/port-forward-lines.js';

t.test('asciicast v2 header: version first, size, timestamp, the gateway metadata under ksg', async (t) => {
  t.equal(
    asciicastHeaderLine({ width: 120, height: 40, timestamp: 1765000000, ksg: { user: 'alice', command: ['sh'] } }).toString('hex'),
    Buffer.from('{"version":2,"width":120,"height":40,"timestamp":1765000000,"ksg":{"user":"alice","command":["sh"]}}\n').toString('hex'),
  );
});

t.test('asciicast v2 events: [seconds, code, data] with JSON escapes, whole seconds written as floats', async (t) => {
  t.equal(asciicastEventLine(0, 'o', 'hi\r\n').toString(), '[0.0, "o", "hi\\r\\n"]\n');
  t.equal(asciicastEventLine(1.2345678, 'o', '\u001b[1m"q"').toString(), '[1.234568, "o", "\\u001b[1m\\"q\\""]\n');
  t.equal(asciicastEventLine(2, 'r', resizeData(100, 30)).toString(), '[2.0, "r", "100x30"]\n');
  t.equal(asciicastEventLine(3.5, 'm', exitMarkerData(3, 'completed')).toString(), '[3.5, "m", "exit 3"]\n');
  t.equal(exitMarkerData(undefined, 'client closed'), 'end: client closed');
  t.equal(asciicastEventLine(-0.1, 'i', 'x').toString(), '[0.0, "i", "x"]\n', 'never a negative time');
  t.equal(asciicastEventLine(0.5, 'o', 'é').toString('hex'), Buffer.from('[0.5, "o", "é"]\n').toString('hex'), 'UTF-8 kept as is');
});

t.test('raw framing: byte vectors of each line', async (t) => {
  t.equal(rawHeaderLine({ auditID: 'a1' }).toString(), '{"format":"ksg-raw","version":1,"auditID":"a1"}\n');
  t.equal(rawDataLine(0.25, 'stdout', 10, 5).toString(), '{"t":0.25,"s":"stdout","o":10,"n":5}\n');
  t.equal(rawCutLine(1, 'stderr', 64).toString(), '{"t":1,"cut":"stderr","o":64}\n');
  t.equal(rawGapLine(2, 'stdout', 4, 8).toString(), '{"t":2,"gap":"stdout","o":4,"n":8}\n');
  t.equal(rawEndLine(3, 0, 'completed').toString(), '{"t":3,"end":true,"exitCode":0,"reason":"completed"}\n');
  t.equal(rawEndLine(3, undefined, 'x').toString(), '{"t":3,"end":true,"exitCode":null,"reason":"x"}\n');
});

/** The reader docs/recording.md describes: a JSON line, then `n` bytes when it has `n` and `s`. */
function readRaw(file: Buffer): { header: Record<string, unknown>; streams: Map<string, Buffer>; lines: Record<string, unknown>[] } {
  let at = file.indexOf(10) + 1;
  const header = JSON.parse(file.subarray(0, at - 1).toString()) as Record<string, unknown>;
  const streams = new Map<string, Buffer>();
  const lines: Record<string, unknown>[] = [];
  while (at < file.length) {
    const end = file.indexOf(10, at);
    const line = JSON.parse(file.subarray(at, end).toString()) as Record<string, unknown>;
    lines.push(line);
    at = end + 1;
    if (typeof line.s === 'string') {
      const bytes = file.subarray(at, at + (line.n as number));
      streams.set(line.s, Buffer.concat([streams.get(line.s) ?? Buffer.alloc(0), bytes]));
      at += line.n as number;
    }
  }
  return { header, streams, lines };
}

t.test('raw framing round trip: binary payloads with newlines and JSON-looking bytes come back exactly', async (t) => {
  const a = Buffer.from([0, 10, 123, 34, 125, 10, 255]);
  const b = Buffer.from('{"t":1}\n');
  const file = Buffer.concat([rawHeaderLine({ kind: 'exec' }), rawDataLine(0, 'stdout', 0, a.length), a, rawDataLine(0.1, 'stderr', 0, b.length), b, rawDataLine(0.2, 'stdout', a.length, b.length), b, rawEndLine(1, 0, 'completed')]);
  const read = readRaw(file);
  t.equal(read.header.kind, 'exec');
  t.equal(read.streams.get('stdout')!.toString('hex'), Buffer.concat([a, b]).toString('hex'));
  t.equal(read.streams.get('stderr')!.toString('hex'), b.toString('hex'));
  t.same(read.lines.at(-1), { t: 1, end: true, exitCode: 0, reason: 'completed' });
});

t.test('port-forward metadata lines: byte vectors', async (t) => {
  t.equal(portForwardHeaderLine({ pod: 'demo', ports: [80] }).toString(), '{"format":"ksg-portforward","version":1,"pod":"demo","ports":[80]}\n');
  t.equal(portForwardEndLine({ durationMs: 1234.6, bytesFromClient: 10, bytesToClient: 20, reason: 'client closed' }).toString(), '{"end":true,"durationMs":1235,"bytesFromClient":10,"bytesToClient":20,"reason":"client closed"}\n');
});
