// The command-line contract: names, help, version, refusals with one line naming the option,
// and the demo's life cycle (kubeconfig only once ready, kubectl through it, exit 0 on SIGTERM).
import t from 'tap';
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runKubectl } from '../helpers/run-kubectl.js';

const MAIN = new URL('../../dist/cli/main.js', import.meta.url).pathname;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function cli(...args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [MAIN, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

let dir: string;
t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ksg-cli-'));
});
t.teardown(() => rm(dir, { recursive: true, force: true }));

t.test('--version prints the package version', async (t) => {
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const result = await cli('--version');
  t.equal(result.code, 0);
  t.equal(result.stdout, `${pkg.version}\n`);
});

t.test('--help on each command names its options', async (t) => {
  const expectations: Record<string, string[]> = {
    serve: ['--listen', '--tls-cert', '--tls-key', '--upstream', '--upstream-kubeconfig', '--upstream-context', '--upstream-ca', '--upstream-insecure-skip-tls-verify', '--config'],
    'legacy-cluster': ['--listen', '--token', 'ON THIS HOST', 'loopback'],
    demo: ['--listen', '--kubeconfig-out', 'loopback'],
  };
  for (const [command, words] of Object.entries(expectations)) {
    const result = await cli(command, '--help');
    t.equal(result.code, 0, command);
    for (const word of words) t.ok(result.stdout.includes(word), `${command} --help mentions ${word}`);
  }
  t.match((await cli('--help')).stdout, /serve[^]*legacy-cluster[^]*demo/);
});

t.test('bad configuration: non-zero exit and one line naming the problem', async (t) => {
  const badYaml = join(dir, 'bad.yaml');
  await writeFile(badYaml, 'listen: 127.0.0.1:1\nupstrem: https://x\n');
  const cases: Array<[string[], RegExp]> = [
    [['serve', '--bogus'], /'--bogus'/],
    [['serve', '--listen', 'nowhere', '--upstream', 'https://127.0.0.1:1'], /--listen: expected HOST:PORT/],
    [['serve', '--upstream', 'ftp://x'], /--upstream: must be an http\(s\) URL/],
    [['serve'], /--upstream or --upstream-kubeconfig/],
    [['serve', '--upstream', 'https://127.0.0.1:1', '--tls-cert', 'x.pem'], /--tls-cert and --tls-key/],
    [['serve', '--config', join(dir, 'missing.yaml')], /--config: cannot read .*ENOENT/],
    [['serve', '--config', badYaml], /upstrem: unknown setting/],
    [['serve', '--upstream-kubeconfig', join(dir, 'none.kubeconfig')], /--upstream-kubeconfig: kubeconfig .*none\.kubeconfig/],
    [['legacy-cluster', '--listen', '127.0.0.1:0'], /--token: required/],
    [['legacy-cluster', '--listen', '0.0.0.0:0', '--token', 'x'], /not a loopback address/],
    [['demo', '--listen', '0.0.0.0:8443'], /loopback only/],
    [['frobnicate'], /unknown command "frobnicate"/],
  ];
  for (const [args, pattern] of cases) {
    const result = await cli(...args);
    t.equal(result.code, 2, args.join(' '));
    t.match(result.stderr, pattern, args.join(' '));
    t.equal(result.stderr.trim().split('\n').length, 1, 'one line');
    t.match(result.stderr, /^kube-stream-gateway: /);
  }
});

t.test('flags win over the config file', async (t) => {
  const config = join(dir, 'gateway.yaml');
  await writeFile(config, 'upstream: ftp://from-the-file\n');
  const result = await cli('serve', '--config', config, '--upstream', 'mailto:x');
  t.match(result.stderr, /--upstream: must be an http\(s\) URL, got "mailto:x"/, 'the flag value was the one checked');
});

t.test('demo: kubeconfig written once ready, kubectl works through it, SIGTERM exits 0', async (t) => {
  const kubeconfig = join(dir, 'demo.kubeconfig');
  const child = spawn(process.execPath, [MAIN, 'demo', '--listen', '127.0.0.1:0', '--kubeconfig-out', kubeconfig], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('Ctrl-C stops the demo')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`demo exited early with ${code}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await ready;
  t.match(stdout, new RegExp(`Kubeconfig: +${kubeconfig.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  t.match(stdout, /Gateway: +https:\/\/127\.0\.0\.1:\d+/);
  t.match(stdout, /exec -it demo -- sh/);
  t.equal((await stat(kubeconfig)).mode & 0o777, 0o600, 'the kubeconfig holds a token: owner-only');

  const result = await runKubectl(33, ['exec', '-i', 'demo', '--', 'cat'], { kubeconfig, stdin: 'through the demo\n' });
  t.equal(result.code, 0, result.stderr);
  t.equal(result.stdout.toString(), 'through the demo\n');

  child.kill('SIGTERM');
  t.equal(await exited, 0);
});
