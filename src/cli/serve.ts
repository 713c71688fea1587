import { DEFAULT_ADMIN_LISTEN, DEFAULT_LISTEN, loadGatewayConfig } from '../config/gateway-config.js';
import { createLogger } from '../observability/logger.js';
import { startConfiguredGateway } from '../server/configured-gateway.js';
import { Lifecycle, listening } from './lifecycle.js';
import { parseCommandLine } from './usage.js';
import { packageVersion } from './version.js';

const HELP = `Usage: kube-stream-gateway serve (--upstream URL | --upstream-kubeconfig FILE) [options]

The gateway. Accepts WebSocket exec, attach, cp and port-forward from kubectl 1.31+, browsers and
client libraries, and translates them to SPDY/3.1 toward a legacy API server or kubelet; every other
request (and SPDY from older kubectl) is proxied unchanged. By default each caller's own Authorization
header is passed to the upstream (auth.mode passthrough); in edge mode (configuration file) the gateway
authenticates callers itself and reaches the upstream with its own credential, impersonating them.
Several clusters: the configuration file's upstreams, routed by host name or /clusters/{name}/.

Options (a flag wins over its environment variable, which wins over the --config file; every setting,
and many more, is described in docs/configuration.md; relative paths in the file are relative to the
file's folder; check a file with: kube-stream-gateway check-config --config FILE):
  --config FILE                          the YAML configuration file (env KSG_CONFIG)
  --listen HOST:PORT                     where to listen (default ${DEFAULT_LISTEN}; [::1]:PORT for IPv6;
                                         port 0: any free port, see the "listening" log line; env KSG_LISTEN)
  --admin-listen HOST:PORT|off           metrics and health endpoints (default ${DEFAULT_ADMIN_LISTEN}; env KSG_ADMIN_LISTEN)
  --tls-cert FILE, --tls-key FILE        serve HTTPS with this PEM certificate and key (give both); plain
                                         HTTP otherwise, for use behind a TLS-terminating load balancer
  --upstream URL                         the legacy API server or kubelet: http(s)://host:port[/path-prefix]
                                         (env KSG_UPSTREAM); the --upstream* options describe one upstream
                                         named "default", instead of the file's upstreams
  --upstream-kubeconfig FILE             take the server, CA and TLS server name from this kubeconfig (its
                                         credentials are not used for callers); --upstream replaces its server
  --upstream-context NAME                the kubeconfig's context to use (default: its current-context)
  --upstream-ca FILE                     PEM CA bundle that verifies the upstream (default: the kubeconfig's
                                         CA, else the system's roots)
  --upstream-insecure-skip-tls-verify    do not verify the upstream's certificate (testing only)
  --log-level LEVEL                      fatal, error, warn, info (default), debug, trace or silent (env
                                         KSG_LOG_LEVEL)
  -h, --help                             this text

Logs are JSON lines on stdout (human-readable on a terminal, logging.format). On SIGINT or SIGTERM it
drains: stops accepting, turns /readyz false, lets sessions run up to shutdown.gracePeriodSeconds, ends
the rest with a Status saying the gateway is shutting down, and exits 0; a second signal exits at once.
`;

const OPTIONS = {
  config: { type: 'string' },
  listen: { type: 'string' },
  'admin-listen': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  upstream: { type: 'string' },
  'upstream-kubeconfig': { type: 'string' },
  'upstream-context': { type: 'string' },
  'upstream-ca': { type: 'string' },
  'upstream-insecure-skip-tls-verify': { type: 'boolean' },
  'log-level': { type: 'string' },
} as const;

export async function runServe(args: string[]): Promise<void> {
  const life = new Lifecycle();
  try {
    const flags = parseCommandLine('serve', args, OPTIONS, HELP);
    if (!flags) return await life.abort();
    const config = await loadGatewayConfig(flags, process.env);
    const logger = createLogger({ level: config.logging.level, format: config.logging.format });
    const running = await listening('--listen', startConfiguredGateway(config, logger, { version: packageVersion() }));
    life.closeOnStop(async () => {
      logger.info({ event: 'stopping', sessions: running.gateway.activeSessions, gracePeriodSeconds: config.shutdown.gracePeriodSeconds }, 'stopping');
      await running.drain();
      logger.info({ event: 'stopped' }, 'stopped');
    });
  } catch (error) {
    await life.abort();
    throw error;
  }
  await life.untilStopped();
}
