// The command-line contract: names, help, version, and refusals with one line naming the option
// (exit 2), or the address that cannot be listened on (exit 1).
import t from 'tap';
import { createServer, type Server } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './cli-process.js';

let dir: string;
t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ksg-cli-'));
});
t.teardown(() => rm(dir, { recursive: true, force: true }));

/** A port that is taken for the whole file (EADDRINUSE cases). */
async function holdPort(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

/** Runs `work` over `items`, `size` at a time (each case is a node process start), results in order. */
async function inBatches<T, R>(items: T[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let start = 0; start < items.length; start += size) results.push(...(await Promise.all(items.slice(start, start + size).map(work))));
  return results;
}

t.test('--version prints the version in package.json', async (t) => {
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const result = await cli(['--version']);
  t.equal(result.code, 0);
  t.equal(result.stdout, `${pkg.version}\n`);
  t.equal(result.stderr, '');
});

t.test('--help on each command exits 0 and names every option', async (t) => {
  const expectations: Record<string, string[]> = {
    serve: ['--config', 'KSG_CONFIG', '--listen', '127.0.0.1:8080', '--admin-listen', '127.0.0.1:9090', 'KSG_LISTEN', '--tls-cert', '--tls-key', '--upstream ', '--upstream-kubeconfig', '--upstream-context', '--upstream-ca', '--upstream-insecure-skip-tls-verify', '--log-level', '--help'],
    'legacy-cluster': ['--listen', '127.0.0.1:6443', '--token', '--token-file', '--tls-cert', '--tls-key', '--allow-remote', '--streaming', '--log-level', 'ON THIS HOST', 'loopback'],
    demo: ['--listen', '127.0.0.1:8443', '--kubeconfig-out', 'demo.kubeconfig', 'loopback', 'THIS HOST'],
    'check-config': ['--config', 'exits 0', 'exits 2', 'Exit 2'],
  };
  const runs = Object.entries(expectations).flatMap(([command, words]) => ['--help', '-h'].map(async (flag) => ({ command, words, flag, result: await cli([command, flag]) })));
  for (const { command, words, flag, result } of await Promise.all(runs)) {
    t.equal(result.code, 0, `${command} ${flag}`);
    t.equal(result.stderr, '', `${command} ${flag}: nothing on stderr`);
    t.match(result.stdout, new RegExp(`^Usage: kube-stream-gateway ${command}`), `${command} ${flag}: usage first`);
    for (const word of words) t.ok(result.stdout.includes(word), `${command} --help mentions ${word}`);
  }
  for (const args of [[], ['--help'], ['help']]) {
    const result = await cli(args);
    t.equal(result.code, 0, `kube-stream-gateway ${args.join(' ')}`);
    t.match(result.stdout, /serve[^]*legacy-cluster[^]*demo[^]*check-config[^]*--version/);
  }
});

t.test('bad options and configuration: exit 2 with one line naming the problem', async (t) => {
  const badKey = join(dir, 'bad-key.yaml');
  await writeFile(badKey, 'listen: 127.0.0.1:1\nupstreams: [{name: a, server: "https://x"}]\nupstrem: https://x\n');
  const badValue = join(dir, 'bad-value.yaml');
  await writeFile(badValue, 'upstreams: [{name: a, server: "ftp://legacy"}]\n');
  const withUpstreams = join(dir, 'with-upstreams.yaml');
  await writeFile(withUpstreams, 'upstreams: [{name: a, server: "https://legacy"}]\n');
  const notYaml = join(dir, 'not-yaml.yaml');
  await writeFile(notYaml, 'listen: [unclosed\n');
  const cases: Array<[string[], RegExp]> = [
    [['serve', '--bogus'], /^kube-stream-gateway: serve: unknown option '--bogus'/],
    [['serve', '--listen'], /serve: option '--listen <value>' argument missing/],
    [['serve', 'positional'], /serve: unexpected argument 'positional'/],
    [['serve', '--upstream-insecure-skip-tls-verify=yes', '--upstream', 'https://x'], /'--upstream-insecure-skip-tls-verify' does not take an argument/],
    [['serve', '--listen', 'nowhere', '--upstream', 'https://127.0.0.1:1'], /--listen: expected HOST:PORT.*got "nowhere"/],
    [['serve', '--listen', '127.0.0.1:70000', '--upstream', 'https://127.0.0.1:1'], /--listen: expected HOST:PORT/],
    [['serve', '--listen', '::1:8080', '--upstream', 'https://127.0.0.1:1'], /--listen: expected HOST:PORT.*\[::1\]:8080/],
    [['serve', '--upstream', 'ftp://x'], /--upstream: must be an https URL, got "ftp:\/\/x"/],
    [['serve', '--upstream', 'https://user:secret@x'], /--upstream: must not carry credentials/],
    [['serve'], /upstreams: required: list the legacy clusters here, or give --upstream \/ --upstream-kubeconfig/],
    [['serve', '--upstream', 'https://127.0.0.1:1', '--tls-cert', 'x.pem'], /--tls-cert: given without --tls-key/],
    [['serve', '--upstream', 'https://127.0.0.1:1', '--tls-key', 'x.pem'], /--tls-key: given without --tls-cert/],
    [['serve', '--upstream', 'https://127.0.0.1:1', '--tls-cert', join(dir, 'none.crt'), '--tls-key', badKey], /--tls-cert: cannot read .*none\.crt: no such file/],
    [['serve', '--upstream', 'https://127.0.0.1:1', '--tls-cert', badKey, '--tls-key', badKey], /--tls-cert: not a usable PEM certificate with --tls-key as its key/],
    [['serve', '--upstream', 'https://127.0.0.1:1', '--upstream-ca', badKey], /--upstream-ca: .* holds no PEM certificate/],
    [['serve', '--upstream', 'https://127.0.0.1:1', '--upstream-context', 'x'], /--upstream-context: only valid with --upstream-kubeconfig/],
    [['serve', '--upstream', 'https://127.0.0.1:1', '--log-level', 'loud'], /--log-level: must be one of .*got "loud"/],
    [['serve', '--config', join(dir, 'missing.yaml')], /--config: cannot read .*missing\.yaml: no such file/],
    [['serve', '--config', badKey], /bad-key\.yaml: upstrem: unknown setting/],
    [['serve', '--config', badValue], /bad-value\.yaml: upstreams\[0\]\.server: must be an https URL, got "ftp:\/\/legacy"/],
    [['serve', '--config', withUpstreams, '--upstream', 'https://x'], /--upstream: describes a single upstream named "default", but .*with-upstreams\.yaml lists upstreams too/],
    [['serve', '--admin-listen', 'nowhere', '--upstream', 'https://x'], /--admin-listen: expected HOST:PORT.*, or "off"/],
    [['check-config'], /check-config: --config FILE: required/],
    [['check-config', '--config', badKey, '--bogus'], /check-config: unknown option '--bogus'/],
    [['check-config', 'positional'], /check-config: unexpected argument 'positional'/],
    [['serve', '--config', notYaml], /not-yaml\.yaml: invalid YAML/],
    [['serve', '--upstream-kubeconfig', join(dir, 'none.kubeconfig')], /--upstream-kubeconfig: kubeconfig .*none\.kubeconfig: cannot read/],
    [['legacy-cluster', '--listen', '127.0.0.1:0'], /--token: required/],
    [['legacy-cluster', '--token', 'a', '--token-file', badKey], /--token and --token-file: give one/],
    [['legacy-cluster', '--token-file', join(dir, 'no-token')], /--token-file: cannot read/],
    [['legacy-cluster', '--listen', '0.0.0.0:0', '--token', 'x'], /--listen: 0\.0\.0\.0 is not a loopback address/],
    [['legacy-cluster', '--token', 'x', '--tls-cert', 'a.pem'], /--tls-cert: given without --tls-key/],
    [['legacy-cluster', '--token', 'x', '--streaming', 'spdy3'], /--streaming: must be one of spdy, websocket, both, got "spdy3"/],
    [['legacy-cluster', '--bogus'], /legacy-cluster: unknown option '--bogus'/],
    [['demo', '--listen', '0.0.0.0:8443'], /--listen: the demo binds loopback only/],
    [['demo', '--listen', '[::]:8443'], /--listen: the demo binds loopback only/],
    [['demo', '--listen', 'example.com:8443'], /--listen: the demo binds loopback only/],
    [['demo', '--kubeconfig-out', join(dir, 'no-such-folder', 'k')], /--kubeconfig-out: cannot use folder .*no-such-folder/],
    [['demo', '--bogus'], /demo: unknown option '--bogus'/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['--bogus'], /unknown option "--bogus"/],
  ];
  const results = await inBatches(cases, 8, ([args]) => cli(args, { cwd: dir }));
  for (const [index, [args, pattern]] of cases.entries()) {
    const result = results[index]!;
    const name = args.join(' ') || '(no arguments)';
    t.equal(result.code, 2, `${name}: exit 2`);
    t.match(result.stderr, pattern, name);
    t.equal(result.stderr.split('\n').length, 2, `${name}: one line`);
    t.match(result.stderr, /^kube-stream-gateway: /, `${name}: prefixed`);
    t.notMatch(result.stderr, /\n\s+at /, `${name}: no stack`);
    t.equal(result.stdout, '', `${name}: nothing on stdout`);
  }
});

t.test('a flag wins over the same setting in the config file; every problem gets a line naming where it came from', async (t) => {
  const config = join(dir, 'gateway.yaml');
  await writeFile(config, 'listen: 127.0.0.1:99999\nlogging: {level: loud}\n');
  let result = await cli(['serve', '--config', config, '--upstream', 'https://127.0.0.1:1', '--listen', '127.0.0.1:0', '--log-level', 'nope']);
  t.equal(result.code, 2);
  t.match(result.stderr, /^kube-stream-gateway: --log-level: must be one of .*, got "nope"\n$/, 'the flag values were the ones checked');
  result = await cli(['serve', '--config', config, '--upstream', 'https://127.0.0.1:1']);
  t.equal(result.code, 2);
  t.match(result.stderr, /^kube-stream-gateway: .*gateway\.yaml: listen: expected HOST:PORT.*"127\.0\.0\.1:99999"\nkube-stream-gateway: .*gateway\.yaml: logging\.level: must be one of .*got "loud"\n$/, 'both file values, named by file and field, a line each');
  t.notMatch(result.stderr, /\n\s+at /, 'no stack');
  t.equal(result.stdout, '');
});

t.test('an address in use: exit 1 with one line naming it', async (t) => {
  const held = await holdPort();
  t.teardown(() => held.server.close());
  const cases: string[][] = [
    ['serve', '--listen', `127.0.0.1:${held.port}`, '--upstream', 'https://127.0.0.1:1'],
    ['legacy-cluster', '--listen', `127.0.0.1:${held.port}`, '--token', 'x'],
  ];
  for (const args of cases) {
    const result = await cli(args);
    t.equal(result.code, 1, args[0]!);
    t.match(result.stderr, new RegExp(`kube-stream-gateway: --listen: cannot listen on 127\\.0\\.0\\.1:${held.port}: address already in use\\n$`), args[0]!);
    t.notMatch(result.stderr, /\n\s+at /);
  }
  const admin = await cli(['serve', '--listen', '127.0.0.1:0', '--admin-listen', `127.0.0.1:${held.port}`, '--upstream', 'https://127.0.0.1:1']);
  t.equal(admin.code, 1, 'the admin port taken');
  t.equal(admin.stderr, `kube-stream-gateway: admin.listen: cannot listen on 127.0.0.1:${held.port}: address already in use\n`, 'the error names admin.listen');
  t.notMatch(admin.stdout, /listening/, 'and no "listening" line came before it');
  const unknownHost = await cli(['serve', '--listen', 'no-such-host.invalid:8080', '--upstream', 'https://127.0.0.1:1']);
  t.equal(unknownHost.code, 1);
  t.match(unknownHost.stderr, /^kube-stream-gateway: --listen: cannot listen: unknown host "no-such-host\.invalid"\n$/);
});
