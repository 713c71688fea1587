// Issue 17: a read-only identity (`get` on pods, pods/exec, pods/attach, pods/portforward — what a
// 1.28 API server checks for a GET exec) must not exec, attach or port-forward through the gateway
// in any request form, in passthrough or edge mode. The upstream is the legacy stand-in, which
// authorizes a GET upgrade as `get` like a real pre-1.35 server; its session record proves that
// nothing ran. A user with `create` must still get through.
import t, { type Test } from 'tap';
import tls from 'node:tls';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLogger } from '../../src/observability/logger.js';
import { startGateway } from '../../src/server/gateway.js';
import { startTestClusters, type TestClusters } from '../helpers/clusters.js';
import { LogRecorder } from '../helpers/log-recorder.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import { edgeConfig, startEdgeGateway, upstreamEntry, writeEdgeFiles } from '../helpers/edge-gateway.js';

const VIEWER = 'viewer-token-0123456789';
const WRITER = 'writer-token-0123456789';
const STREAMING = ['pods', 'pods/exec', 'pods/attach', 'pods/portforward'];

let env: TestClusters;

t.before(async () => {
  env = await startTestClusters(['legacy'], {
    users: [
      { token: VIEWER, name: 'viewer', uid: 'viewer-uid', groups: [] },
      { token: WRITER, name: 'writer', uid: 'writer-uid', groups: [] },
    ],
    rules: [
      { users: ['viewer'], verbs: ['get', 'list'], resources: STREAMING },
      { users: ['writer'], verbs: ['get', 'list', 'create'], resources: STREAMING },
    ],
  });
  await writeEdgeFiles(env.dir, { upstreamCa: env.ca.caCertPem, tls: env.serverTls, gatewayToken: env.clusters[0]!.token, tokens: [`${VIEWER},viewer,viewer-uid`, `${WRITER},writer,writer-uid`] });
});
t.teardown(() => env.close());

const sessions = () => env.clusters[0]!.cluster.sessions();

interface ModeGateway {
  port: number;
  url: string;
  /** The cluster's name behind the gateway, for the `/clusters/{name}/` prefix. */
  cluster: string;
  logs: LogRecorder;
  auditPath?: string;
  /** True when the gateway itself refuses a read-only exec (edge policy): 403 from the gateway, not the upstream. */
  gatewayAuthorizes: boolean;
}

async function passthroughGateway(t: Test): Promise<ModeGateway> {
  const logs = new LogRecorder();
  const gateway = await startGateway({
    listen: { host: '127.0.0.1', port: 0 },
    tls: env.serverTls,
    upstreams: [{ name: 'legacy', target: env.clusters[0]!.target }],
    logger: createLogger({ destination: logs, level: 'debug' }),
  });
  t.teardown(() => gateway.close());
  return { port: gateway.port, url: gateway.url, cluster: 'legacy', logs, gatewayAuthorizes: false };
}

async function edgeGateway(t: Test, name: string, authorization?: Record<string, unknown>): Promise<ModeGateway> {
  const auditPath = join(env.dir, `${name}.audit.jsonl`);
  const logs = new LogRecorder();
  const config = edgeConfig([upstreamEntry('legacy', env.clusters[0]!.cluster.url)], { auth: authorization ? { authorization } : {}, audit: { path: auditPath } });
  const running = await startEdgeGateway(env.dir, name, config, logs);
  t.teardown(() => running.close());
  return { port: running.gateway.port, url: running.gateway.url, cluster: 'legacy', logs, auditPath, gatewayAuthorizes: authorization !== undefined };
}

async function kubeconfig(gw: ModeGateway, name: string, token: string): Promise<string> {
  return env.kubeconfig(`${name}-${gw.port}`, gw.url, token);
}

// --- Raw requests: every method, upgrade kind and request-target form

interface Answer {
  status: number;
  text: string;
}

/** Sends one raw request over TLS; resolves with the answer once its head (and body, if sized) is in, or the socket closes. */
async function send(port: number, request: string, head = false): Promise<Answer> {
  const socket = tls.connect({ host: '127.0.0.1', port, ca: env.ca.caCertPem, servername: 'localhost' });
  socket.on('error', () => undefined);
  await once(socket, 'secureConnect');
  socket.write(request);
  let text = '';
  await new Promise<void>((resolve) => {
    const done = (): void => resolve();
    socket.on('close', done);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end));
      // A 101 or a HEAD answer has no body to wait for; an upgraded SPDY session would never close.
      if (/^HTTP\/1\.1 101/.test(text) || head || (length && text.length >= end + 4 + Number(length[1]))) done();
    });
  });
  socket.destroy();
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text };
}

type Kind = 'spdy' | 'websocket' | 'websocket-unsupported' | 'plain';
const KINDS: Kind[] = ['spdy', 'websocket', 'websocket-unsupported', 'plain'];
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
type Verb = 'exec' | 'attach' | 'portforward';
const VERBS: Verb[] = ['exec', 'attach', 'portforward'];

function request(method: string, target: string, kind: Kind, verb: Verb, token: string): string {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', `Authorization: Bearer ${token}`, 'User-Agent: read-only-streaming-test'];
  if (kind === 'spdy') lines.push('Connection: Upgrade', 'Upgrade: SPDY/3.1', `X-Stream-Protocol-Version: ${verb === 'portforward' ? 'portforward.k8s.io' : 'v4.channel.k8s.io'}`);
  if (kind.startsWith('websocket')) {
    const protocol = kind === 'websocket-unsupported' ? 'x.unsupported.example' : verb === 'portforward' ? 'SPDY/3.1+portforward.k8s.io' : 'v5.channel.k8s.io';
    lines.push('Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', `Sec-WebSocket-Protocol: ${protocol}`);
  }
  if (kind === 'plain') lines.push('Connection: close');
  if (['POST', 'PUT', 'PATCH'].includes(method)) lines.push('Content-Length: 0');
  return `${lines.join('\r\n')}\r\n\r\n`;
}

const QUERY: Record<Verb, string> = {
  exec: '?container=shell&command=echo&command=RAN&stdout=true&stderr=true',
  attach: '?container=echo&stdin=true&stdout=true',
  portforward: '?ports=7',
};
const KUBELET: Record<Verb, string> = {
  exec: '/exec/default/demo/shell?command=echo&command=RAN&output=1',
  attach: '/attach/default/demo/echo?input=1&output=1',
  portforward: '/portForward/default/demo?port=7',
};
const ENCODED: Record<Verb, string> = { exec: '%65xec', attach: '%61ttach', portforward: 'portforwar%64' };

/** [label, target, refused by the gateway's target check (400)] for one verb. */
function targets(gw: ModeGateway, verb: Verb): Array<[string, string, boolean]> {
  const pod = '/api/v1/namespaces/default/pods/demo';
  const q = QUERY[verb];
  return [
    ['origin-form', `${pod}/${verb}${q}`, false],
    ['percent-encoded subresource', `${pod}/${ENCODED[verb]}${q}`, false],
    ['/clusters/{name}/ prefix', `/clusters/${gw.cluster}${pod}/${verb}${q}`, false],
    ['prefix and encoding', `/clusters/${gw.cluster}${pod.replace('pods', 'po%64s')}/${ENCODED[verb]}${q}`, false],
    ["the kubelet's path", KUBELET[verb], false],
    ["the kubelet's path, encoded", KUBELET[verb].replace(/^\/(.)/, (_, c: string) => `/%${c.charCodeAt(0).toString(16)}`), false],
    ["the kubelet's path, prefixed", `/clusters/${gw.cluster}${KUBELET[verb]}`, false],
    ['absolute-form', `https://127.0.0.1:${gw.port}${pod}/${verb}${q}`, true],
    ['absolute-form, other host', `http://x${pod}/${verb}${q}`, true],
    ['%2F', `${pod}%2F${verb}${q}`, true],
    ['%2f in the namespace', `/api/v1/namespaces/default%2fpods/demo/${verb}${q}`, true],
    ['dot segments', `${pod}/log/../${verb}${q}`, true],
    ['encoded dot segments', `${pod}/log/%2e%2E/${verb}${q}`, true],
    ['half-encoded dot segments', `${pod}/log/.%2e/${verb}${q}`, true],
    ['single dot', `/api/v1/./namespaces/default/pods/demo/${verb}${q}`, true],
    ['repeated slashes', `/api/v1//namespaces/default/pods/demo/${verb}${q}`, true],
    ['leading //', `/${pod}/${verb}${q}`, true],
    ['trailing //', `${pod}/${verb}//${q}`, true],
    ['invalid escape', `${pod}/${verb}%zz${q}`, true],
    ['encoded NUL', `${pod}/${verb}%00${q}`, true],
    ['fragment', `${pod}/${verb}${q}#x`, true],
    ['dot segments in the kubelet path', KUBELET[verb].replace('/default/', '/x/../default/'), true],
  ];
}

/** Runs `fn` over `items`, a few at a time (CPU is shared). */
async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

async function readOnlyMatrix(t: Test, gw: ModeGateway): Promise<void> {
  const before = sessions().length;
  const cases = VERBS.flatMap((verb) => targets(gw, verb).flatMap(([label, target, ambiguous]) => METHODS.flatMap((method) => KINDS.map((kind) => ({ verb, label, target, ambiguous, method, kind })))));
  const answers: Array<{ name: string; answer: Answer; ambiguous: boolean; kind: Kind; method: string; verb: Verb; label: string }> = [];
  await inBatches(cases, 8, async ({ verb, label, target, ambiguous, method, kind }) => {
    const answer = await send(gw.port, request(method, target, kind, verb, VIEWER), method === 'HEAD');
    answers.push({ name: `${verb} ${label} ${method} ${kind}: ${target}`, answer, ambiguous, kind, method, verb, label });
  });
  let wrong = 0;
  for (const { name, answer, ambiguous, kind, method, label, verb } of answers) {
    // Never a session, never a success: 400 from the gateway or 403 (the gateway's policy, or the upstream checking `create`).
    // A relayed SPDY upgrade to an API path reaches the upstream as POST, whatever the method: `create`, denied.
    const relayedToApi = kind === 'spdy' && !ambiguous && !label.startsWith("the kubelet's");
    const expected = ambiguous || kind === 'plain' ? [400] : relayedToApi ? [403] : [400, 403];
    if (!expected.includes(answer.status)) {
      wrong++;
      t.fail(`${name}: ${answer.text.split('\r\n')[0]}`, { expected, answer: answer.text.slice(0, 600) });
    }
    if (kind === 'plain' && !ambiguous && method !== 'HEAD') t.match(answer.text, /Upgrade request required/, name);
    if (relayedToApi && !gw.gatewayAuthorizes && method !== 'HEAD') {
      t.match(answer.text, new RegExp(`cannot create resource \\\\?"pods/${verb}\\\\?"`), `${name}: the upstream was asked for create`);
    }
  }
  t.equal(wrong, 0, `${answers.length} requests as a get-only identity, every one refused`);
  t.equal(sessions().length, before, 'the cluster ran no exec, attach or port-forward session');
}

/** Authority-form and `OPTIONS *`: never routed anywhere. */
async function oddTargets(t: Test, gw: ModeGateway): Promise<void> {
  const connect = await send(gw.port, `CONNECT 127.0.0.1:${gw.port} HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\nAuthorization: Bearer ${VIEWER}\r\n\r\n`);
  t.equal(connect.status, 400, 'CONNECT host:port');
  t.match(connect.text, /origin-form/);
  for (const method of ['GET', 'POST']) {
    const authority = await send(gw.port, `${method} 127.0.0.1:${gw.port} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    t.equal(authority.status, 400, `${method} host:port`);
  }
  const options = await send(gw.port, `OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  t.equal(options.status, 200, 'OPTIONS * is answered by the gateway, as Go answers it');
  t.match(options.text, /content-length: 0/i);
  const star = await send(gw.port, `GET * HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  t.equal(star.status, 400, 'GET *');
}

/** kubectl as the read-only user: exec (1.27 SPDY, 1.33 WebSocket), attach and port-forward, all refused. */
async function readOnlyKubectl(t: Test, gw: ModeGateway): Promise<void> {
  const before = sessions().length;
  const config = await kubeconfig(gw, 'viewer', VIEWER);
  for (const minor of [27, 33]) {
    const exec = await runKubectl(minor, ['exec', 'demo', '-c', 'shell', '--', 'echo', 'MUST-NOT-RUN'], { kubeconfig: config });
    t.not(exec.code, 0, `kubectl 1.${minor} exec`);
    t.match(exec.stderr, /forbidden/i, `kubectl 1.${minor} exec: ${exec.stderr}`);
    t.notMatch(exec.stdout.toString(), /MUST-NOT-RUN/);
    const attach = await runKubectl(minor, ['attach', '-i', 'demo', '-c', 'echo'], { kubeconfig: config, stdin: 'MUST-NOT-ECHO\n' });
    t.not(attach.code, 0, `kubectl 1.${minor} attach`);
    t.notMatch(attach.stdout.toString(), /MUST-NOT-ECHO/);
    const forward = await runKubectl(minor, ['port-forward', 'pod/demo', ':7'], { kubeconfig: config, timeoutMs: 30_000 });
    t.not(forward.code, 0, `kubectl 1.${minor} port-forward exits with an error`);
    t.not(forward.code, null, 'rather than forwarding until killed');
  }
  t.equal(sessions().length, before, 'kubectl ran nothing as the read-only user');
}

/** No regression: a user with `create` execs with both kubectl generations, and a raw SPDY GET upgrade works (sent upstream as POST). */
async function writerStillWorks(t: Test, gw: ModeGateway): Promise<void> {
  const config = await kubeconfig(gw, 'writer', WRITER);
  for (const minor of [27, 33]) {
    const before = sessions().length;
    const exec = await runKubectl(minor, ['exec', 'demo', '-c', 'shell', '--', 'echo', `writer ${minor}`], { kubeconfig: config });
    t.equal(exec.code, 0, exec.stderr);
    t.equal(exec.stdout.toString(), `writer ${minor}\n`);
    t.match(sessions().slice(before), [{ kind: 'exec', user: 'writer' }]);
  }
  const end = gw.logs.find((record) => record.event === 'session-end').at(-1);
  t.match(end, { clientProtocol: 'v5.channel.k8s.io' }, 'kubectl 1.33 spoke WebSocket to the gateway (no fallback)');
  for (const verb of VERBS) {
    const before = sessions().length;
    const answer = await send(gw.port, request('GET', `/api/v1/namespaces/default/pods/demo/${verb}${QUERY[verb]}`, 'spdy', verb, WRITER));
    t.equal(answer.status, 101, `a SPDY GET ${verb} upgrade by a user with create: relayed as POST, accepted`);
    t.match(sessions().slice(before), [{ kind: verb, user: 'writer' }]);
  }
  const relayed = gw.logs.find((record) => record.event === 'session-start' && record.mode === 'relay').at(-1);
  t.match(relayed, { method: 'POST', clientMethod: 'GET' }, 'the relay says which method went upstream');
}

t.test('passthrough: a get-only token cannot exec, attach or port-forward in any form', async (t) => {
  const gw = await passthroughGateway(t);
  await readOnlyMatrix(t, gw);
  await oddTargets(t, gw);
  await readOnlyKubectl(t, gw);
  await writerStillWorks(t, gw);
});

t.test('edge mode, authorization none (the default): the impersonated get-only user is refused upstream', async (t) => {
  const gw = await edgeGateway(t, 'edge-none');
  await readOnlyMatrix(t, gw);
  await oddTargets(t, gw);
  await readOnlyKubectl(t, gw);
  await writerStillWorks(t, gw);
});

t.test('edge mode, a policy granting the viewer only API reads: refused at the gateway, audited with objectRef', async (t) => {
  const gw = await edgeGateway(t, 'edge-policy', { mode: 'policy', policy: [{ users: ['viewer'], verbs: ['api'] }, { users: ['writer'], verbs: ['*'] }] });
  await readOnlyMatrix(t, gw);
  await oddTargets(t, gw);
  await readOnlyKubectl(t, gw);
  await writerStillWorks(t, gw);
  const events = (await readFile(gw.auditPath!, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as { user?: { username: string }; responseStatus: { code: number }; objectRef?: { subresource?: string }; requestURI: string });
  const denied = events.filter((event) => event.user?.username === 'viewer' && event.responseStatus.code === 403);
  t.ok(denied.length > 0, 'the policy denials are audited');
  for (const event of denied) t.match(event.objectRef, { resource: 'pods', subresource: /^(exec|attach|portforward)$/ }, `objectRef for ${event.requestURI}`);
});
