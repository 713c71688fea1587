#!/usr/bin/env -S node --initial-old-space-size=64
// The `kube-stream-gateway` command: one module per sub-command (serve, legacy-cluster, demo, check-config).
// The flag above lets V8 skip full collections while its old generation and the buffers freed since
// the last one stay under 64 MiB: a few sessions' relayed bytes would otherwise exceed the headroom of
// a heap this small and cost 20–50 full GCs per GiB (docs/performance.md). V8 reads it only at start.
import { ConfigError } from '../config/errors.js';
import { ConfigProblems } from '../config/problems.js';
import { ListenError } from './lifecycle.js';
import { packageVersion } from './version.js';
import { UsageError } from './usage.js';
import { keepYoungGenerationSmall } from './young-generation.js';

const USAGE = `kube-stream-gateway ${packageVersion()}
Lets WebSocket Kubernetes clients (kubectl 1.31+, browsers, client libraries) exec, attach, cp and
port-forward into clusters that only speak SPDY/3.1; every other request is proxied unchanged.

Usage:
  kube-stream-gateway serve [options]             the gateway
  kube-stream-gateway legacy-cluster [options]    a SPDY-only stand-in cluster (runs commands on THIS host)
  kube-stream-gateway demo [options]              both, over HTTPS, with a ready kubeconfig (npm start)
  kube-stream-gateway check-config --config FILE  validate a configuration file, start nothing (exit 0/1)
  kube-stream-gateway <command> --help            the options of a command
  kube-stream-gateway --version                   the version

Exit codes: 0 after SIGINT/SIGTERM, 1 when an address cannot be listened on, 2 for bad options or
configuration (one line on stderr per problem, naming the option or the file and field).
`;

// Loaded on demand: `serve` starts without the legacy cluster's pty and certificate code, and
// `--version` without any of it. The commands that run a gateway fix the young generation's size
// first: loading the gateway's modules alone grows it from 1 to 8 MiB per semi-space.
const COMMANDS: Record<string, () => Promise<(args: string[]) => Promise<void>>> = {
  serve: async () => {
    keepYoungGenerationSmall();
    return (await import('./serve.js')).runServe;
  },
  'legacy-cluster': async () => (await import('./legacy-cluster.js')).runLegacyCluster,
  demo: async () => {
    keepYoungGenerationSmall();
    return (await import('./demo.js')).runDemo;
  },
  'check-config': async () => (await import('./check-config.js')).runCheckConfig,
};

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-v' || command === 'version') {
    process.stdout.write(`${packageVersion()}\n`);
    return;
  }
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const load = COMMANDS[command];
  if (!load) {
    const what = command.startsWith('-') ? `unknown option ${JSON.stringify(command)}` : `unknown command ${JSON.stringify(command)}`;
    throw new UsageError(`${what} (commands: ${Object.keys(COMMANDS).join(', ')}; see kube-stream-gateway --help)`);
  }
  const run = await load();
  await run(rest);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  // Expected problems get one line and no stack: exit 1 when an address cannot be listened on, 2 for
  // bad options or configuration. Anything else is a bug, and worth its stack.
  if (error instanceof ConfigProblems) {
    // Every problem found, one line each.
    process.stderr.write(error.lines.map((line) => `kube-stream-gateway: ${line}\n`).join(''));
    process.exit(2);
  }
  if (error instanceof ConfigError || error instanceof UsageError) {
    process.stderr.write(`kube-stream-gateway: ${error.message.replace(/\s*\n\s*/g, ' ')}\n`);
    process.exit(error instanceof ListenError ? 1 : 2);
  }
  process.stderr.write(`kube-stream-gateway: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
