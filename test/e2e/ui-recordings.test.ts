// The Recordings page's API (docs/ui.md) against a real edge gateway that records sessions: the list
// read from each file's header, its filters, one recording as a download, who sees which recording
// (an admin every one, others their own), and an attacker's tries: path traversal in every
// encoding, symbolic links and FIFOs in the directory, other users' recordings, no credentials, and
// every method but GET and HEAD.
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RecordingEntry } from '../../src/recording/recording-index.js';
import { until } from '../helpers/wait.js';
import { connect, waitForMessage } from '../helpers/ws-client.js';
import { kubectlPath } from '../helpers/kubectl.js';
import { asUser, startUiStack, uiRequest, UI_USERS, type UiAnswer, type UiStack } from '../helpers/ui-gateway.js';

let stack: UiStack;
let dir: string;
/** alice's real terminal session and her real non-terminal one, as the gateway recorded them. */
let aliceCast: string;
let aliceRaw: string;

const request = (method: string, path: string, headers: Record<string, string> = {}): Promise<UiAnswer> => uiRequest(stack, method, path, headers);
const as = (user: keyof typeof UI_USERS): Record<string, string> => asUser(user);

interface Listing {
  recordingEnabled: boolean;
  recordings: RecordingEntry[];
  truncated: boolean;
  scanLimited: boolean;
}

async function list(user: keyof typeof UI_USERS, query = ''): Promise<Listing> {
  const answer = await request('GET', `/ui/api/recordings${query}`, as(user));
  if (answer.status !== 200) throw new Error(`recordings: ${answer.status} ${answer.body.toString()}`);
  return JSON.parse(answer.body.toString()) as Listing;
}
const names = (listing: Listing): string[] => listing.recordings.map((recording) => recording.name).sort();

/** Runs one exec session as `user` over the WebSocket protocol and returns its recording's file name once the file is whole. */
async function recordedExec(user: keyof typeof UI_USERS, query: string, ending: RegExp): Promise<string> {
  const before = stack.logs.records.length;
  const token = Buffer.from(UI_USERS[user]).toString('base64url');
  const outcome = await connect({ gateway: { url: stack.url }, caPem: stack.env.ca.caCertPem }, `/api/v1/namespaces/default/pods/demo/exec?${query}`, [
    'v5.channel.k8s.io',
    `base64url.bearer.authorization.k8s.io.${token}`,
  ]);
  if (outcome.kind !== 'open') throw new Error(`exec refused: ${outcome.statusCode} ${outcome.body}`);
  await outcome.closed;
  const end = await stack.logs.waitFor((record) => record.event === 'session-end' && record.user === user && stack.logs.records.indexOf(record) >= before);
  const name = end.recording as string;
  await until(() => ending.test(readFileSync(join(dir, name), 'utf8')), `${name} to be complete`);
  return name;
}

/** A recording file as another replica (or a test) would leave it: header line, body. */
function castFile(metadata: Record<string, unknown>, body = '[0.1, "o", "hi\\r\\n"]\n[0.2, "m", "exit 0"]\n'): string {
  return `${JSON.stringify({ version: 2, width: 80, height: 24, timestamp: 1, ksg: metadata })}\n${body}`;
}

t.before(async () => {
  stack = await startUiStack(t, {}, { recording: true });
  dir = stack.recordingsDir!;
  aliceCast = await recordedExec('alice', 'command=echo&command=alice-in-a-terminal&stdout=true&tty=true', /"m", "exit 0"\]\n$/);
  aliceRaw = await recordedExec('alice', 'command=echo&command=alice-on-stdout&stdout=true', /"end":true.*\n$/);
  await writeFile(join(dir, 'bob-session.cast'), castFile({ auditID: 'bob-session', user: 'bob', cluster: 'other', namespace: 'team-b', pod: 'api-0', container: 'app', kind: 'attach', command: null, startedAt: '2026-01-02T03:04:05.000Z' }));
  // Recorded in passthrough mode: nobody's, so only admins see it.
  await writeFile(join(dir, 'passthrough-session.rec'), `${JSON.stringify({ format: 'ksg-raw', version: 1, auditID: 'passthrough-session', user: null, pod: 'demo', startedAt: '2025-06-01T00:00:00.000Z' })}\n`);
  // Outside the directory, claiming to be alice's: reachable only through the link beside it.
  const outside = join(stack.env.dir, 'outside');
  await mkdir(outside);
  await writeFile(join(outside, 'secret.cast'), castFile({ user: 'alice', pod: 'secret-pod', startedAt: '2026-01-01T00:00:00.000Z' }));
  await symlink(join(outside, 'secret.cast'), join(dir, 'link-to-secret.cast'));
  await symlink(outside, join(dir, 'linkdir.cast'));
  await mkdir(join(dir, 'a-directory.cast'));
  execFileSync('mkfifo', [join(dir, 'fifo.cast')]);
  await writeFile(join(dir, 'notes.txt'), castFile({ user: 'alice', pod: 'notes' }));
});

t.test('the list: each recording with the metadata of its header, read from the file', async (t) => {
  const listing = await list('alice');
  t.equal(listing.recordingEnabled, true);
  t.same(names(listing), [aliceCast, aliceRaw].sort(), "alice sees her own two and nothing else: no link, FIFO, directory or foreign file");
  const cast = listing.recordings.find((recording) => recording.name === aliceCast)!;
  t.match(cast, { format: 'asciicast', user: 'alice', cluster: 'legacy', namespace: 'default', pod: 'demo', kind: 'exec', command: ['echo', 'alice-in-a-terminal'], complete: true });
  t.equal(cast.size, statSync(join(dir, aliceCast)).size, 'its size');
  t.ok(Math.abs(Date.parse(cast.startedAt!) - Date.now()) < 10 * 60_000, 'its start time');
  t.match(listing.recordings.find((recording) => recording.name === aliceRaw), { format: 'raw', user: 'alice', command: ['echo', 'alice-on-stdout'], complete: true });

  t.same(names(await list('bob')), ['bob-session.cast'], 'bob sees only his');
  t.same(names(await list('root')), [aliceCast, aliceRaw, 'bob-session.cast', 'passthrough-session.rec'].sort(), 'the admin sees every recording, nobody\'s included');
  t.match((await list('root')).recordings.find((recording) => recording.name === 'passthrough-session.rec'), { user: null, complete: false }, 'without its end line a recording is not complete');
});

t.test('filters: user, cluster, namespace, pod, text and time range; a bounded list', async (t) => {
  t.same(names(await list('root', '?user=bob')), ['bob-session.cast']);
  t.same(names(await list('root', '?cluster=other')), ['bob-session.cast']);
  t.same(names(await list('root', '?namespace=team-b')), ['bob-session.cast']);
  t.same(names(await list('root', '?pod=demo')), [aliceCast, aliceRaw, 'passthrough-session.rec'].sort());
  t.same(names(await list('root', '?text=ALICE-IN')), [aliceCast], 'text matches the command, case-insensitive');
  t.same(names(await list('root', '?since=2026-01-01T00:00:00Z&until=2026-01-03T00:00:00Z')), ['bob-session.cast'], 'start time in the range');
  t.same(names(await list('root', '?until=2025-12-31T00:00:00Z')), ['passthrough-session.rec']);
  t.same(names(await list('bob', '?user=alice')), [], 'a filter never widens what a user sees');
  const limited = await list('root', '?limit=2');
  t.equal(limited.recordings.length, 2);
  t.equal(limited.truncated, true, 'says that more matched');
  t.equal((await list('root', '?limit=4')).truncated, false);
  for (const query of ['?since=yesterday', '?limit=0', '?limit=501', '?limit=-1', '?limit=1e3', `?user=${'x'.repeat(300)}`]) {
    t.equal((await request('GET', `/ui/api/recordings${query}`, as('root'))).status, 400, `${query.slice(0, 20)} is refused`);
  }
});

t.test('one recording as a file: its bytes, its type, as an attachment; HEAD without a body', async (t) => {
  const answer = await request('GET', `/ui/api/recordings/${aliceCast}`, as('alice'));
  t.equal(answer.status, 200);
  t.equal(answer.headers['content-type'], 'application/x-asciicast');
  t.equal(answer.headers['content-disposition'], `attachment; filename="${aliceCast}"`);
  t.equal(answer.headers['x-content-type-options'], 'nosniff');
  t.equal(answer.headers['cache-control'], 'no-store');
  t.ok(answer.body.equals(readFileSync(join(dir, aliceCast))), 'the file, byte for byte');
  t.match(answer.body.toString(), /alice-in-a-terminal/);
  const raw = await request('GET', `/ui/api/recordings/${aliceRaw}`, as('root'));
  t.equal(raw.headers['content-type'], 'application/octet-stream', 'a stream recording is bytes');
  t.ok(raw.body.equals(readFileSync(join(dir, aliceRaw))));
  const head = await request('HEAD', `/ui/api/recordings/${aliceCast}`, as('alice'));
  t.equal(head.status, 200);
  t.equal(head.headers['content-length'], String(statSync(join(dir, aliceCast)).size));
  t.equal(head.body.length, 0, 'HEAD has no body');
  t.ok(stack.logs.find((record) => record.event === 'recording-read' && record.recording === aliceCast && record.reader === 'alice').length, 'the read is logged with who read it');
});

t.test("access: someone else's recording is not found to a non-admin; nothing without credentials", async (t) => {
  t.equal((await request('GET', `/ui/api/recordings/${aliceCast}`, as('bob'))).status, 404, "bob cannot read alice's");
  t.equal((await request('HEAD', `/ui/api/recordings/${aliceCast}`, as('bob'))).status, 404, 'nor learn of it by HEAD');
  t.equal((await request('GET', '/ui/api/recordings/bob-session.cast', as('alice'))).status, 404);
  t.equal((await request('GET', '/ui/api/recordings/passthrough-session.rec', as('alice'))).status, 404, "a recording of nobody's is an admin's only");
  t.equal((await request('GET', `/ui/api/recordings/${aliceCast}`, as('root'))).status, 200, 'the admin reads any');
  t.equal((await request('GET', '/ui/api/recordings/bob-session.cast', as('root'))).status, 200);
  t.equal((await request('GET', '/ui/api/recordings')).status, 401, 'no list without credentials');
  t.equal((await request('GET', `/ui/api/recordings/${aliceCast}`)).status, 401, 'no file without credentials');
  t.equal((await request('GET', `/ui/api/recordings/${aliceCast}`, { authorization: 'Bearer not-a-known-token' })).status, 401);
});

t.test('path traversal, links and special files: nothing outside the directory, nothing but a recording', async (t) => {
  const attempts = [
    '../gateway.yaml',
    '..%2fgateway.yaml',
    '%2e%2e%2fgateway.yaml',
    '%2E%2E/gateway.yaml',
    '..%5cgateway.yaml',
    '..\\gateway.yaml',
    '%2fetc%2fpasswd',
    '/etc/passwd',
    '//etc/passwd',
    'x.cast/../../gateway.yaml',
    'outside/secret.cast',
    '..%252fgateway.yaml',
    `${aliceCast}%00.txt`,
    `${aliceCast}%00`,
    `${encodeURIComponent(aliceCast)}x`,
    '.cast',
    'link-to-secret.cast',
    'linkdir.cast',
    'linkdir.cast/secret.cast',
    'a-directory.cast',
    'fifo.cast',
    'notes.txt',
    'tokens.csv',
    `${aliceCast}/`,
    `${aliceCast.replace('.cast', '')}`,
  ];
  for (const attempt of attempts) {
    const answer = await request('GET', `/ui/api/recordings/${attempt}`, as('root'));
    t.equal(answer.status, 404, `${attempt}: not found, even for an admin`);
    t.notMatch(answer.body.toString(), /secret-pod|token|listen/, `${attempt}: nothing of the file`);
  }
  t.equal((await request('GET', '/ui/api/recordings/../../../etc/passwd', as('root'))).status, 404);
  t.notOk((await list('root')).recordings.some((recording) => recording.pod === 'secret-pod'), 'the file behind the link is never listed');
});

t.test('GET and HEAD only: every other method is 405, before authentication, and changes nothing', async (t) => {
  for (const path of ['/ui/api/recordings', `/ui/api/recordings/${aliceCast}`]) {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      t.equal((await request(method, path, as('root'))).status, 405, `${method} ${path.slice(8)}`);
      t.equal((await request(method, path)).status, 405, `${method} ${path.slice(8)} unauthenticated`);
    }
  }
  t.ok(statSync(join(dir, aliceCast)).isFile(), 'the recording is still there');
  const head = await request('HEAD', '/ui/api/recordings', as('alice'));
  t.equal(head.status, 200);
  t.equal(head.body.length, 0);
});

t.test('kubectl 1.27 (SPDY): bridged, its recording listed as alice\'s, and the Watch page sees its output live', async (t) => {
  const child = spawn(kubectlPath(27), ['--kubeconfig', await stack.kubeconfig('alice'), 'exec', '-i', 'demo', '--', 'cat'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  t.teardown(() => clearTimeout(killer));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let printed = '';
  child.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()));
  const start = await stack.logs.waitFor((record) => record.event === 'session-start' && record.user === 'alice' && record.clientTransport === 'spdy');
  t.match(start, { mode: 'translated', upstreamTransport: 'spdy', recording: /\.rec$/ });
  const protocols = ['watch.kube-stream-gateway.v1', `base64url.bearer.authorization.k8s.io.${Buffer.from(UI_USERS.root).toString('base64url')}`];
  const watcher = await connect({ gateway: { url: stack.url }, caPem: stack.env.ca.caCertPem }, `/ui/api/sessions/${String(start.auditID)}/watch`, protocols, { origin: stack.url });
  if (watcher.kind !== 'open') throw new Error(`watch refused: ${watcher.statusCode} ${watcher.body}`);
  t.teardown(() => watcher.socket.terminate());
  await stack.logs.waitFor((record) => record.event === 'watch-start' && record.auditID === start.auditID);
  child.stdin.write('watched over SPDY\n');
  const seen = await waitForMessage(watcher.socket, watcher.messages, (message) => message.isBinary && message.data.toString().includes('watched over SPDY'));
  t.equal(seen.data.toString(), 'watched over SPDY\n', 'the output, as the pod wrote it');
  child.stdin.end();
  t.equal(await exited, 0);
  t.equal(printed, 'watched over SPDY\n');
  const name = start.recording as string;
  await until(() => /"end":true.*\n$/.test(readFileSync(join(dir, name), 'utf8')), `${name} to be complete`);
  t.ok(names(await list('alice')).includes(name), 'alice sees her SPDY session\'s recording');
});
