// The Go peers of test/peers (real Kubernetes streaming code on both sides): built once per machine
// into a cache folder, then started per test file and by the bench's translator part. One launcher
// for both: the bench may not import test code, the tests may import the bench's.
import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { REPO } from './repo.js';

const PROGRAMS = ['legacy-peer', 'modern-peer', 'exec-client', 'portforward-client'] as const;
/** @internal Exported for its unit tests (byte vectors, seams); the product does not import it. */
export type PeerProgram = (typeof PROGRAMS)[number];

const PEERS_MODULE = join(REPO, 'test/peers');
/** KSG_PEERS_CACHE overrides; by default next to the other tools' caches in node_modules. */
const CACHE = process.env.KSG_PEERS_CACHE ?? join(REPO, 'node_modules/.cache/ksg-peers');
const LOCK = join(CACHE, 'build.lock');
const INSTALL_GO =
  "the Go peers (the peer tests, the bench's translator part) are built from test/peers with Go (>= 1.26), and no `go` is on PATH. Install it, e.g.\n" +
  '  curl -fsSL https://go.dev/dl/go1.26.8.linux-amd64.tar.gz | sudo tar -C /usr/local -xz && export PATH=$PATH:/usr/local/go/bin\n' +
  'then run `(cd test/peers && go mod download && go build ./...)` once.';

let built: Promise<Record<PeerProgram, string>> | undefined;

/**
 * Paths of the four programs, built by `go build` (Go's own cache makes a rebuild a link check).
 * One build at a time per machine: tap runs test files in parallel, and concurrent compiles of the
 * Kubernetes tree would only compete for the same CPUs. Binaries are renamed into place, so a
 * reader never sees a half-written one.
 * @internal Exported for its unit tests (byte vectors, seams); the product does not import it.
 */
export function peerBinaries(): Promise<Record<PeerProgram, string>> {
  built ??= buildOnce();
  return built;
}

async function buildOnce(): Promise<Record<PeerProgram, string>> {
  await mkdir(CACHE, { recursive: true });
  const bin = join(CACHE, 'bin');
  await mkdir(bin, { recursive: true });
  await withLock(async () => {
    const staging = await mkdtemp(join(CACHE, 'build-'));
    try {
      await runGo(['build', '-o', staging + '/', ...PROGRAMS.map((p) => `./cmd/${p}`)]);
      for (const program of PROGRAMS) await rename(join(staging, program), join(bin, program));
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  });
  return Object.fromEntries(PROGRAMS.map((p) => [p, join(bin, p)])) as Record<PeerProgram, string>;
}

function runGo(args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    // -mod=readonly: the pinned go.mod/go.sum are used as they are, never rewritten by a test run;
    // -buildvcs=false: no commit stamped in, so a new commit does not force a relink.
    const child = spawn('go', args, { cwd: PEERS_MODULE, env: { ...process.env, GOFLAGS: '-mod=readonly -buildvcs=false' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', (error: NodeJS.ErrnoException) => reject(error.code === 'ENOENT' ? new Error(INSTALL_GO) : error));
    child.on('close', (code) => (code === 0 ? resolvePromise() : reject(new Error(`go ${args.join(' ')} failed (${code}) in test/peers:\n${output}`))));
  });
}

/** An exclusive lock file holding the builder's pid; a lock whose process is gone is taken over. */
async function withLock(work: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      const fd = openSync(LOCK, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (!holderAlive()) {
        try {
          unlinkSync(LOCK);
        } catch {
          // another waiter took it over first
        }
        continue;
      }
      if (Date.now() > deadline) throw new Error(`the peers build lock ${LOCK} was held for 15 minutes`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    await work();
  } finally {
    unlinkSync(LOCK);
  }
}

function holderAlive(): boolean {
  try {
    const pid = Number(readFileSync(LOCK, 'utf8'));
    if (!pid) return true; // written a moment from now
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' || (error as NodeJS.ErrnoException).code === 'EISDIR';
  }
}

export interface Peer {
  /** https://127.0.0.1:port of the API front. */
  url: string;
  /** The peer's process (its CPU is read from /proc by the bench). */
  pid: number;
  /** Everything the peer wrote on stderr (klog lines of the Kubernetes code). */
  stderr(): string;
  close(): Promise<void>;
}

export interface PeerOptions {
  token: string;
  tls: { cert: string; key: string };
  /** The modern peer only: refuse SPDY upgrades, as a cluster that has removed SPDY. */
  refuseSpdy?: boolean;
  /** Working directory of the pod's processes. */
  dir?: string;
  /** Called with the peer's process as soon as it is spawned (the bench stops whatever a failed part left running). */
  onSpawn?: (child: ChildProcess) => void;
}

/** Starts the legacy (≤1.28) or modern (1.31+) peer and resolves once it announced its URL. */
export async function startPeer(kind: 'legacy' | 'modern', options: PeerOptions): Promise<Peer> {
  const binaries = await peerBinaries();
  const dir = await mkdtemp(join(tmpdir(), `ksg-peer-${kind}-`));
  await writeFile(join(dir, 'tls.crt'), options.tls.cert);
  await writeFile(join(dir, 'tls.key'), options.tls.key);
  const args = ['--token', options.token, '--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'), '--dir', options.dir ?? dir];
  if (options.refuseSpdy) args.push('--refuse-spdy');
  const child: ChildProcessWithoutNullStreams = spawn(binaries[`${kind}-peer`], args, { stdio: ['pipe', 'pipe', 'pipe'] });
  options.onSpawn?.(child);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit');
  const lines = createInterface({ input: child.stdout });
  const ready = new Promise<{ url: string }>((resolveReady, reject) => {
    lines.once('line', (line) => resolveReady(JSON.parse(line) as { url: string }));
    void exited.then(([code]) => reject(new Error(`the ${kind} peer exited (${String(code)}) before it was ready: ${stderr}`)));
  });
  const { url } = await ready;
  return {
    url,
    pid: child.pid!,
    stderr: () => stderr,
    async close() {
      // Closing its stdin ends the peer; SIGKILL only if it does not go.
      child.stdin.end();
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      if (child.exitCode === null && child.signalCode === null) await exited;
      clearTimeout(killer);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
