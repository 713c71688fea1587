import { createHash, randomBytes, randomInt } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { gatewayExecWithWs, gatewayPortForward, gatewayTunnelPortForward, TOKEN, type EchoPipe } from './clients.js';
import { rssOf, startGatewayServer, startServer, type ServerProcess } from './processes.js';
import { readCommandLine } from './command-line.js';

/**
 * `npm run soak`: many sessions through the gateway, concurrently, with random sizes and random
 * client deaths — exec (`cat`, over ws's client), port-forward over the channel protocol and
 * port-forward through the tunnel (over the benchmark's client) to the pod's TCP echo port; every
 * completed session's bytes are checked end to end. Fails on any lost or corrupted byte, or when the
 * gateway keeps file descriptors after the load stops.
 */
const values = readCommandLine('soak', 'usage: npm run soak -- [--minutes N (1)] [--concurrency N (16)]', () =>
  parseArgs({ options: { minutes: { type: 'string' }, concurrency: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }),
);
const durationMs = Number(values.minutes ?? '1') * 60_000;
const concurrency = Number(values.concurrency ?? '16');
const say = (line: string): void => void process.stdout.write(`soak: ${line}\n`);

const stats = { sessions: 0, verified: 0, killed: 0, bytes: 0, corrupted: 0, errors: 0, exec: 0, portForwardChannels: 0, portForwardTunnel: 0 };
/** A port-forward echo that makes no progress for this long has lost bytes. */
const STALL_MS = 30_000;
const CHUNK = 64 * 1024;

function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Half the sessions exec, a quarter port-forward over each protocol. */
function randomSession(gateway: ServerProcess): Promise<void> {
  const pick = randomInt(0, 4);
  if (pick < 2) return execEcho(gateway);
  return portForwardEcho(pick === 2 ? 'portForwardChannels' : 'portForwardTunnel', () => (pick === 2 ? gatewayPortForward : gatewayTunnelPortForward)(gateway.url, 7));
}

async function execEcho(gateway: ServerProcess): Promise<void> {
  const size = randomInt(0, 2 * 1024 * 1024);
  const payload = randomBytes(size);
  const dies = randomInt(0, 10) === 0;
  const session = await gatewayExecWithWs(gateway.url, ['cat'], true);
  stats.sessions++;
  stats.exec++;
  const received: Buffer[] = [];
  session.onStdout((chunk) => received.push(chunk));
  for (let offset = 0; offset < size; offset += CHUNK) {
    if (dies && offset > size / 2) {
      // A client that vanishes mid-stream, without a close frame.
      session.kill();
      stats.killed++;
      await session.finished;
      return;
    }
    await session.write(payload.subarray(offset, offset + CHUNK));
  }
  session.endStdin();
  await session.finished;
  verify('exec', payload, Buffer.concat(received));
}

/**
 * Random bytes through the pod's TCP echo port and back. The stream has no end of its own, so the
 * session waits until as many bytes have come back as were sent — or until nothing arrives for
 * STALL_MS, which counts as lost bytes.
 */
async function portForwardEcho(kind: 'portForwardChannels' | 'portForwardTunnel', open: () => Promise<EchoPipe>): Promise<void> {
  const size = randomInt(1, 2 * 1024 * 1024);
  const payload = randomBytes(size);
  const dies = randomInt(0, 10) === 0;
  const pipe = await open();
  stats.sessions++;
  stats[kind]++;
  const received: Buffer[] = [];
  let receivedBytes = 0;
  let progress = (): void => undefined;
  pipe.onData((chunk) => {
    received.push(chunk);
    receivedBytes += chunk.length;
    progress();
  });
  for (let offset = 0; offset < size; offset += CHUNK) {
    if (dies && offset > size / 2) {
      pipe.close();
      stats.killed++;
      return;
    }
    await pipe.write(payload.subarray(offset, offset + CHUNK));
  }
  while (receivedBytes < size) {
    const before = receivedBytes;
    await new Promise<void>((resolve) => {
      const stalled = setTimeout(resolve, STALL_MS);
      progress = () => {
        clearTimeout(stalled);
        resolve();
      };
    });
    if (receivedBytes === before) break;
  }
  pipe.end();
  verify(kind, payload, Buffer.concat(received));
}

function verify(kind: string, sent: Buffer, echoed: Buffer): void {
  stats.bytes += sent.length + echoed.length;
  if (sha(echoed) === sha(sent)) stats.verified++;
  else {
    stats.corrupted++;
    say(`CORRUPTED (${kind}): sent ${sent.length} bytes, got ${echoed.length} back`);
  }
}

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

async function main(): Promise<void> {
  say(`starting the legacy cluster and the gateway; ${durationMs / 60_000} min at concurrency ${concurrency}`);
  const cluster = await startServer(['legacy-cluster', '--listen', '127.0.0.1:0', '--token', TOKEN]);
  const gateway = await startGatewayServer(cluster.url, { kind: 'plain' }, { countGcs: false });
  let failed = false;
  try {
    const baselineFds = openFds(gateway.pid);
    const deadline = Date.now() + durationMs;
    const report = setInterval(() => {
      say(`${stats.sessions} sessions (${stats.exec} exec, ${stats.portForwardChannels} + ${stats.portForwardTunnel} port-forward channels + tunnel), ${stats.verified} verified, ${stats.killed} client deaths, ${(stats.bytes / 2 ** 20).toFixed(0)} MiB, ${stats.errors} errors, gateway RSS ${(rssOf(gateway.pid) / 2 ** 20).toFixed(0)} MiB, ${openFds(gateway.pid)} fds`);
    }, 5_000);
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (Date.now() < deadline) {
          await randomSession(gateway).catch((error: Error) => {
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
