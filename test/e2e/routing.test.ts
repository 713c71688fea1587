// Two legacy clusters behind one gateway: kubectl reaches each by path prefix (/clusters/{name}/)
// or by host name, exec is translated toward the right one, and an unknown cluster is a 404 Status.
import t from 'tap';
import https from 'node:https';
import { createLogger } from '../../src/observability/logger.js';
import { startGateway, type Gateway } from '../../src/server/gateway.js';
import { startTestClusters, type TestClusters } from '../helpers/clusters.js';
import { LogRecorder } from '../helpers/log-recorder.js';
import { runKubectl } from '../helpers/run-kubectl.js';

let env: TestClusters;
let gateway: Gateway;
const gatewayLogs = new LogRecorder();
t.before(async () => {
  env = await startTestClusters(['alpha', 'beta']);
  const [alpha, beta] = env.clusters;
  gateway = await startGateway({
    listen: { host: '127.0.0.1', port: 0 },
    tls: env.serverTls,
    // Both names resolve to this machine: "localhost" routes by host, 127.0.0.1 matches no host.
    upstreams: [
      { name: 'alpha', target: alpha!.target, hosts: ['localhost'] },
      { name: 'beta', target: beta!.target },
    ],
    logger: createLogger({ destination: gatewayLogs, level: 'debug' }),
  });
});
t.teardown(async () => {
  await gateway.close();
  await env.close();
});

const clusterSessions = (index: number) => env.clusters[index]!.logs.find((record) => record.event === 'session-end');

t.test('by prefix: kubectl 1.33 get and exec reach the named cluster, translated', async (t) => {
  const beta = env.clusters[1]!;
  const kubeconfig = await env.kubeconfig('beta-prefix', `${gateway.url}/clusters/beta`, beta.token);
  const pods = await runKubectl(33, ['get', 'pods', '-o', 'name'], { kubeconfig });
  t.equal(pods.code, 0, pods.stderr);
  t.equal(pods.stdout.toString(), 'pod/demo\n');

  const before = [clusterSessions(0).length, clusterSessions(1).length];
  const exec = await runKubectl(33, ['exec', '-i', 'demo', '--', 'cat'], { kubeconfig, stdin: 'to beta\n' });
  t.equal(exec.code, 0, exec.stderr);
  t.equal(exec.stdout.toString(), 'to beta\n');
  t.equal(clusterSessions(1).length, before[1]! + 1, 'beta ran the session');
  t.equal(clusterSessions(0).length, before[0], 'alpha did not');
  const end = gatewayLogs.find((record) => record.event === 'session-end').at(-1)!;
  t.equal(end.upstream, 'beta');
  t.equal(end.clientProtocol, 'v5.channel.k8s.io', 'WebSocket from kubectl');
  t.equal(end.upstreamProtocol, 'v4.channel.k8s.io', 'SPDY toward the cluster');
});

t.test('by host: the Host header picks the cluster', async (t) => {
  const alpha = env.clusters[0]!;
  const kubeconfig = await env.kubeconfig('alpha-host', gateway.url.replace('127.0.0.1', 'localhost'), alpha.token);
  const before = [clusterSessions(0).length, clusterSessions(1).length];
  const exec = await runKubectl(33, ['exec', 'demo', '--', 'echo', 'alpha here'], { kubeconfig });
  t.equal(exec.code, 0, exec.stderr);
  t.equal(exec.stdout.toString(), 'alpha here\n');
  t.equal(clusterSessions(0).length, before[0]! + 1, 'alpha ran the session');
  t.equal(clusterSessions(1).length, before[1], 'beta did not');
  t.equal(gatewayLogs.find((record) => record.event === 'session-end').at(-1)!.upstream, 'alpha');
});

t.test("each cluster keeps its own credentials: alpha's token is refused by beta", async (t) => {
  const kubeconfig = await env.kubeconfig('beta-wrong-token', `${gateway.url}/clusters/beta`, env.clusters[0]!.token);
  const result = await runKubectl(33, ['get', 'pods'], { kubeconfig });
  t.not(result.code, 0);
  t.match(result.stderr, /Unauthorized|must be logged in/);
});

t.test('an unknown cluster or host is a 404 Status', async (t) => {
  const unknownPrefix = await env.kubeconfig('gamma', `${gateway.url}/clusters/gamma`, env.clusters[0]!.token);
  const byPrefix = await runKubectl(33, ['get', 'pods'], { kubeconfig: unknownPrefix });
  t.not(byPrefix.code, 0);
  const noHost = await env.kubeconfig('no-host', gateway.url, env.clusters[0]!.token);
  const byHost = await runKubectl(33, ['exec', 'demo', '--', 'true'], { kubeconfig: noHost });
  t.not(byHost.code, 0);
  t.match(byHost.stderr, /NotFound/, 'kubectl reports the 404');
  const noHostAnswer = await get(`${gateway.url}/api`);
  t.match(JSON.parse(noHostAnswer.body), { code: 404, message: /no cluster for host "127\.0\.0\.1"/ });

  const answer = await get(`${gateway.url}/clusters/gamma/api`);
  t.equal(answer.status, 404);
  t.match(JSON.parse(answer.body), { kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404, message: 'no cluster named "gamma" behind this gateway' });
  t.notMatch(answer.body, /alpha|beta/, 'names of the clusters are not revealed by default');
});

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca: env.ca.caCertPem }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}
