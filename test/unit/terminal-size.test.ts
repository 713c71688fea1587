import t from 'tap';
import { TerminalSizeDecoder, TerminalSizeError, encodeTerminalSize, type TerminalSize } from '../../src/codecs/k8s/terminal-size.js';

const decodeAll = (text: string | Buffer): TerminalSize[] => new TerminalSizeDecoder().push(Buffer.isBuffer(text) ? text : Buffer.from(text));
const failure = (text: string): TerminalSizeError => {
  try {
    decodeAll(text);
  } catch (error) {
    if (error instanceof TerminalSizeError) return error;
    throw error;
  }
  throw new Error(`no error for ${JSON.stringify(text)}`);
};

t.test('encoding: what client-go json.Encoder writes', async (t) => {
  t.same(encodeTerminalSize({ Width: 132, Height: 50 }), Buffer.from('{"Width":132,"Height":50}\n'));
  t.same(encodeTerminalSize({ Width: 0, Height: 65535 }), Buffer.from('{"Width":0,"Height":65535}\n'));
  t.throws(() => encodeTerminalSize({ Width: 65536, Height: 1 }), RangeError);
  t.throws(() => encodeTerminalSize({ Width: 1.5, Height: 1 }), RangeError);
  t.throws(() => encodeTerminalSize({ Width: 1, Height: -1 }), RangeError);
  t.same(decodeAll(encodeTerminalSize({ Width: 80, Height: 24 })), [{ Width: 80, Height: 24 }], 'round trip');
});

t.test('a stream of objects, split at every byte boundary, gives the same sizes', async (t) => {
  const stream = Buffer.from('{"Width":80,"Height":24}\n{"Width":100,"Height":40}{"height":6, "width":5}\r\n\t {"Width":1,"x":"}{\\"","Height":2}');
  const expected = [
    { Width: 80, Height: 24 },
    { Width: 100, Height: 40 },
    { Width: 5, Height: 6 },
    { Width: 1, Height: 2 },
  ];
  t.same(decodeAll(stream), expected, 'one chunk');
  for (let cut = 0; cut <= stream.length; cut++) {
    const decoder = new TerminalSizeDecoder();
    const sizes = [...decoder.push(stream.subarray(0, cut)), ...decoder.push(stream.subarray(cut))];
    t.same(sizes, expected, `cut at ${cut}`);
    t.equal(decoder.pendingBytes, 0);
  }
  const decoder = new TerminalSizeDecoder();
  const byteByByte: TerminalSize[] = [];
  for (const byte of stream) byteByByte.push(...decoder.push(Buffer.from([byte])));
  t.same(byteByByte, expected, 'one byte at a time');
});

t.test('a multi-byte character split across chunks inside an ignored field', async (t) => {
  const bytes = Buffer.from('{"note":"é✓","Width":3,"Height":4}');
  const split = bytes.indexOf(Buffer.from('✓')) + 1;
  const decoder = new TerminalSizeDecoder();
  t.same(decoder.push(bytes.subarray(0, split)), []);
  t.equal(decoder.pendingBytes, split, 'the unfinished value is held');
  t.same(decoder.push(bytes.subarray(split)), [{ Width: 3, Height: 4 }]);
});

t.test('encoding/json semantics for a TerminalSize', async (t) => {
  t.same(decodeAll('{"WIDTH":7,"hEiGhT":8}'), [{ Width: 7, Height: 8 }], 'names case-insensitive');
  t.same(decodeAll('{"Wid\\u0074h":9}'), [{ Width: 9, Height: 0 }], 'escapes in names');
  t.same(decodeAll('{}'), [{ Width: 0, Height: 0 }], 'missing fields stay 0');
  t.same(decodeAll('{"Width":80}'), [{ Width: 80, Height: 0 }]);
  t.same(decodeAll('{"Width":null,"Height":5}'), [{ Width: 0, Height: 5 }], 'null leaves a field alone');
  t.same(decodeAll('null'), [{ Width: 0, Height: 0 }], 'a top-level null decodes without error');
  t.same(decodeAll('{"Width":1,"width":2}'), [{ Width: 2, Height: 0 }], 'the last key wins');
  t.same(decodeAll('{"x":{"Width":99,"y":[1,{"z":"}"},[],{}]},"Width":3,"t":true,"f":false,"n":null,"s":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9","num":-0.5e+10,"Height":4}'), [{ Width: 3, Height: 4 }], 'unknown fields of every type skipped');
  t.same(decodeAll('{"Width":0,"Height":65535}'), [{ Width: 0, Height: 65535 }]);
  t.same(decodeAll('null{"Width":1}nullnull'), [{ Width: 0, Height: 0 }, { Width: 1, Height: 0 }, { Width: 0, Height: 0 }, { Width: 0, Height: 0 }], 'values need no separator');
  t.same(decodeAll('{"a":[],"b":[1,-2.5e3,0,0.5,1E+2,3e-1],"Height":2}'), [{ Width: 0, Height: 2 }]);
  t.same(decodeAll('  \t\r\n  '), [], 'whitespace only');
  t.same(decodeAll(''), []);
});

t.test('type errors end the stream (UnmarshalTypeError in Go)', async (t) => {
  const cases: [string, RegExp][] = [
    ['{"Width":-1}', /cannot unmarshal number -1 into Go struct field TerminalSize.Width of type uint16/],
    ['{"Width":65536}', /number 65536/],
    ['{"Height":80.0}', /number 80.0 into Go struct field TerminalSize.Height/],
    ['{"Width":1e2}', /number 1e2/],
    ['{"Width":-0}', /number -0/],
    ['{"Width":"80"}', /cannot unmarshal string/],
    ['{"Width":true}', /cannot unmarshal bool/],
    ['{"Width":{}}', /cannot unmarshal object/],
    ['{"Width":[80]}', /cannot unmarshal array/],
    ['{"Width":999999999999}', /number 999999999999/],
    ['[80,24]', /cannot unmarshal array into Go value of type remotecommand.TerminalSize/],
    ['"80x24"', /cannot unmarshal string/],
    ['80', /cannot unmarshal number/],
    ['-1', /cannot unmarshal number/],
    ['true', /cannot unmarshal bool/],
  ];
  for (const [text, pattern] of cases) t.match(failure(text).message, pattern, text);
});

t.test('syntax errors end the stream, with Go scanner wording', async (t) => {
  const cases: [string, string][] = [
    ['x', "invalid character 'x' looking for beginning of value"],
    ['\f{}', "invalid character '\\x0c' looking for beginning of value"],
    ['\u00a0{}', "invalid character '\\xc2' looking for beginning of value"],
    ['{"Width":1,}', "invalid character '}' looking for beginning of object key string"],
    ['{Width:1}', "invalid character 'W' looking for beginning of object key string"],
    ['{"Width" 1}', "invalid character '1' after object key"],
    ['{"Width":1 "Height":2}', "invalid character '\"' after object key:value pair"],
    ['{"a":[1 2]}', "invalid character '2' after array element"],
    ['{"Width":}', "invalid character '}' looking for beginning of value"],
    ['{"Width":01}', "invalid character '1' after object key:value pair"],
    ['{"Width":1.}', "invalid character '}' after decimal point in numeric literal"],
    ['{"Width":1e}', "invalid character '}' in exponent of numeric literal"],
    ['{"Width":1e+}', "invalid character '}' in exponent of numeric literal"],
    ['{"Width":-}', "invalid character '}' in numeric literal"],
    ['{"a":tru}', "invalid character '}' in literal true (expecting 'e')"],
    ['{"a":nul}', "invalid character '}' in literal null (expecting 'l')"],
    ['nulL', "invalid character 'L' in literal null (expecting 'l')"],
    ['{"a\nb":1}', "invalid character '\\x0a' in string literal"],
    ['{"a\\x":1}', "invalid character 'x' in string escape code"],
    ['{"a\\u12G4":1}', "invalid character 'G' in \\u hexadecimal character escape"],
    ["{'Width':1}", "invalid character '\\'' looking for beginning of object key string"],
    ['{"Width":1}}', "invalid character '}' looking for beginning of value"],
  ];
  for (const [text, message] of cases) t.equal(failure(text).message, message, JSON.stringify(text));
});

t.test('after an error: the sizes before it are kept, then the decoder stays failed', async (t) => {
  const decoder = new TerminalSizeDecoder();
  t.same(decoder.push(Buffer.from('{"Width":1,"Height":1}')), [{ Width: 1, Height: 1 }]);
  let error: unknown;
  try {
    decoder.push(Buffer.from('{"Width":2,"Height":2} garbage {"Width":3,"Height":3}'));
  } catch (caught) {
    error = caught;
  }
  t.type(error, TerminalSizeError);
  t.same((error as TerminalSizeError).sizes, [{ Width: 2, Height: 2 }], 'the size that came before the garbage in the same chunk');
  t.throws(() => decoder.push(Buffer.from('{"Width":4,"Height":4}')), TerminalSizeError, 'Go stops reading resizes at the first error');
  t.throws(() => decoder.push(Buffer.alloc(0)), /invalid character 'g'/, 'the first error is repeated');
});

t.test('memory stays bounded whatever the client sends', async (t) => {
  const endless = new TerminalSizeDecoder();
  const spaces = Buffer.alloc(1024, 0x20);
  endless.push(Buffer.from('{"Width":'));
  let thrown: unknown;
  for (let i = 0; i < 10 && !thrown; i++) {
    try {
      endless.push(spaces);
    } catch (error) {
      thrown = error;
    }
    t.ok(endless.pendingBytes <= 4096, `pending ${endless.pendingBytes} bytes`);
  }
  t.match(thrown, { name: 'TerminalSizeError', message: 'resize value longer than 4096 bytes' });

  const endlessString = new TerminalSizeDecoder({ maxValueBytes: 64 });
  t.same(endlessString.push(Buffer.from('{"x":"' + 'a'.repeat(50))), []);
  t.throws(() => endlessString.push(Buffer.from('a'.repeat(50))), /longer than 64 bytes/);

  const exact = new TerminalSizeDecoder({ maxValueBytes: 24 });
  t.same(exact.push(Buffer.from('{"Width":80,"Height":24}')), [{ Width: 80, Height: 24 }], 'a value of exactly the bound is fine');

  const whitespace = new TerminalSizeDecoder();
  for (let i = 0; i < 1024; i++) t.same(whitespace.push(spaces), []);
  t.equal(whitespace.pendingBytes, 0, '1 MiB of whitespace between values is never held');
  t.same(whitespace.push(Buffer.from('{"Width":5,"Height":6}')), [{ Width: 5, Height: 6 }]);

  const deep = new TerminalSizeDecoder();
  t.throws(() => deep.push(Buffer.from('{"a":' + '['.repeat(10_000))), /longer than 4096 bytes/, 'deep nesting hits the same bound');
});
