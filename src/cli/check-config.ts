import { ConfigError } from '../config/errors.js';
import { loadGatewayConfig } from '../config/gateway-config.js';
import type { GatewayConfig } from '../config/model.js';
import { parseCommandLine, UsageError } from './usage.js';

const HELP = `Usage: kube-stream-gateway check-config --config FILE

Validates a configuration file as serve would load it, without starting anything: the schema (every
key known, every value well typed, references between fields), and every file it names (certificates
parse, keys match them, CA bundles and token files are readable), relative to the file's folder.
The file is checked alone: serve's flags and KSG_* environment variables are not applied.

Prints "FILE: ok" and a summary line, and exits 0; or prints every problem, one per line on stderr,
and exits 2, as serve does for the same file. Exit 2 also for bad options.

Options:
  --config FILE   the YAML configuration file (see docs/configuration.md)
  -h, --help      this text
`;

const OPTIONS = { config: { type: 'string' } } as const;

export async function runCheckConfig(args: string[]): Promise<void> {
  const flags = parseCommandLine('check-config', args, OPTIONS, HELP);
  if (!flags) return;
  const file = flags.config as string | undefined;
  if (file === undefined) throw new UsageError('check-config: --config FILE: required (see kube-stream-gateway check-config --help)');
  let config: GatewayConfig;
  try {
    config = await loadGatewayConfig({ config: file }, {});
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const lines = error.message.split('\n');
    process.stderr.write(`${lines.join('\n')}\n${file}: ${lines.length} ${lines.length === 1 ? 'problem' : 'problems'}\n`);
    // The same exit code serve gives the same configuration: a script can run either to check a file.
    process.exitCode = 2;
    return;
  }
  process.stdout.write(`${file}: ok\n${summary(config)}\n`);
}

/** One line an operator can compare with what they meant to configure. */
export function summary(config: GatewayConfig): string {
  const address = (where: { host: string; port: number }): string => (where.host.includes(':') ? `[${where.host}]:${where.port}` : `${where.host}:${where.port}`);
  const upstreams = config.upstreams.map((upstream) => `${upstream.name} ${upstream.url.href}${upstream.hosts.length ? ` (hosts ${upstream.hosts.join(', ')})` : ''}`);
  const auth =
    config.auth.mode === 'edge'
      ? `edge (authenticators ${config.auth.authenticators.join(', ')}; authorization ${config.auth.authorization.mode})`
      : 'passthrough';
  return [
    `listen ${config.tls ? 'https' : 'http'}://${address(config.listen)}`,
    `admin ${config.admin ? address(config.admin) : 'off'}`,
    `${config.upstreams.length} ${config.upstreams.length === 1 ? 'upstream' : 'upstreams'}: ${upstreams.join(', ')}`,
    `default upstream ${config.routing.defaultUpstream ?? 'none'}`,
    `auth ${auth}`,
  ].join('; ');
}
