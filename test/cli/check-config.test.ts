// `kube-stream-gateway check-config --config FILE`: exit 0 with "FILE: ok" and a summary, exit 2
// with every problem (one line each, then their count), exit 2 for bad options; nothing starts.
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './cli-process.js';

let dir: string;
t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ksg-check-config-'));
});
t.teardown(() => rm(dir, { recursive: true, force: true }));

t.test('a valid file: exit 0, "FILE: ok" and a summary line, environment not applied', async (t) => {
  await writeFile(join(dir, 'ok.yaml'), 'listen: 0.0.0.0:0\nadmin: {listen: "off"}\nupstreams: [{name: a, server: "https://a:6443"}, {name: b, server: "http://b:8080", allowInsecureHTTP: true}]\n');
  const result = await cli(['check-config', '--config', 'ok.yaml'], { cwd: dir });
  t.equal(result.code, 0, result.stderr);
  t.equal(result.stderr, '');
  t.equal(result.stdout, 'ok.yaml: ok\nlisten http://0.0.0.0:0; admin off; 2 upstreams: a https://a:6443/, b http://b:8080/; default upstream none; auth passthrough\n');
});

t.test('an invalid file: exit 2, every problem on stderr, then their count', async (t) => {
  await writeFile(join(dir, 'bad.yaml'), 'listen: nowhere\ntls: {cert: missing.crt}\nupstreams: [{name: a, server: "ftp://a"}]\nextra: 1\n');
  const result = await cli(['check-config', '--config', 'bad.yaml'], { cwd: dir });
  t.equal(result.code, 2);
  t.equal(result.stdout, '');
  t.same(result.stderr.split('\n'), [
    'bad.yaml: listen: expected HOST:PORT (e.g. 127.0.0.1:8080, [::1]:8080; port 0-65535), got "nowhere"',
    'bad.yaml: tls.cert: given without tls.key (give both or neither)',
    'bad.yaml: upstreams[0].server: must be an https URL, got "ftp://a"',
    'bad.yaml: extra: unknown setting (known here: listen, tls, admin, upstreams, routing, auth, audit, limits, network, logging, shutdown, recording, ui)',
    'bad.yaml: 4 problems',
    '',
  ]);
});

t.test('files it names are read and checked: exit 2 naming the field and the path', async (t) => {
  await writeFile(join(dir, 'files.yaml'), 'tls: {cert: missing.crt, key: files.yaml}\nupstreams: [{name: a, server: "https://a"}]\n');
  const result = await cli(['check-config', '--config', join(dir, 'files.yaml')]);
  t.equal(result.code, 2);
  t.equal(result.stderr, `${join(dir, 'files.yaml')}: tls.cert: cannot read ${join(dir, 'missing.crt')}: no such file or directory\n${join(dir, 'files.yaml')}: 1 problem\n`);
  const absent = await cli(['check-config', '--config', 'absent.yaml'], { cwd: dir });
  t.equal(absent.code, 2);
  t.equal(absent.stderr, '--config: cannot read absent.yaml: no such file or directory\nabsent.yaml: 1 problem\n');
});

t.test('audit: the policy file is parsed and the webhook kubeconfig read, one line each', async (t) => {
  await writeFile(join(dir, 'policy.yaml'), 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Metadata\n  - level: Everything\n');
  await writeFile(
    join(dir, 'audit.yaml'),
    'upstreams: [{name: a, server: "https://a"}]\naudit: {path: "-", policyFile: policy.yaml, maxBackups: -1, webhook: {kubeconfig: nowhere.kubeconfig, batchMaxWaitSeconds: 0}}\n',
  );
  const result = await cli(['check-config', '--config', 'audit.yaml'], { cwd: dir });
  t.equal(result.code, 2);
  t.same(result.stderr.split('\n'), [
    'audit.yaml: audit.maxBackups: must be 0 or more',
    'audit.yaml: audit.webhook.batchMaxWaitSeconds: must be more than 0',
    'audit.yaml: 2 problems',
    '',
  ], 'the schema first');
  await writeFile(join(dir, 'audit.yaml'), 'upstreams: [{name: a, server: "https://a"}]\naudit: {path: "-", policyFile: policy.yaml, webhook: {kubeconfig: nowhere.kubeconfig}}\n');
  const files = await cli(['check-config', '--config', 'audit.yaml'], { cwd: dir });
  t.equal(files.code, 2);
  t.same(files.stderr.split('\n'), [
    `audit.yaml: audit.policyFile: ${join(dir, 'policy.yaml')}: rules[1].level: must be one of None, Metadata, Request, RequestResponse, not "Everything"`,
    `audit.yaml: audit.webhook.kubeconfig: kubeconfig ${join(dir, 'nowhere.kubeconfig')}: cannot read: no such file or directory`,
    'audit.yaml: 2 problems',
    '',
  ]);
  await writeFile(join(dir, 'lonely.yaml'), 'upstreams: [{name: a, server: "https://a"}]\naudit: {policyFile: policy.yaml}\n');
  const lonely = await cli(['check-config', '--config', 'lonely.yaml'], { cwd: dir });
  t.match(lonely.stderr, /^lonely\.yaml: audit\.policyFile: has no effect without audit\.path or audit\.webhook\n/);
});

t.test('a malformed token file: check-config and serve run one parser and both refuse it in one line', async (t) => {
  await writeFile(join(dir, 'gateway.token'), 'gateway-token\n');
  await writeFile(join(dir, 'tokens.csv'), 'alice-token,alice,u1\nbob-token,bob\n');
  await writeFile(
    join(dir, 'edge.yaml'),
    'listen: 127.0.0.1:0\nadmin: {listen: "off"}\nupstreams: [{name: a, server: "https://127.0.0.1:1", credential: {tokenFile: gateway.token}}]\nauth: {mode: edge, tokenFile: tokens.csv}\n',
  );
  const problem = `auth.tokenFile: ${join(dir, 'tokens.csv')} line 2: must have at least 3 columns (token, user name, user uid), found 2`;
  const checked = await cli(['check-config', '--config', 'edge.yaml'], { cwd: dir });
  t.equal(checked.code, 2, 'check-config does not accept it');
  t.equal(checked.stderr, `edge.yaml: ${problem}\nedge.yaml: 1 problem\n`);
  const served = await cli(['serve', '--config', 'edge.yaml'], { cwd: dir });
  t.equal(served.code, 2, 'serve: a configuration problem, exit 2');
  t.equal(served.stderr, `kube-stream-gateway: edge.yaml: ${problem}\n`, 'one line, no stack trace');
});

t.test('--help: exit 0, usage on stdout', async (t) => {
  const result = await cli(['check-config', '--help']);
  t.equal(result.code, 0);
  t.match(result.stdout, /^Usage: kube-stream-gateway check-config --config FILE\n/);
});
