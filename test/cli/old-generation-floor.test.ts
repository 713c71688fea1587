// The installed command (the npm bin, the image's entrypoint) starts node with the old generation's
// floor that its first line gives (src/cli/main.ts): V8 reads it only when the process starts, so
// the command is run here as a user's shell runs it, through that line, and the running process's
// own command line is read back.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { CliProcess } from './cli-process.js';

t.test('run as installed, the command is node with --initial-old-space-size=64', async (t) => {
  const cluster = new CliProcess(['legacy-cluster', '--listen', '127.0.0.1:0', '--token', 'floor-test'], { asInstalled: true });
  t.teardown(() => cluster.stop('SIGKILL'));
  await cluster.listeningUrl();
  const argv = readFileSync(`/proc/${cluster.child.pid}/cmdline`, 'utf8').split('\0');
  t.equal(basename(argv[0]!), 'node', 'env has handed over to node');
  t.ok(argv.includes('--initial-old-space-size=64'), `node's command line: ${argv.join(' ')}`);
  t.equal(await cluster.stop('SIGTERM'), 0, 'and it runs as the gateway always does');
});
