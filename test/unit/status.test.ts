import { readFileSync } from 'node:fs';
import t from 'tap';
import {
  StatusParseError,
  errorStatus,
  exitCodeOf,
  exitCodeStatus,
  internalErrorStatus,
  parseStatus,
  statusToText,
  successStatus,
  textToStatus,
  translatorStatus,
  type Status,
} from '../../src/codecs/k8s/status.js';
import { CAPTURES_DIR, readCapture } from '../helpers/captures.js';

/** The JSON object the kubelet's code wrote on the error stream of a captured SPDY session (DATA payloads are not compressed). */
function statusInCapture(name: string): string {
  const bytes = readCapture(name).spdy;
  const start = bytes.indexOf('{"metadata"');
  if (start < 0) throw new Error(`no Status in ${name}`);
  let depth = 0;
  for (let i = start; i < bytes.length; i++) {
    if (bytes[i] === 0x7b) depth++;
    else if (bytes[i] === 0x7d && --depth === 0) return bytes.subarray(start, i + 1).toString('utf8');
  }
  throw new Error(`unterminated Status in ${name}`);
}

const CAPTURED_EXIT_3 = statusInCapture('spdy-exec-exit3.server-to-client.bin');
const CAPTURED_SUCCESS = statusInCapture('spdy-exec-cat-stdin.server-to-client.bin');

t.test('Status JSON byte for byte as the kubelet writes it (captures)', async (t) => {
  t.equal(CAPTURED_SUCCESS, '{"metadata":{},"status":"Success"}');
  t.equal(JSON.stringify(successStatus()), CAPTURED_SUCCESS);
  t.equal(
    CAPTURED_EXIT_3,
    '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: exit status 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}',
  );
  t.equal(JSON.stringify(exitCodeStatus(3)), CAPTURED_EXIT_3);
  const websocketCapture = readFileSync(CAPTURES_DIR + 'kubectl-1.33-exec-websocket.txt', 'utf8');
  t.ok(websocketCapture.includes(`bin 03 + ${JSON.stringify(exitCodeStatus(3))}\n`), 'the Status kubectl 1.33 turned into exit code 3');
  t.equal(
    JSON.stringify(exitCodeStatus(3, 'error executing command [sh -c exit 3], exit code 3')),
    '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}',
    'containerd / CRI-O wording',
  );
});

t.test('InternalError as apierrors.NewInternalError writes it; HTTP error bodies', async (t) => {
  t.equal(
    JSON.stringify(internalErrorStatus('error sending request: dial tcp 10.0.0.1:10250: connect: connection refused')),
    '{"metadata":{},"status":"Failure","message":"Internal error occurred: error sending request: dial tcp 10.0.0.1:10250: connect: connection refused","reason":"InternalError","details":{"causes":[{"message":"error sending request: dial tcp 10.0.0.1:10250: connect: connection refused"}]},"code":500}',
  );
  t.equal(
    JSON.stringify(errorStatus(503, 'ServiceUnavailable', 'upstream unreachable')),
    '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"upstream unreachable","reason":"ServiceUnavailable","code":503}',
  );
  t.equal(
    JSON.stringify(errorStatus(403, 'Forbidden', 'no', { name: 'demo', kind: 'pods' })),
    '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"no","reason":"Forbidden","details":{"name":"demo","kind":"pods"},"code":403}',
    'details between reason and code, as Go orders them',
  );
  t.equal(exitCodeOf(errorStatus(400, 'BadRequest', 'x')), undefined);
});

t.test('parseStatus reads like json.Unmarshal into metav1.Status and re-serializes in Go order', async (t) => {
  for (const json of [CAPTURED_SUCCESS, CAPTURED_EXIT_3, JSON.stringify(internalErrorStatus('x')), JSON.stringify(errorStatus(404, 'NotFound', 'pods "x" not found'))]) {
    t.equal(JSON.stringify(parseStatus(json)), json, 'round trip');
    t.equal(JSON.stringify(parseStatus(Buffer.from(json))), json, 'from bytes');
  }
  t.equal(
    JSON.stringify(parseStatus('{"code":500,"reason":"InternalError","status":"Failure","message":"m","metadata":{},"apiVersion":"v1","kind":"Status","extra":1}')),
    '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"m","reason":"InternalError","code":500}',
    'Go key order, unknown fields dropped',
  );
  t.same(parseStatus('{"Status":"Success"}'), successStatus(), 'keys case-insensitive; metadata filled in');
  t.same(parseStatus('{"status":"Failure","STATUS":"Success"}'), successStatus(), 'the last matching key wins');
  t.same(parseStatus('{"status":"Success","message":null,"code":null,"details":null}'), successStatus(), 'null = absent');
  t.same(parseStatus('{"status":"Failure","message":"","code":0,"details":{"causes":[]}}'), { metadata: {}, status: 'Failure', details: {} }, 'empty values omitted like omitempty');
  t.same(parseStatus('{"status":"Failure","details":{"causes":[null,{"reason":"ExitCode","message":"2","field":"f","x":1}]}}').details, {
    causes: [{}, { reason: 'ExitCode', message: '2', field: 'f' }],
  });
  t.same(parseStatus('{"status":"Failure","details":{"uid":"u","group":"g","retryAfterSeconds":3}}').details, { group: 'g', uid: 'u', retryAfterSeconds: 3 });
});

t.test('parseStatus refuses what client-go could not read as a Status', async (t) => {
  const refuses = (text: string, pattern: RegExp): void => {
    t.throws(() => parseStatus(text), pattern, text);
    t.throws(() => parseStatus(text), StatusParseError);
  };
  refuses('nope', /not JSON/);
  refuses('', /not JSON/);
  refuses('[1]', /not a Status object/);
  refuses('null', /not a Status object/);
  refuses('"Success"', /not a Status object/);
  refuses('{}', /no valid "status"/);
  refuses('{"status":"Unknown"}', /no valid "status"/);
  refuses('{"status":1}', /"status" is not a string/);
  refuses('{"status":"Failure","code":"500"}', /"code"/);
  refuses('{"status":"Failure","code":1.5}', /"code"/);
  refuses('{"status":"Failure","code":4294967296}', /"code"/);
  refuses('{"status":"Failure","message":5}', /"message"/);
  refuses('{"status":"Failure","metadata":[]}', /"metadata"/);
  refuses('{"status":"Failure","details":[]}', /"details"/);
  refuses('{"status":"Failure","details":{"causes":{}}}', /causes/);
  refuses('{"status":"Failure","details":{"causes":[1]}}', /cause/);
  refuses('{"status":"Failure","details":{"causes":[{"message":3}]}}', /"message"/);
  refuses('{"status":"Success"}{"status":"Success"}', /not JSON/);
});

t.test('exit codes read back as client-go v4/v5 reads them', async (t) => {
  t.equal(exitCodeOf(successStatus()), 0);
  for (const code of [1, 3, 126, 127, 137, 255]) t.equal(exitCodeOf(exitCodeStatus(code)), code, `exit ${code}`);
  t.equal(exitCodeOf(parseStatus(CAPTURED_EXIT_3)), 3);
  const nonZero = (...causes: { reason?: string; message?: string }[]): Status => ({ metadata: {}, status: 'Failure', reason: 'NonZeroExitCode', details: { causes } });
  t.equal(exitCodeOf(nonZero({ reason: 'ExitCode', message: '256' })), undefined, 'ParseUint(…, 10, 8): above 255 is a protocol error');
  t.equal(exitCodeOf(nonZero({ reason: 'ExitCode', message: '003' })), 3);
  t.equal(exitCodeOf(nonZero({ reason: 'ExitCode', message: '+3' })), undefined);
  t.equal(exitCodeOf(nonZero({ reason: 'ExitCode', message: '-1' })), undefined);
  t.equal(exitCodeOf(nonZero({ reason: 'ExitCode', message: ' 3' })), undefined);
  t.equal(exitCodeOf(nonZero({ reason: 'ExitCode', message: 'x' })), undefined);
  t.equal(exitCodeOf(nonZero({ reason: 'ExitCode' })), undefined);
  t.equal(exitCodeOf(nonZero({ reason: 'Other', message: '9' }, { reason: 'ExitCode', message: '4' })), 4, 'the first cause of type ExitCode');
  t.equal(exitCodeOf(nonZero()), undefined, 'no ExitCode cause');
  t.equal(exitCodeOf({ metadata: {}, status: 'Failure', reason: 'NonZeroExitCode' }), undefined, 'no details');
  t.equal(exitCodeOf({ metadata: {}, status: 'Failure', reason: 'InternalError', details: { causes: [{ reason: 'ExitCode', message: '1' }] } }), undefined, 'only for NonZeroExitCode');
  t.equal(exitCodeOf(internalErrorStatus('boom')), undefined);
});

t.test('v1–v3 text: status.Error() out, errorDecoderV2 semantics in', async (t) => {
  t.equal(statusToText(exitCodeStatus(3)), 'command terminated with non-zero exit code: exit status 3', 'the message, nothing else');
  t.equal(statusToText(internalErrorStatus('boom')), 'Internal error occurred: boom');
  t.equal(statusToText({ metadata: {}, status: 'Failure', reason: 'Forbidden' }), 'Forbidden', 'never empty: empty text would read as success');
  t.equal(statusToText({ metadata: {}, status: 'Failure' }), 'unknown error');

  t.equal(JSON.stringify(textToStatus('command terminated with non-zero exit code: exit status 42')), JSON.stringify(exitCodeStatus(42)));
  t.equal(exitCodeOf(textToStatus(statusToText(exitCodeStatus(137)))), 137, 'round trip through text');
  const containerd = textToStatus('command terminated with non-zero exit code: error executing command [sh -c exit 7], exit code 7\n');
  t.equal(exitCodeOf(containerd), 7);
  t.equal(containerd.message, 'command terminated with non-zero exit code: error executing command [sh -c exit 7], exit code 7');
  t.equal(
    JSON.stringify(textToStatus('container not found ("shell")')),
    JSON.stringify(internalErrorStatus('error executing remote command: container not found ("shell")')),
    'other text: the InternalError the API server translator reports',
  );
  t.equal(textToStatus('container not found').message, 'Internal error occurred: error executing remote command: container not found');
  t.equal(exitCodeOf(textToStatus('command terminated with non-zero exit code: killed')), undefined, 'no number, no exit code');
  t.equal(exitCodeOf(textToStatus('error: exit status 3')), undefined, 'only the kubelet exit-code text');
});

t.test("v5 clients get the translator's Status: client-go's errorDecoderV4, then codeExitToStatusError or NewInternalError", async (t) => {
  const kubelet = exitCodeStatus(3);
  t.equal(
    JSON.stringify(translatorStatus(kubelet)),
    '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: command terminated with exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}',
    'an exit code: the message rebuilt, as in captures/websocket-apiserver-exec-v5-exit3',
  );
  t.equal(JSON.stringify(translatorStatus(exitCodeStatus(7, 'error executing command [sh -c exit 7], exit code 7'))), JSON.stringify(translatorStatus(exitCodeStatus(7))), "the runtime's wording is not kept");
  t.equal(JSON.stringify(translatorStatus(successStatus())), '{"metadata":{},"status":"Success"}');
  t.same(translatorStatus({ metadata: {}, status: 'Failure', message: 'container not found ("c")', reason: 'NotFound', code: 404 }), internalErrorStatus('container not found ("c")'), 'any other failure: InternalError around the message');
  t.same(translatorStatus({ metadata: {}, status: 'Failure', reason: 'NonZeroExitCode' }), internalErrorStatus('error stream protocol error: details must be set'));
  t.same(translatorStatus({ metadata: {}, status: 'Failure', reason: 'NonZeroExitCode', details: {} }), internalErrorStatus('error stream protocol error: no ExitCode cause given'));
  t.same(
    translatorStatus({ metadata: {}, status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '300' }] } }),
    internalErrorStatus('error stream protocol error: invalid exit code value "300"'),
    'an exit code past 255 is a protocol error, as strconv.ParseUint(_, 10, 8) makes it',
  );
});
