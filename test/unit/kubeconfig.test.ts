import t from 'tap';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { KubeconfigError, loadUpstreamFromKubeconfig, renderKubeconfig } from '../../src/config/kubeconfig.js';

let dir: string;
t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ksg-kubeconfig-'));
});
t.teardown(() => rm(dir, { recursive: true, force: true }));

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const b64 = (text: string): string => Buffer.from(text).toString('base64');

async function kubeconfig(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

t.test('render: one cluster, CA data, token, current context, namespace', async (t) => {
  const doc = parse(renderKubeconfig({ server: 'https://127.0.0.1:8443', caPem: CA, token: 'secret' }));
  t.equal(doc['current-context'], 'kube-stream-gateway');
  t.equal(doc.clusters[0].cluster.server, 'https://127.0.0.1:8443');
  t.equal(Buffer.from(doc.clusters[0].cluster['certificate-authority-data'], 'base64').toString(), CA);
  t.equal(doc.users[0].user.token, 'secret');
  t.same(doc.contexts[0], { name: 'kube-stream-gateway', context: { cluster: 'kube-stream-gateway', user: 'kube-stream-gateway', namespace: 'default' } });
  const named = parse(renderKubeconfig({ server: 'https://[::1]:1', caPem: CA, token: 't', namespace: 'team', contextName: 'demo' }));
  t.equal(named['current-context'], 'demo');
  t.equal(named.contexts[0].context.namespace, 'team');
});

t.test('render, then load: the same server, CA and token come back', async (t) => {
  const path = await kubeconfig('roundtrip', renderKubeconfig({ server: 'https://127.0.0.1:8443', caPem: CA, token: 'secret' }));
  const target = await loadUpstreamFromKubeconfig(path);
  t.equal(target.url.href, 'https://127.0.0.1:8443/');
  t.equal(target.ca, CA);
  t.same(target.credentials, { bearerToken: 'secret' });
});

t.test('load: data fields, the current context, and a named one with files relative to the kubeconfig', async (t) => {
  await mkdir(join(dir, 'certs'), { recursive: true });
  await writeFile(join(dir, 'certs', 'ca.pem'), CA);
  await writeFile(join(dir, 'certs', 'client.crt'), 'CERT-FILE');
  await writeFile(join(dir, 'certs', 'client.key'), 'KEY-FILE');
  await writeFile(join(dir, 'token'), 'from-file\n');
  const path = await kubeconfig(
    'config',
    `apiVersion: v1
kind: Config
current-context: a
clusters:
- name: one
  cluster: {server: "https://10.0.0.1:6443", certificate-authority-data: ${b64(CA)}, tls-server-name: api.internal}
- name: two
  cluster: {server: "https://10.0.0.2:6443", insecure-skip-tls-verify: true}
- name: three
  cluster: {server: "http://10.0.0.3:8080/prefix", certificate-authority: certs/ca.pem}
users:
- name: u1
  user: {token: abc}
- name: u2
  user: {tokenFile: token, client-certificate-data: ${b64('CERT')}, client-key-data: ${b64('KEY')}}
- name: u3
  user: {client-certificate: certs/client.crt, client-key: ${join(dir, 'certs', 'client.key')}, client-certificate-data: ${b64('CERT-DATA')}}
contexts:
- name: a
  context: {cluster: one, user: u1}
- name: b
  context: {cluster: two, user: u2}
- name: c
  context: {cluster: three, user: u3, namespace: x}
- name: anonymous
  context: {cluster: one}
`,
  );
  const a = await loadUpstreamFromKubeconfig(path);
  t.equal(a.url.href, 'https://10.0.0.1:6443/');
  t.equal(a.ca, CA);
  t.equal(a.serverName, 'api.internal');
  t.equal(a.insecureSkipTlsVerify, false);
  t.same(a.credentials, { bearerToken: 'abc' });
  const b = await loadUpstreamFromKubeconfig(path, 'b');
  t.equal(b.insecureSkipTlsVerify, true);
  t.equal(b.ca, undefined);
  t.equal(b.serverName, undefined);
  t.same(b.credentials, { bearerToken: 'from-file', clientCert: 'CERT', clientKey: 'KEY' }, 'tokenFile read relative to the kubeconfig and trimmed');
  const c = await loadUpstreamFromKubeconfig(path, 'c');
  t.equal(c.url.href, 'http://10.0.0.3:8080/prefix');
  t.equal(c.ca, CA, 'certificate-authority read relative to the kubeconfig');
  t.same(c.credentials, { clientCert: 'CERT-DATA', clientKey: 'KEY-FILE' }, 'data wins over the file; absolute paths are read as they are');
  const anonymous = await loadUpstreamFromKubeconfig(path, 'anonymous');
  t.same(anonymous.credentials, {}, 'a context without a user');
});

t.test('load: errors name the file, context and field', async (t) => {
  const path = await kubeconfig(
    'broken',
    `clusters:
- {name: ftp, cluster: {server: "ftp://x"}}
- {name: none, cluster: {}}
- {name: ok, cluster: {server: "https://ok:6443"}}
- {name: both, cluster: {server: "https://ok:6443", insecure-skip-tls-verify: true, certificate-authority-data: ${b64(CA)}}}
- {name: badca, cluster: {server: "https://ok:6443", certificate-authority-data: ${b64('not a cert')}}}
- {name: notb64, cluster: {server: "https://ok:6443", certificate-authority-data: "%%%"}}
- {name: cafile, cluster: {server: "https://ok:6443", certificate-authority: missing/ca.pem}}
- {name: proxied, cluster: {server: "https://ok:6443", proxy-url: "http://proxy:3128"}}
users:
- {name: exec, user: {exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}}}
- {name: gcp, user: {auth-provider: {name: gcp}}}
- {name: basic, user: {username: admin, password: secret}}
- {name: tokenfile, user: {tokenFile: no-such-token}}
- {name: halfcert, user: {client-certificate-data: ${b64('CERT')}}}
contexts:
- {name: ftp, context: {cluster: ftp}}
- {name: missing-cluster, context: {cluster: missing}}
- {name: no-cluster, context: {user: exec}}
- {name: no-server, context: {cluster: none}}
- {name: exec, context: {cluster: ok, user: exec}}
- {name: gcp, context: {cluster: ok, user: gcp}}
- {name: basic, context: {cluster: ok, user: basic}}
- {name: missing-user, context: {cluster: ok, user: ghost}}
- {name: both, context: {cluster: both}}
- {name: badca, context: {cluster: badca}}
- {name: notb64, context: {cluster: notb64}}
- {name: cafile, context: {cluster: cafile}}
- {name: tokenfile, context: {cluster: ok, user: tokenfile}}
- {name: halfcert, context: {cluster: ok, user: halfcert}}
- {name: proxied, context: {cluster: proxied}}
`,
  );
  const where = `kubeconfig ${path}`.replace(/[.]/g, '\\.');
  const cases: Array<[string | undefined, RegExp]> = [
    [undefined, new RegExp(`^${where}: current-context: not set, and no context was named`)],
    ['nope', new RegExp(`^${where}: context "nope": not found in contexts$`)],
    ['missing-cluster', /context "missing-cluster": cluster "missing": not found in clusters$/],
    ['no-cluster', /context "no-cluster": cluster: missing$/],
    ['ftp', /context "ftp": cluster "ftp": server: must be an http\(s\) URL, got "ftp:\/\/x"$/],
    ['no-server', /context "no-server": cluster "none": server: must be an http\(s\) URL, got null$/],
    ['exec', /context "exec": user "exec": exec: exec credential plugins are not supported yet; use a token, tokenFile or client certificate$/],
    ['gcp', /context "gcp": user "gcp": auth-provider: auth providers are not supported yet/],
    ['basic', /context "basic": user "basic": username: basic auth are not supported yet/],
    ['missing-user', /context "missing-user": user "ghost": not found in users$/],
    ['both', /cluster "both": insecure-skip-tls-verify: cannot be combined with certificate-authority-data$/],
    ['badca', /cluster "badca": certificate-authority-data: not a PEM certificate$/],
    ['notb64', /cluster "notb64": certificate-authority-data: must be base64$/],
    ['cafile', new RegExp(`cluster "cafile": certificate-authority: cannot read ${join(dir, 'missing', 'ca.pem').replace(/[.]/g, '\\.')}: no such file or directory$`)],
    ['tokenfile', /user "tokenfile": tokenFile: cannot read .*no-such-token: no such file or directory$/],
    ['halfcert', /user "halfcert": client-certificate-data: given without client-key\(-data\)$/],
    ['proxied', /cluster "proxied": proxy-url: not supported yet/],
  ];
  for (const [context, pattern] of cases) {
    await t.rejects(loadUpstreamFromKubeconfig(path, context), pattern, context ?? '(current-context)');
    await t.rejects(loadUpstreamFromKubeconfig(path, context), KubeconfigError);
  }
});

t.test('load: files that are no kubeconfig', async (t) => {
  await t.rejects(loadUpstreamFromKubeconfig(join(dir, 'absent')), /^kubeconfig .*absent: cannot read: no such file or directory$/);
  await t.rejects(loadUpstreamFromKubeconfig(dir), /cannot read: is a directory$/);
  await t.rejects(loadUpstreamFromKubeconfig(await kubeconfig('list', '- a\n- b\n')), /list: expected a kubeconfig/);
  await t.rejects(loadUpstreamFromKubeconfig(await kubeconfig('yaml', 'clusters: [\n')), /yaml: invalid YAML/);
  await t.rejects(loadUpstreamFromKubeconfig(await kubeconfig('shape', 'current-context: a\ncontexts: {a: 1}\n')), /shape: contexts: must be a list$/);
  await t.rejects(loadUpstreamFromKubeconfig(await kubeconfig('entry', 'current-context: a\ncontexts: [{name: a, context: [1]}]\n')), /context "a": context: must be a mapping$/);
});
