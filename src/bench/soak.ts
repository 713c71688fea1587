import { createHash, randomBytes, randomInt } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { gatewayExecWithWs, TOKEN } from './clients.js';
import { rssOf, startGatewayServer, startServer, type ServerProcess } from './processes.js';

/**
 * `npm run soak`: many exec sessions through the gateway, concurrently, with random sizes and random
 * client deaths; every completed session's bytes are checked end to end. Fails on any lost or
 * corrupted byte, or when the gateway keeps file descriptors or sessions after the load stops.
 */
const { values } = parseArgs({ options: { minutes: { type: 'string' }, concurrency: { type: 'string' } } });
const durationMs = Number(values.minutes ?? '1') * 60_000;
const concurrency = Number(values.concurrency ?? '16');
const say = (line: string): void => void process.stdout.write(`soak: ${line}\n`);

const stats = { sessions: 0, verified: 0, killed: 0, bytes: 0, corrupted: 0, errors: 0 };

function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

async function echoSession(gateway: ServerProcess): Promise<void> {
  const size = randomInt(0, 2 * 1024 * 1024);
  const payload = randomBytes(size);
  const dies = randomInt(0, 10) === 0;
  const session = await gatewayExecWithWs(gateway.url, ['cat'], true);
  stats.sessions++;
  const received: Buffer[] = [];
  session.onStdout((chunk) => received.push(chunk));
  for (let offset = 0; offset < size; offset += 64 * 1024) {
    if (dies && offset > size / 2) {
      // A client that vanishes mid-stream, without a close frame.
      session.kill();
      stats.killed++;
      await session.finished;
      return;
    }
    await session.write(payload.subarray(offset, offset + 64 * 1024));
  }
  session.endStdin();
  await session.finished;
  const echoed = Buffer.concat(received);
  stats.bytes += size + echoed.length;
  if (sha(echoed) === sha(payload)) stats.verified++;
  else {
    stats.corrupted++;
    say(`CORRUPTED: sent ${size} bytes, got ${echoed.length} back`);
  }
}

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

async function main(): Promise<void> {
  say(`starting the legacy cluster and the gateway; ${durationMs / 60_000} min at concurrency ${concurrency}`);
  const cluster = await startServer(['legacy-cluster', '--listen', '127.0.0.1:0', '--token', TOKEN]);
  const gateway = await startGatewayServer(cluster.url);
  let failed = false;
  try {
    const baselineFds = openFds(gateway.pid);
    const deadline = Date.now() + durationMs;
    const report = setInterval(() => {
      say(`${stats.sessions} sessions, ${stats.verified} verified, ${stats.killed} client deaths, ${(stats.bytes / 2 ** 20).toFixed(0)} MiB, ${stats.errors} errors, gateway RSS ${(rssOf(gateway.pid) / 2 ** 20).toFixed(0)} MiB, ${openFds(gateway.pid)} fds`);
    }, 5_000);
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (Date.now() < deadline) {
          await echoSession(gateway).catch((error: Error) => {
            stats.errors++;
            say(`error: ${error.message}`);
          });
        }
      }),
    );
    clearInterval(report);
    // Let the gateway finish closing what the last sessions left (bounded).
    let fds = openFds(gateway.pid);
    for (let waited = 0; fds > baselineFds && waited < 10_000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      fds = openFds(gateway.pid);
    }
    say(`done: ${JSON.stringify(stats)}; gateway fds ${fds} (baseline ${baselineFds}), RSS ${(rssOf(gateway.pid) / 2 ** 20).toFixed(0)} MiB`);
    if (stats.corrupted > 0) failed = say('FAIL: corrupted or lost bytes') === undefined;
    if (stats.errors > 0) failed = say('FAIL: sessions failed') === undefined;
    if (fds > baselineFds) failed = say(`FAIL: the gateway kept ${fds - baselineFds} file descriptors`) === undefined;
  } finally {
    await gateway.stop();
    await cluster.stop();
  }
  process.exit(failed ? 1 : 0);
}

void main();
