import { readSettingsFile, resolveGatewayConfig, DEFAULT_LISTEN, type ServeSettings } from '../config/gateway-config.js';
import { createLogger } from '../observability/logger.js';
import { startGateway } from '../server/gateway.js';
import { stopOnSignal } from './lifecycle.js';
import { parseCommandLine } from './usage.js';

const HELP = `Usage: kube-stream-gateway serve [options]

Accepts WebSocket exec/attach/cp from kubectl 1.30+ and other WebSocket clients, and translates them
to SPDY/3.1 toward a legacy API server or kubelet; every other request is proxied unchanged.
The caller's own Authorization header is passed to the upstream (passthrough).

Options (also settable in the --config YAML file under the same names; flags win):
  --config FILE                          YAML file with any of the settings below
  --listen HOST:PORT                     where to listen (default ${DEFAULT_LISTEN})
  --tls-cert FILE, --tls-key FILE        serve HTTPS; plain HTTP otherwise (behind a TLS-terminating load balancer)
  --upstream URL                         the legacy API server or kubelet, http(s)://host:port[/prefix]
  --upstream-kubeconfig FILE             take server and CA from a kubeconfig (--upstream overrides its server)
  --upstream-context NAME                context of that kubeconfig (default: its current-context)
  --upstream-ca FILE                     CA bundle that verifies the upstream
  --upstream-insecure-skip-tls-verify    do not verify the upstream's certificate (testing only)
  --log-level LEVEL                      fatal, error, warn, info (default), debug, trace, silent
  --help                                 this text
`;

const OPTIONS = {
  config: { type: 'string' },
  listen: { type: 'string' },
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
  const flags = parseCommandLine(args, OPTIONS, HELP);
  if (!flags) return;
  const { config: configFile, ...flagSettings } = flags;
  const fromFile = typeof configFile === 'string' ? await readSettingsFile(configFile) : {};
  const settings: ServeSettings = { ...fromFile };
  for (const [key, value] of Object.entries(flagSettings)) {
    if (value !== undefined) (settings as Record<string, unknown>)[key] = value;
  }
  const config = await resolveGatewayConfig(settings);
  const logger = createLogger({ level: config.logLevel });
  const gateway = await startGateway({ listen: config.listen, tls: config.tls, upstream: config.upstream, logger });
  await stopOnSignal(async () => {
    logger.info({ event: 'stopping' }, 'stopping');
    await gateway.close();
  });
}
