// The web interface's serving and API (docs/ui.md) against a real edge gateway: security headers,
// per-request authentication, who sees which live session, and ending one — only by an admin, only
// by POST, never from a foreign Origin — with the Status the client receives and the audit record.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadGatewayConfig } from '../../src/config/gateway-config.js';
import { until } from '../helpers/wait.js';
import { connect, waitForMessage, type ConnectOutcome } from '../helpers/ws-client.js';
import { asUser, startUiStack, uiRequest, UI_USERS, type UiStack } from '../helpers/ui-gateway.js';

let stack: UiStack;
t.before(async () => {
  stack = await startUiStack(t);
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const request = async (method: string, path: string, headers: Record<string, string> = {}): Promise<Answer> => {
  const answer = await uiRequest(stack, method, path, headers);
  return { ...answer, body: answer.body.toString() };
};
const as = asUser;
const json = <T>(answer: Answer): T => JSON.parse(answer.body) as T;

/** A live exec session (`cat`, stdin open) opened by `user` with the browser token subprotocol. */
async function openSession(user: keyof typeof UI_USERS): Promise<Extract<ConnectOutcome, { kind: 'open' }>> {
  const token = Buffer.from(UI_USERS[user]).toString('base64url');
  const before = stack.logs.records.length;
  const outcome = await connect({ gateway: { url: stack.url }, caPem: stack.env.ca.caCertPem }, `/api/v1/namespaces/default/pods/demo/exec?command=cat&stdin=true&stdout=true`, [
    'v5.channel.k8s.io',
    `base64url.bearer.authorization.k8s.io.${token}`,
  ]);
  if (outcome.kind !== 'open') throw new Error(`exec refused: ${outcome.statusCode} ${outcome.body}`);
  // This session's start line: the first of this user's logged since the connection began.
  const started = () => stack.logs.records.slice(before).find((record) => record.event === 'session-start' && record.user === user);
  await until(() => started() !== undefined, `${user}'s session-start line`);
  ids.set(outcome, started()!.auditID as string);
  return outcome;
}
const ids = new Map<ConnectOutcome, string>();

async function listed(user: keyof typeof UI_USERS): Promise<Array<{ id: string; user: string; pod: string; command: string[]; bytesFromClient: number }>> {
  const answer = await request('GET', '/ui/api/sessions', as(user));
  if (answer.status !== 200) throw new Error(`sessions: ${answer.status} ${answer.body}`);
  return json<{ sessions: Array<{ id: string; user: string; pod: string; command: string[]; bytesFromClient: number }> }>(answer).sessions;
}

t.test('the page and its assets carry a strict CSP, nosniff and caching headers', async (t) => {
  const page = await request('GET', '/ui/');
  t.equal(page.status, 200);
  const csp = String(page.headers['content-security-policy']);
  t.match(csp, /default-src 'self'/);
  t.match(csp, /script-src 'self' 'wasm-unsafe-eval'(;|$)/, "no inline or remote script; WebAssembly (the asciinema player's) but no JavaScript eval");
  t.match(csp, /frame-ancestors 'none'/);
  t.notMatch(csp, /unsafe-inline|'unsafe-eval'|https?:/, 'no unsafe source and no remote origin');
  const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
  t.ok(nonce, 'the style nonce is in the CSP');
  t.match(page.body, `content="${nonce}"`, 'and in the page, for its script to hand to xterm.js');
  t.equal(page.headers['x-content-type-options'], 'nosniff');
  t.equal(page.headers['cache-control'], 'no-store');
  const again = await request('GET', '/ui/');
  t.not(/'nonce-([^']+)'/.exec(String(again.headers['content-security-policy']))?.[1], nonce, 'a fresh nonce per answer');
  const script = /src="(assets\/app\.js\?v=[^"]+)"/.exec(page.body)?.[1];
  t.ok(script, 'the script is referenced by its content hash');
  const asset = await request('GET', `/ui/${script}`);
  t.equal(asset.status, 200);
  t.match(String(asset.headers['content-type']), /^text\/javascript/);
  t.equal(asset.headers['x-content-type-options'], 'nosniff');
  t.match(String(asset.headers['cache-control']), /immutable/);
  t.equal((await request('GET', '/ui/assets/../../api/v1/namespaces', as('alice'))).status, 404, 'no path escapes the interface');
  t.equal((await request('GET', '/ui/nothing-here')).status, 404);
  t.equal((await request('POST', '/ui/')).status, 405, 'the page is GET only');
  const redirect = await request('GET', '/ui');
  t.equal(redirect.status, 308);
  t.equal(redirect.headers.location, '/ui/');
});

t.test('the API authenticates every request with the edge authenticators', async (t) => {
  const anonymous = await request('GET', '/ui/api/whoami');
  t.equal(anonymous.status, 401);
  t.match(json<{ kind: string }>(anonymous), { kind: 'Status', reason: 'Unauthorized' });
  t.equal((await request('GET', '/ui/api/whoami', { authorization: 'Bearer not-a-known-token' })).status, 401);
  t.match(json(await request('GET', '/ui/api/whoami', as('alice'))), { user: 'alice', admin: false });
  t.match(json(await request('GET', '/ui/api/whoami', as('root'))), { user: 'root', admin: true });
  t.equal((await request('GET', '/ui/api/sessions')).status, 401, 'no list without credentials');
  t.same(json(await request('GET', '/ui/api/clusters', as('alice'))), { clusters: ['legacy'], default: 'legacy' });
  t.equal((await request('GET', '/ui/api/nothing', as('alice'))).status, 404);
  // The interface's path shadows nothing of the cluster's API, nor a path that only starts like it.
  t.equal((await request('GET', '/api/v1/namespaces/default/pods', as('alice'))).status, 200);
  const lookalike = await request('GET', '/uix/api/whoami', as('alice'));
  t.notMatch(lookalike.body, /"user"/, 'a path that only starts like the interface goes to the cluster');
  t.equal(lookalike.headers['content-security-policy'], undefined, 'and is not answered by the interface');
});

t.test('users see their own sessions, admins every one, live bytes included', async (t) => {
  const alice = await openSession('alice');
  const bob = await openSession('bob');
  t.teardown(() => {
    alice.socket.terminate();
    bob.socket.terminate();
  });
  const aliceSees = await listed('alice');
  t.same(aliceSees.map((session) => session.user), ['alice'], 'alice sees only hers');
  t.match(aliceSees[0], { pod: 'demo', command: ['cat'], id: ids.get(alice) });
  t.same((await listed('bob')).map((session) => session.user), ['bob']);
  t.same((await listed('root')).map((session) => session.user).sort(), ['alice', 'bob'], 'the admin sees both');

  alice.socket.send(Buffer.concat([Buffer.from([0]), Buffer.from('typed\n')]));
  await waitForMessage(alice.socket, alice.messages, (message) => message.data[0] === 1 && message.data.includes('typed'));
  const after = (await listed('alice'))[0]!;
  t.equal(after.bytesFromClient, 'typed\n'.length, 'bytes from the client as of now');
});

t.test('ending a session: POST by an admin only, never a GET, never from a foreign Origin', async (t) => {
  const alice = await openSession('alice');
  t.teardown(() => alice.socket.terminate());
  const id = ids.get(alice)!;
  const endPath = `/ui/api/sessions/${id}/end`;
  for (const method of ['GET', 'HEAD', 'PUT', 'DELETE', 'PATCH']) {
    t.equal((await request(method, endPath, as('root'))).status, 405, `${method} cannot end a session`);
  }
  t.equal((await request('POST', endPath, as('root', { origin: 'https://evil.example' }))).status, 403, 'a foreign page cannot end a session');
  t.equal((await request('POST', endPath, as('root', { origin: 'null' }))).status, 403, 'nor an opaque origin');
  t.equal((await request('POST', endPath, as('alice'))).status, 403, 'a user cannot end even their own');
  t.equal((await request('POST', endPath, as('bob'))).status, 404, "nor learn of someone else's");
  t.equal((await request('POST', endPath)).status, 401, 'nor anyone unauthenticated');
  t.same((await listed('root')).map((session) => session.id), [id], 'the session still runs');

  const ended = await request('POST', endPath, as('root', { origin: stack.url }));
  t.equal(ended.status, 200, ended.body);
  const status = await waitForMessage(alice.socket, alice.messages, (message) => message.data[0] === 3);
  t.match(JSON.parse(status.data.subarray(1).toString()), { kind: 'Status', status: 'Failure', message: 'session ended by admin root' }, 'the client is told who ended it');
  await alice.closed;
  t.same(await listed('root'), [], 'gone from the list');
  await stack.logs.waitFor((record) => record.event === 'session-end' && record.auditID === id);
  const auditLines = () => readFileSync(stack.auditPath, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { auditID: string; stage: string; annotations?: Record<string, string> });
  const completeEvent = () => auditLines().find((event) => event.auditID === id && event.stage === 'ResponseComplete');
  await until(() => completeEvent() !== undefined, 'the session\'s ResponseComplete audit event');
  const complete = completeEvent();
  t.equal(complete?.annotations?.['kube-stream-gateway/outcome'], 'ended-by-admin', 'audit records the end');
  t.ok(stack.logs.find((record) => record.event === 'session-ended-by-admin' && record.admin === 'root' && record.auditID === id).length, 'the log names the admin');
  t.equal((await request('POST', endPath, as('root', { origin: stack.url }))).status, 404, 'an ended session is gone');
});

t.test('a foreign-origin page cannot open a terminal session', async (t) => {
  const token = Buffer.from(UI_USERS.alice).toString('base64url');
  const protocols = ['v5.channel.k8s.io', `base64url.bearer.authorization.k8s.io.${token}`];
  const path = '/clusters/legacy/api/v1/namespaces/default/pods/demo/exec?command=echo&command=ok&stdout=true';
  const endpoint = { gateway: { url: stack.url }, caPem: stack.env.ca.caCertPem };
  const foreign = await connect(endpoint, path, protocols, { origin: 'https://evil.example' });
  t.match(foreign, { kind: 'refused', statusCode: 403 });
  const own = await connect(endpoint, path, protocols, { origin: stack.url });
  t.equal(own.kind, 'open', 'the interface\'s own origin may');
  // A command that ends by itself: the session closes cleanly, nothing is left running.
  if (own.kind === 'open') await own.closed;
});

t.test('ui.enabled is refused in passthrough mode, and a path that shadows the API', async (t) => {
  const configPath = join(stack.env.dir, 'passthrough-ui.yaml');
  await writeFile(configPath, stringify({ upstreams: [{ name: 'a', server: 'https://127.0.0.1:6443', insecureSkipTLSVerify: true }], ui: { enabled: true } }));
  await t.rejects(loadGatewayConfig({ config: configPath }, {}), /ui\.enabled.*needs edge mode/s);
  for (const path of ['/api/ui/', '/APIS/', '/clusters/x/', '/version/', '/.well-known/ui/']) {
    await writeFile(configPath, stringify({ upstreams: [{ name: 'a', server: 'https://127.0.0.1:6443', insecureSkipTLSVerify: true }], ui: { path } }));
    await t.rejects(loadGatewayConfig({ config: configPath }, {}), /ui\.path.*Kubernetes API path/s, `${path} would hide an API path`);
  }
  for (const path of ['/ui', 'ui/', '/', '/ui/../api/', '/u i/', '/ui//x/', '/ui/%2e%2e/']) {
    await writeFile(configPath, stringify({ upstreams: [{ name: 'a', server: 'https://127.0.0.1:6443', insecureSkipTLSVerify: true }], ui: { path } }));
    await t.rejects(loadGatewayConfig({ config: configPath }, {}), /ui\.path.*must be a path of one or more plain segments/s, `${JSON.stringify(path)} is not a plain path`);
  }
});

t.test('Watch: the session owner or an admin sees its output live, read-only; nobody else', async (t) => {
  const alice = await openSession('alice');
  t.teardown(() => alice.socket.terminate());
  const id = ids.get(alice)!;
  const endpoint = { gateway: { url: stack.url }, caPem: stack.env.ca.caCertPem };
  const watchPath = `/ui/api/sessions/${id}/watch`;
  const protocols = (user: keyof typeof UI_USERS) => ['watch.kube-stream-gateway.v1', `base64url.bearer.authorization.k8s.io.${Buffer.from(UI_USERS[user]).toString('base64url')}`];

  t.match(await connect(endpoint, watchPath, protocols('bob')), { kind: 'refused', statusCode: 404 }, "bob cannot watch alice's session");
  t.match(await connect(endpoint, watchPath, protocols('root'), { origin: 'https://evil.example' }), { kind: 'refused', statusCode: 403 }, 'nor a foreign page');
  t.match(await connect(endpoint, watchPath, ['watch.kube-stream-gateway.v1']), { kind: 'refused', statusCode: 401 }, 'nor anyone unauthenticated');
  t.match(await connect(endpoint, watchPath, [`base64url.bearer.authorization.k8s.io.${Buffer.from(UI_USERS.root).toString('base64url')}`]), { kind: 'refused', statusCode: 400 }, 'the watch subprotocol is required');
  t.match(await connect(endpoint, '/ui/api/sessions/no-such-session/watch', protocols('root')), { kind: 'refused', statusCode: 404 });

  const watcher = await connect(endpoint, watchPath, protocols('root'), { origin: stack.url });
  if (watcher.kind !== 'open') throw new Error(`watch refused: ${watcher.statusCode} ${watcher.body}`);
  t.equal(watcher.protocol, 'watch.kube-stream-gateway.v1');
  const own = await connect(endpoint, watchPath, protocols('alice'));
  t.equal(own.kind, 'open', 'alice may watch her own');
  await stack.logs.waitFor((record) => record.event === 'watch-start' && record.auditID === id && record.watcher === 'alice');
  // What the watcher sends is ignored: it cannot type into the session.
  watcher.socket.send(Buffer.concat([Buffer.from([0]), Buffer.from('from the watcher\n')]));
  alice.socket.send(Buffer.concat([Buffer.from([0]), Buffer.from('watched\n')]));
  const seen = await waitForMessage(watcher.socket, watcher.messages, (message) => message.isBinary && message.data.toString().includes('watched'));
  t.equal(seen.data.toString(), 'watched\n', 'the output, as the pod wrote it');
  await waitForMessage(alice.socket, alice.messages, (message) => message.data[0] === 1 && message.data.includes('watched'));
  t.notOk(alice.messages.some((message) => message.data.includes('from the watcher')), 'nothing the watcher sent reached the session');

  alice.socket.terminate();
  t.match(await watcher.closed, { code: 1000, reason: 'the session ended' }, 'the watcher is told when the session ends');
  if (own.kind === 'open') await own.closed;
});

t.test('without recording.directory the Recordings API says recording is off and serves no file', async (t) => {
  const answer = await request('GET', '/ui/api/recordings', as('root'));
  t.equal(answer.status, 200);
  t.same(json(answer), { recordingEnabled: false, recordings: [], truncated: false, scanLimited: false });
  t.equal((await request('GET', '/ui/api/recordings/0123-abcd.cast', as('root'))).status, 404);
});
