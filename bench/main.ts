import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readCommandLine } from './command-line.js';
import { directPortForward, gatewayPortForward, gatewayTunnelPortForward, type EchoPipe } from './clients.js';
import { createBench, placementOf, sizesFor, type Bench } from './context.js';
import { latencyRows, transferRows, warmUp } from './exec-rows.js';
import { alternate, floorPerGiB, type PathName } from './gateway-watch.js';
import { kubectlPart } from './kubectl-part.js';
import { KUBECTL_MINOR } from './kubectl-rows.js';
import { describeKubectl, kubectlBinary } from './kubectl.js';
import { PLACEMENT, pinToCpu, stopAll, type Transport } from './processes.js';
import { describeRun, RunReport } from './report.js';
import { REPO } from './repo.js';
import { PartRows, spread, type PartResult } from './results.js';
import { arrivalPart, concurrencyPart, idlePart } from './session-parts.js';
import { startBenchStack } from './stacks.js';
import { translatorPart } from './translator-part.js';
import { recordingPart } from './recording-part.js';
import { SPDY_CLIENT_MINOR, toWebSocketPart } from './to-websocket-part.js';
import { perGiBTargets } from './targets.js';
import { createBenchTls } from './tls-material.js';
import { seconds, writePipelined } from './transfers.js';

/**
 * `npm run bench`: the gateway path measured side by side with the direct path — and, where it
 * applies, with the floor, a relay that only copies bytes — in one run on this machine, in the
 * production shape: TLS on both legs (client → gateway, gateway → upstream; `--plain` for plain
 * HTTP), real kubectl 1.33 rows, every row repeated with the paths alternated and shown as
 * min/median/max. Each part starts processes of its own and is written to the outputs as soon as it
 * finishes; a part that fails is recorded with its reason and the run goes on. docs/performance.md
 * describes every part.
 */
const PARTS = {
  kubectl: { run: kubectlPart, about: `kubectl 1.${KUBECTL_MINOR} itself through the gateway (WebSocket) vs direct to the legacy cluster (SPDY) vs direct through the relay (floor); a real process per exec in the legacy cluster.` },
  translator: {
    run: translatorPart,
    about: `kubectl 1.${KUBECTL_MINOR} against the real Kubernetes code (the Go peers of test/peers): through the gateway to the legacy peer vs straight to the modern peer, the API server's own translator (Go translator) vs SPDY straight to the legacy peer (direct); the CPU per GiB of each translating process, the modern peer's with its in-process kubelet.`,
  },
  legacy: { run: legacyPart, about: "The bench's own clients against the legacy cluster (a real process per exec): WebSocket v5 through the gateway vs SPDY direct vs SPDY through the relay (floor) — transfers, port-forward echoes, round trips, set-ups." },
  synthetic: { run: syntheticPart, about: "The bench's own clients against the synthetic upstream, which runs the commands in-process: without a process per exec on either path, what is left of the difference is the gateway's." },
  concurrency: { run: concurrencyPart, about: 'The concurrency curve against the synthetic upstream: sessions opened first, then released to stream at once; the gateway CPU per GiB over the streaming only.' },
  arrival: { run: arrivalPart, about: 'Set-up under a steady arrival rate (open loop) against the synthetic upstream: latency to the first byte of `echo x`, and the gateway CPU per session.' },
  'to-websocket': {
    run: toWebSocketPart,
    about: `kubectl 1.${SPDY_CLIENT_MINOR} (SPDY only) through the gateway with upstreams[].streaming: websocket to the legacy cluster started with --streaming websocket (SPDY client translated toward a WebSocket upstream) vs kubectl 1.${SPDY_CLIENT_MINOR} direct to the legacy cluster over SPDY.`,
  },
  recording: { run: recordingPart, about: `kubectl 1.${KUBECTL_MINOR} exec download through a gateway with recording.directory set (every byte recorded) vs the same gateway without it, alternated: throughput and CPU per GiB, on/off.` },
  idle: { run: idlePart, about: 'Idle exec sessions held through a fresh gateway (a fresh one each round) in front of the synthetic upstream.' },
} as const;
type Part = keyof typeof PARTS;
const PART_NAMES = Object.keys(PARTS) as Part[];

const USAGE = `usage: npm run bench -- [--plain] [--pin] [--quick] [--mib N] [--repeat N] [--only ${PART_NAMES.join(',')}] [--json FILE] [--markdown FILE] [--svg FILE]
       npm run bench -- --publish
  --publish    one run in the published shape (TLS, --pin, every part, default sizes and rounds) written to
               docs/bench-results.{json,md,svg}, which docs/performance.md and the README show
  --plain      plain HTTP on both legs (the old shape; no kubectl rows) instead of TLS on both
  --pin        clients, kubectl and upstream on CPU ${PLACEMENT.clientsAndUpstream}, the gateway or relay on CPU ${PLACEMENT.hop}
  --quick      tiny sizes and one round: proves the run works, measures nothing
  --mib N      bytes per transfer (default 200 MiB; --quick 1)
  --repeat N   rounds of every row, alternating the paths (default 5; --quick 1)
  --only LIST  some parts, comma-separated (default all: ${PART_NAMES.join(', ')})
  --json, --markdown, --svg FILE   the results, rewritten as each part finishes`;
const values = readCommandLine('bench', USAGE, () =>
  parseArgs({
    options: {
      plain: { type: 'boolean' },
      pin: { type: 'boolean' },
      quick: { type: 'boolean' },
      mib: { type: 'string' },
      repeat: { type: 'string' },
      only: { type: 'string' },
      json: { type: 'string' },
      markdown: { type: 'string' },
      svg: { type: 'string' },
      publish: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }),
);
const fail = (message: string): never => {
  process.stderr.write(`bench: ${message}\n${USAGE}\n`);
  process.exit(2);
};
/** Where --publish writes: the files docs/performance.md and the README show. */
const DOCS = join(REPO, 'docs');
if (values.publish) {
  // One stated run of the current code, never a chosen one: the published shape has no knobs.
  for (const knob of ['plain', 'quick', 'mib', 'repeat', 'only', 'json', 'markdown', 'svg'] as const) if (values[knob] !== undefined) fail(`--publish takes no --${knob}: it publishes the one shape`);
  Object.assign(values, { pin: true, json: join(DOCS, 'bench-results.json'), markdown: join(DOCS, 'bench-results.md'), svg: join(DOCS, 'bench-results.svg') });
}
const quick = values.quick === true;
const repeat = Number(values.repeat ?? (quick ? '1' : '5'));
if (!Number.isInteger(repeat) || repeat < 1) fail(`--repeat takes a whole number ≥ 1, not ${values.repeat}`);
const mib = values.mib === undefined ? undefined : Number(values.mib);
if (mib !== undefined && !(mib > 0)) fail(`--mib takes a number of MiB > 0, not ${values.mib}`);
const pin = values.pin === true;
if (pin && availableParallelism() < 2) fail('--pin needs two CPUs (clients and upstream on one, the gateway on the other)');
const parts = values.only ? values.only.split(',').map((name) => name.trim()) : PART_NAMES;
for (const part of parts) if (!PART_NAMES.includes(part as Part)) fail(`--only takes parts from ${PART_NAMES.join(', ')}, not ${part}`);

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** The bench's clients on the legacy cluster: transfers, port-forward echoes (channels and tunnel), round trips, set-ups; each with the floor. */
async function legacyPart(bench: Bench, rows: PartRows): Promise<void> {
  const stack = await startBenchStack(bench, 'legacy', true);
  try {
    const { upstream: cluster, gateway, relay, watch, floorWatch, paths } = stack;
    await warmUp(paths, bench.sizes.warmUp);
    await transferRows(bench, rows, paths, watch, 'legacy cluster', floorWatch);

    const bytes = bench.sizes.transfer;
    for (const [label, gatewayPipe, relayed] of [
      ['channels (v4.channel.k8s.io)', () => gatewayPortForward(gateway.url, 7, bench.ca), false],
      ['tunnel (SPDY/3.1+portforward.k8s.io, as kubectl ≥ 1.31)', () => gatewayTunnelPortForward(gateway.url, 7, bench.ca), true],
    ] as const) {
      const runs: Partial<Record<PathName, () => Promise<number>>> = {
        gateway: () => echoThroughput(gatewayPipe, bytes),
        direct: () => echoThroughput(() => directPortForward(cluster.url, 7, bench.ca), bytes),
        floor: () => echoThroughput(() => directPortForward(relay!.url, 7, bench.ca), bytes),
      };
      const measured = await alternate(
        bench.repeat,
        runs,
        watch,
        1,
        (round) => bench.say(`legacy cluster: port-forward echo over ${label}, ${bytes / MiB} MiB each way, round ${round} of ${bench.repeat}`),
        { floor: floorWatch },
      );
      const cpu = spread(measured.gatewayCpu.map((cpuSeconds) => cpuSeconds / ((2 * bytes) / GiB)));
      const gcs = spread(measured.gatewayGcs.map((count) => count / ((2 * bytes) / GiB)));
      const throughput = (times: number[] | undefined): ReturnType<typeof spread> => spread(times!.map((s) => bytes / MiB / s));
      rows.add({
        name: `port-forward echo, each way at once: ${label} vs SPDY (bench client)`,
        unit: 'MiB/s',
        better: 'higher',
        gateway: throughput(measured.results.gateway),
        floor: throughput(measured.results.floor),
        direct: throughput(measured.results.direct),
        gatewayCpuPerGiB: cpu,
        fullGcsPerGiB: gcs,
        ...floorPerGiB(measured, (2 * bytes) / GiB),
        targets: perGiBTargets(cpu, gcs, relayed),
      });
    }
    await latencyRows(bench, rows, paths, watch, 'legacy cluster', floorWatch);
  } finally {
    await stack.stop();
  }
}

/** `bytes` through the pod's echo port and back, both directions at once; seconds. */
async function echoThroughput(open: () => Promise<EchoPipe>, bytes: number): Promise<number> {
  const pipe = await open();
  const started = process.hrtime.bigint();
  let received = 0;
  const done = new Promise<void>((resolve) =>
    pipe.onData((chunk) => {
      received += chunk.length;
      if (received >= bytes) resolve();
    }),
  );
  await writePipelined((chunk) => pipe.write(chunk), bytes, 0x63);
  await done;
  const elapsed = seconds(started);
  pipe.close();
  return elapsed;
}

/** The same exec rows against the synthetic upstream, with the relay in front of it as the floor. */
async function syntheticPart(bench: Bench, rows: PartRows): Promise<void> {
  const stack = await startBenchStack(bench, 'synthetic', true);
  try {
    await warmUp(stack.paths, bench.sizes.warmUp);
    await transferRows(bench, rows, stack.paths, stack.watch, 'synthetic upstream', stack.floorWatch);
    await latencyRows(bench, rows, stack.paths, stack.watch, 'synthetic upstream', stack.floorWatch);
  } finally {
    await stack.stop();
  }
}

/** How long a part may run before it is given up (its processes stopped) and the run goes on. */
const partDeadlineMs = (quick ? 5 : 60) * 60_000;

/** `work`, or a rejection naming `what` once `ms` have passed; a late settlement of `work` is ignored. */
function withDeadline(work: Promise<void>, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), ms)));
  work.catch(() => undefined);
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

async function main(): Promise<void> {
  let kubectl: string | undefined;
  try {
    kubectl = `kubectl ${describeKubectl(kubectlBinary(KUBECTL_MINOR))}`;
  } catch {
    kubectl = undefined;
  }
  const command = ['npm run bench --', ...process.argv.slice(2)].join(' ');
  const meta = describeRun(command, values.plain ? 'plain' : 'tls', placementOf(pin), kubectl);
  if (values.publish && meta.commit.endsWith('+changes')) fail('--publish: the working tree differs from its commit; commit first, so that the published run names the code it measured');
  const tls = values.plain ? undefined : await createBenchTls();
  const transport: Transport = tls ? { kind: 'tls', tls } : { kind: 'plain' };
  const bench = createBench(transport, sizesFor({ quick, ...(mib === undefined ? {} : { mib }) }), repeat, pin);
  if (pin) pinToCpu('self', PLACEMENT.clientsAndUpstream);
  const report = new RunReport(meta, {
    ...(values.json ? { json: values.json } : {}),
    ...(values.markdown ? { markdown: values.markdown } : {}),
    ...(values.svg ? { svg: values.svg } : {}),
  });
  bench.say(`${transport.kind === 'tls' ? 'TLS on both legs' : 'plain HTTP on both legs'}; ${report.meta.placement}; ${repeat} round(s) of every row`);
  try {
    for (const part of PART_NAMES.filter((name) => parts.includes(name))) {
      const rows = new PartRows();
      const started = process.hrtime.bigint();
      const result: PartResult = { part, about: PARTS[part].about, status: 'ok', seconds: 0, rows: rows.rows, notes: rows.notes };
      try {
        bench.say(`part ${part}: starting`);
        await withDeadline(PARTS[part].run(bench, rows), partDeadlineMs, `the ${part} part did not finish within ${partDeadlineMs / 60_000} min`);
      } catch (error) {
        result.status = 'failed';
        result.error = (error as Error).message;
        bench.say(`part ${part} failed: ${(error as Error).stack ?? String(error)}`);
      }
      // Whatever a failed or overrun part left running must not compete with the next one.
      await stopAll();
      result.seconds = seconds(started);
      await report.add(result);
    }
  } finally {
    await tls?.dispose();
  }
  const failed = report.parts.filter((part) => part.status === 'failed');
  if (failed.length) {
    bench.say(`${failed.length} part(s) failed: ${failed.map((part) => part.part).join(', ')} (the others' results stand)`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
