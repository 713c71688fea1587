// `serve --config` as an operator runs it in production: two clusters, the admin listener's metrics
// and readiness, certificate rotation under a running session, and the drain on SIGTERM — with real
// kubectl through a gateway process.
import t, { type Test } from 'tap';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { stringify } from 'yaml';
import { startLegacyCluster } from '../../src/legacy-cluster/cluster.js';
import { createLogger } from '../../src/observability/logger.js';
import { startTestClusters, type TestClusters } from '../helpers/clusters.js';
import { LogRecorder } from '../helpers/log-recorder.js';
import { kubectlPath } from '../helpers/kubectl.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import { until } from '../helpers/wait.js';
import { CliProcess } from '../cli/cli-process.js';

let env: TestClusters;
t.before(async () => {
  env = await startTestClusters(['alpha', 'beta']);
  await writeFile(join(env.dir, 'ca.crt'), env.ca.caCertPem);
  await writeFile(join(env.dir, 'tls.crt'), env.serverTls.cert);
  await writeFile(join(env.dir, 'tls.key'), env.serverTls.key);
});
t.teardown(() => env.close());

interface ServeOptions {
  gracePeriodSeconds?: number;
}

/** A gateway process in front of both clusters, plain names, admin endpoints on a free port. */
async function serve(t: Test, name: string, options: ServeOptions = {}): Promise<{ gateway: CliProcess; url: string; admin: string }> {
  const config = join(env.dir, `${name}.yaml`);
  await writeFile(
    config,
    stringify({
      listen: '127.0.0.1:0',
      tls: { cert: 'tls.crt', key: 'tls.key' },
      admin: { listen: '127.0.0.1:0' },
      upstreams: env.clusters.map(({ name: upstream, cluster }) => ({ name: upstream, server: cluster.url, ca: 'ca.crt' })),
      routing: { defaultUpstream: 'alpha' },
      shutdown: { gracePeriodSeconds: options.gracePeriodSeconds ?? 25 },
    }),
  );
  const gateway = new CliProcess(['serve', '--config', config]);
  t.teardown(() => gateway.stop('SIGKILL'));
  const url = await gateway.listeningUrl();
  const admin = `http://${(await gateway.waitForLog('the admin listening line', (line) => line.event === 'admin-listening')).address as string}`;
  return { gateway, url, admin };
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** A GET to the gateway over TLS with a bearer token. */
function getTls(url: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { agent: false, ca: env.ca.caCertPem, headers: { authorization: `Bearer ${token}` } }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** The value of one series in a Prometheus exposition, 0 when absent. */
function metric(exposition: string, series: string): number {
  const line = exposition.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** `kubectl exec -i … cat` kept running until its stdin is ended. */
function holdCat(kubeconfig: string): { child: ChildProcessWithoutNullStreams; output: () => string; exited: Promise<number | null> } {
  const child = spawn(kubectlPath(33), ['--kubeconfig', kubeconfig, 'exec', '-i', 'demo', '--', 'cat'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

t.test('metrics count the sessions and bytes that went through, per cluster', async (t) => {
  const { url, admin } = await serve(t, 'metrics');
  const kubeconfig = await env.kubeconfig('metrics-beta', `${url}/clusters/beta`, env.clusters[1]!.token);
  const payload = 'x'.repeat(12_345);
  for (let i = 0; i < 2; i++) {
    const result = await runKubectl(33, ['exec', '-i', 'demo', '--', 'cat'], { kubeconfig, stdin: payload });
    t.equal(result.code, 0, result.stderr);
    t.equal(result.stdout.length, payload.length);
  }
  const exposition = (await get(`${admin}/metrics`)).body;
  t.equal(metric(exposition, 'kube_stream_gateway_sessions_ended_total{kind="exec",outcome="completed"}'), 2, 'two exec sessions ended normally');
  t.equal(metric(exposition, 'kube_stream_gateway_session_bytes_total{direction="client-to-upstream",kind="exec"}'), 2 * payload.length, 'stdin bytes, exactly');
  t.equal(metric(exposition, 'kube_stream_gateway_session_bytes_total{direction="upstream-to-client",kind="exec"}'), 2 * payload.length, 'stdout bytes, exactly');
  t.equal(metric(exposition, 'kube_stream_gateway_sessions_active{kind="exec",client_protocol="v5.channel.k8s.io",upstream="beta"}'), 0, 'none active any more');
  t.equal(metric(exposition, 'kube_stream_gateway_upstream_connect_duration_seconds_count{upstream="beta",result="ok"}'), 2, 'two dials toward beta');
  t.ok(metric(exposition, 'kube_stream_gateway_proxied_requests_total{upstream="beta",code="2xx"}') >= 1, "kubectl's discovery and pod lookup were proxied");
  t.notMatch(exposition, /demo|kubernetes-admin/, 'no pod or user names as labels');
});

t.test('readiness per cluster: one unreachable upstream is its own check; the others stay served', async (t) => {
  const { url, admin, gateway } = await serve(t, 'readiness');
  const beta = env.clusters[1]!;
  const betaKubeconfig = await env.kubeconfig('readiness-beta', `${url}/clusters/beta`, beta.token);
  const alphaKubeconfig = await env.kubeconfig('readiness-alpha', url, env.clusters[0]!.token);
  const ready = await get(`${admin}/readyz?verbose`);
  t.equal(ready.status, 200);
  t.equal(ready.body, '[+]ping ok\n[+]shutdown ok\nreadyz check passed\n', "/readyz is the gateway's own readiness");
  t.same(await get(`${admin}/readyz/upstream/alpha`), { status: 200, body: 'ok' });
  t.same(await get(`${admin}/readyz/upstream/beta`), { status: 200, body: 'ok' });
  t.equal(metric((await get(`${admin}/metrics`)).body, 'kube_stream_gateway_upstream_up{upstream="beta"}'), 1);

  const port = beta.cluster.port;
  await beta.cluster.close();
  const down = await get(`${admin}/readyz/upstream/beta`);
  t.equal(down.status, 503);
  t.match(down.body, /connection refused by 127\.0\.0\.1:\d+/);
  t.equal((await get(`${admin}/readyz`)).status, 200, 'the replica stays ready: alpha is still served through it');
  const line = await gateway.waitForLog('the log line for the change', (entry) => entry.event === 'health-check-failed' && entry.upstream === 'beta');
  t.match(String(line.reason), /connection refused/);
  t.equal(metric((await get(`${admin}/metrics`)).body, 'kube_stream_gateway_upstream_up{upstream="beta"}'), 0, 'the gauge says beta is down');
  t.equal(metric((await get(`${admin}/metrics`)).body, 'kube_stream_gateway_upstream_up{upstream="alpha"}'), 1);

  const refused = await getTls(`${url}/clusters/beta/api/v1/namespaces/default/pods`, beta.token);
  t.equal(refused.status, 503);
  t.match(JSON.parse(refused.body), { kind: 'Status', code: 503, reason: 'ServiceUnavailable', message: /the upstream cluster "beta" is unavailable/ }, 'a 503 Status naming the cluster');
  t.notMatch(refused.body, /127\.0\.0\.1:\d+|ECONNREFUSED/, 'no address or errno for the client');
  const kubectlRefused = await runKubectl(33, ['exec', 'demo', '--', 'echo', 'not served'], { kubeconfig: betaKubeconfig });
  t.not(kubectlRefused.code, 0, 'kubectl toward beta fails');
  const alpha = await runKubectl(33, ['exec', 'demo', '--', 'echo', 'alpha still served'], { kubeconfig: alphaKubeconfig });
  t.equal(alpha.code, 0, alpha.stderr);
  t.equal(alpha.stdout.toString(), 'alpha still served\n');

  beta.cluster = await startLegacyCluster({ listen: { host: '127.0.0.1', port }, token: beta.token, tls: env.serverTls, logger: createLogger({ destination: new LogRecorder() }) });
  t.same(await get(`${admin}/readyz/upstream/beta`), { status: 200, body: 'ok' });
  await gateway.waitForLog('the log line for the recovery', (entry) => entry.event === 'health-check-ok' && entry.upstream === 'beta');
  const back = await runKubectl(33, ['exec', 'demo', '--', 'echo', 'beta is back'], { kubeconfig: betaKubeconfig });
  t.equal(back.code, 0, back.stderr);
});

t.test('a rotated listener certificate serves new connections; the running session is untouched', async (t) => {
  const { url } = await serve(t, 'rotation');
  const kubeconfig = await env.kubeconfig('rotation', url, env.clusters[0]!.token);
  const before = await servedCertificate(url);
  const session = holdCat(kubeconfig);
  t.teardown(() => session.child.kill('SIGKILL'));
  session.child.stdin.write('before rotation\n');
  await until(() => session.output() === 'before rotation\n', 'the first echo');

  // As the kubelet rotates a mounted Secret: new files written aside, then swapped in by rename.
  const next = await env.ca.issueServerCertificate(['127.0.0.1', 'localhost']);
  await writeFile(join(env.dir, 'tls.crt.new'), next.certPem);
  await writeFile(join(env.dir, 'tls.key.new'), next.keyPem);
  await rename(join(env.dir, 'tls.key.new'), join(env.dir, 'tls.key'));
  await rename(join(env.dir, 'tls.crt.new'), join(env.dir, 'tls.crt'));
  const expected = new X509Certificate(next.certPem).fingerprint256;
  // The watcher polls (Secrets change by symlink swap, which inotify misses): ask until it has.
  let served = before;
  for (let attempt = 0; served !== expected && attempt < 400; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    served = await servedCertificate(url);
  }
  t.equal(served, expected, 'new connections get the new certificate');
  t.not(before, expected);

  session.child.stdin.end('after rotation\n');
  t.equal(await session.exited, 0, 'the session begun before the rotation ends normally');
  t.equal(session.output(), 'before rotation\nafter rotation\n');
  const fresh = await runKubectl(33, ['exec', 'demo', '--', 'echo', 'new connection'], { kubeconfig });
  t.equal(fresh.code, 0, fresh.stderr);
});

t.test('SIGTERM drains: readiness false, no new sessions, the running one finishes, exit 0', async (t) => {
  const { gateway, url, admin } = await serve(t, 'drain');
  const kubeconfig = await env.kubeconfig('drain', url, env.clusters[0]!.token);
  const session = holdCat(kubeconfig);
  t.teardown(() => session.child.kill('SIGKILL'));
  session.child.stdin.write('one\n');
  await until(() => session.output() === 'one\n', 'the session running');

  gateway.child.kill('SIGTERM');
  await gateway.waitForLog('the draining line', (line) => line.event === 'draining');
  const readiness = await get(`${admin}/readyz?verbose`);
  t.equal(readiness.status, 503, 'not ready while draining');
  t.match(readiness.body, /\[-\]shutdown failed: the gateway is draining/);
  const refused = await runKubectl(33, ['exec', 'demo', '--', 'echo', 'too late'], { kubeconfig });
  t.not(refused.code, 0, 'a new session is refused');
  t.notMatch(refused.stdout.toString(), /too late/);

  session.child.stdin.end('two\n');
  t.equal(await session.exited, 0, 'the running session finished normally within the grace period');
  t.equal(session.output(), 'one\ntwo\n');
  t.equal((await gateway.exited).code, 0, 'exit 0 once drained');
  t.notOk(gateway.jsonLines().some((line) => line.event === 'drain-timeout'), 'no session had to be cut');
});

t.test('after the grace period the remaining sessions end with a Status saying the gateway is shutting down', async (t) => {
  const { gateway, url } = await serve(t, 'drain-timeout', { gracePeriodSeconds: 1 });
  const kubeconfig = await env.kubeconfig('drain-timeout', url, env.clusters[0]!.token);
  const session = holdCat(kubeconfig);
  t.teardown(() => session.child.kill('SIGKILL'));
  session.child.stdin.write('still here\n');
  await until(() => session.output() === 'still here\n', 'the session running');
  gateway.child.kill('SIGTERM');
  t.not(await session.exited, 0, 'kubectl fails');
  t.match(session.output(), /the gateway is shutting down/);
  t.equal((await gateway.exited).code, 0);
  t.ok(gateway.jsonLines().some((line) => line.event === 'drain-timeout'));
});

t.test('a second signal exits at once', async (t) => {
  const { gateway, url } = await serve(t, 'second-signal', { gracePeriodSeconds: 60 });
  const kubeconfig = await env.kubeconfig('second-signal', url, env.clusters[0]!.token);
  const session = holdCat(kubeconfig);
  t.teardown(() => session.child.kill('SIGKILL'));
  session.child.stdin.write('x\n');
  await until(() => session.output() === 'x\n', 'the session running');
  gateway.child.kill('SIGTERM');
  await gateway.waitForLog('the draining line', (line) => line.event === 'draining');
  t.equal(await gateway.stop('SIGTERM'), 143, 'the second SIGTERM does not wait for the 60 s grace period');
});

function servedCertificate(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: hostname, port: Number(port), ca: env.ca.caCertPem, servername: undefined }, () => {
      const fingerprint = socket.getPeerX509Certificate()?.fingerprint256 ?? '';
      socket.destroy();
      resolve(fingerprint);
    });
    socket.on('error', reject);
  });
}
