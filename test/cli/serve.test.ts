// `kube-stream-gateway legacy-cluster` and `serve` as processes, as an operator runs them: the cluster
// with a token file and TLS; the gateway from a --config file (paths relative to it, a flag winning)
// or from a kubeconfig; kubectl through it over WebSocket; SIGTERM ends each with exit 0.
import t, { type Test } from 'tap';
import https from 'node:https';
import { createServer } from 'node:net';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createCertificateAuthority } from '../../src/net/certificate-authority.js';
import { renderKubeconfig } from '../../src/config/kubeconfig.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import { CliProcess } from './cli-process.js';

let dir: string;
let caPem: string;
const token = randomBytes(24).toString('base64url');
let cluster: CliProcess;
let clusterUrl: string;

t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ksg-serve-'));
  const ca = await createCertificateAuthority();
  caPem = ca.caCertPem;
  const issued = await ca.issueServerCertificate(['127.0.0.1', 'localhost']);
  await mkdir(join(dir, 'etc'));
  await writeFile(join(dir, 'etc', 'tls.crt'), issued.certPem);
  await writeFile(join(dir, 'etc', 'tls.key'), issued.keyPem);
  await writeFile(join(dir, 'etc', 'ca.crt'), caPem);
  await writeFile(join(dir, 'token'), `${token}\n`, { mode: 0o600 });
  cluster = new CliProcess([
    'legacy-cluster', '--listen', '127.0.0.1:0', '--token-file', join(dir, 'token'),
    '--tls-cert', join(dir, 'etc', 'tls.crt'), '--tls-key', join(dir, 'etc', 'tls.key'),
  ]);
  clusterUrl = await cluster.listeningUrl();
});
t.teardown(async () => {
  await cluster?.stop('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

function getStatus(url: string, bearer?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers = bearer ? { authorization: `Bearer ${bearer}` } : {};
    https.get(new URL('/version', url), { ca: caPem, headers, agent: false }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    }).on('error', reject);
  });
}

async function kubectlThrough(t: Test, gatewayUrl: string, name: string, gateway: CliProcess): Promise<void> {
  const kubeconfig = join(dir, `${name}.kubeconfig`);
  await writeFile(kubeconfig, renderKubeconfig({ server: gatewayUrl, caPem, token }));
  const pods = await runKubectl(33, ['get', 'pods'], { kubeconfig });
  t.equal(pods.code, 0, pods.stderr);
  t.match(pods.stdout.toString(), /\ndemo\s+\d+\/\d+\s+Running/, 'get pods, proxied');
  const cat = await runKubectl(33, ['exec', '-i', 'demo', '--', 'cat'], { kubeconfig, stdin: `${name}\n` });
  t.equal(cat.code, 0, cat.stderr);
  t.equal(cat.stdout.toString(), `${name}\n`, 'exec with stdin, translated');
  const session = await gateway.waitForLog('the session-end line', (line) => line.event === 'session-end');
  t.equal(session.clientProtocol, 'v5.channel.k8s.io', 'WebSocket from kubectl');
  t.equal(session.upstreamProtocol, 'v4.channel.k8s.io', 'SPDY to the legacy cluster');
}

t.test('legacy-cluster: TLS, the token from --token-file is required, logs JSON', async (t) => {
  t.match(clusterUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
  t.equal(await getStatus(clusterUrl, token), 200, 'with the token');
  t.equal(await getStatus(clusterUrl), 401, 'without it');
  t.equal(await getStatus(clusterUrl, 'wrong'), 401, 'with another');
  t.notOk(cluster.stdout.includes(token), 'the token is never logged');
  t.equal(cluster.stderr, '', 'nothing on stderr');
});

t.test('serve --config: paths relative to the file, a flag wins, kubectl works through it, SIGTERM exits 0', async (t) => {
  // The file's listen address is taken: the gateway can only start if the --listen flag wins.
  const held = createServer();
  await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
  t.teardown(() => held.close());
  const config = join(dir, 'etc', 'gateway.yaml');
  await writeFile(
    config,
    `listen: 127.0.0.1:${(held.address() as { port: number }).port}
tls: {cert: tls.crt, key: tls.key}
admin: {listen: "off"}
upstreams: [{name: legacy, server: "${clusterUrl}", ca: ca.crt}]
logging: {level: info}
`,
  );
  const gateway = new CliProcess(['serve', '--config', config, '--listen', '127.0.0.1:0'], { cwd: dir });
  t.teardown(() => gateway.stop('SIGKILL'));
  const url = await gateway.listeningUrl();
  t.match(url, /^https:\/\/127\.0\.0\.1:\d+$/, 'HTTPS on a free port');
  await kubectlThrough(t, url, 'config-file', gateway);
  t.notOk(gateway.stdout.includes(token), 'the token is never logged');
  t.equal(await gateway.stop('SIGTERM'), 0);
  t.ok(gateway.jsonLines().some((line) => line.event === 'stopped'), 'logged its stop');
  t.equal(gateway.stderr, '', 'nothing on stderr');
});

t.test('serve --upstream-kubeconfig: server and CA from the kubeconfig; SIGINT exits 0', async (t) => {
  const kubeconfig = join(dir, 'etc', 'legacy.kubeconfig');
  await writeFile(
    kubeconfig,
    `apiVersion: v1
kind: Config
current-context: other
clusters:
- {name: legacy, cluster: {server: "${clusterUrl}", certificate-authority: ca.crt}}
- {name: elsewhere, cluster: {server: "https://127.0.0.1:1"}}
users:
- {name: admin, user: {tokenFile: ../token}}
contexts:
- {name: legacy, context: {cluster: legacy, user: admin}}
- {name: other, context: {cluster: elsewhere}}
`,
  );
  const gateway = new CliProcess(['serve', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--upstream-kubeconfig', kubeconfig, '--upstream-context', 'legacy', '--tls-cert', join(dir, 'etc', 'tls.crt'), '--tls-key', join(dir, 'etc', 'tls.key')]);
  t.teardown(() => gateway.stop('SIGKILL'));
  const url = await gateway.listeningUrl();
  await kubectlThrough(t, url, 'kubeconfig', gateway);
  t.equal(await gateway.stop('SIGINT'), 0);
});

t.test('legacy-cluster: SIGTERM exits 0', async (t) => {
  t.equal(await cluster.stop('SIGTERM'), 0);
  t.equal(cluster.stderr, '');
});
