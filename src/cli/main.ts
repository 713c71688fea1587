#!/usr/bin/env node
import { ConfigError } from '../config/listen-address.js';
import { runDemo } from './demo.js';
import { runLegacyCluster } from './legacy-cluster.js';
import { runServe } from './serve.js';
import { packageVersion } from './version.js';
import { UsageError } from './usage.js';

const USAGE = `kube-stream-gateway ${packageVersion()}
Lets WebSocket Kubernetes clients (kubectl 1.30+, browsers, client libraries) exec, attach and cp
into clusters that only speak SPDY/3.1; every other request is proxied unchanged.

Usage:
  kube-stream-gateway serve [options]           the gateway
  kube-stream-gateway legacy-cluster [options]  a SPDY-only stand-in cluster (runs commands on THIS host)
  kube-stream-gateway demo [options]            both, with TLS and a ready kubeconfig
  kube-stream-gateway <command> --help          options of a command
  kube-stream-gateway --version
`;

const COMMANDS: Record<string, (args: string[]) => Promise<void>> = {
  serve: runServe,
  'legacy-cluster': runLegacyCluster,
  demo: runDemo,
};

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${packageVersion()}\n`);
    return;
  }
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const run = COMMANDS[command];
  if (!run) throw new UsageError(`unknown command "${command}" (commands: ${Object.keys(COMMANDS).join(', ')})`);
  await run(rest);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  // Expected problems get one line and exit code 2; anything else is a bug worth its stack.
  if (error instanceof ConfigError || error instanceof UsageError) {
    process.stderr.write(`kube-stream-gateway: ${error.message}\n`);
    process.exit(2);
  }
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
    process.stderr.write(`kube-stream-gateway: cannot listen: ${(error as Error).message}\n`);
    process.exit(1);
  }
  process.stderr.write(`kube-stream-gateway: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
