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

t.test('render: one cluster, CA data, token, current context', async (t) => {
  const doc = parse(renderKubeconfig({ server: 'https://127.0.0.1:8443', caPem: CA, token: 'secret' }));
  t.equal(doc['current-context'], 'kube-stream-gateway');
  t.equal(doc.clusters[0].cluster.server, 'https://127.0.0.1:8443');
  t.equal(Buffer.from(doc.clusters[0].cluster['certificate-authority-data'], 'base64').toString(), CA);
  t.equal(doc.users[0].user.token, 'secret');
});

t.test('load: data fields, the current context, and a named one with files relative to the kubeconfig', async (t) => {
  await mkdir(join(dir, 'certs'), { recursive: true });
  await writeFile(join(dir, 'certs', 'ca.pem'), CA);
  await writeFile(join(dir, 'token'), 'from-file\n');
  const path = join(dir, 'config');
  await writeFile(
    path,
    `apiVersion: v1
kind: Config
current-context: a
clusters:
- name: one
  cluster: {server: "https://10.0.0.1:6443", certificate-authority-data: ${Buffer.from(CA).toString('base64')}, tls-server-name: api.internal}
- name: two
  cluster: {server: "https://10.0.0.2:6443", certificate-authority: certs/ca.pem, insecure-skip-tls-verify: true}
users:
- name: u1
  user: {token: abc}
- name: u2
  user: {tokenFile: token, client-certificate-data: ${Buffer.from('CERT').toString('base64')}, client-key-data: ${Buffer.from('KEY').toString('base64')}}
contexts:
- name: a
  context: {cluster: one, user: u1}
- name: b
  context: {cluster: two, user: u2}
`,
  );
  const a = await loadUpstreamFromKubeconfig(path);
  t.equal(a.url.href, 'https://10.0.0.1:6443/');
  t.equal(a.ca, CA);
  t.equal(a.serverName, 'api.internal');
  t.equal(a.insecureSkipTlsVerify, false);
  t.same(a.credentials, { bearerToken: 'abc' });
  const b = await loadUpstreamFromKubeconfig(path, 'b');
  t.equal(b.ca, CA, 'CA file read relative to the kubeconfig');
  t.equal(b.insecureSkipTlsVerify, true);
  t.same(b.credentials, { bearerToken: 'from-file', clientCert: 'CERT', clientKey: 'KEY' });
});

t.test('load: errors name the file, context and field', async (t) => {
  const path = join(dir, 'broken');
  await writeFile(
    path,
    `clusters: [{name: c, cluster: {server: "ftp://x"}}]
users: [{name: e, user: {exec: {command: aws}}}]
contexts: [{name: x, context: {cluster: c, user: e}}, {name: y, context: {cluster: missing}}, {name: z, context: {cluster: ok, user: e}}]
`,
  );
  await t.rejects(loadUpstreamFromKubeconfig(path), /no current-context/);
  await t.rejects(loadUpstreamFromKubeconfig(path, 'nope'), /context "nope" not found/);
  await t.rejects(loadUpstreamFromKubeconfig(path, 'y'), /cluster "missing" of context "y" not found/);
  await t.rejects(loadUpstreamFromKubeconfig(path, 'x'), /server must be an http\(s\) URL/);
  await t.rejects(loadUpstreamFromKubeconfig(join(dir, 'absent')), KubeconfigError);
});
