import type { ExecSession } from './clients.js';

/** Opens one exec session on a path (gateway or direct) for the benchmark's transfers. */
export type Open = (command: string[], stdin: boolean) => Promise<ExecSession>;

/** One exec of `head -c bytes /dev/zero`, all stdout read and counted, the Status checked; seconds. */
export async function download(open: Open, bytes: number): Promise<number> {
  const started = process.hrtime.bigint();
  const session = await open(['head', '-c', String(bytes), '/dev/zero'], false);
  let received = 0;
  session.onStdout((chunk) => (received += chunk.length));
  await session.finished;
  if (received !== bytes) throw new Error(`download: got ${received} of ${bytes} bytes`);
  await succeeded(session, 'download');
  return seconds(started);
}

/** `bytes` of stdin into `cat > /dev/null`, then the end of stdin and the Status; seconds. */
export async function upload(open: Open, bytes: number): Promise<number> {
  const started = process.hrtime.bigint();
  const session = await open(['sh', '-c', 'cat > /dev/null'], true);
  await writePipelined((chunk) => session.write(chunk), bytes, 0x61);
  session.endStdin();
  await session.finished;
  await succeeded(session, 'upload');
  return seconds(started);
}

async function succeeded(session: ExecSession, what: string): Promise<void> {
  const status = await session.status;
  if (status?.status !== 'Success') throw new Error(`${what}: the session ended with ${JSON.stringify(status)}`);
}

export function seconds(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/**
 * `bytes` in 64 KiB writes, up to 1 MiB in flight: the same pipelining for every transport, each
 * write's promise settling when that transport has taken it (back-pressure honoured).
 */
export async function writePipelined(write: (chunk: Buffer) => Promise<void>, bytes: number, fill: number): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, fill);
  const pending: Array<Promise<void>> = [];
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    pending.push(write(chunk));
    if (pending.length >= 16) await pending.shift();
  }
  await Promise.all(pending);
}

/** 1-byte round trips through `cat`: returns each round trip in microseconds. */
export async function roundTrips(open: Open, count: number): Promise<number[]> {
  const session = await open(['cat'], true);
  const samples: number[] = [];
  let resolveEcho: (() => void) | undefined;
  session.onStdout(() => resolveEcho?.());
  const byte = Buffer.from('x');
  for (let i = 0; i < count; i++) {
    const echoed = new Promise<void>((resolve) => (resolveEcho = resolve));
    const started = process.hrtime.bigint();
    await session.write(byte);
    await echoed;
    samples.push(Number(process.hrtime.bigint() - started) / 1000);
  }
  session.endStdin();
  await session.finished;
  return samples;
}

/** The p-th percentile of `samples` (nearest rank). */
export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
