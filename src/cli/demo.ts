import { randomBytes } from 'node:crypto';
import { writeFile, rename } from 'node:fs/promises';
import { resolve } from 'node:path';
import { renderKubeconfig } from '../config/kubeconfig.js';
import { ConfigError, isLoopback, parseListenAddress } from '../config/listen-address.js';
import { startLegacyCluster } from '../legacy-cluster/cluster.js';
import { createLogger } from '../observability/logger.js';
import { startGateway } from '../server/gateway.js';
import { createCertificateAuthority } from '../tls/certificate-authority.js';
import { stopOnSignal } from './lifecycle.js';
import { parseCommandLine } from './usage.js';

const DEFAULT_LISTEN = '127.0.0.1:8443';
const DEFAULT_KUBECONFIG = 'demo.kubeconfig';

const HELP = `Usage: kube-stream-gateway demo [--listen HOST:PORT] [--kubeconfig-out FILE]

Starts an embedded legacy (SPDY-only, 1.28) cluster and the gateway in front of it, both over HTTPS
with a certificate authority generated now, and writes a kubeconfig for the gateway once it is ready.
Binds loopback only: the demo pod's commands run ON THIS HOST, in a scratch directory.

Options:
  --listen HOST:PORT      gateway address, loopback only (default ${DEFAULT_LISTEN}; port 0 picks a free port)
  --kubeconfig-out FILE   where to write the kubeconfig (default ./${DEFAULT_KUBECONFIG})
  --help                  this text
`;

const OPTIONS = {
  listen: { type: 'string' },
  'kubeconfig-out': { type: 'string' },
} as const;

export async function runDemo(args: string[]): Promise<void> {
  const flags = parseCommandLine(args, OPTIONS, HELP);
  if (!flags) return;
  const listen = parseListenAddress((flags.listen as string | undefined) ?? DEFAULT_LISTEN, '--listen');
  if (!isLoopback(listen.host)) throw new ConfigError(`--listen: the demo binds loopback only (127.0.0.1, ::1, localhost), got ${listen.host}`);
  const kubeconfigPath = resolve((flags['kubeconfig-out'] as string | undefined) ?? DEFAULT_KUBECONFIG);
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  // Logs go to stderr as JSON so that stdout stays the human-readable part.
  const logger = createLogger({ destination: process.stderr });

  say('Generating a certificate authority and server certificate…');
  const ca = await createCertificateAuthority();
  const certificate = await ca.issueServerCertificate(['127.0.0.1', '::1', 'localhost', listen.host]);
  const tls = { cert: certificate.certPem, key: certificate.keyPem };
  const token = randomBytes(32).toString('base64url');

  say('Starting the legacy cluster (SPDY only, reports v1.28)…');
  const cluster = await startLegacyCluster({ listen: { host: '127.0.0.1', port: 0 }, token, tls, logger: logger.child({ component: 'legacy-cluster' }) });
  say(`Starting the gateway in front of it…`);
  let gateway;
  try {
    gateway = await startGateway({
      listen,
      tls,
      upstream: { url: new URL(cluster.url), ca: ca.caCertPem, insecureSkipTlsVerify: false },
      logger: logger.child({ component: 'gateway' }),
    });
  } catch (error) {
    await cluster.close();
    throw error;
  }

  // Written whole, then renamed into place: whoever waits for the file never reads half of it.
  const partial = `${kubeconfigPath}.partial`;
  await writeFile(partial, renderKubeconfig({ server: gateway.url, caPem: ca.caCertPem, token, contextName: 'kube-stream-gateway-demo' }), { mode: 0o600 });
  await rename(partial, kubeconfigPath);

  const k = `kubectl --kubeconfig ${kubeconfigPath}`;
  say('');
  say(`Gateway:        ${gateway.url}  (WebSocket in, SPDY/3.1 out)`);
  say(`Legacy cluster: ${cluster.url}  (SPDY only)`);
  say(`Kubeconfig:     ${kubeconfigPath}`);
  say('');
  say('Try, with kubectl 1.31 or newer:');
  say(`  ${k} exec -it demo -- sh`);
  say(`  echo hi | ${k} exec -i demo -- cat`);
  say(`  ${k} cp ./some-file demo:/tmp/some-file && ${k} cp demo:/tmp/some-file ./copy`);
  say(`  echo hello | ${k} attach -i demo -c echo`);
  say(`  KUBECTL_PORT_FORWARD_WEBSOCKETS=true ${k} port-forward pod/demo 18080:80   # then: curl 127.0.0.1:18080`);
  say('');
  say('The demo pod is this host: its commands run here, in a scratch directory. Ctrl-C stops the demo.');

  await stopOnSignal(async () => {
    await gateway.close();
    await cluster.close();
  });
}
