import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { ConfigError, describeFsError } from '../config/errors.js';
import { renderKubeconfig } from '../config/kubeconfig.js';
import { isLoopback, parseListenAddress } from '../config/listen-address.js';
import { startLegacyCluster } from '../legacy-cluster/cluster.js';
import { createLogger } from '../observability/logger.js';
import { createTokenFileAuthenticator } from '../auth/token-file.js';
import { createUnionAuthenticator } from '../auth/union.js';
import { EdgeAccess } from '../server/edge-access.js';
import { startGateway } from '../server/gateway.js';
import { defaultAssetsDir } from '../server/ui/static-assets.js';
import { createCertificateAuthority } from '../net/certificate-authority.js';
import { RecordingTaps } from '../recording/recording-taps.js';
import { Lifecycle, listening } from './lifecycle.js';
import { parseCommandLine, shellQuote } from './usage.js';

export const DEFAULT_DEMO_LISTEN = '127.0.0.1:8443';
export const DEFAULT_DEMO_KUBECONFIG = 'demo.kubeconfig';
/** The context name the demo writes; a file at --kubeconfig-out without it is never overwritten. */
export const DEMO_CONTEXT = 'kube-stream-gateway-demo';
/** The second cluster's context, reached through the same gateway by the /clusters/{name}/ prefix. */
export const DEMO_SECOND_CONTEXT = 'kube-stream-gateway-demo-b';
/** The demo user's groups: the clusters' admins, and the web interface's (every session, End buttons). */
export const DEMO_USER = 'demo';
const DEMO_GROUPS = ['system:masters', 'demo-admins'];
/** The third context: a cluster that speaks WebSocket only (as clusters after SPDY's removal will). */
export const DEMO_WEBSOCKET_CONTEXT = 'kube-stream-gateway-demo-websocket';
/** The demo's clusters, as the gateway names them: two SPDY-only, then one WebSocket-only. */
export const DEMO_CLUSTERS = ['legacy-a', 'legacy-b', 'websocket-only'] as const;
/** What each cluster serves for exec/attach/port-forward (`legacy-cluster --streaming`), and the gateway's `streaming` toward it. */
/** A demo recording stops growing here (the session goes on): a `cp` of a large file need not fill the disk. */
const DEMO_RECORDING_CAP_BYTES = 64 * 1024 * 1024;

const DEMO_STREAMING = { 'legacy-a': 'spdy', 'legacy-b': 'spdy', 'websocket-only': 'websocket' } as const;

const HELP = `Usage: kube-stream-gateway demo [--listen HOST:PORT] [--kubeconfig-out FILE]

What npm start runs: two embedded legacy clusters (SPDY/3.1 only, report v1.28) and one that
speaks WebSocket only (as a cluster after SPDY's removal) on free loopback ports, and one gateway
in front of all three in edge mode, all over HTTPS with a certificate authority generated now and
random bearer tokens. The gateway routes by path: /clusters/legacy-b/... goes to the second
cluster, /clusters/websocket-only/... to the third (SPDY clients translated to WebSocket),
everything else to the first. Once the gateway is listening it writes a kubeconfig for it (the CA
and a token, mode 0600; one context per cluster), prints kubectl commands to try, and the address
of its web interface with a sign-in token of its own (both tokens are the user "${DEMO_USER}", an
admin of the clusters and of the interface).

It binds loopback only: the demo pod is THIS HOST, and its commands run here, as you, in a scratch
directory.

Options:
  --listen HOST:PORT      the gateway's address, loopback only (default ${DEFAULT_DEMO_LISTEN};
                          port 0: any free port, printed)
  --kubeconfig-out FILE   where to write the kubeconfig (default ./${DEFAULT_DEMO_KUBECONFIG}); a file already
                          there is replaced only if it is an earlier demo kubeconfig whose demo has
                          stopped (FILE.lock holds the running demo's pid); removed on stop
  -h, --help              this text

Output: progress lines and the banner go to stderr; stdout carries the JSON logs (a line at the start
and end of every session). Ctrl-C (SIGINT) or SIGTERM stops it (exit 0).
`;

const OPTIONS = {
  listen: { type: 'string' },
  'kubeconfig-out': { type: 'string' },
} as const;

export async function runDemo(args: string[]): Promise<void> {
  const say = (line = ''): void => void process.stderr.write(`${line}\n`);
  let kubeconfigWritten: string | undefined;
  const life = new Lifecycle(() => say(`\nStopping… (${kubeconfigWritten ? `removing ${kubeconfigWritten}; ` : ''}Ctrl-C again exits at once)`));
  try {
    const flags = parseCommandLine('demo', args, OPTIONS, HELP);
    if (!flags) return await life.abort();
    const listen = parseListenAddress((flags.listen as string | undefined) ?? DEFAULT_DEMO_LISTEN, '--listen');
    if (!isLoopback(listen.host)) {
      throw new ConfigError(`--listen: the demo binds loopback only (127.0.0.1, [::1] or localhost) because its pod runs commands on this host; got ${listen.host}`);
    }
    const kubeconfigPath = resolve((flags['kubeconfig-out'] as string | undefined) ?? DEFAULT_DEMO_KUBECONFIG);
    await checkKubeconfigFolder(kubeconfigPath);
    // Claimed before anything is cleared: a second demo never touches a running one's kubeconfig.
    const release = await claimKubeconfigPath(kubeconfigPath);
    life.closeOnStop(release);
    await clearKubeconfigPath(kubeconfigPath);
    const logger = createLogger();

    say('Generating a certificate authority and a server certificate…');
    const ca = await createCertificateAuthority('kube-stream-gateway demo CA');
    const certificate = await ca.issueServerCertificate(['127.0.0.1', '::1', 'localhost', listen.host]);
    const tls = { cert: certificate.certPem, key: certificate.keyPem };
    // The clusters' privileged token is the gateway's own credential; callers get tokens of their own.
    const clusterToken = randomBytes(32).toString('base64url');
    const token = randomBytes(32).toString('base64url');
    const signInToken = randomBytes(32).toString('base64url');
    const users = await createTokenFileAuthenticator('(demo tokens)', {
      initial: [token, signInToken].map((secret) => `${secret},${DEMO_USER},${DEMO_USER}-uid,"${DEMO_GROUPS.join(',')}"`).join('\n') + '\n',
    });

    const clusters = [];
    for (const name of DEMO_CLUSTERS) {
      const streaming = DEMO_STREAMING[name];
      say(`Starting legacy cluster ${name} (${describeStreaming(streaming)}, reports v1.28) on a free loopback port…`);
      const cluster = await listening('legacy cluster', startLegacyCluster({ listen: { host: '127.0.0.1', port: 0 }, token: clusterToken, tls, streaming, logger: logger.child({ component: 'legacy-cluster', cluster: name }) }));
      life.closeOnStop(() => cluster.close());
      if (life.stopping) return await life.untilStopped();
      clusters.push({ name, cluster, streaming });
    }

    // Every session is recorded, so the Recordings page has the user's own sessions to replay; the
    // recordings are the demo's scratch, removed when it stops.
    const recordingsDirectory = await mkdtemp(join(tmpdir(), 'kube-stream-gateway-demo-recordings-'));
    life.closeOnStop(() => rm(recordingsDirectory, { recursive: true, force: true }));
    const recording = new RecordingTaps(
      { directory: recordingsDirectory, rules: [], captureInput: false, maxBytesPerSession: DEMO_RECORDING_CAP_BYTES, required: false },
      logger.child({ component: 'recording' }),
    );
    life.closeOnStop(() => recording.close());

    say(`Starting the gateway on ${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}…`);
    const gateway = await listening(
      '--listen',
      startGateway({
        listen,
        tls,
        upstreams: clusters.map(({ name, cluster, streaming }) => ({ name, target: { url: new URL(cluster.url), ca: ca.caCertPem, insecureSkipTlsVerify: false, credentials: { bearerToken: clusterToken }, streaming } })),
        defaultUpstream: DEMO_CLUSTERS[0],
        access: new EdgeAccess({ authenticator: createUnionAuthenticator([users]), impersonation: [], logger: logger.child({ component: 'gateway' }) }),
        recording,
        ui: { path: '/ui/', admins: ['demo-admins'], assetsDir: defaultAssetsDir(), recordingsDirectory },
        logger: logger.child({ component: 'gateway' }),
      }),
    );
    life.closeOnStop(() => gateway.close());
    if (life.stopping) return await life.untilStopped();

    // Only now that the gateway listens, so that whoever waits for the file can use it at once.
    // Written whole under another name, then renamed into place: nobody reads half of it.
    const partial = `${kubeconfigPath}.${process.pid}.partial`;
    try {
      const first = renderKubeconfig({ server: gateway.url, caPem: ca.caCertPem, token, contextName: DEMO_CONTEXT });
      const kubeconfig = withContext(withContext(first, DEMO_SECOND_CONTEXT, `${gateway.url}/clusters/${DEMO_CLUSTERS[1]}`), DEMO_WEBSOCKET_CONTEXT, `${gateway.url}/clusters/${DEMO_CLUSTERS[2]}`);
      await writeFile(partial, kubeconfig, { mode: 0o600, flag: 'wx' });
      await rename(partial, kubeconfigPath);
    } catch (error) {
      await rm(partial, { force: true });
      throw new ConfigError(`--kubeconfig-out: cannot write ${kubeconfigPath}: ${describeFsError(error)}`);
    }
    kubeconfigWritten = kubeconfigPath;
    // Registered last, so removed first on stop: the token in it dies with the demo.
    life.closeOnStop(() => rm(kubeconfigPath, { force: true }));
    if (life.stopping) return await life.untilStopped();

    const kubectl = `kubectl --kubeconfig ${shellQuote(kubeconfigPath)}`;
    say();
    say(`Gateway:        ${gateway.url}   (WebSocket in, SPDY/3.1 out; SPDY in, WebSocket out toward ${DEMO_CLUSTERS[2]})`);
    for (const { name, cluster, streaming } of clusters) say(`Legacy cluster: ${cluster.url}   (${name}: ${describeStreaming(streaming)}, v1.28)`);
    say(`Kubeconfig:     ${kubeconfigPath}   (context ${DEMO_CONTEXT} → ${DEMO_CLUSTERS[0]}, ${DEMO_SECOND_CONTEXT} → ${DEMO_CLUSTERS[1]}, ${DEMO_WEBSOCKET_CONTEXT} → ${DEMO_CLUSTERS[2]})`);
    say(`Web interface:  ${gateway.url}/ui/   (the demo CA signed its certificate: accept it in the browser)`);
    say(`Sign-in token:  ${signInToken}   (for the web interface; valid while this demo runs)`);
    say(`Recordings:     ${recordingsDirectory}   (every session; replay them on the Recordings page; removed when the demo stops)`);
    say();
    say('Try, with kubectl 1.31 or newer (older kubectl works too, over SPDY, proxied through):');
    say(`  ${kubectl} get pods`);
    say(`  ${kubectl} exec -it demo -- sh`);
    say(`  echo hi | ${kubectl} exec -i demo -- cat`);
    say(`  ${kubectl} cp ./file demo:/tmp/file && ${kubectl} cp demo:/tmp/file ./file.copy`);
    say(`  echo hello | ${kubectl} attach -i demo -c echo`);
    say(`  ${kubectl} port-forward pod/demo 18080:80   # then: curl http://127.0.0.1:18080/`);
    say(`  ${kubectl} --context ${DEMO_SECOND_CONTEXT} exec demo -- hostname   # the second cluster, via /clusters/${DEMO_CLUSTERS[1]}/`);
    say(`  ${kubectl} --context ${DEMO_WEBSOCKET_CONTEXT} exec demo -- hostname   # WebSocket only; kubectl 1.27 works too, translated`);
    say();
    say('The demo pod is this host: its commands run HERE, as you, in a scratch directory.');
    say('Logs (JSON) go to stdout. Ctrl-C stops the demo.');
  } catch (error) {
    await life.abort();
    throw error;
  }
  await life.untilStopped();
}

function describeStreaming(streaming: 'spdy' | 'websocket'): string {
  return streaming === 'spdy' ? 'SPDY/3.1 only' : 'WebSocket only';
}

/** Adds a context for another cluster behind the same gateway (same CA and token, another server URL). */
function withContext(kubeconfig: string, name: string, server: string): string {
  const document = parse(kubeconfig) as {
    clusters: Array<{ name: string; cluster: Record<string, unknown> }>;
    users: Array<{ name: string }>;
    contexts: Array<{ name: string; context: Record<string, unknown> }>;
  };
  const first = document.clusters[0]!;
  document.clusters.push({ name, cluster: { ...first.cluster, server } });
  document.contexts.push({ name, context: { ...document.contexts[0]!.context, cluster: name } });
  return stringify(document);
}

async function checkKubeconfigFolder(path: string): Promise<void> {
  const folder = dirname(path);
  let isFolder: boolean;
  try {
    isFolder = (await stat(folder)).isDirectory();
  } catch (error) {
    throw new ConfigError(`--kubeconfig-out: cannot use folder ${folder}: ${describeFsError(error)}`);
  }
  if (!isFolder) throw new ConfigError(`--kubeconfig-out: ${folder} is not a directory`);
}

/**
 * `FILE.lock` beside the kubeconfig holds the pid of the demo that owns FILE. A lock whose demo is
 * alive refuses this one (a second `npm start`); one whose demo is gone (killed) is taken over.
 * Resolves with the release, which removes the lock only while it is still this demo's.
 */
async function claimKubeconfigPath(path: string): Promise<() => Promise<void>> {
  const lock = `${path}.lock`;
  const mine = `${process.pid}\n`;
  const release = async (): Promise<void> => {
    if ((await readFile(lock, 'utf8').catch(() => '')) === mine) await rm(lock, { force: true });
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(lock, mine, { flag: 'wx', mode: 0o600 });
      return release;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new ConfigError(`--kubeconfig-out: cannot create ${lock}: ${describeFsError(error)}`);
    }
    const owner = Number.parseInt(await readFile(lock, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(owner) && owner > 0 && isRunning(owner)) {
      throw new ConfigError(`--kubeconfig-out: ${path} belongs to a demo that is still running (pid ${owner}); stop it first, or give this one another --kubeconfig-out (and --listen)`);
    }
    await rm(lock, { force: true });
  }
  throw new ConfigError(`--kubeconfig-out: cannot claim ${path}: ${lock} keeps reappearing`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Makes sure nobody mistakes an old kubeconfig for this run's: an earlier demo kubeconfig (its demo
 * gone, see claimKubeconfigPath) is removed now; any other file (someone's ~/.kube/config) is refused.
 */
async function clearKubeconfigPath(path: string): Promise<void> {
  let existing: string;
  try {
    existing = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new ConfigError(`--kubeconfig-out: cannot use ${path}: ${describeFsError(error)}`);
  }
  let document: unknown;
  try {
    document = parse(existing);
  } catch {
    document = undefined;
  }
  if ((document as { 'current-context'?: unknown } | null | undefined)?.['current-context'] !== DEMO_CONTEXT) {
    throw new ConfigError(`--kubeconfig-out: ${path} exists and is not a demo kubeconfig; refusing to overwrite it (choose another path)`);
  }
  await rm(path, { force: true });
}
