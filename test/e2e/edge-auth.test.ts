// Edge mode end to end: the gateway authenticates callers (token file, OIDC, client certificates,
// TokenReview, the browser token subprotocol), authorizes them, and reaches the legacy cluster with
// its own credential and Impersonate-* headers. Every case asserts what the cluster saw: the user
// and groups it recorded for each session (cluster.sessions()).
import t, { type Test } from 'tap';
import https from 'node:https';
import { once } from 'node:events';
import { open, readFile, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, type JWK, type CryptoKey } from 'jose';
import { stringify } from 'yaml';
import { loadGatewayConfig } from '../../src/config/gateway-config.js';
import { createLogger } from '../../src/observability/logger.js';
import { startConfiguredGateway, type ConfiguredGateway } from '../../src/server/configured-gateway.js';
import { startTestClusters, type TestClusters } from '../helpers/clusters.js';
import { LogRecorder } from '../helpers/log-recorder.js';
import { rawExchange } from '../helpers/raw-exchange.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import { connect, waitForMessage } from '../helpers/ws-client.js';
import { until } from '../helpers/wait.js';
import { createTestClientCa, type TestClientCa } from '../unit/auth/pki.js';
import { edgeConfig, startEdgeGateway, upstreamEntry, writeEdgeFiles } from '../helpers/edge-gateway.js';

const ALICE = 'alice-token-0123456789';
const VIEWER = 'viewer-token-0123456789';
const CAROL = 'carol-token-0123456789';
const BOB = 'bob-token-known-to-the-cluster-only';

let env: TestClusters;
let clientCa: TestClientCa;
let issuer: { url: string; sign(claims: Record<string, unknown>): Promise<string>; close(): void };

t.before(async () => {
  env = await startTestClusters(['legacy'], {
    users: [{ token: BOB, name: 'bob', uid: 'bob-uid', groups: ['reviewed'] }],
    // The cluster's own RBAC: what each impersonated identity may do there (1.28: GET exec is `get`).
    rules: [
      { groups: ['devs', 'reviewed', 'oidc:devs', 'ops'], verbs: ['get', 'list', 'create'], resources: ['pods', 'pods/exec', 'pods/attach', 'pods/portforward'] },
      { users: ['viewer'], verbs: ['get', 'list'], resources: ['pods', 'pods/exec'] },
    ],
  });
  clientCa = await createTestClientCa('callers CA');
  issuer = await startIssuer();
  const dir = env.dir;
  // The gateway's own credential toward the cluster: its privileged token (may impersonate).
  await writeEdgeFiles(dir, { upstreamCa: env.ca.caCertPem, tls: env.serverTls, gatewayToken: env.clusters[0]!.token, tokens: [`${ALICE},alice,alice-uid,"devs,qa"`, `${VIEWER},viewer,viewer-uid`, `${CAROL},carol,carol-uid,admins`] });
  await writeFile(join(dir, 'client-ca.crt'), clientCa.caCertPem);
  await writeFile(join(dir, 'issuer-ca.crt'), env.ca.caCertPem);
});
t.teardown(async () => {
  issuer.close();
  await env.close();
});

interface EdgeGateway {
  running: ConfiguredGateway;
  url: string;
  port: number;
  logs: LogRecorder;
  auditPath: string;
  /** `cluster`: reach that upstream through its `/clusters/{name}/` prefix. */
  kubeconfig(name: string, user: Record<string, unknown>, cluster?: string): Promise<string>;
}

/** An edge-mode gateway from a real configuration file; `auth` and `limits` merge into the defaults below. */
async function edgeGateway(
  t: Test,
  name: string,
  overrides: { auth?: Record<string, unknown>; limits?: Record<string, unknown>; network?: Record<string, unknown>; upstreams?: string[]; credentialFile?: string } = {},
): Promise<EdgeGateway> {
  const dir = env.dir;
  const auditPath = join(dir, `${name}.audit.jsonl`);
  // Several names for the one cluster: each stands for a cluster of its own, reached by its prefix.
  const upstreams = (overrides.upstreams ?? ['legacy']).map((upstream) => upstreamEntry(upstream, env.clusters[0]!.cluster.url, overrides.credentialFile));
  const config = edgeConfig(upstreams, {
    tls: { clientCA: 'client-ca.crt' },
    ...(overrides.upstreams ? { routing: { defaultUpstream: overrides.upstreams[0] } } : {}),
    auth: {
      oidc: { issuerURL: issuer.url, audiences: ['kubernetes'], usernameClaim: 'sub', usernamePrefix: 'oidc:', groupsClaim: 'groups', groupsPrefix: 'oidc:', ca: 'issuer-ca.crt' },
      impersonation: [{ users: ['carol'] }],
      allowedOrigins: ['https://console.example.com'],
      ...overrides.auth,
    },
    audit: { path: auditPath },
    limits: overrides.limits,
    ...(overrides.network ? { network: overrides.network } : {}),
  });
  const logs = new LogRecorder();
  const running = await startEdgeGateway(dir, name, config, logs);
  t.teardown(() => running.close());
  const url = running.gateway.url;
  return {
    running,
    url,
    port: running.gateway.port,
    logs,
    auditPath,
    async kubeconfig(kubeconfigName, user, cluster) {
      const path = join(dir, `${name}-${kubeconfigName}.kubeconfig`);
      await writeFile(
        path,
        stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'gw', cluster: { server: cluster ? `${url}/clusters/${cluster}` : url, 'certificate-authority-data': Buffer.from(env.ca.caCertPem).toString('base64') } }],
          users: [{ name: 'caller', user }],
          contexts: [{ name: 'gw', context: { cluster: 'gw', user: 'caller', namespace: 'default' } }],
          'current-context': 'gw',
        }),
      );
      return path;
    },
  };
}

const sessions = () => env.clusters[0]!.cluster.sessions();

/** Runs `kubectl exec demo -- echo <word>` and returns what the cluster recorded for it. */
async function execAs(t: Test, kubeconfig: string, word: string, extra: string[] = []) {
  const before = sessions().length;
  const result = await runKubectl(33, [...extra, 'exec', 'demo', '--', 'echo', word], { kubeconfig });
  t.equal(result.code, 0, result.stderr);
  t.equal(result.stdout.toString(), `${word}\n`);
  const recorded = sessions().slice(before);
  t.equal(recorded.length, 1, 'the cluster ran one session');
  return recorded[0]!;
}

async function refusedExec(t: Test, kubeconfig: string, pattern: RegExp): Promise<void> {
  const before = sessions().length;
  const result = await runKubectl(33, ['exec', 'demo', '--', 'echo', 'must not run'], { kubeconfig });
  t.not(result.code, 0);
  t.match(result.stderr, pattern);
  t.notMatch(result.stdout.toString(), /must not run/);
  t.equal(sessions().length, before, 'the cluster ran nothing');
}

t.test('token file: kubectl 1.33 exec runs upstream as the caller, translated, through the gateway credential', async (t) => {
  const gw = await edgeGateway(t, 'token-file');
  const kubeconfig = await gw.kubeconfig('alice', { token: ALICE });
  const seen = await execAs(t, kubeconfig, 'alice here');
  t.equal(seen.user, 'alice');
  t.equal(seen.uid, 'alice-uid');
  t.same([...seen.groups].sort(), ['devs', 'qa', 'system:authenticated']);
  t.equal(seen.impersonatedBy, 'kubernetes-admin', 'the gateway authenticated upstream with its own credential and impersonated');
  t.same(seen.extra, { 'remote-client-ip': ['127.0.0.1'] }, "the client's address reaches the cluster as a user extra (as kube-oidc-proxy)");
  const end = gw.logs.find((record) => record.event === 'session-end').at(-1)!;
  t.equal(end.user, 'alice');
  t.equal(end.clientProtocol, 'v5.channel.k8s.io', 'WebSocket from kubectl');
  t.equal(end.upstreamProtocol, 'v4.channel.k8s.io', 'SPDY toward the cluster');

  await refusedExec(t, await gw.kubeconfig('wrong', { token: 'not-a-known-token' }), /Unauthorized|must be logged in/);
  t.notOk(JSON.stringify(gw.logs.records).includes(ALICE), 'no token in the logs');
});

t.test('kubectl 1.27 (SPDY, relayed) in edge mode: the relay rewrites identity too', async (t) => {
  const gw = await edgeGateway(t, 'relay');
  const kubeconfig = await gw.kubeconfig('alice-127', { token: ALICE });
  const before = sessions().length;
  const result = await runKubectl(27, ['exec', 'demo', '--', 'echo', 'over spdy'], { kubeconfig });
  t.equal(result.code, 0, result.stderr);
  t.equal(result.stdout.toString(), 'over spdy\n');
  const seen = sessions().slice(before);
  t.equal(seen.length, 1);
  t.equal(seen[0]!.user, 'alice', 'impersonated through the raw relay as well');
  t.equal(seen[0]!.impersonatedBy, 'kubernetes-admin');
  t.ok(gw.logs.find((record) => record.event === 'session-start' && record.mode === 'relay').length >= 1, 'it went through the relay');
  await refusedExec(t, await gw.kubeconfig('viewer-127', { token: 'nope' }), /Unauthorized|must be logged in/);
});

t.test('token file reload: a token added to the file works without a restart', async (t) => {
  const gw = await edgeGateway(t, 'reload');
  const kubeconfig = await gw.kubeconfig('dave', { token: 'dave-token-added-later' });
  await refusedExec(t, kubeconfig, /Unauthorized|must be logged in/);
  const original = await readFile(join(env.dir, 'tokens.csv'), 'utf8');
  t.teardown(() => writeFile(join(env.dir, 'tokens.csv'), original));
  await writeFile(join(env.dir, 'tokens.csv'), `${original}dave-token-added-later,dave,dave-uid,ops\n`);
  await gw.logs.waitFor((record) => record.event === 'reloaded' && record.tokens === 4);
  t.equal((await execAs(t, kubeconfig, 'dave now')).user, 'dave');
});

t.test('token file rewritten in place (printf > tokens.csv): no reload ever locks users out', async (t) => {
  const gw = await edgeGateway(t, 'rewrite');
  const path = join(env.dir, 'tokens.csv');
  const original = await readFile(path, 'utf8');
  t.teardown(() => writeFile(path, original));
  const endpoint = { gateway: { port: gw.port }, caPem: env.ca.caCertPem };
  const aliceGetsIn = async (when: string) =>
    t.match(await rawExchange(endpoint, `GET /api HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${ALICE}\r\nConnection: close\r\n\r\n`), /^HTTP\/1\.1 200 /, `alice gets in ${when}`);
  const refused = (result: string) => gw.logs.waitFor((record) => record.event === 'reload-failed' && record.result === result);

  const handle = await open(path, 'w'); // truncated, as the shell does before printf writes
  t.teardown(() => handle.close());
  t.match(await refused('empty'), { msg: /keeping the previous tokens/ });
  await aliceGetsIn('while the file is empty');
  await handle.write(original.slice(0, original.indexOf(',') + 3));
  await refused('invalid');
  await aliceGetsIn('while the file holds half a record');
  await handle.write(original.slice(original.indexOf(',') + 3));
  await gw.logs.waitFor((record) => record.event === 'reloaded' && record.tokens === 3);
  await aliceGetsIn('after the write completes');
  const metrics = (await gw.running.metrics.render()).body;
  t.match(metrics, /kube_stream_gateway_config_reloads_total\{file="auth\.tokenFile",result="empty"\} 1/);
  t.match(metrics, /kube_stream_gateway_config_reloads_total\{file="auth\.tokenFile",result="invalid"\} 1/);
  t.match(metrics, /kube_stream_gateway_config_reloads_total\{file="auth\.tokenFile",result="success"\} 1/);
});

t.test('OIDC: an ID token in the kubeconfig; expired and wrong-audience tokens are refused', async (t) => {
  const gw = await edgeGateway(t, 'oidc');
  const now = Math.floor(Date.now() / 1000);
  const good = await issuer.sign({ sub: 'erin', groups: ['devs'], iat: now, exp: now + 600 });
  const seen = await execAs(t, await gw.kubeconfig('oidc', { token: good }), 'oidc user');
  t.equal(seen.user, 'oidc:erin', 'usernamePrefix applied');
  t.same([...seen.groups].sort(), ['oidc:devs', 'system:authenticated'], 'groupsPrefix applied');

  const expired = await issuer.sign({ sub: 'erin', groups: ['devs'], iat: now - 7200, exp: now - 3600 });
  await refusedExec(t, await gw.kubeconfig('oidc-expired', { token: expired }), /Unauthorized|must be logged in/);
  const otherAudience = await issuer.sign({ sub: 'erin', aud: 'someone-else', iat: now, exp: now + 600 });
  await refusedExec(t, await gw.kubeconfig('oidc-audience', { token: otherAudience }), /Unauthorized|must be logged in/);
  const failures = gw.logs.find((record) => record.event === 'authentication-failed');
  t.ok(failures.some((record) => /exp/.test(String(record.reason))), 'the log says why (expiry)');
});

t.test('client certificates: CN is the user, O the groups; unknown CA and expired certificates are refused', async (t) => {
  const gw = await edgeGateway(t, 'mtls');
  const good = await clientCa.issueClientCertificate({ commonName: 'frank', organizations: ['ops', 'oncall'] });
  const certUser = (cert: { certPem: string; keyPem: string }) => ({
    'client-certificate-data': Buffer.from(cert.certPem).toString('base64'),
    'client-key-data': Buffer.from(cert.keyPem).toString('base64'),
  });
  const seen = await execAs(t, await gw.kubeconfig('frank', certUser(good)), 'by certificate');
  t.equal(seen.user, 'frank');
  t.same([...seen.groups].sort(), ['oncall', 'ops', 'system:authenticated']);

  const stranger = await (await createTestClientCa('somebody else')).issueClientCertificate({ commonName: 'frank', organizations: ['ops'] });
  await refusedExec(t, await gw.kubeconfig('stranger', certUser(stranger)), /Unauthorized|must be logged in/);
  const expired = await clientCa.issueClientCertificate({ commonName: 'frank', notBefore: new Date(Date.now() - 7200_000), notAfter: new Date(Date.now() - 3600_000) });
  await refusedExec(t, await gw.kubeconfig('expired', certUser(expired)), /Unauthorized|must be logged in/);
});

t.test('TokenReview: a token only the cluster knows; denied tokens and an unreachable reviewer', async (t) => {
  const gw = await edgeGateway(t, 'token-review');
  const seen = await execAs(t, await gw.kubeconfig('bob', { token: BOB }), 'reviewed');
  t.equal(seen.user, 'bob');
  t.equal(seen.uid, 'bob-uid');
  t.same([...seen.groups].sort(), ['reviewed', 'system:authenticated']);
  await refusedExec(t, await gw.kubeconfig('nobody', { token: 'unknown-everywhere' }), /Unauthorized|must be logged in/);

  const down = await edgeGatewayWithDeadReviewer(t);
  const raw = await rawExchange({ gateway: { port: down.port }, caPem: env.ca.caCertPem }, `GET /api HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${BOB}\r\nConnection: close\r\n\r\n`);
  t.match(raw, /^HTTP\/1\.1 503 /, 'the reviewer down is a 503, not a 401');
  t.match(raw, /authentication is unavailable/);
  t.notMatch(raw, /ECONNREFUSED|127\.0\.0\.1|token review|upstream unreachable/, 'the reviewer and its error are not told to an unauthenticated caller');
  t.ok(down.logs.records.some((record) => record.event === 'authentication-unavailable' && /ECONNREFUSED/.test(String(record.reason))), 'the log has the detail');

  const sar = await edgeGatewayWithDeadReviewer(t, 'subjectAccessReview');
  const denied = await rawExchange({ gateway: { port: sar.port }, caPem: env.ca.caCertPem }, `GET /clusters/reviewer/api HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${ALICE}\r\nConnection: close\r\n\r\n`);
  t.match(denied, /^HTTP\/1\.1 503 /);
  t.match(denied, /authorization is unavailable/);
  t.notMatch(denied, /ECONNREFUSED|127\.0\.0\.1|subject access review|upstream unreachable/, 'nor the authorizer and its error');
  t.ok(sar.logs.records.some((record) => record.event === 'authorization-unavailable' && /ECONNREFUSED/.test(String(record.reason))), 'the log has the detail');
});

t.test('identities stay per cluster: TokenReview audiences and policy rules scoped by clusters', async (t) => {
  // legacy-a reviews tokens for every cluster; its token-file tokens are for its API audience only.
  const wrongAudience = await edgeGateway(t, 'audience-b', {
    upstreams: ['legacy-a', 'legacy-b'],
    auth: { authenticators: ['tokenReview'], tokenReview: { upstream: 'legacy-a', audiences: ['https://legacy-b.example'] } },
  });
  await refusedExec(t, await wrongAudience.kubeconfig('bob-on-b', { token: BOB }, 'legacy-b'), /Unauthorized|must be logged in/);
  const failure = wrongAudience.logs.records.find((record) => record.event === 'authentication-failed');
  t.match(String(failure?.reason), /token not authenticated|audiences/, 'the log says why');
  const rightAudience = await edgeGateway(t, 'audience-a', {
    upstreams: ['legacy-a', 'legacy-b'],
    auth: { authenticators: ['tokenReview'], tokenReview: { upstream: 'legacy-a', audiences: ['https://kubernetes.default.svc.cluster.local'] } },
  });
  t.equal((await execAs(t, await rightAudience.kubeconfig('bob-on-a', { token: BOB }, 'legacy-a'), 'for a')).user, 'bob', 'the audience the reviewer grants passes');

  const scoped = await edgeGateway(t, 'clusters', {
    upstreams: ['legacy-a', 'legacy-b'],
    auth: { authorization: { mode: 'policy', policy: [{ users: ['alice'], verbs: ['*'], clusters: ['legacy-a'] }, { users: ['alice'], verbs: ['api'] }] } },
  });
  t.equal((await execAs(t, await scoped.kubeconfig('alice-a', { token: ALICE }, 'legacy-a'), 'on a')).user, 'alice', 'the rule allows its cluster');
  await refusedExec(t, await scoped.kubeconfig('alice-b', { token: ALICE }, 'legacy-b'), /cannot create resource "pods\/exec".*no edge policy rule allows exec in namespace default on cluster legacy-b/);
});

t.test("a gateway credential that may not impersonate: callers are not told the gateway's own user name", async (t) => {
  // bob exists on the cluster but may not impersonate: the cluster's 403 names him as the caller.
  await writeFile(join(env.dir, 'weak-gateway.token'), BOB);
  const gw = await edgeGateway(t, 'weak-credential', { credentialFile: 'weak-gateway.token' });
  const plain = await rawExchange({ gateway: { port: gw.port }, caPem: env.ca.caCertPem }, `GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${ALICE}\r\nConnection: close\r\n\r\n`);
  t.match(plain, /^HTTP\/1\.1 403 /);
  t.match(plain, /does not let the gateway act as user \\"alice\\"/);
  t.notMatch(plain, /bob/, 'a plain request: not the gateway\'s user');
  const exec = '/api/v1/namespaces/default/pods/demo/exec?command=true&stdout=true';
  const webSocket = await connect({ gateway: { url: gw.url }, caPem: env.ca.caCertPem, token: ALICE }, exec, ['v5.channel.k8s.io']);
  t.equal(webSocket.kind, 'refused', 'a WebSocket exec is refused before the upgrade');
  if (webSocket.kind === 'refused') {
    t.equal(webSocket.statusCode, 403);
    t.match(JSON.parse(webSocket.body), { reason: 'Forbidden', message: 'the upstream cluster does not let the gateway act as user "alice"' });
    t.notMatch(webSocket.body, /bob/, "a WebSocket exec: not the gateway's user");
  }
  const spdy = await rawExchange(
    { gateway: { port: gw.port }, caPem: env.ca.caCertPem },
    `POST ${exec} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${ALICE}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\nContent-Length: 0\r\n\r\n`,
  );
  t.match(spdy, /^HTTP\/1\.1 403 /, 'a relayed SPDY exec (kubectl 1.30 and older) likewise');
  t.match(spdy, /does not let the gateway act as user/);
  t.notMatch(spdy, /bob/, "a relayed SPDY exec: not the gateway's user");
  t.ok(gw.logs.records.some((record) => record.event === 'impersonation-refused-upstream' && /User \\?"bob\\?" cannot impersonate/.test(String(record.reason))), 'the log has the upstream\'s words');
});

/** A gateway whose TokenReview goes to a second upstream that is not listening. */
async function edgeGatewayWithDeadReviewer(t: Test, authorization?: 'subjectAccessReview'): Promise<EdgeGateway> {
  const dead = await import('../helpers/closed-port.js').then((m) => m.closedPort());
  const configPath = join(env.dir, `dead-reviewer-${authorization ?? 'token-review'}.yaml`);
  await writeFile(
    configPath,
    stringify({
      listen: '127.0.0.1:0',
      tls: { cert: 'tls.crt', key: 'tls.key' },
      admin: { listen: 'off' },
      upstreams: [
        { name: 'legacy', server: env.clusters[0]!.cluster.url, ca: 'ca.crt', credential: { tokenFile: 'gateway.token' } },
        { name: 'reviewer', server: `https://127.0.0.1:${dead}`, ca: 'ca.crt', credential: { tokenFile: 'gateway.token' } },
      ],
      routing: { defaultUpstream: 'legacy' },
      auth: authorization
        ? { mode: 'edge', authenticators: ['tokenFile'], tokenFile: 'tokens.csv', authorization: { mode: authorization } }
        : { mode: 'edge', authenticators: ['tokenReview'], tokenReview: { upstream: 'reviewer' } },
    }),
  );
  const logs = new LogRecorder();
  const running = await startConfiguredGateway(await loadGatewayConfig({ config: configPath }, {}), createLogger({ destination: logs }));
  t.teardown(() => running.close());
  return { running, url: running.gateway.url, port: running.gateway.port, logs, auditPath: '', kubeconfig: async () => '' };
}

t.test('exec is authorized as create: a get-only identity cannot exec (policy and SubjectAccessReview)', async (t) => {
  const policy = await edgeGateway(t, 'policy', {
    auth: { authorization: { mode: 'policy', policy: [{ users: ['alice'], verbs: ['*'] }, { users: ['viewer'], verbs: ['api'] }] } },
  });
  const viewerPolicy = await policy.kubeconfig('viewer-policy', { token: VIEWER });
  const pods = await runKubectl(33, ['get', 'pods', '-o', 'name'], { kubeconfig: viewerPolicy });
  t.equal(pods.code, 0, 'plain API access is allowed');
  await refusedExec(t, viewerPolicy, /cannot create resource "pods\/exec" in API group "" in the namespace "default"/);
  t.equal((await execAs(t, await policy.kubeconfig('alice-policy', { token: ALICE }), 'allowed')).user, 'alice');

  // The legacy cluster grants viewer `get` on pods/exec — exactly what a 1.28 server checks for a
  // WebSocket exec. The gateway asks for `create`, so the upgrade is refused before it reaches it.
  const sar = await edgeGateway(t, 'sar', { auth: { authorization: { mode: 'subjectAccessReview' } } });
  await refusedExec(t, await sar.kubeconfig('viewer-sar', { token: VIEWER }), /forbidden/i);
  t.equal((await execAs(t, await sar.kubeconfig('alice-sar', { token: ALICE }), 'reviewed allowed')).user, 'alice');
  await sar.running.close(); // ends the sessions and flushes the audit log
  const audit = (await readFile(sar.auditPath, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Record<string, any>);
  const denied = audit.find((event) => event.responseStatus?.code === 403);
  t.match(denied, { kind: 'Event', apiVersion: 'audit.k8s.io/v1', verb: 'create', user: { username: 'viewer' }, objectRef: { resource: 'pods', subresource: 'exec', name: 'demo', namespace: 'default' } });
  const session = audit.find((event) => event.stage === 'ResponseComplete' && event.responseStatus?.code === 101);
  t.match(session, { verb: 'create', user: { username: 'alice' }, objectRef: { subresource: 'exec' }, annotations: { 'kube-stream-gateway/outcome': 'completed' } });
  t.notMatch(JSON.stringify(audit), new RegExp(`${ALICE}|${VIEWER}`), 'no token in the audit log');
});

t.test('client impersonation: refused unless the edge policy allows the caller; allowed callers act as the target', async (t) => {
  const gw = await edgeGateway(t, 'impersonation');
  const before = sessions().length;
  const refused = await runKubectl(33, ['--as', 'admin', 'exec', 'demo', '--', 'true'], { kubeconfig: await gw.kubeconfig('alice-as-admin', { token: ALICE }) });
  t.not(refused.code, 0);
  t.match(refused.stderr, /Forbidden|forbidden|unknown/);
  t.equal(sessions().length, before, 'nothing ran');
  const raw = await rawExchange({ gateway: { port: gw.port }, caPem: env.ca.caCertPem }, `GET /api HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${ALICE}\r\nImpersonate-User: admin\r\nConnection: close\r\n\r\n`);
  t.match(raw, /^HTTP\/1\.1 403 /);
  t.match(raw, /User \\"alice\\" cannot impersonate resource \\"users\\"/);

  const seen = await execAs(t, await gw.kubeconfig('carol', { token: CAROL }), 'as alice', ['--as', 'alice', '--as-group', 'devs']);
  t.equal(seen.user, 'alice', 'the cluster saw the identity carol asked for');
  t.ok(seen.groups.includes('devs'));
});

t.test('header smuggling: two Authorization headers are a 400; client identity headers never pass', async (t) => {
  const gw = await edgeGateway(t, 'smuggling');
  const endpoint = { gateway: { port: gw.port }, caPem: env.ca.caCertPem };
  const twice = await rawExchange(endpoint, `GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${ALICE}\r\nAuthorization: Bearer ${CAROL}\r\nConnection: close\r\n\r\n`);
  t.match(twice, /^HTTP\/1\.1 400 /);
  t.match(twice, /more than one Authorization header/);
  const remoteUser = await rawExchange(endpoint, `GET /api/v1/namespaces/default/pods/demo HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${ALICE}\r\nX-Remote-User: admin\r\nConnection: close\r\n\r\n`);
  t.match(remoteUser, /^HTTP\/1\.1 200 /, 'X-Remote-User is dropped, not honoured or refused');
});

t.test('browsers: the bearer-token subprotocol through a real ws client; Origin allow-list', async (t) => {
  const gw = await edgeGateway(t, 'browser');
  const endpoint = { gateway: { url: gw.url }, caPem: env.ca.caCertPem };
  const path = '/api/v1/namespaces/default/pods/demo/exec?command=echo&command=from-a-browser&stdout=true';
  const token = `base64url.bearer.authorization.k8s.io.${Buffer.from(ALICE).toString('base64url')}`;
  const before = sessions().length;
  const opened = await connect(endpoint, path, [token, 'v5.channel.k8s.io'], { origin: 'https://console.example.com' });
  if (opened.kind !== 'open') throw new Error(`refused: ${opened.statusCode} ${opened.body}`);
  t.equal(opened.protocol, 'v5.channel.k8s.io', 'the token entry is never chosen or echoed');
  await waitForMessage(opened.socket, opened.messages, (message) => message.data[0] === 1 && message.data.subarray(1).toString() === 'from-a-browser\n');
  await opened.closed;
  t.equal(sessions()[before]?.user, 'alice', 'the cluster saw the token owner');
  t.notOk(JSON.stringify(gw.logs.records).includes(token.slice(-20)), 'the token subprotocol is never logged');

  const crossSite = await connect(endpoint, path, [token, 'v5.channel.k8s.io'], { origin: 'https://evil.example' });
  t.equal(crossSite.kind, 'refused');
  if (crossSite.kind === 'refused') {
    t.equal(crossSite.statusCode, 403);
    t.match(JSON.parse(crossSite.body), { code: 403, reason: 'Forbidden', message: /origin "https:\/\/evil\.example" refused: .*\(auth\.allowedOrigins\)/ });
  }
  const sameOrigin = await connect(endpoint, path, [token, 'v5.channel.k8s.io'], { origin: gw.url });
  t.equal(sameOrigin.kind, 'open', "the gateway's own origin is allowed");
  if (sameOrigin.kind === 'open') await sameOrigin.closed;
});

t.test('limits per identity: concurrent sessions per user and failed authentications per address', async (t) => {
  const gw = await edgeGateway(t, 'limits', { limits: { maxSessionsPerUser: 1, failedAuthPerMinute: 2 } });
  const endpoint = { gateway: { url: gw.url }, caPem: env.ca.caCertPem, token: ALICE };
  const holding = await connect(endpoint, '/api/v1/namespaces/default/pods/demo/exec?command=cat&stdin=true&stdout=true', ['v5.channel.k8s.io']);
  t.equal(holding.kind, 'open');
  const second = await connect(endpoint, '/api/v1/namespaces/default/pods/demo/exec?command=true&stdout=true', ['v5.channel.k8s.io']);
  t.equal(second.kind, 'refused');
  if (second.kind === 'refused') {
    t.equal(second.statusCode, 429);
    t.match(second.body, /user \\"alice\\" is at the limit of 1 concurrent sessions \(limits\.maxSessionsPerUser\)/);
  }
  const other = await connect({ ...endpoint, token: BOB }, '/api/v1/namespaces/default/pods/demo/exec?command=true&stdout=true', ['v5.channel.k8s.io']);
  t.equal(other.kind, 'open', 'another user is not affected');
  if (other.kind === 'open') await other.closed;
  if (holding.kind === 'open') holding.socket.terminate();

  const bad = { gateway: { port: gw.port }, caPem: env.ca.caCertPem };
  const attempt = () => rawExchange(bad, 'GET /api HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer wrong\r\nConnection: close\r\n\r\n');
  t.match(await attempt(), /^HTTP\/1\.1 401 /);
  t.match(await attempt(), /^HTTP\/1\.1 401 /);
  const third = await attempt();
  t.match(third, /^HTTP\/1\.1 429 /, 'the third failure within a minute is rate-limited');
  t.match(third, /limits\.failedAuthPerMinute/);
  const good = await rawExchange(bad, `GET /api HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${ALICE}\r\nConnection: close\r\n\r\n`);
  t.match(good, /^HTTP\/1\.1 429 /, 'the address is blocked whatever it sends, until the bucket refills');
});

t.test('behind a trusted proxy: failed authentications count per X-Forwarded-For client; cluster and audit see that client', async (t) => {
  const gw = await edgeGateway(t, 'behind-proxy', { limits: { failedAuthPerMinute: 2 }, network: { trustedProxies: ['127.0.0.1/32'] } });
  const endpoint = { gateway: { port: gw.port }, caPem: env.ca.caCertPem };
  const from = (client: string, token: string) => rawExchange(endpoint, `GET /api HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nX-Forwarded-For: ${client}\r\nConnection: close\r\n\r\n`);
  t.match(await from('198.51.100.66', 'wrong'), /^HTTP\/1\.1 401 /);
  t.match(await from('198.51.100.66', 'wrong'), /^HTTP\/1\.1 401 /);
  const blocked = await from('198.51.100.66', 'wrong');
  t.match(blocked, /^HTTP\/1\.1 429 /, 'the attacker is rate-limited');
  t.match(blocked, /from 198\.51\.100\.66/);
  t.match(await from('198.51.100.77', ALICE), /^HTTP\/1\.1 200 /, 'everybody else behind the same proxy is not locked out');
  // The attacker cannot escape by writing its own entry in front: only the rightmost untrusted counts.
  t.match(await from('198.51.100.77, 198.51.100.66', ALICE), /^HTTP\/1\.1 429 /);

  const before = sessions().length;
  const opened = await connect({ gateway: { url: gw.url }, caPem: env.ca.caCertPem, token: ALICE }, '/api/v1/namespaces/default/pods/demo/exec?command=true&stdout=true', ['v5.channel.k8s.io'], { 'x-forwarded-for': '203.0.113.5' });
  if (opened.kind !== 'open') throw new Error(`refused: ${opened.statusCode} ${opened.body}`);
  await opened.closed;
  t.same(sessions()[before]?.extra, { 'remote-client-ip': ['203.0.113.5'] }, 'the cluster sees the client, not the proxy');
  const refusedLine = gw.logs.find((record) => record.event === 'authentication-failed')[0]!;
  t.equal(refusedLine.clientAddress, '198.51.100.66', 'logs name the client');
  type AuditLine = { sourceIPs: string[]; responseStatus: { code: number } };
  const auditLines = (): AuditLine[] => readFileSync(gw.auditPath, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as AuditLine);
  t.same(auditLines().find((event) => event.responseStatus.code === 401)?.sourceIPs, ['198.51.100.66'], 'audit sourceIPs: the client');
  await until(() => auditLines().some((event) => event.responseStatus.code === 101), 'the session audit event');
  t.same(auditLines().find((event) => event.responseStatus.code === 101)?.sourceIPs, ['203.0.113.5'], 'and for the session');
});

/** A local HTTPS OIDC issuer: discovery and a JWKS with one RS256 key. */
async function startIssuer(): Promise<typeof issuer> {
  const cert = await env.ca.issueServerCertificate(['127.0.0.1']);
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'e2e-key', alg: 'RS256', use: 'sig' };
  let url = '';
  const server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/openid-configuration') res.end(JSON.stringify({ issuer: url, jwks_uri: `${url}/keys` }));
    else if (req.url === '/keys') res.end(JSON.stringify({ keys: [jwk] }));
    else {
      res.statusCode = 404;
      res.end('{}');
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const key: CryptoKey = privateKey;
  return {
    url,
    sign: (claims) => new SignJWT({ iss: url, aud: 'kubernetes', ...claims }).setProtectedHeader({ alg: 'RS256', kid: 'e2e-key', typ: 'JWT' }).sign(key),
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}
