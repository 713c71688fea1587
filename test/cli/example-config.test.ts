// The shipped example configuration must stay valid and complete: every key known, every value well
// typed, every setting of `serve` shown (set or commented out), and it resolves once its files exist.
import t from 'tap';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadGatewayConfig, readSettingsFile } from '../../src/config/gateway-config.js';
import { createCertificateAuthority } from '../../src/tls/certificate-authority.js';

const EXAMPLE = new URL('../../config/gateway.example.yaml', import.meta.url).pathname;

t.test('config/gateway.example.yaml is accepted by the reader', async (t) => {
  const settings = await readSettingsFile(EXAMPLE);
  t.equal(settings.listen, '127.0.0.1:8443');
  t.equal(settings.upstream, 'https://legacy-apiserver.example.internal:6443');
  t.equal(settings['upstream-insecure-skip-tls-verify'], false);
});

t.test('it shows every setting of serve', async (t) => {
  const text = await readFile(EXAMPLE, 'utf8');
  for (const name of ['listen', 'tls-cert', 'tls-key', 'upstream', 'upstream-kubeconfig', 'upstream-context', 'upstream-ca', 'upstream-insecure-skip-tls-verify', 'log-level']) {
    t.match(text, new RegExp(`^(# )?${name}: `, 'm'), name);
  }
});

t.test('it resolves to a gateway configuration once the files it names exist', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ksg-example-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = await createCertificateAuthority();
  const issued = await ca.issueServerCertificate(['gateway.example.internal']);
  await writeFile(join(dir, 'tls.crt'), issued.certPem);
  await writeFile(join(dir, 'tls.key'), issued.keyPem);
  await writeFile(join(dir, 'legacy-ca.crt'), ca.caCertPem);
  const copy = join(dir, 'gateway.yaml');
  await writeFile(copy, (await readFile(EXAMPLE, 'utf8')).replaceAll('/etc/kube-stream-gateway/', ''));
  const config = await loadGatewayConfig({}, copy);
  t.same(config.listen, { host: '127.0.0.1', port: 8443 });
  t.equal(config.tls?.cert, issued.certPem);
  t.equal(config.upstream.url.href, 'https://legacy-apiserver.example.internal:6443/');
  t.equal(config.upstream.ca, ca.caCertPem);
  t.equal(config.logLevel, 'info');
});
