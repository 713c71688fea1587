// The shipped examples and the reference cannot drift from the schema: gateway.example.yaml shows
// every field (set or commented out), both examples pass check-config once the files they name
// exist, and docs/configuration.md is exactly what the schema generates.
import t from 'tap';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadGatewayConfig } from '../../src/config/gateway-config.js';
import { configurationFields, renderConfigurationReference } from '../../src/config/reference.js';
import { createCertificateAuthority } from '../../src/net/certificate-authority.js';
import { cli } from './cli-process.js';

const EXAMPLE = new URL('../../config/gateway.example.yaml', import.meta.url).pathname;
const MULTI = new URL('../../config/gateway.multi-cluster.example.yaml', import.meta.url).pathname;
const REFERENCE = new URL('../../docs/configuration.md', import.meta.url).pathname;

let dir: string;
t.before(async () => {
  // The files the examples name, under the same relative paths (/etc/kube-stream-gateway/ stripped).
  dir = await mkdtemp(join(tmpdir(), 'ksg-example-'));
  const ca = await createCertificateAuthority();
  const server = await ca.issueServerCertificate(['gateway.example.internal']);
  const client = await ca.issueServerCertificate(['gateway-client']);
  const files: Record<string, string> = {
    'tls.crt': server.certPem,
    'tls.key': server.keyPem,
    'tls/tls.crt': server.certPem,
    'tls/tls.key': server.keyPem,
    'client-ca.crt': ca.caCertPem,
    'legacy-ca.crt': ca.caCertPem,
    'legacy-a/ca.crt': ca.caCertPem,
    'legacy-a/token': 'gateway-token\n',
    'legacy-b/client.crt': client.certPem,
    'legacy-b/client.key': client.keyPem,
    'tokens.csv': 'secret,alice,1,"devs"\n',
  };
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), content);
  }
  await writeFile(
    join(dir, 'legacy-b', 'kubeconfig'),
    `current-context: gateway
clusters: [{name: b, cluster: {server: "https://10.0.0.2:6443", certificate-authority-data: ${Buffer.from(ca.caCertPem).toString('base64')}}}]
users: [{name: gw, user: {client-certificate: client.crt, client-key: client.key}}]
contexts: [{name: gateway, context: {cluster: b, user: gw}}]
`,
  );
  for (const [source, name] of [[EXAMPLE, 'gateway.yaml'], [MULTI, 'multi.yaml']] as const) {
    await writeFile(join(dir, name), (await readFile(source, 'utf8')).replaceAll('/etc/kube-stream-gateway/', ''));
  }
});
t.teardown(() => rm(dir, { recursive: true, force: true }));

t.test('gateway.example.yaml shows every field of the schema, set or commented out', async (t) => {
  const text = await readFile(EXAMPLE, 'utf8');
  for (const field of configurationFields()) {
    const key = field.path.split('.').pop()!.replace('[]', '');
    t.match(text, new RegExp(`^\\s*(#\\s*)?(- )?${key}:`, 'm'), field.path);
  }
});

t.test('gateway.example.yaml resolves to a gateway configuration once its files exist', async (t) => {
  const config = await loadGatewayConfig({ config: join(dir, 'gateway.yaml') }, {});
  t.same(config.listen, { host: '127.0.0.1', port: 8443 });
  t.ok(config.tls?.cert.includes('BEGIN CERTIFICATE'));
  t.same(config.admin, { host: '127.0.0.1', port: 9090 });
  t.equal(config.upstreams.length, 1);
  t.equal(config.upstreams[0]!.url.href, 'https://legacy-apiserver.example.internal:6443/');
  t.equal(config.upstreams[0]!.files.ca, join(dir, 'legacy-ca.crt'));
  t.equal(config.auth.mode, 'passthrough');
  t.equal(config.audit, undefined, 'a commented-out section is its defaults');
  t.same(config.logging, { level: 'info', format: 'auto' });
});

t.test('both examples pass check-config; the multi-cluster one in edge mode with two upstreams', async (t) => {
  const single = await cli(['check-config', '--config', 'gateway.yaml'], { cwd: dir });
  t.equal(single.code, 0, single.stderr);
  t.equal(single.stderr, '');
  t.equal(
    single.stdout,
    'gateway.yaml: ok\nlisten https://127.0.0.1:8443; admin 127.0.0.1:9090; 1 upstream: legacy https://legacy-apiserver.example.internal:6443/ (hosts legacy.example.com); default upstream legacy; auth passthrough\n',
  );
  const multi = await cli(['check-config', '--config', 'multi.yaml'], { cwd: dir });
  t.equal(multi.code, 0, multi.stderr);
  t.equal(
    multi.stdout,
    'multi.yaml: ok\nlisten https://0.0.0.0:8443; admin 0.0.0.0:9090; 2 upstreams: legacy-a https://10.0.0.1:6443/ (hosts legacy-a.example.com), legacy-b https://10.0.0.2:6443/ (hosts legacy-b.example.com); default upstream legacy-a; auth edge (authenticators client-certificate, token-file, oidc, token-review; authorization policy)\n',
  );
  const config = await loadGatewayConfig({ config: join(dir, 'multi.yaml') }, {});
  t.same(config.upstreams[1]!.files, { kubeconfig: join(dir, 'legacy-b', 'kubeconfig'), clientCert: join(dir, 'legacy-b', 'client.crt'), clientKey: join(dir, 'legacy-b', 'client.key') }, 'the kubeconfig user\'s certificate files, for reloading');
  t.ok(config.upstreams[1]!.credentials?.clientCert, 'the credential from the kubeconfig user');
});

t.test('docs/configuration.md is what the schema generates (run npm run docs:config after changing the schema)', async (t) => {
  const committed = await readFile(REFERENCE, 'utf8');
  t.equal(committed, renderConfigurationReference(), 'docs/configuration.md is up to date');
  for (const field of configurationFields()) t.ok(committed.includes(`\`${field.path}\``), field.path);
  for (const variable of ['KSG_CONFIG', 'KSG_LISTEN', 'KSG_ADMIN_LISTEN', 'KSG_LOG_LEVEL', 'KSG_LOG_FORMAT', 'KSG_UPSTREAM', 'KSG_SHUTDOWN_GRACE_PERIOD_SECONDS']) t.ok(committed.includes(`\`${variable}\``), variable);
  for (const field of configurationFields()) t.not(field.description, '', `${field.path} has a description`);
});
