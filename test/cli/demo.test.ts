// `kube-stream-gateway demo` (what `npm start` runs), as a process: the kubeconfig appears only once
// the gateway serves, kubectl works through it over WebSocket, signals stop it with exit 0 and take
// the kubeconfig away, and a port in use or someone else's file fails cleanly.
import t from 'tap';
import https from 'node:https';
import { createServer } from 'node:net';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { renderKubeconfig } from '../../src/config/kubeconfig.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import { until } from '../helpers/wait.js';
import { CliProcess } from './cli-process.js';

let dir: string;
t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ksg-demo-'));
});
t.teardown(() => rm(dir, { recursive: true, force: true }));

interface DemoKubeconfig {
  server: string;
  caPem: string;
  token: string;
}

function readKubeconfig(text: string): DemoKubeconfig {
  const doc = parse(text) as {
    clusters: Array<{ cluster: { server: string; 'certificate-authority-data': string } }>;
    users: Array<{ user: { token: string } }>;
  };
  return {
    server: doc.clusters[0]!.cluster.server,
    caPem: Buffer.from(doc.clusters[0]!.cluster['certificate-authority-data'], 'base64').toString(),
    token: doc.users[0]!.user.token,
  };
}

/** GET /version through the URL, trusting only the CA, with the token: the status code. */
function getVersion(kubeconfig: DemoKubeconfig): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = https.get(new URL('/version', kubeconfig.server), { ca: kubeconfig.caPem, headers: { authorization: `Bearer ${kubeconfig.token}` } }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
  });
}

/** GET with a bearer token, trusting only the CA: the body. */
function getBody(url: URL, caPem: string, token: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = https.get(url, { ca: caPem, headers: { authorization: `Bearer ${token}` } }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve(body));
    });
    request.on('error', reject);
  });
}

t.test('the kubeconfig appears only once the gateway serves; kubectl works through it; SIGTERM exits 0', async (t) => {
  const kubeconfigPath = join(dir, 'demo.kubeconfig');
  // A leftover from an earlier run, pointing nowhere: the demo must not leave it for anyone to read.
  const stale = renderKubeconfig({ server: 'https://127.0.0.1:1', caPem: 'stale', token: 'stale', contextName: 'kube-stream-gateway-demo' });
  await writeFile(kubeconfigPath, stale);
  const demo = new CliProcess(['demo', '--listen', '127.0.0.1:0', '--kubeconfig-out', kubeconfigPath]);
  t.teardown(() => demo.stop('SIGKILL'));

  // The moment a fresh kubeconfig is there, the server it names must answer.
  let fresh = '';
  await until(() => {
    if (demo.hasExited()) throw new Error(`demo exited: ${demo.stderr}`);
    try {
      const text = existsSync(kubeconfigPath) ? readFileSync(kubeconfigPath, 'utf8') : '';
      if (text && text !== stale) fresh = text;
    } catch {
      // renamed away between the check and the read
    }
    return fresh !== '';
  }, 'the demo kubeconfig');
  const kubeconfig = readKubeconfig(fresh);
  t.equal(await getVersion(kubeconfig), 200, 'the gateway in the kubeconfig answers as soon as the file exists');
  t.match(kubeconfig.server, /^https:\/\/127\.0\.0\.1:\d+$/);
  t.not(kubeconfig.server, 'https://127.0.0.1:0', 'the real port, not 0');
  t.ok(kubeconfig.token.length >= 40, 'a long random token');
  t.equal((await stat(kubeconfigPath)).mode & 0o777, 0o600, 'the kubeconfig holds a token: owner-only');

  await demo.waitFor('the banner', () => demo.stderr.includes('Ctrl-C stops the demo'));
  const printedPath = kubeconfigPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  t.match(demo.stderr, /Generating a certificate authority[^]*Starting legacy cluster legacy-a[^]*Starting legacy cluster legacy-b[^]*Starting legacy cluster websocket-only \(WebSocket only[^]*Starting the gateway/, 'progress lines');
  t.match(demo.stderr, new RegExp(`Gateway: +${kubeconfig.server.replace(/[.]/g, '\\.')}`), 'prints where the gateway listens');
  t.match(demo.stderr, new RegExp(`Kubeconfig: +${printedPath} +\\(context kube-stream-gateway-demo → legacy-a, kube-stream-gateway-demo-b → legacy-b, kube-stream-gateway-demo-websocket → websocket-only\\)\\n`));
  for (const command of ['exec -it demo -- sh', 'echo hi | kubectl --kubeconfig', 'exec -i demo -- cat', 'cp ./file demo:/tmp/file', 'attach -i demo -c echo']) {
    t.ok(demo.stderr.includes(command), `prints: ${command}`);
  }
  t.match(demo.stderr, /commands run HERE/, 'says the demo pod is this host');
  t.notOk(demo.stderr.includes(kubeconfig.token), 'the token is not printed');
  t.notOk(demo.stdout.includes(kubeconfig.token), 'the token is not logged');
  for (const line of demo.stdout.split('\n').filter(Boolean)) t.doesNotThrow(() => JSON.parse(line), 'stdout is JSON lines only');

  // The web interface is on: its address and a sign-in token of its own, which signs in as the demo's admin.
  t.match(demo.stderr, new RegExp(`Web interface: +${kubeconfig.server.replace(/[.]/g, '\\.')}/ui/`), 'prints the web interface');
  const signIn = /Sign-in token: +(\S+)/.exec(demo.stderr)?.[1];
  t.ok(signIn && signIn !== kubeconfig.token && signIn.length >= 40, 'a sign-in token, not the kubeconfig one');
  t.same(JSON.parse(await getBody(new URL('/ui/api/whoami', kubeconfig.server), kubeconfig.caPem, signIn!)), { user: 'demo', groups: ['system:masters', 'demo-admins', 'system:authenticated'], admin: true });

  const pods = await runKubectl(33, ['get', 'pods'], { kubeconfig: kubeconfigPath });
  t.equal(pods.code, 0, pods.stderr);
  t.match(pods.stdout.toString(), /^NAME\s+READY\s+STATUS[^]*\ndemo\s+\d+\/\d+\s+Running/);

  const cat = await runKubectl(33, ['exec', '-i', 'demo', '--', 'cat'], { kubeconfig: kubeconfigPath, stdin: 'through the demo\n' });
  t.equal(cat.code, 0, cat.stderr);
  t.equal(cat.stdout.toString(), 'through the demo\n');
  const session = await demo.waitForLog('the session-end line', (line) => line.component === 'gateway' && line.event === 'session-end');
  t.equal(session.clientProtocol, 'v5.channel.k8s.io', 'kubectl 1.33 used WebSocket to the gateway');
  t.match(session.upstreamProtocol, /^v4\.channel\.k8s\.io$/, 'the gateway used SPDY (remote-command v4) upstream');
  t.equal(session.upstream, 'legacy-a', 'the default context reaches the first cluster');

  // Every session is recorded: the user's own exec is on the Recordings page, whole, with the bytes it printed.
  const recordingsDir = /Recordings: +(\S+)/.exec(demo.stderr)?.[1];
  t.ok(recordingsDir && existsSync(recordingsDir), 'prints the recordings directory, which exists');
  const listed = JSON.parse(await getBody(new URL(`/ui/api/recordings?user=demo`, kubeconfig.server), kubeconfig.caPem, signIn!)) as { recordings: Array<{ name: string; auditID: string; command: string[]; complete: boolean }> };
  const recorded = listed.recordings.find((entry) => entry.auditID === session.auditID);
  t.match(recorded, { command: ['cat'], complete: true }, 'the exec is listed as a whole recording under its audit ID');
  const file = await getBody(new URL(`/ui/api/recordings/${recorded?.name ?? 'none'}`, kubeconfig.server), kubeconfig.caPem, signIn!);
  t.ok(file.includes('through the demo\n'), "the recording holds the session's output");

  const second = await runKubectl(33, ['--context', 'kube-stream-gateway-demo-b', 'exec', 'demo', '--', 'echo', 'second cluster'], { kubeconfig: kubeconfigPath });
  t.equal(second.code, 0, second.stderr);
  t.equal(second.stdout.toString(), 'second cluster\n');
  const secondSession = await demo.waitForLog('the second session-end line', (line) => line.component === 'gateway' && line.event === 'session-end' && line.upstream === 'legacy-b');
  t.equal(secondSession.clientProtocol, 'v5.channel.k8s.io');
  const clusterB = await demo.waitForLog("legacy-b's own session line", (line) => line.component === 'legacy-cluster' && line.cluster === 'legacy-b' && line.event === 'session-end');
  t.ok(clusterB, 'the second cluster ran it');

  // The third context: kubectl 1.27 (SPDY only) into the WebSocket-only cluster, translated by the gateway.
  const third = await runKubectl(27, ['--context', 'kube-stream-gateway-demo-websocket', 'exec', '-i', 'demo', '--', 'sh', '-c', 'cat; exit 3'], { kubeconfig: kubeconfigPath, stdin: 'old kubectl, new cluster\n' });
  t.equal(third.stdout.toString(), 'old kubectl, new cluster\n');
  t.equal(third.code, 3, third.stderr);
  const thirdSession = await demo.waitForLog('the WebSocket-only session-end line', (line) => line.component === 'gateway' && line.event === 'session-end' && line.upstream === 'websocket-only');
  t.match(thirdSession, { mode: 'to-websocket', clientTransport: 'spdy', upstreamTransport: 'websocket', upstreamProtocol: 'v5.channel.k8s.io', exitCode: 3 });
  const clusterWs = await demo.waitForLog("websocket-only's own session line", (line) => line.component === 'legacy-cluster' && line.cluster === 'websocket-only' && line.event === 'session-end');
  t.equal(clusterWs.protocol, 'v5.channel.k8s.io', 'the WebSocket-only cluster served v5');

  t.equal(await demo.stop('SIGTERM'), 0, 'exit 0 on SIGTERM');
  t.match(demo.stderr, /Stopping/);
  t.notOk(existsSync(kubeconfigPath), 'the kubeconfig (its token now dead) is removed on stop');
  t.notOk(existsSync(recordingsDir!), "the recordings, the demo's scratch, are removed on stop");
  await t.rejects(getVersion(kubeconfig), /ECONNREFUSED/, 'the gateway is closed');
});

t.test('SIGINT while starting still stops cleanly: exit 0, no kubeconfig left', async (t) => {
  const kubeconfigPath = join(dir, 'interrupted.kubeconfig');
  const demo = new CliProcess(['demo', '--listen', '127.0.0.1:0', '--kubeconfig-out', kubeconfigPath]);
  t.teardown(() => demo.stop('SIGKILL'));
  await demo.waitFor('the first progress line', () => demo.stderr.includes('Generating a certificate authority'));
  t.equal(await demo.stop('SIGINT'), 0);
  t.notOk(existsSync(kubeconfigPath));
  t.notMatch(demo.stderr, /\n\s+at /, 'no stack trace');
});

t.test('a port in use: exit 1, one line naming it, no kubeconfig written', async (t) => {
  const held = createServer();
  await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
  t.teardown(() => held.close());
  const port = (held.address() as { port: number }).port;
  const kubeconfigPath = join(dir, 'in-use.kubeconfig');
  const demo = new CliProcess(['demo', '--listen', `127.0.0.1:${port}`, '--kubeconfig-out', kubeconfigPath]);
  t.equal((await demo.exited).code, 1);
  const lines = demo.stderr.trim().split('\n');
  t.equal(lines.at(-1), `kube-stream-gateway: --listen: cannot listen on 127.0.0.1:${port}: address already in use`);
  t.notMatch(demo.stderr, /\n\s+at /, 'no stack trace');
  t.notOk(existsSync(kubeconfigPath), 'no kubeconfig for a gateway that never listened');
});

t.test('a file at --kubeconfig-out that is not a demo kubeconfig is never overwritten', async (t) => {
  const precious = join(dir, 'config');
  const content = renderKubeconfig({ server: 'https://prod.example:6443', caPem: 'x', token: 'precious', contextName: 'production' });
  await writeFile(precious, content);
  const demo = new CliProcess(['demo', '--listen', '127.0.0.1:0', '--kubeconfig-out', precious]);
  const { code } = await demo.exited;
  t.equal(code, 2);
  t.match(demo.stderr, /^kube-stream-gateway: --kubeconfig-out: .*config exists and is not a demo kubeconfig; refusing to overwrite it/);
  t.equal(await readFile(precious, 'utf8'), content, 'untouched');
});

t.test('a second demo with the same --kubeconfig-out refuses, and never touches the running one\'s file', async (t) => {
  const kubeconfigPath = join(dir, 'shared.kubeconfig');
  const first = new CliProcess(['demo', '--listen', '127.0.0.1:0', '--kubeconfig-out', kubeconfigPath]);
  t.teardown(() => first.stop('SIGKILL'));
  await first.waitFor('the banner', () => first.stderr.includes('Ctrl-C stops the demo'));
  const written = await readFile(kubeconfigPath, 'utf8');

  const second = new CliProcess(['demo', '--listen', '127.0.0.1:0', '--kubeconfig-out', kubeconfigPath]);
  t.teardown(() => second.stop('SIGKILL'));
  t.equal((await second.exited).code, 2, 'refused as a bad option');
  t.equal(second.stderr, `kube-stream-gateway: --kubeconfig-out: ${kubeconfigPath} belongs to a demo that is still running (pid ${first.child.pid}); stop it first, or give this one another --kubeconfig-out (and --listen)\n`);
  t.equal(await readFile(kubeconfigPath, 'utf8'), written, "the first demo's kubeconfig is untouched");
  t.equal(await getVersion(readKubeconfig(written)), 200, 'and still reaches the first gateway');

  t.equal(await first.stop('SIGTERM'), 0);
  t.notOk(existsSync(kubeconfigPath), 'the owner removes its kubeconfig on stop');
  t.notOk(existsSync(`${kubeconfigPath}.lock`), 'and its lock');
});

t.test('a lock left by a demo that was killed is taken over', async (t) => {
  const kubeconfigPath = join(dir, 'orphan.kubeconfig');
  const gone = spawnSync(process.execPath, ['-e', '']).pid; // a pid whose process has exited
  await writeFile(`${kubeconfigPath}.lock`, `${gone}\n`);
  await writeFile(kubeconfigPath, renderKubeconfig({ server: 'https://127.0.0.1:1', caPem: 'old', token: 'old', contextName: 'kube-stream-gateway-demo' }));
  const demo = new CliProcess(['demo', '--listen', '127.0.0.1:0', '--kubeconfig-out', kubeconfigPath]);
  t.teardown(() => demo.stop('SIGKILL'));
  await demo.waitFor('the banner', () => demo.stderr.includes('Ctrl-C stops the demo'));
  t.equal(await readFile(`${kubeconfigPath}.lock`, 'utf8'), `${demo.child.pid}\n`);
  t.equal(await demo.stop('SIGTERM'), 0);
  t.notOk(existsSync(kubeconfigPath));
});
