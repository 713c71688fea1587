// `kube-stream-gateway legacy-cluster` as a process with --users-file (kube-apiserver token-auth-file
// CSV) and --rules-file (YAML): real kubectl as the privileged user, as a user, as a refused user and
// impersonating; the sessions read back over HTTP; bad files refused with a line naming the flag.
// Runs the built CLI (dist/, built by `npm test`'s pretest).
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { createCertificateAuthority } from '../../src/net/certificate-authority.js';
import { renderKubeconfig } from '../../src/config/kubeconfig.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import { CliProcess, cli } from '../cli/cli-process.js';

const ADMIN_TOKEN = randomBytes(24).toString('base64url');
const ALICE_TOKEN = randomBytes(24).toString('base64url');
const CAROL_TOKEN = randomBytes(24).toString('base64url');
let dir: string;
let caPem: string;
let cluster: CliProcess;
let url: string;
const kubeconfigs: Record<string, string> = {};

t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ksg-legacy-cli-auth-'));
  const ca = await createCertificateAuthority();
  caPem = ca.caCertPem;
  const issued = await ca.issueServerCertificate(['127.0.0.1', 'localhost']);
  await writeFile(join(dir, 'tls.crt'), issued.certPem);
  await writeFile(join(dir, 'tls.key'), issued.keyPem);
  await writeFile(join(dir, 'token'), ADMIN_TOKEN, { mode: 0o600 });
  await writeFile(join(dir, 'users.csv'), `${ALICE_TOKEN},alice,alice-uid,"devs,qa"\n${CAROL_TOKEN},carol,carol-uid\n`, { mode: 0o600 });
  await writeFile(
    join(dir, 'rules.yaml'),
    ['rules:', '  - groups: [devs]', '    verbs: [create]', '    resources: [pods/exec]', '    namespaces: [default]', '  - groups: [devs]', '    verbs: [get, list]', '    apiGroups: [""]', '    resources: [pods]', '  - users: [carol]', '    verbs: [get]', '    resources: [pods]', ''].join('\n'),
  );
  cluster = new CliProcess([
    'legacy-cluster', '--listen', '127.0.0.1:0', '--token-file', join(dir, 'token'),
    '--users-file', join(dir, 'users.csv'), '--rules-file', join(dir, 'rules.yaml'),
    '--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'),
  ]);
  url = await cluster.listeningUrl();
  for (const [name, token] of [['admin', ADMIN_TOKEN], ['alice', ALICE_TOKEN], ['carol', CAROL_TOKEN]] as const) {
    kubeconfigs[name] = join(dir, `${name}.kubeconfig`);
    await writeFile(kubeconfigs[name], renderKubeconfig({ server: url, caPem, token }));
  }
});
t.teardown(async () => {
  await cluster?.stop('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

const kubectl = (minor: number, who: string, args: string[]): ReturnType<typeof runKubectl> => runKubectl(minor, args, { kubeconfig: kubeconfigs[who]!, timeoutMs: 60_000 });

function getSessions(token: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${url}/legacy-cluster/v1/sessions`, { ca: caPem, headers: { Authorization: `Bearer ${token}` } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('kubectl as alice (users file) execs and lists pods; kubectl 1.33 discovery of the review groups is clean', async (t) => {
  const exec = await kubectl(27, 'alice', ['exec', 'demo', '--', 'echo', 'from-alice']);
  t.equal(exec.stderr, '');
  t.equal(exec.code, 0);
  t.equal(exec.stdout.toString(), 'from-alice\n');
  const pods = await kubectl(33, 'alice', ['get', 'pods', '-o', 'name']);
  t.equal(pods.stderr, '', 'no discovery warnings');
  t.equal(pods.stdout.toString(), 'pod/demo\n');
});

t.test('kubectl as carol is refused with the API server message', async (t) => {
  const exec = await kubectl(27, 'carol', ['exec', 'demo', '--', 'echo', 'nope']);
  t.not(exec.code, 0);
  t.match(exec.stderr, 'Error from server (Forbidden): pods "demo" is forbidden: User "carol" cannot create resource "pods/exec" in API group "" in the namespace "default"');
});

t.test('kubectl --as/--as-group (the privileged token impersonating) and auth can-i', async (t) => {
  const exec = await kubectl(27, 'admin', ['--as', 'erin', '--as-group', 'devs', 'exec', 'demo', '--', 'echo', 'as-erin']);
  t.equal(exec.code, 0);
  t.equal(exec.stdout.toString(), 'as-erin\n');
  const yes = await kubectl(33, 'admin', ['auth', 'can-i', 'create', 'pods', '--subresource=exec', '--as', 'alice', '--as-group', 'devs']);
  t.equal(yes.stdout.toString().trim(), 'yes', yes.stderr);
  const no = await kubectl(33, 'carol', ['auth', 'can-i', 'create', 'pods', '--subresource=exec']);
  t.equal(no.stdout.toString().trim(), 'no', no.stderr);
  const impersonating = await kubectl(27, 'alice', ['--as', 'root', 'get', 'pods']);
  t.match(impersonating.stderr, 'users "root" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope');
});

t.test('GET /legacy-cluster/v1/sessions: who each exec ran as, for the privileged token only', async (t) => {
  const { status, body } = await getSessions(ADMIN_TOKEN);
  t.equal(status, 200);
  t.match(body, [
    { kind: 'exec', pod: 'demo', container: 'shell', user: 'alice', uid: 'alice-uid', groups: ['devs', 'qa', 'system:authenticated'], extra: {}, protocol: 'v4.channel.k8s.io' },
    { kind: 'exec', user: 'erin', groups: ['devs', 'system:authenticated'], impersonatedBy: 'kubernetes-admin' },
  ]);
  t.equal((body as unknown[]).length, 2, 'refused sessions are not recorded');
  t.equal((await getSessions(ALICE_TOKEN)).status, 403);
  // The session lines in the logs name users, never tokens.
  t.ok(cluster.jsonLines().some((line) => line.event === 'session-identity' && line.user === 'erin'));
  for (const token of [ADMIN_TOKEN, ALICE_TOKEN, CAROL_TOKEN]) t.notOk(cluster.stdout.includes(token) || cluster.stderr.includes(token));
});

t.test('bad --users-file and --rules-file: exit 2 with one line naming the flag', async (t) => {
  await writeFile(join(dir, 'short.csv'), 'tok,alice\n');
  await writeFile(join(dir, 'typo.yaml'), '- users: [a]\n  verb: [get]\n  resources: [pods]\n');
  await writeFile(join(dir, 'broken.yaml'), '- users: [a\n');
  const cases: Array<[string[], RegExp]> = [
    [['--users-file', join(dir, 'short.csv')], /--users-file: .*short\.csv line 1: must have at least 3 columns/],
    [['--users-file', join(dir, 'missing.csv')], /--users-file: cannot read .*missing\.csv/],
    [['--rules-file', join(dir, 'typo.yaml')], /--rules-file: .*typo\.yaml: rules\[0\]: unknown key "verb"/],
    [['--rules-file', join(dir, 'broken.yaml')], /--rules-file: .*broken\.yaml is not valid YAML/],
  ];
  for (const [args, message] of cases) {
    const result = await cli(['legacy-cluster', '--listen', '127.0.0.1:0', '--token', 'x', ...args]);
    t.equal(result.code, 2, args.join(' '));
    t.match(result.stderr, message);
  }
});
