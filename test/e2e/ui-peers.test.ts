// Several replicas of the web interface (ui.peers, docs/ui.md "Several replicas"): two gateway
// replicas on loopback in front of one legacy cluster. A kubectl session through replica B is listed
// and ended on replica A; visibility rules hold across replicas; an unreachable peer is reported
// without breaking the list; and the peer API cannot be reached with a forged, stale, replayed or
// misdirected signature, whatever the method.
import t from 'tap';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { stringify } from 'yaml';
import { loadGatewayConfig } from '../../src/config/gateway-config.js';
import { signPeerRequest, PEER_HEADER } from '../../src/server/ui/peer-auth.js';
import { closedPort } from '../helpers/closed-port.js';
import { kubectlPath } from '../helpers/kubectl.js';
import { until } from '../helpers/wait.js';
import { connect, type ConnectOutcome } from '../helpers/ws-client.js';
import { startUiReplica, startUiStack, UI_USERS, type UiStack } from '../helpers/ui-gateway.js';

const SECRET = 'peer-secret-0123456789abcdef0123456789abcdef';
const dir = t.testdir({ 'peer.secret': `${SECRET}\n`, 'other.secret': 'another-secret-0123456789abcdef0123456789' });

let b: UiStack;
let a: UiStack;
t.before(async () => {
  // B answers its peers; A asks B. The listener's certificate names 127.0.0.1, signed by the test CA.
  b = await startUiStack(t, { peerSecretFile: join(dir, 'peer.secret') });
  a = await startUiReplica(t, b, 'replica-a', { peers: [`127.0.0.1:${b.running.gateway.port}`], peerSecretFile: join(dir, 'peer.secret'), peerCA: join(b.env.dir, 'ca.crt') });
});

interface Answer {
  status: number;
  body: string;
}

function request(stack: UiStack, method: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: stack.running.gateway.port, path, method, headers, ca: stack.env.ca.caCertPem, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const as = (user: keyof typeof UI_USERS, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${UI_USERS[user]}`, ...extra });

interface ListedSession {
  id: string;
  user: string;
  protocol: string;
  replica: { name: string; address: string; local: boolean };
}
interface Listing {
  sessions: ListedSession[];
  peers: Array<{ name?: string; address: string; ok: boolean; error?: string }>;
}

async function listing(stack: UiStack, user: keyof typeof UI_USERS): Promise<Listing> {
  const answer = await request(stack, 'GET', '/ui/api/sessions', as(user));
  if (answer.status !== 200) throw new Error(`sessions: ${answer.status} ${answer.body}`);
  return JSON.parse(answer.body) as Listing;
}

/** The audit ID of the next session `user` starts on `stack`. */
async function nextSessionId(stack: UiStack, user: string, start: () => Promise<void>): Promise<string> {
  const before = stack.logs.records.length;
  await start();
  const started = () => stack.logs.records.slice(before).find((record) => record.event === 'session-start' && record.user === user);
  await until(() => started() !== undefined, `${user}'s session-start line`);
  return started()!.auditID as string;
}

/** An exec session (`cat`) by `user` on `stack`, opened with the browser token subprotocol. */
async function openSession(stack: UiStack, user: keyof typeof UI_USERS): Promise<{ id: string; outcome: Extract<ConnectOutcome, { kind: 'open' }> }> {
  let outcome: ConnectOutcome | undefined;
  const id = await nextSessionId(stack, user, async () => {
    outcome = await connect({ gateway: { url: stack.url }, caPem: stack.env.ca.caCertPem }, '/api/v1/namespaces/default/pods/demo/exec?command=cat&stdin=true&stdout=true', [
      'v5.channel.k8s.io',
      `base64url.bearer.authorization.k8s.io.${Buffer.from(UI_USERS[user]).toString('base64url')}`,
    ]);
    if (outcome.kind !== 'open') throw new Error(`exec refused: ${outcome.statusCode} ${outcome.body}`);
  });
  return { id, outcome: outcome as Extract<ConnectOutcome, { kind: 'open' }> };
}

t.test('a kubectl session through replica B is listed on replica A, and an admin on A ends it', async (t) => {
  const kubeconfig = await b.kubeconfig('alice');
  let stderr = '';
  let exited: Promise<number | null> | undefined;
  const id = await nextSessionId(b, 'alice', async () => {
    const kubectl = spawn(kubectlPath(33), ['--kubeconfig', kubeconfig, 'exec', '-i', 'demo', '--', 'cat'], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' } });
    kubectl.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    exited = new Promise((resolve) => kubectl.on('exit', (code) => resolve(code)));
    const guard = setTimeout(() => kubectl.kill('SIGKILL'), 60_000);
    t.teardown(() => {
      clearTimeout(guard);
      kubectl.kill('SIGKILL');
    });
    kubectl.stdin.write('some input\n');
  });
  const bob = await openSession(b, 'bob');
  t.teardown(() => bob.outcome.socket.terminate());

  const seenByAdmin = await listing(a, 'root');
  const remote = seenByAdmin.sessions.find((session) => session.id === id);
  t.match(remote, { user: 'alice', protocol: 'v5.channel.k8s.io', replica: { address: `127.0.0.1:${b.running.gateway.port}`, local: false } }, "B's kubectl session (WebSocket, kubectl 1.33) on A's list, marked with B");
  t.same(seenByAdmin.sessions.map((session) => session.user).sort(), ['alice', 'bob'], 'the admin on A sees every session on B');
  t.match(seenByAdmin.peers, [{ address: `127.0.0.1:${b.running.gateway.port}`, ok: true }], 'the peer is reported as answering');
  t.same((await listing(a, 'bob')).sessions.map((session) => session.id), [bob.id], 'a non-admin on A sees only their own sessions on B');
  t.same((await listing(a, 'alice')).sessions.map((session) => session.id), [id]);

  const endPath = `/ui/api/sessions/${id}/end`;
  t.equal((await request(a, 'POST', endPath, as('bob', { origin: a.url }))).status, 404, "a non-admin cannot learn of someone else's session on B");
  t.equal((await request(a, 'POST', endPath, as('alice', { origin: a.url }))).status, 403, 'nor end their own');
  t.equal((await request(a, 'POST', endPath, as('root', { origin: 'https://evil.example' }))).status, 403, 'nor can a foreign page, through A');
  t.ok((await listing(b, 'root')).sessions.some((session) => session.id === id), 'the session still runs on B');

  const ended = await request(a, 'POST', endPath, as('root', { origin: a.url }));
  t.equal(ended.status, 200, ended.body);
  t.not(await exited, 0, 'kubectl exits with a failure');
  t.match(stderr, /session ended by admin root/, 'kubectl prints the Status naming the admin on A');
  const onB = await b.logs.waitFor((record) => record.event === 'session-ended-by-admin' && record.auditID === id);
  t.match(onB, { admin: 'root', user: 'alice', via: hostname() }, 'B logs who ended it, via which replica');
  t.ok(a.logs.find((record) => record.event === 'session-end-forwarded' && record.auditID === id && record.admin === 'root').length, 'A logs the forwarded end');
  await b.logs.waitFor((record) => record.event === 'session-end' && record.auditID === id);
  const completeOnB = () => readFileSync(b.auditPath, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { auditID: string; stage: string; annotations?: Record<string, string> }).find((event) => event.auditID === id && event.stage === 'ResponseComplete');
  await until(() => completeOnB() !== undefined, "the session's ResponseComplete audit event on B");
  t.equal(completeOnB()?.annotations?.['kube-stream-gateway/outcome'], 'ended-by-admin', "B's audit records the end");
  t.notOk((await listing(a, 'root')).sessions.some((session) => session.id === id), 'gone from the list on A');
  t.equal((await request(a, 'POST', endPath, as('root', { origin: a.url }))).status, 404, 'an ended session is not found on any replica');
});

t.test('an unreachable, silent or hostile peer is reported, and the list still answers', async (t) => {
  const silent = net.createServer(() => undefined);
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  const held = new Set<net.Socket>();
  silent.on('connection', (socket) => held.add(socket));
  t.teardown(() => {
    for (const socket of held) socket.destroy();
    silent.close();
  });
  const closed = await closedPort();
  const silentPort = (silent.address() as AddressInfo).port;
  // Hostile peers with the right certificate: an answer too large, one that is not JSON, one cut off mid-body.
  const hostile = async (answer: (res: http.ServerResponse) => void): Promise<number> => {
    const server = https.createServer({ cert: b.env.serverTls.cert, key: b.env.serverTls.key }, (_req, res) => answer(res));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.teardown(() => {
      server.closeAllConnections();
      server.close();
    });
    return (server.address() as AddressInfo).port;
  };
  const huge = await hostile((res) => res.writeHead(200, { 'content-type': 'application/json' }).end(Buffer.alloc(5 * 1024 * 1024, 0x20)));
  const notJson = await hostile((res) => res.writeHead(200).end('<html>'));
  const cut = await hostile((res) => {
    res.writeHead(200, { 'content-length': '1000' });
    res.write('{"replica":', () => res.socket?.destroy());
  });
  const broken = await startUiReplica(t, b, 'replica-broken', {
    peers: [`127.0.0.1:${closed}`, `127.0.0.1:${silentPort}`, `127.0.0.1:${huge}`, `127.0.0.1:${notJson}`, `127.0.0.1:${cut}`, `127.0.0.1:${b.running.gateway.port}`],
    peerSecretFile: join(dir, 'peer.secret'),
    peerCA: join(b.env.dir, 'ca.crt'),
  });
  const mine = await openSession(broken, 'alice');
  t.teardown(() => mine.outcome.socket.terminate());
  const bobs = await openSession(b, 'bob');
  t.teardown(() => bobs.outcome.socket.terminate());

  const started = Date.now();
  const seen = await listing(broken, 'root');
  t.ok(Date.now() - started < 10_000, 'a silent peer costs a bounded wait');
  t.same(seen.sessions.map((session) => [session.id, session.replica.local]).sort(), [[bobs.id, false], [mine.id, true]].sort(), "this replica's session and the reachable peer's");
  t.match(
    seen.peers,
    [
      { address: `127.0.0.1:${closed}`, ok: false, error: 'refused' },
      { address: `127.0.0.1:${silentPort}`, ok: false, error: 'timeout' },
      { address: `127.0.0.1:${huge}`, ok: false, error: 'too-large' },
      { address: `127.0.0.1:${notJson}`, ok: false, error: 'invalid' },
      { address: `127.0.0.1:${cut}`, ok: false, error: 'unreachable' },
      { address: `127.0.0.1:${b.running.gateway.port}`, ok: true },
    ],
    'each peer reported',
  );
  const failures = broken.logs.find((record) => record.event === 'peer-failed');
  t.same(failures.map((record) => record.reason).sort(), ['invalid', 'refused', 'timeout', 'too-large', 'unreachable'], 'one log line per failed peer');
  t.notMatch(JSON.stringify(broken.logs.records), SECRET, 'the secret is never logged');
  const metrics = (await broken.running.metrics.render()).body;
  t.match(metrics, /kube_stream_gateway_ui_peer_failures_total\{reason="timeout"\} 1/);
  t.match(metrics, /kube_stream_gateway_ui_peer_failures_total\{reason="refused"\} 1/);
});

t.test('a replica skips itself in a DNS answer, and counts a peer reached at two addresses once', async (t) => {
  // `localhost` with no port: this replica's own port, at addresses of its own interfaces.
  const itself = await startUiReplica(t, b, 'replica-itself', { peers: 'localhost', peerSecretFile: join(dir, 'peer.secret'), peerCA: join(b.env.dir, 'ca.crt') });
  const mine = await openSession(itself, 'alice');
  t.teardown(() => mine.outcome.socket.terminate());
  const alone = await listing(itself, 'root');
  t.same(alone.sessions.map((session) => session.id), [mine.id], 'its own sessions once');
  t.same(alone.peers, [], 'and no peer: the only address was its own');

  const twice = await startUiReplica(t, b, 'replica-twice', { peers: [`127.0.0.1:${b.running.gateway.port}`, `localhost:${b.running.gateway.port}`], peerSecretFile: join(dir, 'peer.secret'), peerCA: join(b.env.dir, 'ca.crt') });
  const bobs = await openSession(b, 'bob');
  t.teardown(() => bobs.outcome.socket.terminate());
  const seen = await listing(twice, 'root');
  t.same(seen.sessions.filter((session) => session.id === bobs.id).length, 1, "B's session once, though B was asked at two addresses");
  t.equal(seen.peers.length, 1, 'B reported once');
});

t.test('a peer signing with another secret is refused, and reported as such', async (t) => {
  const stranger = await startUiReplica(t, b, 'replica-stranger', { peers: [`127.0.0.1:${b.running.gateway.port}`], peerSecretFile: join(dir, 'other.secret'), peerCA: join(b.env.dir, 'ca.crt') });
  const bobs = await openSession(b, 'bob');
  t.teardown(() => bobs.outcome.socket.terminate());
  const seen = await listing(stranger, 'root');
  t.same(seen.sessions, [], "nothing of B's");
  t.match(seen.peers, [{ address: `127.0.0.1:${b.running.gateway.port}`, ok: false, error: 'rejected' }]);
  t.equal((await request(stranger, 'POST', `/ui/api/sessions/${bobs.id}/end`, as('root', { origin: stranger.url }))).status, 404, 'nor can it end one');
  t.ok((await listing(b, 'root')).sessions.some((session) => session.id === bobs.id), 'the session still runs');
});

t.test('the peer API cannot be reached with a forged, stale, replayed or misdirected signature', async (t) => {
  const victim = await openSession(b, 'alice');
  t.teardown(() => victim.outcome.socket.terminate());
  const secret = Buffer.from(SECRET);
  const listPath = '/ui/api/peer/sessions';
  const endPath = `/ui/api/peer/sessions/${victim.id}/end`;
  const admin = { user: 'root', groups: ['devs', 'session-admins'], via: 'attacker' };
  const sign = (method: string, path: string, options: { key?: Buffer; now?: number; caller?: typeof admin } = {}) => ({ [PEER_HEADER]: signPeerRequest(options.key ?? secret, method, path, options.caller ?? admin, options.now)! });
  const refused = (answer: Answer) => answer.status === 401 || answer.status === 405;

  for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
    for (const path of [listPath, endPath]) {
      t.ok(refused(await request(b, method, path)), `${method} ${path} without the header`);
      t.ok(refused(await request(b, method, path, as('root'))), `${method} ${path} with an admin's own token but no peer header`);
      t.ok(refused(await request(b, method, path, sign(method, path, { key: Buffer.from('not-the-secret-0123456789abcdef0123') }))), `${method} ${path} signed with another secret`);
      t.ok(refused(await request(b, method, path, sign(method, path, { now: Date.now() - 60_000 }))), `${method} ${path} with a stale time`);
      t.ok(refused(await request(b, method, path, sign(method, path, { now: Date.now() + 60_000 }))), `${method} ${path} with a time in the future`);
      t.ok(refused(await request(b, method, path, sign(method === 'GET' ? 'POST' : 'GET', path))), `${method} ${path} signed for another method`);
      t.ok(refused(await request(b, method, path, sign(method, path === listPath ? endPath : listPath))), `${method} ${path} signed for another path`);
      t.ok(refused(await request(b, method, path, { [PEER_HEADER]: 'v1.e30.AAAA' })), `${method} ${path} with a made-up header`);
    }
  }
  // A genuine signature for alice, with the claims rewritten to name the admin: the MAC no longer matches.
  const genuine = sign('POST', endPath, { caller: { user: 'alice', groups: ['devs'], via: 'a' } })[PEER_HEADER];
  const [version, claims, mac] = genuine.split('.');
  const forged = { ...(JSON.parse(Buffer.from(claims!, 'base64url').toString()) as object), user: 'root', groups: ['devs', 'session-admins'] };
  t.equal((await request(b, 'POST', endPath, { [PEER_HEADER]: `${version}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${mac}` })).status, 401, 'claims for another user under a genuine MAC');
  t.equal((await request(b, 'POST', `${endPath}?x=1`, sign('POST', endPath))).status, 401, 'a path with a query added');
  t.equal((await request(b, 'GET', '/ui/api/sessions', sign('GET', '/ui/api/sessions'))).status, 401, 'a peer header does not authenticate the user API');
  t.ok((await listing(b, 'root')).sessions.some((session) => session.id === victim.id), 'after every attempt, the session still runs');

  const once = sign('GET', listPath);
  const first = await request(b, 'GET', listPath, once);
  t.equal(first.status, 200, 'a genuine request is answered');
  t.match(JSON.parse(first.body), { sessions: [{ id: victim.id }] });
  t.equal((await request(b, 'GET', listPath, once)).status, 401, 'and refused when replayed');
  t.same(JSON.parse((await request(b, 'GET', listPath, sign('GET', listPath, { caller: { user: 'bob', groups: ['devs'], via: 'a' } }))).body).sessions, [], 'the peer applies the visibility rule to the identity it was given');
  t.equal((await request(b, 'POST', endPath, sign('POST', endPath, { caller: { user: 'alice', groups: ['devs'], via: 'a' } }))).status, 403, 'and the admin rule');
  const metrics = (await b.running.metrics.render()).body;
  for (const reason of ['missing', 'signature', 'stale', 'mismatch', 'replayed']) t.match(metrics, new RegExp(`kube_stream_gateway_ui_peer_requests_refused_total\\{reason="${reason}"\\} [1-9]`), `refusals counted: ${reason}`);

  const unconfigured = await startUiReplica(t, b, 'replica-alone');
  t.equal((await request(unconfigured, 'GET', listPath, sign('GET', listPath))).status, 404, 'a replica without ui.peerSecretFile has no peer API at all');
});

t.test('ui.peers needs a secret of 32 bytes or more, and well-formed addresses', async (t) => {
  const configPath = join(dir, 'check.yaml');
  const base = { upstreams: [{ name: 'a', server: 'https://127.0.0.1:6443', insecureSkipTLSVerify: true, credential: { tokenFile: join(dir, 'peer.secret') } }], auth: { mode: 'edge', tokenFile: join(b.env.dir, 'tokens.csv') } };
  const load = async (ui: Record<string, unknown>) => {
    await writeFile(configPath, stringify({ ...base, ui: { enabled: true, ...ui } }));
    return loadGatewayConfig({ config: configPath }, {});
  };
  await t.rejects(load({ peers: 'gateway-peers.ns.svc' }), /ui\.peerSecretFile.*required when \{?ui\.peers/s, 'peers without a secret: refused with a clear error');
  await writeFile(join(dir, 'short.secret'), 'too-short\n');
  await t.rejects(load({ peers: 'gateway-peers', peerSecretFile: join(dir, 'short.secret') }), /ui\.peerSecretFile.*at least 32/s);
  for (const peers of [['10.0.0.1'], ['host:0'], ['host:70000'], ['a:b:c'], [], 'bad name!', ['[::1]'], 'http://x:1']) {
    await t.rejects(load({ peers, peerSecretFile: join(dir, 'peer.secret') }), /ui\.peers/, `${JSON.stringify(peers)} refused`);
  }
  await t.rejects(load({ peerCA: join(b.env.dir, 'ca.crt'), peerSecretFile: join(dir, 'peer.secret') }), /ui\.peerCA.*no effect without/s);
  await writeFile(configPath, stringify({ ...base, ui: { peers: ['10.0.0.1:8443'], peerSecretFile: join(dir, 'peer.secret') } }));
  await t.rejects(loadGatewayConfig({ config: configPath }, {}), /ui\.peers.*no effect without \{?ui\.enabled/s);
  t.match((await load({ peers: 'gateway-peers.ns.svc.cluster.local', peerSecretFile: join(dir, 'peer.secret') })).ui.peering, { secret: Buffer.from(SECRET), source: { kind: 'dns', host: 'gateway-peers.ns.svc.cluster.local' } });
  t.match((await load({ peers: 'gateway-peers:8443', peerSecretFile: join(dir, 'peer.secret') })).ui.peering, { source: { kind: 'dns', host: 'gateway-peers', port: 8443 } });
  t.match((await load({ peers: ['10.0.0.1:8443', '[fd00::1]:8443', 'gw-1.example:9443'], peerSecretFile: join(dir, 'peer.secret') })).ui.peering, {
    source: { kind: 'list', addresses: [{ host: '10.0.0.1', port: 8443 }, { host: 'fd00::1', port: 8443 }, { host: 'gw-1.example', port: 9443 }] },
  });
  t.equal((await load({})).ui.peering, undefined, 'peers are off unless configured');
});
