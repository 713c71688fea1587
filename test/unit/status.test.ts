import t from 'tap';
import { errorStatus, exitCodeOf, exitCodeStatus, parseStatus, statusToText, successStatus, textToStatus } from '../../src/codecs/k8s/status.js';
import { TerminalSizeDecoder, encodeTerminalSize } from '../../src/codecs/k8s/terminal-size.js';

t.test('Status JSON exactly as the kubelet writes it (captures)', async (t) => {
  t.equal(JSON.stringify(successStatus()), '{"metadata":{},"status":"Success"}');
  t.equal(
    JSON.stringify(exitCodeStatus(3)),
    '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: exit status 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}',
  );
});

t.test('exit codes read back as client-go reads them', async (t) => {
  t.equal(exitCodeOf(successStatus()), 0);
  t.equal(exitCodeOf(exitCodeStatus(137)), 137);
  t.equal(exitCodeOf(errorStatus(500, 'InternalError', 'x')), undefined);
  t.equal(exitCodeOf({ metadata: {}, status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: 'x' }] } }), undefined);
});

t.test('parsing refuses what is not a Status', async (t) => {
  t.same(parseStatus('{"metadata":{},"status":"Success"}'), successStatus());
  t.throws(() => parseStatus('nope'), /not JSON/);
  t.throws(() => parseStatus('[1]'), /valid "status"/);
  t.throws(() => parseStatus('null'), /not a Status object/);
});

t.test('v1–v3 text errors: exit codes recovered, other text kept', async (t) => {
  t.equal(statusToText(exitCodeStatus(3)), 'command terminated with non-zero exit code: exit status 3');
  t.equal(exitCodeOf(textToStatus('command terminated with non-zero exit code: exit status 42')), 42);
  t.match(textToStatus('container not found'), { status: 'Failure', message: 'container not found', reason: 'InternalError' });
});

t.test('resize stream: concatenated JSON objects, split anywhere, bounded', async (t) => {
  const decoder = new TerminalSizeDecoder();
  t.same(decoder.push(Buffer.from('{"Width":80,"Height":24}{"Width":1')), [{ Width: 80, Height: 24 }]);
  t.same(decoder.push(Buffer.from('00,"Height":40}\n {"width":5,"height":6}')), [{ Width: 100, Height: 40 }, { Width: 5, Height: 6 }], 'field names case-insensitive, like encoding/json');
  t.same(encodeTerminalSize({ Width: 132, Height: 50 }).toString(), '{"Width":132,"Height":50}');
  t.throws(() => new TerminalSizeDecoder().push(Buffer.from('[1,2]')), /expected a JSON object/);
  t.throws(() => new TerminalSizeDecoder().push(Buffer.from('{"Width":-1,"Height":2}')), /0…65535/);
  t.throws(() => new TerminalSizeDecoder().push(Buffer.from('{"Width":' + ' '.repeat(5000))), /too long/);
  t.throws(() => new TerminalSizeDecoder().push(Buffer.from('{"Width":1,}')), /resize stream/);
});
