// `serve` settings: the --config file and flags (flags win), errors that name the flag or the file
// and key, paths relative to where the setting came from, and how upstream sources combine.
import t from 'tap';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadGatewayConfig, readSettingsFile, resolveGatewayConfig } from '../../src/config/gateway-config.js';
import { isLoopback, parseListenAddress } from '../../src/config/listen-address.js';
import { ConfigError } from '../../src/config/errors.js';
import { renderKubeconfig } from '../../src/config/kubeconfig.js';
import { createCertificateAuthority } from '../../src/tls/certificate-authority.js';

let dir: string;
let caPem: string;
let cert: { certPem: string; keyPem: string };
let otherKey: string;
t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ksg-config-'));
  const ca = await createCertificateAuthority();
  caPem = ca.caCertPem;
  cert = await ca.issueServerCertificate(['gateway.example']);
  otherKey = (await ca.issueServerCertificate(['other.example'])).keyPem;
  await mkdir(join(dir, 'etc'), { recursive: true });
  await writeFile(join(dir, 'etc', 'tls.crt'), cert.certPem);
  await writeFile(join(dir, 'etc', 'tls.key'), cert.keyPem);
  await writeFile(join(dir, 'etc', 'other.key'), otherKey);
  await writeFile(join(dir, 'etc', 'legacy-ca.crt'), caPem);
  await writeFile(join(dir, 'etc', 'legacy.kubeconfig'), renderKubeconfig({ server: 'https://10.1.2.3:6443', caPem, token: 'kubeconfig-token' }));
});
t.teardown(() => rm(dir, { recursive: true, force: true }));

async function configFile(name: string, text: string): Promise<string> {
  const path = join(dir, 'etc', name);
  await writeFile(path, text);
  return path;
}

t.test('listen addresses', async (t) => {
  t.same(parseListenAddress('127.0.0.1:8080', '--listen'), { host: '127.0.0.1', port: 8080 });
  t.same(parseListenAddress('[::1]:0', '--listen'), { host: '::1', port: 0 });
  t.same(parseListenAddress('gateway.internal:443', '--listen'), { host: 'gateway.internal', port: 443 });
  t.same(parseListenAddress('0.0.0.0:65535', '--listen'), { host: '0.0.0.0', port: 65535 });
  for (const bad of ['', '8080', ':8080', '127.0.0.1', '127.0.0.1:', '127.0.0.1:65536', '::1:8080', '[nope]:80', 'a b:80', 'host:80/x', '[::1]8080']) {
    t.throws(() => parseListenAddress(bad, 'x.yaml: listen'), new RegExp(`^x\\.yaml: listen: expected HOST:PORT.*got ${JSON.stringify(JSON.stringify(bad)).slice(1, -1).replace(/[[\]]/g, '\\$&')}`), JSON.stringify(bad));
  }
  for (const host of ['127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1', 'localhost', 'LOCALHOST']) t.ok(isLoopback(host), host);
  for (const host of ['0.0.0.0', '::', '10.0.0.1', 'example.com', '128.0.0.1', '::2']) t.notOk(isLoopback(host), host);
});

t.test('the file alone: paths relative to its folder', async (t) => {
  const file = await configFile(
    'all.yaml',
    `# every setting
listen: "[::1]:9443"
tls-cert: tls.crt
tls-key: tls.key
upstream: https://legacy.internal:6443/prefix
upstream-ca: legacy-ca.crt
log-level: debug
`,
  );
  const config = await loadGatewayConfig({}, file);
  t.same(config.listen, { host: '::1', port: 9443 });
  t.equal(config.tls?.cert, cert.certPem, 'tls-cert read relative to the file');
  t.equal(config.tls?.key, cert.keyPem);
  t.equal(config.upstream.url.href, 'https://legacy.internal:6443/prefix');
  t.equal(config.upstream.ca, caPem);
  t.equal(config.upstream.insecureSkipTlsVerify, false);
  t.equal(config.logLevel, 'debug');
});

t.test('flags win over the file; defaults fill the rest', async (t) => {
  const file = await configFile('some.yaml', 'listen: 127.0.0.1:1\nupstream: https://from-file:6443\nlog-level: trace\n');
  const config = await loadGatewayConfig({ listen: '127.0.0.1:2', upstream: 'http://from-flag:8080' }, file);
  t.same(config.listen, { host: '127.0.0.1', port: 2 });
  t.equal(config.upstream.url.href, 'http://from-flag:8080/');
  t.equal(config.logLevel, 'trace', 'the file still counts where no flag is given');
  t.equal(config.tls, undefined, 'plain HTTP without tls-cert/tls-key');
  const defaults = await resolveGatewayConfig({ upstream: 'https://x:6443' });
  t.same(defaults.listen, { host: '127.0.0.1', port: 8080 });
  t.equal(defaults.logLevel, 'info');
});

t.test('errors name the flag, or the file and key, the value came from', async (t) => {
  const file = await configFile('bad-listen.yaml', 'listen: nowhere\nupstream: gopher://x\n');
  await t.rejects(loadGatewayConfig({}, file), new RegExp(`^${file.replace(/[.]/g, '\\.')}: listen: expected HOST:PORT`));
  await t.rejects(loadGatewayConfig({ listen: '127.0.0.1:0' }, file), new RegExp(`^${file.replace(/[.]/g, '\\.')}: upstream: must be an http\\(s\\) URL, got "gopher://x"`));
  await t.rejects(loadGatewayConfig({ listen: 'x', upstream: 'https://a' }, file), /^--listen: expected HOST:PORT/);
  const tlsHalf = await configFile('tls-half.yaml', 'tls-cert: tls.crt\nupstream: https://a\n');
  await t.rejects(loadGatewayConfig({}, tlsHalf), /tls-half\.yaml: tls-cert: given without --tls-key \(give both or neither\)/);
  const mismatch = await configFile('mismatch.yaml', 'tls-cert: tls.crt\ntls-key: other.key\nupstream: https://a\n');
  await t.rejects(loadGatewayConfig({}, mismatch), /mismatch\.yaml: tls-cert and .*mismatch\.yaml: tls-key: not a usable PEM certificate and matching key/);
  const missingCa = await configFile('missing-ca.yaml', 'upstream-ca: nope.crt\nupstream: https://a\n');
  await t.rejects(loadGatewayConfig({}, missingCa), new RegExp(`missing-ca\\.yaml: upstream-ca: cannot read ${join(dir, 'etc', 'nope.crt').replace(/[.]/g, '\\.')}: no such file or directory`));
  await t.rejects(loadGatewayConfig({ 'log-level': 'verbose', upstream: 'https://a' }), /^--log-level: must be one of fatal, error, warn, info, debug, trace, silent, got "verbose"/);
  await t.rejects(loadGatewayConfig({ upstream: 'https://a?x=1' }), /--upstream: must not carry a query or fragment/);
  await t.rejects(loadGatewayConfig({ upstream: 'not a url' }), /--upstream: must be an http\(s\) URL, got "not a url"/);
  await t.rejects(loadGatewayConfig({}), /--upstream or --upstream-kubeconfig: one is required/);
  await t.rejects(loadGatewayConfig({ upstream: 'https://a' }, join(dir, 'absent.yaml')), /^--config: cannot read .*absent\.yaml: no such file or directory/);
  await t.rejects(loadGatewayConfig({}, file), ConfigError, 'a ConfigError, printed as one line by the CLI');
});

t.test('the file: unknown keys, wrong types and non-mappings are refused', async (t) => {
  await t.rejects(readSettingsFile(await configFile('typo.yaml', 'listen: 127.0.0.1:1\nupstreams: https://x\n')), /typo\.yaml: upstreams: unknown setting \(known: listen, tls-cert/);
  await t.rejects(readSettingsFile(await configFile('flag-spelling.yaml', '--listen: 127.0.0.1:1\n')), /flag-spelling\.yaml: --listen: unknown setting/);
  await t.rejects(readSettingsFile(await configFile('number.yaml', 'listen: 8080\n')), /number\.yaml: listen: must be a string/);
  await t.rejects(readSettingsFile(await configFile('bool.yaml', 'upstream-insecure-skip-tls-verify: "yes"\n')), /bool\.yaml: upstream-insecure-skip-tls-verify: must be true or false/);
  await t.rejects(readSettingsFile(await configFile('list.yaml', '- listen\n')), /list\.yaml: expected a mapping of settings/);
  await t.rejects(readSettingsFile(await configFile('broken.yaml', 'listen: "unterminated\n')), /broken\.yaml: invalid YAML/);
  t.same(await readSettingsFile(await configFile('empty.yaml', '# nothing\n')), {}, 'an empty file is no settings');
});

t.test('upstream from a kubeconfig; --upstream replaces its server; CA and verification overrides', async (t) => {
  const fromKubeconfig = await resolveGatewayConfig({ 'upstream-kubeconfig': join(dir, 'etc', 'legacy.kubeconfig') });
  t.equal(fromKubeconfig.upstream.url.href, 'https://10.1.2.3:6443/');
  t.equal(fromKubeconfig.upstream.ca, caPem, 'the kubeconfig CA');
  t.same(fromKubeconfig.upstream.credentials, { bearerToken: 'kubeconfig-token' }, 'kept, though passthrough does not use them');

  const relative = await configFile('kc.yaml', 'upstream-kubeconfig: legacy.kubeconfig\nupstream: https://legacy.svc:443\n');
  const overridden = await loadGatewayConfig({}, relative);
  t.equal(overridden.upstream.url.href, 'https://legacy.svc/', 'upstream replaces the server');
  t.equal(overridden.upstream.ca, caPem, 'the kubeconfig still supplies the CA');

  const insecure = await resolveGatewayConfig({ 'upstream-kubeconfig': join(dir, 'etc', 'legacy.kubeconfig'), 'upstream-insecure-skip-tls-verify': true });
  t.equal(insecure.upstream.insecureSkipTlsVerify, true);
  t.equal(insecure.upstream.ca, undefined, 'no CA when verification is off');

  await t.rejects(
    resolveGatewayConfig({ upstream: 'https://a', 'upstream-ca': join(dir, 'etc', 'legacy-ca.crt'), 'upstream-insecure-skip-tls-verify': true }),
    /^--upstream-ca and --upstream-insecure-skip-tls-verify: give one or the other/,
  );
  await t.rejects(resolveGatewayConfig({ upstream: 'https://a', 'upstream-context': 'x' }), /^--upstream-context: only valid with --upstream-kubeconfig/);
  await t.rejects(resolveGatewayConfig({ 'upstream-kubeconfig': join(dir, 'etc', 'legacy.kubeconfig'), 'upstream-context': 'nope' }), /^--upstream-kubeconfig: kubeconfig .*legacy\.kubeconfig: context "nope": not found in contexts/);
  await t.rejects(resolveGatewayConfig({ upstream: 'https://a', 'upstream-ca': join(dir, 'etc', 'tls.key') }), /^--upstream-ca: .*tls\.key holds no PEM certificate/);
});
