// The configuration as `serve` loads it: the --config file in the one schema, environment variables
// and flags over it (flags win), every problem found at once, each naming the file and field, the
// variable or the flag; files read relative to the config file and checked; paths kept for reloads.
import t from 'tap';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadGatewayConfig, type ServeFlags } from '../../src/config/gateway-config.js';
import { isLoopback, parseListenAddress } from '../../src/config/listen-address.js';
import { ConfigError } from '../../src/config/errors.js';
import { renderKubeconfig } from '../../src/config/kubeconfig.js';
import { reloadableFiles } from '../../src/config/model.js';
import { ConfigProblems } from '../../src/config/problems.js';
import { createCertificateAuthority } from '../../src/net/certificate-authority.js';

let dir: string;
let etc: string;
let caPem: string;
let cert: { certPem: string; keyPem: string };
t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ksg-config-'));
  etc = join(dir, 'etc');
  const ca = await createCertificateAuthority();
  caPem = ca.caCertPem;
  cert = await ca.issueServerCertificate(['gateway.example']);
  const otherKey = (await ca.issueServerCertificate(['other.example'])).keyPem;
  await mkdir(etc, { recursive: true });
  await writeFile(join(etc, 'tls.crt'), cert.certPem);
  await writeFile(join(etc, 'tls.key'), cert.keyPem);
  await writeFile(join(etc, 'other.key'), otherKey);
  await writeFile(join(etc, 'legacy-ca.crt'), caPem);
  await writeFile(join(etc, 'token'), ' gateway-token \n');
  await writeFile(join(etc, 'empty-token'), '\n');
  await writeFile(join(etc, 'tokens.csv'), 'secret,alice,1,"devs"\n');
  await writeFile(join(etc, 'legacy.kubeconfig'), renderKubeconfig({ server: 'https://10.1.2.3:6443', caPem, token: 'kubeconfig-token' }));
  await writeFile(
    join(etc, 'anonymous.kubeconfig'),
    `current-context: a
clusters: [{name: c, cluster: {server: "https://10.9.9.9:6443", certificate-authority: legacy-ca.crt}}]
contexts: [{name: a, context: {cluster: c}}]
`,
  );
});
t.teardown(() => rm(dir, { recursive: true, force: true }));

async function configFile(name: string, text: string): Promise<string> {
  const path = join(etc, name);
  await writeFile(path, text);
  return path;
}

/** Loads with no environment unless given, relative flag paths against `dir`. */
function load(flags: ServeFlags, env: Record<string, string> = {}): ReturnType<typeof loadGatewayConfig> {
  return loadGatewayConfig(flags, env, dir);
}

/** The problem lines of a load that must fail. */
async function problems(flags: ServeFlags, env: Record<string, string> = {}): Promise<string[]> {
  try {
    await load(flags, env);
  } catch (error) {
    if (error instanceof ConfigProblems) return [...error.lines];
    throw error;
  }
  throw new Error('the configuration was accepted');
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

t.test('the file alone: every section, paths relative to its folder, files read and kept with their paths', async (t) => {
  const file = await configFile(
    'all.yaml',
    `listen: "[::1]:9443"
tls: {cert: tls.crt, key: tls.key, clientCA: legacy-ca.crt}
admin: {listen: 0.0.0.0:9091}
upstreams:
  - name: a
    server: https://legacy-a.internal:6443/prefix
    hosts: [Legacy-A.example.com]
    ca: legacy-ca.crt
    tlsServerName: api.internal
    credential: {tokenFile: token}
  - name: b
    kubeconfig: legacy.kubeconfig
    hosts: [legacy-b.example.com]
    credential: {clientCert: tls.crt, clientKey: tls.key}
routing: {defaultUpstream: b, revealUpstreamNames: true}
auth:
  mode: edge
  authenticators: [oidc, clientCertificate, tokenFile]
  tokenFile: tokens.csv
  oidc: {issuerURL: "https://issuer.example.com", audiences: [kubernetes], ca: legacy-ca.crt}
  authorization:
    mode: policy
    policy: [{groups: [devs], verbs: [exec]}]
  impersonation: [{users: [admin]}]
  allowedOrigins: [https://Console.example.com]
audit: {path: audit.log}
limits: {maxSessions: 5}
logging: {level: debug, format: json}
shutdown: {gracePeriodSeconds: 3}
`,
  );
  const config = await load({ config: file });
  t.equal(config.source, file);
  t.same(config.listen, { host: '::1', port: 9443 });
  t.same(config.admin, { host: '0.0.0.0', port: 9091 });
  t.equal(config.tls?.cert, cert.certPem, 'tls.cert read relative to the file');
  t.equal(config.tls?.key, cert.keyPem);
  t.equal(config.tls?.clientCA, caPem);
  t.same(config.tls?.files, { cert: join(etc, 'tls.crt'), key: join(etc, 'tls.key'), clientCA: join(etc, 'legacy-ca.crt') }, 'paths kept for reloading');

  const [a, b] = config.upstreams;
  t.equal(a!.name, 'a');
  t.equal(a!.url.href, 'https://legacy-a.internal:6443/prefix');
  t.same(a!.hosts, ['legacy-a.example.com'], 'hosts lowercased');
  t.equal(a!.ca, caPem);
  t.equal(a!.serverName, 'api.internal');
  t.equal(a!.insecureSkipTlsVerify, false);
  t.same(a!.credentials, { bearerToken: 'gateway-token' }, 'token file read and trimmed');
  t.same(a!.files, { ca: join(etc, 'legacy-ca.crt'), tokenFile: join(etc, 'token') });
  t.equal(b!.url.href, 'https://10.1.2.3:6443/', 'server from the kubeconfig');
  t.equal(b!.ca, caPem, 'CA from the kubeconfig');
  t.same(b!.credentials, { clientCert: cert.certPem, clientKey: cert.keyPem }, 'credential replaces the kubeconfig user');
  t.same(b!.files, { kubeconfig: join(etc, 'legacy.kubeconfig'), clientCert: join(etc, 'tls.crt'), clientKey: join(etc, 'tls.key') });
  t.same(config.routing, { defaultUpstream: 'b', revealUpstreamNames: true });

  t.equal(config.auth.mode, 'edge');
  t.same(config.auth.authenticators, ['oidc', 'client-certificate', 'token-file'], 'the order given, in the contract names');
  t.same(config.auth.tokenFile, { path: join(etc, 'tokens.csv'), content: 'secret,alice,1,"devs"\n' });
  t.equal(config.auth.oidc?.ca?.content, caPem);
  t.equal(config.auth.oidc?.usernameClaim, 'sub', 'default');
  t.same(config.auth.oidc?.signingAlgorithms, ['RS256'], 'default');
  t.equal(config.auth.oidc?.clockSkewSeconds, 60);
  t.same(config.auth.authorization.policy, [{ users: [], groups: ['devs'], verbs: ['exec'], namespaces: ['*'], pods: ['*'], clusters: ['*'] }], 'rule defaults');
  t.same(config.auth.tokenReview, { cacheTTLSeconds: 120, negativeCacheTTLSeconds: 10 });
  t.same(config.auth.allowedOrigins, ['https://console.example.com']);
  t.same(config.audit, { path: join(etc, 'audit.log'), rotation: { maxSizeBytes: 100 * 1024 * 1024, maxBackups: 10, maxAgeDays: 0 } }, 'rotation on by default');
  t.equal(config.limits.maxSessions, 5);
  t.equal(config.limits.maxSessionsPerUser, 100, 'the rest of limits defaulted');
  t.same(config.logging, { level: 'debug', format: 'json' });
  t.same(config.shutdown, { gracePeriodSeconds: 3 });
  t.same(reloadableFiles(config), [
    { path: join(etc, 'tls.crt'), setting: 'tls.cert' },
    { path: join(etc, 'tls.key'), setting: 'tls.key' },
    { path: join(etc, 'legacy-ca.crt'), setting: 'tls.clientCA' },
    { path: join(etc, 'legacy-ca.crt'), setting: 'upstreams[a].ca' },
    { path: join(etc, 'token'), setting: 'upstreams[a].tokenFile' },
    { path: join(etc, 'tls.crt'), setting: 'upstreams[b].clientCert' },
    { path: join(etc, 'tls.key'), setting: 'upstreams[b].clientKey' },
    { path: join(etc, 'tokens.csv'), setting: 'auth.tokenFile' },
    { path: join(etc, 'legacy-ca.crt'), setting: 'auth.oidc.ca' },
  ], 'every file to watch, with the setting it feeds');
});

t.test('defaults: one upstream is the default; admin on, passthrough, no audit', async (t) => {
  const config = await load({ upstream: 'https://x:6443' });
  t.same(config.listen, { host: '127.0.0.1', port: 8080 });
  t.same(config.admin, { host: '127.0.0.1', port: 9090 });
  t.equal(config.tls, undefined, 'plain HTTP');
  t.equal(config.upstreams.length, 1);
  t.equal(config.upstreams[0]!.name, 'default');
  t.equal(config.routing.defaultUpstream, 'default');
  t.equal(config.routing.revealUpstreamNames, false);
  t.same(config.auth.authenticators, [], 'none in passthrough');
  t.equal(config.auth.mode, 'passthrough');
  t.equal(config.audit, undefined);
  t.same(config.logging, { level: 'info', format: 'auto' });
  t.same(config.shutdown, { gracePeriodSeconds: 25 });
  t.same(config.limits, { maxSessions: 10000, maxSessionsPerUser: 100, idleTimeoutSeconds: 3600, maxSessionSeconds: 86400, maxMessageBytes: 33554432, maxHeaderBlockBytes: 262144, sessionBufferBytes: 1048576, failedAuthPerMinute: 30, pingIntervalSeconds: 5, headerTimeoutSeconds: 10, maxConnections: 10000, maxConnectionsPerClient: 200 });
    t.same(config.network, { trustedProxies: [], proxyProtocol: false });
    t.same(config.tlsPolicy, { minVersion: 'TLSv1.2', cipherSuites: ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305'] });
  const two = await load({ config: await configFile('two.yaml', 'upstreams: [{name: a, server: "https://a"}, {name: b, server: "https://b"}]\nadmin: {listen: "off"}\n') });
  t.equal(two.routing.defaultUpstream, undefined, 'no default among several unless named');
  t.equal(two.admin, undefined, 'admin off');
});

t.test('precedence: flags > environment > file > defaults', async (t) => {
  const file = await configFile('some.yaml', 'listen: 127.0.0.1:1\nadmin: {listen: 127.0.0.1:11}\nupstreams: [{name: a, server: "https://from-file:6443"}]\nlogging: {level: trace, format: pretty}\nshutdown: {gracePeriodSeconds: 5}\n');
  const fileOnly = await load({ config: file });
  t.same(fileOnly.listen, { host: '127.0.0.1', port: 1 });
  t.equal(fileOnly.logging.level, 'trace');
  const env = { KSG_LISTEN: '127.0.0.1:2', KSG_ADMIN_LISTEN: 'off', KSG_LOG_LEVEL: 'warn', KSG_LOG_FORMAT: 'json', KSG_SHUTDOWN_GRACE_PERIOD_SECONDS: '40' };
  const fromEnv = await load({ config: file }, env);
  t.same(fromEnv.listen, { host: '127.0.0.1', port: 2 }, 'KSG_LISTEN over the file');
  t.equal(fromEnv.admin, undefined, 'KSG_ADMIN_LISTEN=off');
  t.same(fromEnv.logging, { level: 'warn', format: 'json' });
  t.equal(fromEnv.shutdown.gracePeriodSeconds, 40);
  t.equal(fromEnv.upstreams[0]!.url.host, 'from-file:6443', 'the file still counts where nothing overrides it');
  const fromFlags = await load({ config: file, listen: '127.0.0.1:3', 'admin-listen': '127.0.0.1:33', 'log-level': 'error' }, env);
  t.same(fromFlags.listen, { host: '127.0.0.1', port: 3 }, '--listen over KSG_LISTEN');
  t.same(fromFlags.admin, { host: '127.0.0.1', port: 33 });
  t.equal(fromFlags.logging.level, 'error');
  const viaEnvFile = await load({}, { KSG_CONFIG: file, KSG_LISTEN: ' ' });
  t.same(viaEnvFile.listen, { host: '127.0.0.1', port: 1 }, 'KSG_CONFIG names the file; an empty variable is unset');
  const envUpstream = await load({}, { KSG_UPSTREAM: 'http://legacy:8080' });
  t.equal(envUpstream.upstreams[0]!.url.href, 'http://legacy:8080/', 'KSG_UPSTREAM is --upstream (http allowed, as with the flag)');
  const flagPaths = await load({ upstream: 'https://x', 'tls-cert': 'etc/tls.crt', 'tls-key': 'etc/tls.key' });
  t.equal(flagPaths.tls?.files.cert, join(etc, 'tls.crt'), 'flag paths are relative to the working directory');
});

t.test('problems: all of them, one line each, naming the file and field, the variable or the flag', async (t) => {
  const file = await configFile(
    'bad.yaml',
    `listen: 8080
lisen: typo
tls: {cert: tls.crt}
upstreams:
  - name: Legacy_A
    server: http://10.0.0.1:6443
    allowInsecureHTTP: "no"
    hosts: [a.example.com, "not a host"]
    servr: x
  - {name: b, server: "gopher://x", context: c, ca: legacy-ca.crt, insecureSkipTLSVerify: true}
  - {name: b, hosts: [A.example.com, b.example.com, B.example.com], tlsServerName: "a b"}
routing: {defaultUpstream: x}
limits: {maxSessions: 0, idleTimeoutSeconds: 1.5, pingIntervalSeconds: 0}
logging: {level: loud}
shutdown: {gracePeriodSeconds: "25"}
`,
  );
  const lines = await problems({ config: file });
  const expected = [
    'listen: must be a string, got 8080',
    'lisen: unknown setting (known here: listen, tls, admin, upstreams, routing, auth, audit, limits, network, logging, shutdown, recording, ui)',
    'tls.cert: given without tls.key (give both or neither)',
    'upstreams[0].name: must be lowercase letters, digits and "-"',
    'upstreams[0].server: must be an https URL, got "http://10.0.0.1:6443" (http only with upstreams[0].allowInsecureHTTP: true)',
    'upstreams[0].hosts[1]: must be a host name, got "not a host"',
    'upstreams[0].allowInsecureHTTP: must be true or false, got "no"',
    'upstreams[0].servr: unknown setting (known here: name, server, allowInsecureHTTP, hosts',
    'upstreams[1].server: must be an https URL, got "gopher://x"',
    'upstreams[1].context: only valid with upstreams[1].kubeconfig',
    'upstreams[1].ca: cannot be combined with upstreams[1].insecureSkipTLSVerify',
    'upstreams[2].server: required (or upstreams[2].kubeconfig, which names one)',
    'upstreams[2].name: "b" is also the name of upstreams[1]',
    'upstreams[2].hosts[0]: "A.example.com" is also a host of upstreams[0]',
    'upstreams[2].hosts[2]: "B.example.com" is listed twice',
    'upstreams[2].tlsServerName: must be a host name',
    'routing.defaultUpstream: "x" is not one of the upstreams (Legacy_A, b)',
    'limits.maxSessions: must be 1 or more',
    'limits.idleTimeoutSeconds: must be a whole number of seconds',
    'limits.pingIntervalSeconds: must be 1 or more',
    'logging.level: must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    'shutdown.gracePeriodSeconds: must be a number, got "25"',
  ];
  for (const line of expected) t.ok(lines.some((found) => found.startsWith(`${file}: ${line}`)), line);
  t.equal(lines.length, new Set(lines).size, 'no line twice');
  for (const line of lines) t.notMatch(line, /\n/, 'one line each');
  const error = await load({ config: file }).catch((caught: unknown) => caught);
  t.ok(error instanceof ConfigError, 'a ConfigError, as the CLI expects');
});

t.test('problems from flags and variables name them', async (t) => {
  t.same(await problems({ listen: 'nowhere', upstream: 'ftp://x', 'tls-cert': 'a.crt', 'upstream-context': 'c', 'log-level': 'loud', 'admin-listen': 'x' }), [
    '--listen: expected HOST:PORT (e.g. 127.0.0.1:8080, [::1]:8080; port 0-65535), got "nowhere"',
    '--tls-cert: given without --tls-key (give both or neither)',
    '--admin-listen: expected HOST:PORT (e.g. 127.0.0.1:8080, [::1]:8080; port 0-65535), got "x", or "off"',
    '--upstream: must be an https URL, got "ftp://x"',
    '--upstream-context: only valid with --upstream-kubeconfig',
    '--log-level: must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
  ]);
  t.same(await problems({ upstream: 'https://x' }, { KSG_LISTEN: 'x', KSG_LOG_FORMAT: 'xml', KSG_SHUTDOWN_GRACE_PERIOD_SECONDS: 'soon' }), [
    'KSG_LISTEN: expected HOST:PORT (e.g. 127.0.0.1:8080, [::1]:8080; port 0-65535), got "x"',
    'KSG_LOG_FORMAT: must be one of auto, json, pretty, got "xml"',
    'KSG_SHUTDOWN_GRACE_PERIOD_SECONDS: must be a number, got "soon"',
  ]);
  t.same(await problems({}), ['upstreams: required: list the legacy clusters here, or give --upstream / --upstream-kubeconfig for one named "default"']);
  t.same(await problems({ upstream: 'https://a?x=1' }), ['--upstream: must not carry a query or fragment, got "https://a?x=1"']);
  t.same(await problems({ upstream: 'https://user:secret@a' }), ["--upstream: must not carry credentials (use the upstream's credential, or the callers' own)"]);
  const file = await configFile('has-upstreams.yaml', 'upstreams: [{name: a, server: "https://a"}]\n');
  t.same(await problems({ config: file, upstream: 'https://b', 'upstream-ca': 'x' }), [
    `--upstream, --upstream-ca: describe a single upstream named "default", but ${file} lists upstreams too: give the upstreams in one place`,
  ]);
  t.same(await problems({ config: file }, { KSG_UPSTREAM: 'https://b' }), [`KSG_UPSTREAM: describes a single upstream named "default", but ${file} lists upstreams too: give the upstreams in one place`]);
  t.match((await problems({ upstream: 'https://a', listen: 'x' }, { KSG_LISTEN: '127.0.0.1:1' }))[0], /^--listen: /, 'the flag, not the variable it replaced');
});

t.test('network, connection limits and TLS policy: values checked, each problem named', async (t) => {
  const file = await configFile(
    'edge-network.yaml',
    `upstreams: [{name: a, server: "https://a"}]
tls: {minVersion: TLSv1.1, cipherSuites: [ECDHE-RSA-AES128-GCM-SHA256, NOT-A-SUITE]}
limits: {headerTimeoutSeconds: 0, maxConnections: 0, maxConnectionsPerClient: 1.5}
network: {trustedProxies: [10.0.0.0/8, "10.0.0.0/33", "fd00::/129", ingress, "::ffff:10.0.0.0/104"], proxyProtocol: "yes"}
`,
  );
  const lines = await problems({ config: file });
  for (const line of [
    'tls.minVersion: must be one of TLSv1.2, TLSv1.3, got "TLSv1.1"',
    'tls.cipherSuites[1]: "NOT-A-SUITE" is not a cipher suite this OpenSSL knows',
    'limits.headerTimeoutSeconds: must be 1 or more',
    'limits.maxConnections: must be 1 or more',
    'limits.maxConnectionsPerClient: must be a whole number',
    'network.trustedProxies[1]: prefix length must be 0-32, got "10.0.0.0/33"',
    'network.trustedProxies[2]: prefix length must be 0-128, got "fd00::/129"',
    'network.trustedProxies[3]: must be an IPv4 or IPv6 address or CIDR range',
    'network.proxyProtocol: must be true or false, got "yes"',
  ]) {
    t.ok(lines.some((found) => found.startsWith(`${file}: ${line}`)), line);
  }
  t.equal(lines.length, 9, lines.join('\n'));
  const good = await load({ config: await configFile('good-network.yaml', 'upstreams: [{name: a, server: "https://a"}]\ntls: {minVersion: TLSv1.3}\nnetwork: {trustedProxies: [10.0.0.0/8, "2001:db8::/32", 192.0.2.7], proxyProtocol: true}\n') });
  t.same(good.network, { trustedProxies: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7'], proxyProtocol: true });
  t.equal(good.tlsPolicy.minVersion, 'TLSv1.3', 'the TLS policy holds without a certificate: it applies toward upstreams');
  t.equal(good.upstreams[0]!.tlsPolicy?.minVersion, 'TLSv1.3', 'and each upstream carries it');
});

t.test('the file itself: unreadable, not YAML, not a mapping, empty', async (t) => {
  t.same(await problems({ config: join(dir, 'absent.yaml') }), [`--config: cannot read ${join(dir, 'absent.yaml')}: no such file or directory`]);
  const broken = await configFile('broken.yaml', 'listen: "unterminated\n');
  t.match((await problems({ config: broken }))[0], new RegExp(`^${broken}: invalid YAML: `));
  const twice = await configFile('twice.yaml', 'listen: a\nlisten: b\n');
  t.match((await problems({ config: twice }))[0], /twice\.yaml: invalid YAML: .*[Dd]uplicate|unique/);
  t.same(await problems({ config: await configFile('list.yaml', '- listen\n') }), [`${join(etc, 'list.yaml')}: expected a mapping of settings (listen: …, upstreams: …), got a list`]);
  t.same(await problems({ config: await configFile('empty.yaml', '# nothing\n') }), [`${join(etc, 'empty.yaml')}: upstreams: required: list the legacy clusters here, or give --upstream / --upstream-kubeconfig for one named "default"`]);
  t.same((await problems({ config: await configFile('flat.yaml', 'upstream: https://x\n') })).reverse(), [`${join(etc, 'flat.yaml')}: upstream: unknown setting (known here: listen, tls, admin, upstreams, routing, auth, audit, limits, network, logging, shutdown, recording, ui)`, `${join(etc, 'flat.yaml')}: upstreams: required: list the legacy clusters here, or give --upstream / --upstream-kubeconfig for one named "default"`], 'the old flat keys are refused, by name');
  t.same(await problems({ config: await configFile('wrong-sections.yaml', 'tls: yes\nupstreams: {name: a}\nauth: []\n') }), [
    `${join(etc, 'wrong-sections.yaml')}: tls: must be a mapping, got "yes"`,
    `${join(etc, 'wrong-sections.yaml')}: upstreams: must be a list, got a mapping`,
    `${join(etc, 'wrong-sections.yaml')}: auth: must be a mapping, got a list`,
  ]);
});

t.test('files the settings name: unreadable, not PEM, mismatched, empty', async (t) => {
  const file = await configFile(
    'files.yaml',
    `tls: {cert: missing.crt, key: tls.key, clientCA: tls.key}
upstreams:
  - {name: a, server: "https://a", ca: nope.crt, credential: {tokenFile: empty-token}}
  - {name: b, server: "https://b", credential: {clientCert: tls.crt, clientKey: other.key}}
  - {name: c, kubeconfig: none.kubeconfig}
`,
  );
  const lines = await problems({ config: file });
  t.same(lines.sort(), [
    `${file}: tls.cert: cannot read ${join(etc, 'missing.crt')}: no such file or directory`,
    `${file}: tls.clientCA: ${join(etc, 'tls.key')} holds no PEM certificate`,
    `${file}: upstreams[0].ca: cannot read ${join(etc, 'nope.crt')}: no such file or directory`,
    `${file}: upstreams[0].credential.tokenFile: ${join(etc, 'empty-token')} is empty`,
    `${file}: upstreams[1].credential.clientCert: not a usable PEM certificate with upstreams[1].credential.clientKey as its key (key values mismatch)`,
    `${file}: upstreams[2].kubeconfig: kubeconfig ${join(etc, 'none.kubeconfig')}: cannot read: no such file or directory`,
  ].sort());
  const mismatch = await configFile('mismatch.yaml', 'tls: {cert: tls.crt, key: other.key}\nupstreams: [{name: a, server: "https://a"}]\n');
  t.same(await problems({ config: mismatch }), [`${mismatch}: tls.cert: not a usable PEM certificate with tls.key as its key (key values mismatch)`]);
  t.same(await problems({ upstream: 'https://a', 'tls-cert': 'etc/tls.crt', 'tls-key': 'etc/other.key' }), ['--tls-cert: not a usable PEM certificate with --tls-key as its key (key values mismatch)']);
  t.same(await problems({ upstream: 'https://a', 'upstream-ca': 'etc/tls.key' }), [`--upstream-ca: ${join(etc, 'tls.key')} holds no PEM certificate`]);
});

t.test('upstream from a kubeconfig; --upstream replaces its server; CA and verification overrides', async (t) => {
  const fromKubeconfig = await load({ 'upstream-kubeconfig': 'etc/legacy.kubeconfig' });
  t.equal(fromKubeconfig.upstreams[0]!.url.href, 'https://10.1.2.3:6443/');
  t.equal(fromKubeconfig.upstreams[0]!.ca, caPem, 'the kubeconfig CA');
  t.same(fromKubeconfig.upstreams[0]!.credentials, { bearerToken: 'kubeconfig-token' }, 'kept, though passthrough does not use them');

  const relative = await configFile('kc.yaml', 'upstreams: [{name: legacy, kubeconfig: legacy.kubeconfig, server: "https://legacy.svc:443"}]\n');
  const overridden = await load({ config: relative });
  t.equal(overridden.upstreams[0]!.url.href, 'https://legacy.svc/', 'server replaces the kubeconfig server');
  t.equal(overridden.upstreams[0]!.ca, caPem, 'the kubeconfig still supplies the CA');

  const insecure = await load({ 'upstream-kubeconfig': 'etc/legacy.kubeconfig', 'upstream-insecure-skip-tls-verify': true });
  t.equal(insecure.upstreams[0]!.insecureSkipTlsVerify, true);
  t.equal(insecure.upstreams[0]!.ca, undefined, 'no CA when verification is off');

  const anonymous = await load({ 'upstream-kubeconfig': 'etc/anonymous.kubeconfig' });
  t.same(anonymous.upstreams[0]!.files, { kubeconfig: join(etc, 'anonymous.kubeconfig'), ca: join(etc, 'legacy-ca.crt') }, 'the CA file the kubeconfig names is kept for reloading');

  t.same(await problems({ upstream: 'https://a', 'upstream-ca': 'etc/legacy-ca.crt', 'upstream-insecure-skip-tls-verify': true }), ['--upstream-ca: cannot be combined with --upstream-insecure-skip-tls-verify (a CA is pointless when verification is off)']);
  t.same(await problems({ 'upstream-kubeconfig': 'etc/legacy.kubeconfig', 'upstream-context': 'nope' }), [`--upstream-kubeconfig: kubeconfig ${join(etc, 'legacy.kubeconfig')}: context "nope": not found in contexts`]);
});

t.test('http upstreams only when allowed', async (t) => {
  const allowed = await load({ config: await configFile('http.yaml', 'upstreams: [{name: a, server: "http://a:8080", allowInsecureHTTP: true}]\n') });
  t.equal(allowed.upstreams[0]!.url.protocol, 'http:');
  await writeFile(join(etc, 'http.kubeconfig'), 'current-context: a\nclusters: [{name: c, cluster: {server: "http://10.0.0.3:8080"}}]\ncontexts: [{name: a, context: {cluster: c}}]\n');
  const viaKubeconfig = await configFile('http-kc.yaml', 'upstreams: [{name: a, kubeconfig: http.kubeconfig}]\n');
  t.same(await problems({ config: viaKubeconfig }), [`${viaKubeconfig}: upstreams[0].kubeconfig: its server http://10.0.0.3:8080/ is http: allowed only with upstreams[0].allowInsecureHTTP: true`]);
  t.equal((await load({ 'upstream-kubeconfig': 'etc/http.kubeconfig' })).upstreams[0]!.url.protocol, 'http:', 'the flags keep allowing http, as before');
});

t.test('auth: edge mode needs credentials and configured authenticators; edge settings refused in passthrough', async (t) => {
  const edge = await configFile(
    'edge.yaml',
    `upstreams:
  - {name: a, server: "https://a"}
  - {name: b, kubeconfig: anonymous.kubeconfig}
  - {name: c, kubeconfig: legacy.kubeconfig}
auth:
  mode: edge
  authenticators: [clientCertificate, oidc, tokenFile, oidc]
  tokenReview: {upstream: z, audiences: []}
  authorization: {mode: policy, policy: [{users: [alice], verbs: [exec], clusters: [a, y, "*"]}]}
`,
  );
  t.same((await problems({ config: edge })).sort(), [
    `${edge}: auth.authenticators[3]: oidc is listed twice`,
    `${edge}: auth.oidc: required when auth.authenticators lists oidc`,
    `${edge}: auth.tokenFile: required when auth.authenticators lists tokenFile`,
    `${edge}: auth.tokenReview.upstream: "z" is not one of the upstreams (a, b, c)`,
    `${edge}: auth.tokenReview.audiences: must list at least 1`,
    `${edge}: auth.authorization.policy[0].clusters[1]: "y" is not one of the upstreams (a, b, c)`,
    `${edge}: tls.clientCA: required when auth.authenticators lists clientCertificate`,
    `${edge}: upstreams[0].credential: required in edge mode (auth.mode: edge): the gateway reaches the upstream with its own credential (tokenFile, or clientCert and clientKey, or a kubeconfig user)`,
  ].sort());
  const kubeconfigWithoutUser = await configFile('edge-kc.yaml', 'upstreams: [{name: b, kubeconfig: anonymous.kubeconfig}]\nauth: {mode: edge}\n');
  t.same(await problems({ config: kubeconfigWithoutUser }), [
    `${kubeconfigWithoutUser}: upstreams[0].kubeconfig: its user has no token, tokenFile or client certificate, and edge mode (auth.mode: edge) needs a credential for every upstream (or give upstreams[0].credential)`,
  ]);
  const defaults = await load({ config: await configFile('edge-ok.yaml', 'upstreams: [{name: c, kubeconfig: legacy.kubeconfig}]\nauth: {mode: edge, tokenFile: tokens.csv}\n') });
  t.same(defaults.auth.authenticators, ['token-file', 'token-review'], 'the default order, only what is configured');
  const passthrough = await configFile(
    'passthrough.yaml',
    `upstreams: [{name: a, server: "https://a"}]
auth:
  authenticators: [tokenReview]
  tokenFile: tokens.csv
  oidc: {issuerURL: "http://issuer", audiences: []}
  authorization: {mode: subjectAccessReview, policy: [{verbs: [exec]}]}
  impersonation: [{}]
  allowedOrigins: ["https://console.example.com/path"]
`,
  );
  t.same((await problems({ config: passthrough })).sort(), [
    `${passthrough}: auth.allowedOrigins[0]: must be an origin (scheme://host[:port], no path), got "https://console.example.com/path"`,
    `${passthrough}: auth.authorization.policy: only used when auth.authorization.mode is policy (it is subjectAccessReview)`,
    `${passthrough}: auth.authorization.policy[0]: names no users and no groups (it would never match)`,
    `${passthrough}: auth.impersonation[0]: names no users and no groups (it would never match)`,
    `${passthrough}: auth.oidc.audiences: must list at least one audience`,
    `${passthrough}: auth.oidc.issuerURL: must be an https URL, got "http://issuer"`,
    ...['authenticators', 'tokenFile', 'oidc', 'authorization', 'impersonation'].map((key) => `${passthrough}: auth.${key}: only used in edge mode (auth.mode: edge); the upstream authenticates callers in passthrough mode`),
  ].sort(), 'shape and edge-only settings together');
  const passthroughShaped = await configFile('passthrough-2.yaml', 'upstreams: [{name: a, server: "https://a"}]\nauth: {tokenFile: tokens.csv, authorization: {mode: policy, policy: [{users: ["*"], verbs: ["*"]}]}}\n');
  t.same((await problems({ config: passthroughShaped })).sort(), [
    `${passthroughShaped}: auth.authorization: only used in edge mode (auth.mode: edge); the upstream authenticates callers in passthrough mode`,
    `${passthroughShaped}: auth.tokenFile: only used in edge mode (auth.mode: edge); the upstream authenticates callers in passthrough mode`,
  ]);
  const policyless = await configFile('policyless.yaml', 'upstreams: [{name: c, kubeconfig: legacy.kubeconfig}]\nauth: {mode: edge, authorization: {mode: policy}}\n');
  t.same(await problems({ config: policyless }), [`${policyless}: auth.authorization.policy: required when auth.authorization.mode is policy (no rule would deny everything)`]);
});

t.test('recording rules: content: true asks for port-forward content; off by default; a non-boolean or a rule naming no one is refused', async (t) => {
  const good = await load({
    config: await configFile('recording-content.yaml', 'upstreams: [{name: a, server: "https://a"}]\nrecording: {directory: /tmp, rules: [{groups: [db], verbs: [portforward], content: true}, {users: ["*"], verbs: ["*"]}]}\n'),
  });
  t.same(
    good.recording?.rules.map((rule) => rule.content),
    [true, false],
  );
  const lines = await problems({ config: await configFile('recording-content-bad.yaml', 'upstreams: [{name: a, server: "https://a"}]\nrecording: {directory: /tmp, rules: [{groups: [db], verbs: [portforward], content: "yes"}, {verbs: [exec], content: true}]}\n') });
  t.match(lines.join('\n'), /recording\.rules\[0\]\.content: must be true or false, got "yes"/);
  t.match(lines.join('\n'), /recording\.rules\[1\]: names no users and no groups/);
});
