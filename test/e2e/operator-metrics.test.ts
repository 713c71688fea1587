// The metrics an operator alerts on, from a gateway built from a real configuration: build_info,
// upgrades by protocol and result, bytes per protocol, proxied request duration, upstream errors for
// plain requests that got no answer, certificate expiry, and reloads per file.
import t from 'tap';
import https from 'node:https';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { loadGatewayConfig } from '../../src/config/gateway-config.js';
import { createLogger } from '../../src/observability/logger.js';
import { startConfiguredGateway, type ConfiguredGateway } from '../../src/server/configured-gateway.js';
import { startTestClusters, type TestClusters } from '../helpers/clusters.js';
import { LogRecorder } from '../helpers/log-recorder.js';
import { runKubectl } from '../helpers/run-kubectl.js';

let env: TestClusters;
let flaky: https.Server;
let running: ConfiguredGateway;
t.before(async () => {
  env = await startTestClusters(['alpha']);
  await writeFile(join(env.dir, 'ca.crt'), env.ca.caCertPem);
  await writeFile(join(env.dir, 'tls.crt'), env.serverTls.cert);
  await writeFile(join(env.dir, 'tls.key'), env.serverTls.key);
  // Reachable (its /healthz answers) but every other request loses its connection unanswered.
  flaky = https.createServer({ cert: env.serverTls.cert, key: env.serverTls.key }, (req, res) => {
    if (req.url === '/healthz') res.end('ok');
    else req.socket.destroy();
  });
  flaky.listen(0, '127.0.0.1');
  await once(flaky, 'listening');
  const configPath = join(env.dir, 'gateway.yaml');
  await writeFile(
    configPath,
    stringify({
      listen: '127.0.0.1:0',
      tls: { cert: 'tls.crt', key: 'tls.key' },
      admin: { listen: 'off' },
      upstreams: [
        { name: 'alpha', server: env.clusters[0]!.cluster.url, ca: 'ca.crt' },
        { name: 'flaky', server: `https://127.0.0.1:${(flaky.address() as AddressInfo).port}`, ca: 'ca.crt' },
      ],
      routing: { defaultUpstream: 'alpha' },
    }),
  );
  running = await startConfiguredGateway(await loadGatewayConfig({ config: configPath }, {}), createLogger({ destination: new LogRecorder() }), { version: '1.2.3-test' });
});
t.teardown(async () => {
  await running?.close();
  flaky?.close();
  await env.close();
});

/** The value of one series, 0 when absent. */
async function metric(series: string): Promise<number> {
  const body = (await running.metrics.render()).body;
  const line = body.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/**
 * The file watcher polls (mounted Secrets change by symlink swap) and nothing announces its reload
 * but the counter itself: read the exposition every 50 ms, for at most 20 s.
 */
async function metricReaches(series: string, value: number): Promise<void> {
  for (let attempt = 0; attempt < 400; attempt++) {
    if ((await metric(series)) >= value) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${series} did not reach ${value}`);
}

function getTls(url: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { agent: false, ca: env.ca.caCertPem, headers: { authorization: `Bearer ${token}` } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

t.test('build_info and the serving certificate expiry', async (t) => {
  t.equal(await metric(`kube_stream_gateway_build_info{version="1.2.3-test",node_version="${process.version}"}`), 1);
  const notAfter = Date.parse(new X509Certificate(env.serverTls.cert).validTo) / 1000;
  t.equal(await metric('kube_stream_gateway_certificate_expiry_timestamp_seconds{certificate="serving",upstream=""}'), notAfter);
});

t.test('a WebSocket exec counts as an upgrade, its bytes per protocol, its discovery as read requests', async (t) => {
  const kubeconfig = await env.kubeconfig('alpha', running.gateway.url, env.clusters[0]!.token);
  const result = await runKubectl(33, ['exec', '-i', 'demo', '--', 'cat'], { kubeconfig, stdin: 'twelve bytes' });
  t.equal(result.code, 0, result.stderr);
  t.equal(await metric('kube_stream_gateway_upgrades_total{protocol="websocket",result="upgraded"}'), 1);
  t.equal(await metric('kube_stream_gateway_protocol_bytes_total{client_protocol="v5.channel.k8s.io",direction="client-to-upstream"}'), 12);
  t.ok((await metric('kube_stream_gateway_proxied_request_duration_seconds_count{upstream="alpha",verb="read",code="2xx"}')) >= 1, "kubectl's pod lookup was timed");
});

t.test('a plain request the upstream never answers is an upstream error', async (t) => {
  t.equal(await getTls(`${running.gateway.url}/clusters/flaky/api/v1/namespaces/default/pods`, 'any-token'), 503);
  t.equal(await metric('kube_stream_gateway_upstream_errors_total{upstream="flaky",reason="request"}'), 1);
  t.equal(await metric('kube_stream_gateway_proxied_request_duration_seconds_count{upstream="flaky",verb="read",code="none"}'), 1);
});

t.test('reloads are counted per file, failures and successes', async (t) => {
  const failures = 'kube_stream_gateway_config_reloads_total{file="upstreams[alpha].ca",result="unusable"}';
  const successes = 'kube_stream_gateway_config_reloads_total{file="upstreams[alpha].ca",result="success"}';
  t.equal(await metric(failures), 0);
  await writeFile(join(env.dir, 'ca.crt'), 'not a certificate\n');
  await metricReaches(failures, 1);
  t.pass('a CA that does not parse is a failure');
  await writeFile(join(env.dir, 'ca.crt'), env.ca.caCertPem);
  await metricReaches(successes, 1);
  t.ok((await metric(successes)) >= 1, 'and the good one a success');
});
