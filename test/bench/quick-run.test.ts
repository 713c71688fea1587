// `npm run bench -- --quick` end to end, from the built bench (build/bench/, running the gateway of
// dist/): every part runs in the production shape (TLS on both legs, kubectl 1.33 rows) and writes
// its rows as it finishes; a part that cannot run is recorded with its reason while the others'
// results stand. Sizes are tiny: this proves the run works, it measures nothing.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PartResult, Row } from '../../bench/results.js';
import type { RunMeta } from '../../bench/report.js';
import { kubectlReleasesDir } from '../helpers/kubectl.js';

const MAIN = fileURLToPath(new URL('../../build/bench/main.js', import.meta.url));

let dir: string;
t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ksg-bench-test-'));
});
t.teardown(() => rm(dir, { recursive: true, force: true }));

/** Runs the bench (in `env`, by default this one's); resolves with its exit code and stderr (the progress lines). */
function bench(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stderr })));
}

async function results(file: string): Promise<{ meta: RunMeta; parts: PartResult[] }> {
  return JSON.parse(await readFile(file, 'utf8')) as { meta: RunMeta; parts: PartResult[] };
}

const hasSpread = (value: unknown): boolean => typeof value === 'object' && value !== null && ['min', 'median', 'max', 'n'].every((key) => typeof (value as Record<string, unknown>)[key] === 'number');

t.test('TLS on both legs: kubectl rows on every path, the floor, the concurrency curve, idle sessions', async (t) => {
  const out = { json: join(dir, 'tls.json'), markdown: join(dir, 'tls.md'), svg: join(dir, 'tls.svg') };
  const run = await bench(['--quick', '--only', 'kubectl,legacy,concurrency,idle', '--json', out.json, '--markdown', out.markdown, '--svg', out.svg]);
  t.equal(run.code, 0, run.stderr.slice(-2000));
  const { meta, parts } = await results(out.json);
  t.equal(meta.transport, 'tls');
  t.match(meta.commit, /^[0-9a-f]{12}/);
  t.same(
    parts.map((part) => [part.part, part.status]),
    [
      ['kubectl', 'ok'],
      ['legacy', 'ok'],
      ['concurrency', 'ok'],
      ['idle', 'ok'],
    ],
  );
  const kubectl = parts[0]!;
  t.equal(kubectl.rows.length, 5, 'exec download and upload, cp both ways, port-forward');
  for (const row of kubectl.rows) {
    for (const field of ['gateway', 'floor', 'direct', 'gatewayCpuPerGiB', 'fullGcsPerGiB'] as const) t.ok(hasSpread(row[field]), `${row.name}: ${field} as min/median/max`);
    t.type(row.ratio, 'number');
    t.ok(row.targets?.some((target) => target.text.startsWith('gateway/direct ≥ 0.8')), `${row.name}: the kubectl target`);
  }
  // The gateway's session lines prove kubectl spoke WebSocket to it: a silent SPDY fallback fails the row.
  t.equal(kubectl.notes.filter((note) => /through the gateway kubectl spoke v5\.channel\.k8s\.io/.test(note)).length, 4);
  t.equal(kubectl.notes.filter((note) => /through the gateway kubectl spoke SPDY\/3\.1\+portforward\.k8s\.io/.test(note)).length, 1);

  const legacy = parts[1]!;
  const transfers = legacy.rows.filter((row: Row) => /^exec (download|upload)|^port-forward/.test(row.name));
  t.equal(transfers.length, 4);
  for (const row of transfers) t.ok(hasSpread(row.floor) && hasSpread(row.gatewayCpuPerGiB) && hasSpread(row.fullGcsPerGiB), `${row.name}: floor, CPU and GCs`);
  t.ok(legacy.rows.some((row) => /^round trip p50/.test(row.name) && hasSpread(row.floor)), 'round trips through the floor too');

  t.same(
    parts[2]!.rows.filter((row) => /aggregate$/.test(row.name)).map((row) => row.name.split(' ')[0]),
    ['1', '10'],
    'one curve point per concurrency level',
  );
  t.match(parts[3]!.rows[0]!.name, /memory per idle session/);

  const markdown = await readFile(out.markdown, 'utf8');
  t.match(markdown, `commit ${meta.commit}`);
  t.match(markdown, 'TLS on both legs');
  t.match(await readFile(out.svg, 'utf8'), /^<svg /);
});

t.test('a part that cannot run is recorded with its reason; the others are written', async (t) => {
  const json = join(dir, 'plain.json');
  const run = await bench(['--quick', '--plain', '--only', 'kubectl,synthetic,arrival', '--json', json]);
  t.equal(run.code, 1, 'a failed part fails the run');
  const { meta, parts } = await results(json);
  t.equal(meta.transport, 'plain');
  t.same(
    parts.map((part) => [part.part, part.status]),
    [
      ['kubectl', 'failed'],
      ['synthetic', 'ok'],
      ['arrival', 'ok'],
    ],
  );
  t.match(parts[0]!.error, /only over TLS/);
  t.ok(parts[1]!.rows.length > 0 && parts[2]!.rows.length > 0, 'the parts after the failed one have their rows');
});

t.test('the translator part: kubectl through the gateway vs the Go translator vs SPDY direct, with each CPU', async (t) => {
  const out = { json: join(dir, 'translator.json'), markdown: join(dir, 'translator.md') };
  const run = await bench(['--quick', '--only', 'translator', '--json', out.json, '--markdown', out.markdown]);
  t.equal(run.code, 0, run.stderr.slice(-2000));
  const { parts } = await results(out.json);
  t.same(
    parts.map((part) => [part.part, part.status]),
    [['translator', 'ok']],
  );
  const translator = parts[0]!;
  t.same(
    translator.rows.map((row) => row.name.split(' (')[0]),
    ['kubectl exec download', 'kubectl exec upload', 'kubectl port-forward echo'],
  );
  for (const row of translator.rows) {
    for (const field of ['gateway', 'goTranslator', 'direct', 'gatewayCpuPerGiB', 'goTranslatorCpuPerGiB', 'upstreamCpuPerGiB', 'goTranslatorLessKubeletCpuPerGiB', 'fullGcsPerGiB'] as const) {
      t.ok(hasSpread(row[field]), `${row.name}: ${field} as min/median/max`);
    }
    t.type(row.translatorRatio, 'number');
    t.ok(row.targets?.some((target) => target.text === 'gateway/Go translator > 1×'), `${row.name}: the issue 23 target`);
  }
  // Through the gateway, its session lines; toward the modern peer (SPDY refused), kubectl's own -v=6 account.
  t.equal(translator.notes.filter((note) => /through the gateway kubectl spoke v5\.channel\.k8s\.io/.test(note)).length, 2);
  t.equal(translator.notes.filter((note) => /through the gateway kubectl spoke SPDY\/3\.1\+portforward\.k8s\.io/.test(note)).length, 1);
  t.ok(translator.notes.some((note) => /kubectl -v=6 reported 101 Switching Protocols with subprotocol v5\.channel\.k8s\.io/.test(note)), 'the Go translator served kubectl');
  t.match(await readFile(out.markdown, 'utf8'), '| gateway/Go translator |');
});

t.test('without Go the translator part fails naming what it needs', async (t) => {
  const json = join(dir, 'no-go.json');
  // A PATH without go (kubectl found through KUBECTL_RELEASES_DIR instead).
  const env = { ...process.env, PATH: '/usr/bin:/bin', KUBECTL_RELEASES_DIR: kubectlReleasesDir() };
  const run = await bench(['--quick', '--only', 'translator', '--json', json], env);
  t.equal(run.code, 1, 'a failed part fails the run');
  const { parts } = await results(json);
  t.same(
    parts.map((part) => [part.part, part.status]),
    [['translator', 'failed']],
  );
  t.match(parts[0]!.error, /the translator part needs the Go peers of test\/peers: .*no `go` is on PATH/s);
});

t.test('the to-websocket and recording parts: kubectl 1.27 SPDY carried toward a WebSocket upstream vs direct; recording on vs off with its ratios and target', async (t) => {
  const out = { json: join(dir, 'new-rows.json'), markdown: join(dir, 'new-rows.md'), svg: join(dir, 'new-rows.svg') };
  const run = await bench(['--quick', '--only', 'to-websocket,recording', '--json', out.json, '--markdown', out.markdown, '--svg', out.svg]);
  t.equal(run.code, 0, run.stderr.slice(-2000));
  const { parts } = await results(out.json);
  t.same(
    parts.map((part) => [part.part, part.status]),
    [
      ['to-websocket', 'ok'],
      ['recording', 'ok'],
    ],
  );
  const [toWebSocket, recording] = parts as [PartResult, PartResult];
  t.same(
    toWebSocket.rows.map((row) => row.name.split(' (')[0]),
    ['kubectl exec download', 'kubectl exec upload'],
  );
  for (const row of toWebSocket.rows) {
    for (const field of ['gateway', 'direct', 'gatewayCpuPerGiB', 'fullGcsPerGiB'] as const) t.ok(hasSpread(row[field]), `${row.name}: ${field}`);
    t.type(row.ratio, 'number');
  }
  t.equal(toWebSocket.notes.filter((note) => /kubectl spoke SPDY\/3\.1 v4\.channel\.k8s\.io in all 1 sessions, carried as to-websocket/.test(note)).length, 2, 'every session carried toward WebSocket, from the gateway log');
  t.ok(toWebSocket.notes.some((note) => /kubectl\.1\.27 \(v1\.27\./.test(note)), 'kubectl 1.27, named with its version');
  const [row] = recording.rows as [Row];
  for (const field of ['gateway', 'recordingOff', 'gatewayCpuPerGiB', 'recordingOffCpuPerGiB', 'fullGcsPerGiB', 'recordingOffFullGcsPerGiB'] as const) t.ok(hasSpread(row[field]), `recording: ${field}`);
  t.type(row.recordingRatio, 'number');
  t.type(row.recordingCpuRatio, 'number');
  t.same(
    row.targets?.map((target) => target.text),
    ['throughput on/off ≥ 0.9×', 'CPU per GiB on/off ≤ 1.1×'],
  );
  t.ok(recording.notes.some((note) => /recording on: 1 recordings held \d+ of the 1048576 bytes/.test(note)), 'the recording was read back');
  t.match(await readFile(out.markdown, 'utf8'), '| recording on | recording off | on/off |');
  t.match(await readFile(out.svg, 'utf8'), 'recording on vs off (on / off) [recording]');
});
