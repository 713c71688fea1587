import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { createLogger } from '../../src/observability/logger.js';
import { DRAINING_REASON, HealthChecks, startAdminServer, upstreamReachableCheck, type HealthCheck } from '../../src/observability/health.js';
import { GatewayMetrics } from '../../src/observability/metrics.js';
import { createCertificateAuthority } from '../../src/net/certificate-authority.js';
import type { UpstreamTarget } from '../../src/upstream/target.js';
import { closedPort } from '../helpers/closed-port.js';
import { LogRecorder } from '../helpers/log-recorder.js';

const query = (text = ''): URLSearchParams => new URLSearchParams(text);
const failing = (name: string, reason: string): HealthCheck => ({ name, check: async () => Promise.reject(new Error(reason)) });
const passing = (name: string): HealthCheck => ({ name, check: async () => {} });

t.test('readyz: ok, verbose list, failure always verbose with 503', async (t) => {
  const health = new HealthChecks();
  health.addReadinessCheck(passing('upstream-default'));
  t.same(await health.evaluate('readyz', query()), { status: 200, body: 'ok' });
  t.same(await health.evaluate('readyz', query('verbose')), {
    status: 200,
    body: '[+]ping ok\n[+]shutdown ok\n[+]upstream-default ok\nreadyz check passed\n',
  });
  health.addReadinessCheck(failing('upstream-b', 'connection refused by 10.0.0.2:6443\n(second line)'));
  t.same(await health.evaluate('readyz', query()), {
    status: 503,
    body: '[+]ping ok\n[+]shutdown ok\n[+]upstream-default ok\n[-]upstream-b failed: connection refused by 10.0.0.2:6443 (second line)\nreadyz check failed\n',
  });
  // Readiness checks do not touch liveness.
  t.same(await health.evaluate('livez', query('verbose')), { status: 200, body: '[+]ping ok\nlivez check passed\n' });
  t.same(await health.evaluate('healthz', query()), { status: 200, body: 'ok' });
});

t.test('?exclude skips checks as Kubernetes does, and names the ones that match nothing', async (t) => {
  const health = new HealthChecks();
  health.addReadinessCheck(failing('upstream-b', 'down'));
  t.same(await health.evaluate('readyz', query('exclude=upstream-b&exclude=zeta&exclude=alpha')), {
    status: 200,
    body: 'ok',
  });
  t.same(await health.evaluate('readyz', query('verbose&exclude=upstream-b&exclude=zeta&exclude=alpha')), {
    status: 200,
    body: '[+]ping ok\n[+]shutdown ok\n[+]upstream-b excluded: ok\nwarn: some health checks cannot be excluded: no matches for "alpha","zeta"\nreadyz check passed\n',
  });
});

t.test('draining fails readyz with the shutdown check; liveness stays ok', async (t) => {
  const health = new HealthChecks();
  t.equal(health.draining, false);
  health.startDraining();
  t.equal(health.draining, true);
  t.same(await health.evaluate('readyz', query('verbose')), {
    status: 503,
    body: `[+]ping ok\n[-]shutdown failed: ${DRAINING_REASON}\nreadyz check failed\n`,
  });
  t.equal(DRAINING_REASON, 'the gateway is draining');
  t.same(await health.evaluate('livez', query()), { status: 200, body: 'ok' });
  t.same(await health.evaluate('readyz', query(), 'shutdown'), { status: 503, body: 'internal server error: the gateway is draining\n' });
  t.same(await health.evaluate('readyz', query(), 'ping'), { status: 200, body: 'ok' });
  t.equal(await health.evaluate('readyz', query(), 'nothing'), undefined);
});

t.test('a check that hangs fails after its timeout and is told to stop', async (t) => {
  const health = new HealthChecks({ defaultTimeoutMs: 30 });
  let aborted = false;
  health.addReadinessCheck({
    name: 'hangs',
    check: (signal) =>
      new Promise<void>(() => {
        signal.addEventListener('abort', () => (aborted = true));
      }),
  });
  health.addReadinessCheck({ name: 'slow-but-allowed', timeoutMs: 5_000, check: () => new Promise((resolve) => setTimeout(resolve, 60)) });
  health.addLivenessCheck({
    name: 'throws-synchronously',
    check: () => {
      throw new Error('no event loop for you');
    },
  });
  t.same(await health.evaluate('readyz', query()), {
    status: 503,
    body: '[+]ping ok\n[+]shutdown ok\n[-]hangs failed: timed out after 30 ms\n[+]slow-but-allowed ok\n[-]throws-synchronously failed: no event loop for you\nreadyz check failed\n',
  });
  t.equal(aborted, true);
});

t.test('concurrent probes share one run of a check; state changes are logged once each', async (t) => {
  const logs = new LogRecorder();
  const health = new HealthChecks({ logger: createLogger({ destination: logs }) });
  let runs = 0;
  let healthy = false;
  let release: () => void = () => {};
  health.addReadinessCheck({
    name: 'upstream-default',
    check: async () => {
      runs++;
      await new Promise<void>((resolve) => (release = resolve));
      if (!healthy) throw new Error('connection refused');
    },
  });
  const first = health.evaluate('readyz', query());
  const second = health.evaluate('readyz', query('verbose'));
  release();
  t.equal((await first)?.status, 503);
  t.equal((await second)?.status, 503);
  t.equal(runs, 1);

  const again = health.evaluate('readyz', query());
  release();
  await again;
  t.equal(runs, 2);
  healthy = true;
  const recovered = health.evaluate('readyz', query());
  release();
  t.same(await recovered, { status: 200, body: 'ok' });
  t.same(
    logs.records.map((record) => [record.event, record.check, record.reason]),
    [
      ['health-check-failed', 'upstream-default', 'connection refused'],
      ['health-check-ok', 'upstream-default', undefined],
    ],
    'one line when it failed, none while it stayed failed, one when it recovered',
  );
});

t.test('check names are validated and unique', async (t) => {
  const health = new HealthChecks();
  t.throws(() => health.addReadinessCheck(passing('shutdown')), /"shutdown" is already registered/);
  t.throws(() => health.addLivenessCheck(passing('has space')), /letters, digits/);
  health.addLivenessCheck(passing('event-loop'));
  t.throws(() => health.addReadinessCheck(passing('event-loop')), /already registered/);
});

async function get(url: string, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .request(url, { method, agent: false }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
      })
      .on('error', reject)
      .end();
  });
}

t.test('admin server: health endpoints, /metrics, 404 and 405', async (t) => {
  const health = new HealthChecks();
  const metrics = new GatewayMetrics({ upstreams: ['default'], defaultMetrics: false });
  metrics.sessionStarted({ kind: 'exec', clientProtocol: 'v5.channel.k8s.io', upstream: 'default' });
  const logs = new LogRecorder();
  const admin = await startAdminServer({ listen: { host: '127.0.0.1', port: 0 }, health, metrics, logger: createLogger({ destination: logs }) });
  t.teardown(() => admin.close());
  t.equal(admin.url, `http://127.0.0.1:${admin.port}`);
  t.equal(logs.records[0]?.event, 'admin-listening');

  const ready = await get(`${admin.url}/readyz?verbose`);
  t.equal(ready.status, 200);
  t.equal(ready.body, '[+]ping ok\n[+]shutdown ok\nreadyz check passed\n');
  t.equal(ready.headers['content-type'], 'text/plain; charset=utf-8');
  t.equal(ready.headers['x-content-type-options'], 'nosniff');
  t.same([(await get(`${admin.url}/livez`)).body, (await get(`${admin.url}/healthz/`)).body, (await get(`${admin.url}/livez/ping`)).body], ['ok', 'ok', 'ok']);

  health.startDraining();
  const draining = await get(`${admin.url}/readyz`);
  t.equal(draining.status, 503);
  t.equal(draining.body, '[+]ping ok\n[-]shutdown failed: the gateway is draining\nreadyz check failed\n');
  const head = await get(`${admin.url}/readyz`, 'HEAD');
  t.equal(head.status, 503);
  t.equal(head.body, '');

  const scraped = await get(`${admin.url}/metrics`);
  t.equal(scraped.status, 200);
  t.equal(scraped.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  t.ok(scraped.body.includes('kube_stream_gateway_sessions_active{kind="exec",client_protocol="v5.channel.k8s.io",upstream="default"} 1\n'));

  t.equal((await get(`${admin.url}/readyz/nothing`)).status, 404);
  t.equal((await get(`${admin.url}/readyz/%E0%A4%A`)).status, 400, 'a malformed escape is refused, not thrown');
  t.equal((await get(`${admin.url}/readyz`)).status, 503, 'and the server is still up');
  t.equal((await get(`${admin.url}/`)).status, 404);
  const post = await get(`${admin.url}/readyz`, 'POST');
  t.equal(post.status, 405);
  t.equal(post.headers.allow, 'GET, HEAD');
  t.equal((await get(`${admin.url}/metrics`, 'DELETE')).status, 405);
});

t.test('admin server: a failing /metrics answers 500 and is logged; without metrics /metrics is 404', async (t) => {
  const logs = new LogRecorder();
  const broken = await startAdminServer({
    listen: { host: '127.0.0.1', port: 0 },
    health: new HealthChecks(),
    metrics: { render: async () => Promise.reject(new Error('registry exploded')) },
    logger: createLogger({ destination: logs }),
  });
  const answer = await get(`${broken.url}/metrics`);
  await broken.close();
  t.same([answer.status, answer.body], [500, 'internal server error: registry exploded\n']);
  t.ok(logs.find((record) => record.event === 'metrics-failed').length === 1);

  const bare = await startAdminServer({ listen: { host: '127.0.0.1', port: 0 }, health: new HealthChecks() });
  t.equal((await get(`${bare.url}/metrics`)).status, 404);
  await bare.close();
});

async function listening(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

t.test('upstream check: any HTTP answer is reachable; path prefix and credential are used', async (t) => {
  const seen: http.IncomingHttpHeaders[] = [];
  const paths: string[] = [];
  const upstream = http.createServer((request, response) => {
    seen.push(request.headers);
    paths.push(request.url!);
    if (request.url === '/stream/healthz') {
      // Headers, then a body that never ends: the check must not wait for it, nor trip on its abort.
      response.writeHead(200);
      response.write('x'.repeat(64 * 1024));
      return;
    }
    response.writeHead(401).end('Unauthorized');
  });
  const port = await listening(upstream);
  t.teardown(() => upstream.close());
  const target: UpstreamTarget = { url: new URL(`http://127.0.0.1:${port}/prefix`), insecureSkipTlsVerify: false, credentials: { bearerToken: 'gw-token' } };
  const health = new HealthChecks();
  health.addReadinessCheck(upstreamReachableCheck('default', target));
  health.addReadinessCheck(upstreamReachableCheck('by-getter', () => ({ ...target, credentials: {} }), { path: '/version', timeoutMs: 1_000 }));
  health.addReadinessCheck(upstreamReachableCheck('streaming', { url: new URL(`http://127.0.0.1:${port}/stream`), insecureSkipTlsVerify: false }));
  t.same(await health.evaluate('readyz', query('verbose')), {
    status: 200,
    body: '[+]ping ok\n[+]shutdown ok\n[+]upstream-default ok\n[+]upstream-by-getter ok\n[+]upstream-streaming ok\nreadyz check passed\n',
  });
  t.same(paths.sort(), ['/prefix/healthz', '/prefix/version', '/stream/healthz']);
  t.same(seen.map((headers) => headers.authorization).sort(), ['Bearer gw-token', undefined, undefined]);
  // Run it again after the aborted body has surfaced: nothing crashed, and it is still reachable.
  await new Promise((resolve) => setImmediate(resolve));
  t.same(await health.evaluate('readyz', query(), 'upstream-streaming'), { status: 200, body: 'ok' });
  t.equal(seen[0]!.host, `127.0.0.1:${port}`);
});

t.test('upstream check: refused, silent and untrusted upstreams are not reachable', async (t) => {
  const refusedPort = await closedPort();
  // Accepts connections and never answers.
  const silent = net.createServer(() => {});
  const silentPort = await listening(silent);
  t.teardown(() => silent.close());

  const ca = await createCertificateAuthority('upstream CA');
  const otherCa = await createCertificateAuthority('someone else');
  const issued = await ca.issueServerCertificate(['127.0.0.1', 'localhost']);
  const secure = https.createServer({ cert: issued.certPem, key: issued.keyPem }, (_request, response) => response.end('ok'));
  const securePort = await listening(secure);
  t.teardown(() => secure.close());

  const health = new HealthChecks({ defaultTimeoutMs: 300 });
  const at = (port: number, scheme = 'http', extra: Partial<UpstreamTarget> = {}): UpstreamTarget => ({
    url: new URL(`${scheme}://127.0.0.1:${port}`),
    insecureSkipTlsVerify: false,
    ...extra,
  });
  health.addReadinessCheck(upstreamReachableCheck('refused', at(refusedPort)));
  health.addReadinessCheck(upstreamReachableCheck('silent', at(silentPort)));
  health.addReadinessCheck(upstreamReachableCheck('untrusted', at(securePort, 'https', { ca: otherCa.caCertPem })));
  health.addReadinessCheck(upstreamReachableCheck('trusted', at(securePort, 'https', { ca: ca.caCertPem, credentials: { clientCert: issued.certPem, clientKey: issued.keyPem } })));
  health.addReadinessCheck(upstreamReachableCheck('unresolvable', { url: new URL('https://no-such-host.invalid:6443'), insecureSkipTlsVerify: false }, { timeoutMs: 5_000 }));
  const answer = await health.evaluate('readyz', query());
  t.equal(answer?.status, 503);
  const lines = answer!.body.split('\n');
  t.equal(lines[2], `[-]upstream-refused failed: connection refused by 127.0.0.1:${refusedPort}`);
  t.equal(lines[3], '[-]upstream-silent failed: timed out after 300 ms');
  t.match(lines[4], /^\[-\]upstream-untrusted failed: 127\.0\.0\.1:\d+: .*(certificate|issuer)/);
  t.equal(lines[5], '[+]upstream-trusted ok');
  t.match(lines[6], /^\[-\]upstream-unresolvable failed: (cannot resolve no-such-host\.invalid|no-such-host\.invalid:6443: .+)$/);
  t.equal(lines[7], 'readyz check failed');
});

t.test('per-upstream readiness: outside /readyz, at /readyz/upstream/NAME, state kept, outcomes reported', async (t) => {
  const logs = new LogRecorder();
  const outcomes: Array<[string, boolean]> = [];
  const health = new HealthChecks({ logger: createLogger({ destination: logs }), onUpstreamOutcome: (upstream, reachable) => outcomes.push([upstream, reachable]) });
  let bUp = false;
  health.addUpstreamCheck('a', passing('upstream-a'));
  health.addUpstreamCheck('b', { name: 'upstream-b', check: async () => (bUp ? undefined : Promise.reject(new Error('connection refused by 10.0.0.2:6443'))) });
  t.throws(() => health.addUpstreamCheck('a', passing('upstream-a2')), /already registered/);
  t.equal(health.upstreamState('b'), 'unknown', 'unknown before the first check');

  // The gateway's own readiness does not depend on any upstream.
  t.same(await health.evaluate('readyz', query('verbose')), { status: 200, body: '[+]ping ok\n[+]shutdown ok\nreadyz check passed\n' });
  t.same(await health.evaluate('readyz', query(), undefined, 'a'), { status: 200, body: 'ok' });
  t.same(await health.evaluate('readyz', query(), undefined, 'b'), { status: 503, body: 'internal server error: connection refused by 10.0.0.2:6443\n' });
  t.equal(await health.evaluate('readyz', query(), undefined, 'nope'), undefined);
  t.equal(await health.evaluate('livez', query(), undefined, 'a'), undefined, 'only under /readyz');
  t.equal(health.upstreamState('a'), 'reachable');
  t.equal(health.upstreamState('b'), 'unreachable');
  bUp = true;
  t.equal(await health.checkUpstream('b'), undefined);
  t.equal(health.upstreamState('b'), 'reachable');
  t.same(outcomes, [['a', true], ['b', false], ['b', true]]);
  t.same(
    logs.records.map((record) => [record.event, record.upstream, record.reason]),
    [
      ['health-check-failed', 'b', 'connection refused by 10.0.0.2:6443'],
      ['health-check-ok', 'b', undefined],
    ],
    'one log line per change, naming the upstream',
  );
});

t.test('watchUpstreams checks every upstream at once and then on its interval, until stopped', async (t) => {
  const health = new HealthChecks();
  let runs = 0;
  let ran: () => void = () => {};
  health.addUpstreamCheck('a', {
    name: 'upstream-a',
    check: async () => {
      runs++;
      ran();
    },
  });
  const nextRun = (): Promise<void> => new Promise((resolve) => (ran = resolve));
  // The watcher's timer is unref'd (it must not keep a process alive): hold the loop meanwhile.
  const keepAlive = setTimeout(() => undefined, 10_000);
  const first = nextRun();
  const stop = health.watchUpstreams(20);
  await first;
  t.equal(runs, 1, 'checked at once');
  await nextRun();
  stop();
  clearTimeout(keepAlive);
  t.equal(runs, 2, 'and again on the interval');
});

t.test('admin server: /readyz/upstream/NAME', async (t) => {
  const health = new HealthChecks();
  health.addUpstreamCheck('alpha', passing('upstream-alpha'));
  health.addUpstreamCheck('beta', failing('upstream-beta', 'connection refused by 127.0.0.1:1'));
  const admin = await startAdminServer({ listen: { host: '127.0.0.1', port: 0 }, health });
  t.teardown(() => admin.close());
  t.same(await get(`${admin.url}/readyz`).then((r) => [r.status, r.body]), [200, 'ok'], 'the gateway itself is ready');
  t.same(await get(`${admin.url}/readyz/upstream/alpha`).then((r) => [r.status, r.body]), [200, 'ok']);
  t.same(await get(`${admin.url}/readyz/upstream/beta`).then((r) => [r.status, r.body]), [503, 'internal server error: connection refused by 127.0.0.1:1\n']);
  t.equal((await get(`${admin.url}/readyz/upstream/gamma`)).status, 404);
  t.equal((await get(`${admin.url}/livez/upstream/alpha`)).status, 404);
});
