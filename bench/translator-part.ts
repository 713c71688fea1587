import { readFile } from 'node:fs/promises';
import type { Bench } from './context.js';
import { TOKEN } from './clients.js';
import { alternate, GatewayWatch, type PathName } from './gateway-watch.js';
import { startPeer, type Peer } from './go-peers.js';
import { echoThrough, runKubectl, startForward, type KubectlCall } from './kubectl.js';
import { execDownloadRow, execUploadRow, expectClientProtocol, kubectlWorkspace, portForwardEchoRow, SPDY_ONLY, type KubectlRow, type KubectlWorkspace } from './kubectl-rows.js';
import { cpuSecondsOf, PLACEMENT, pinToCpu, startGatewayServer, track, type ServerProcess } from './processes.js';
import { spread, type PartRows, type Spread } from './results.js';
import { above, perGiBTargets, TARGETS } from './targets.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** One run of a row on one path: its seconds, and the CPU seconds the metered Go peer used meanwhile (0: none metered). */
interface Metered {
  seconds: number;
  peerCpu: number;
}

/**
 * kubectl 1.33 against the Go peers of test/peers, the real Kubernetes code on the other side, on
 * three paths alternated round by round: through the gateway (WebSocket over TLS, translated to SPDY
 * over TLS) to the legacy peer; straight to the modern peer, whose front is the API server's own
 * StreamTranslatorHandler and TunnelingHandler (the Go translator, what kubectl uses against a 1.31+
 * cluster); and straight to the legacy peer over SPDY (the reference). The same workload as the
 * kubectl part's exec and port-forward rows. Each translating process's CPU per GiB is read from
 * /proc: the gateway's alone, the modern peer's with its in-process kubelet and runtime — the legacy
 * peer's CPU on the gateway path is that kubelet side, shown beside it to subtract.
 */
export async function translatorPart(bench: Bench, rows: PartRows): Promise<void> {
  const workspace = await kubectlWorkspace(bench, rows, 'translator');
  const { tls } = workspace;
  const errors: string[] = [];
  const peers: Peer[] = [];
  let gateway: ServerProcess | undefined;
  try {
    bench.say('translator: building the Go peers (go build in test/peers, cached) and starting them');
    const peerOptions = { token: TOKEN, tls: { cert: await readFile(tls.certFile, 'utf8'), key: await readFile(tls.keyFile, 'utf8') }, dir: workspace.dir, onSpawn: track };
    const legacy = await startGoPeer('legacy', peerOptions, peers);
    // Refusing SPDY, the modern peer serves kubectl only through its translator: a silent fallback to SPDY fails the run.
    const modern = await startGoPeer('modern', { ...peerOptions, refuseSpdy: true }, peers);
    gateway = await startGatewayServer(legacy.url, bench.transport);
    const watch = new GatewayWatch(gateway);
    if (bench.pin) {
      pinToCpu(legacy.pid, PLACEMENT.clientsAndUpstream);
      pinToCpu(gateway.pid, PLACEMENT.hop);
      // The translator and its kubelet are one process: it gets both the hop's CPU and the upstream's
      // (Go ≥ 1.25 follows a changed affinity with GOMAXPROCS).
      pinToCpu(modern.pid, [PLACEMENT.clientsAndUpstream, PLACEMENT.hop]);
      rows.note(`--pin: the legacy peer (with the commands it runs) on CPU ${PLACEMENT.clientsAndUpstream}, the gateway on CPU ${PLACEMENT.hop}; the modern peer, translator and kubelet in one process, on both`);
    }
    const calls = await callsOf(workspace, gateway, legacy, modern);
    rows.note(`direct path: kubectl with ${Object.entries(SPDY_ONLY).map(([key, value]) => `${key}=${value}`).join(' ')} straight to the legacy peer (SPDY/3.1, the reference); Go translator path: kubectl with its defaults straight to the modern peer started with --refuse-spdy`);
    rows.note(await expectGoTranslator(calls.modern));
    rows.note(
      'CPU per GiB: the gateway column is the gateway process alone (TLS on both legs and the translation); the Go translator column is the whole modern peer — its TLS, translator, in-process kubelet proxy, streaming server and runtime pipes; ' +
        'the legacy peer column is the same kubelet side (with the copying hop of the legacy front) measured on the gateway path in the same round, and "less kubelet side" subtracts it round by round. Commands such as head run as processes of their own, counted in neither.',
    );

    bench.say('translator: one small exec per path first (unmeasured)');
    const warmUp = watch.mark();
    for (const path of ['direct', 'modern', 'gateway'] as const) await runKubectl(calls[path], ['exec', 'demo', '--', 'true']);
    // Its session lines are in before the first row counts the protocols spoken.
    await watch.untilEnded(warmUp, 1);

    const bytes = bench.sizes.transfer;
    for (const row of [execDownloadRow(bytes), execUploadRow(bytes), portForwardEchoRow(bytes)]) {
      try {
        await measureRow(bench, rows, row, calls, watch, { legacy, modern });
      } catch (error) {
        errors.push(`${row.name}: ${(error as Error).message}`);
        rows.note(`${row.name}: FAILED — ${(error as Error).message}`);
      }
    }
  } finally {
    await gateway?.stop();
    for (const peer of peers) await peer.close();
    await workspace.dispose();
  }
  if (errors.length) throw new Error(`${errors.length} of the translator rows failed: ${errors.join('; ')}`);
}

async function startGoPeer(kind: 'legacy' | 'modern', options: Parameters<typeof startPeer>[1], started: Peer[]): Promise<Peer> {
  try {
    const peer = await startPeer(kind, options);
    started.push(peer);
    return peer;
  } catch (error) {
    throw new Error(`the translator part needs the Go peers of test/peers: ${(error as Error).message}`);
  }
}

async function callsOf(workspace: KubectlWorkspace, gateway: ServerProcess, legacy: Peer, modern: Peer): Promise<Record<'gateway' | 'modern' | 'direct', KubectlCall>> {
  return {
    gateway: await workspace.call('gateway', gateway.url),
    modern: await workspace.call('modern', modern.url),
    direct: await workspace.call('direct', legacy.url, SPDY_ONLY),
  };
}

/**
 * kubectl's own account (`-v=6`, one unmeasured exec and port-forward) that the modern peer's
 * translator served it: `101 Switching Protocols` with the v5 subprotocol for exec, and the
 * WebSocket tunnel for port-forward.
 */
async function expectGoTranslator(call: KubectlCall): Promise<string> {
  const exec = (await runKubectl(call, ['-v=6', 'exec', 'demo', '--', 'true'])).stderr;
  if (!/pods\/demo\/exec\?[^"]*" status="101 Switching Protocols"/.test(exec) || !/The subprotocol is v5\.channel\.k8s\.io/.test(exec)) {
    throw new Error(`kubectl did not report a v5.channel.k8s.io upgrade from the modern peer: ${exec.slice(-600)}`);
  }
  const forward = await startForward(call, 'demo', 7, ['-v=6']);
  try {
    await echoThrough(forward.localPort, 1);
  } finally {
    await forward.stop();
  }
  const tunnel = forward.stderr();
  if (!/pods\/demo\/portforward" status="101 Switching Protocols"/.test(tunnel) || !/negotiated protocol: portforward\.k8s\.io/.test(tunnel)) {
    throw new Error(`kubectl did not report a WebSocket tunnel from the modern peer: ${tunnel.slice(-600)}`);
  }
  return 'Go translator path: kubectl -v=6 reported 101 Switching Protocols with subprotocol v5.channel.k8s.io for exec and a WebSocket tunnel (portforward.k8s.io) for port-forward; with SPDY refused, every measured run went through the translator';
}

/** One row on the three paths, alternated; each Go peer's CPU read over its path's runs. */
async function measureRow(
  bench: Bench,
  rows: PartRows,
  row: KubectlRow,
  calls: Record<'gateway' | 'modern' | 'direct', KubectlCall>,
  watch: GatewayWatch,
  peers: { legacy: Peer; modern: Peer },
): Promise<void> {
  const metered = (path: 'gateway' | 'modern' | 'direct', peer?: Peer) => async (): Promise<Metered> => {
    const before = peer ? cpuSecondsOf(peer.pid) : 0;
    const seconds = await row.run(calls[path], path);
    return { seconds, peerCpu: peer ? cpuSecondsOf(peer.pid) - before : 0 };
  };
  const runs: Partial<Record<PathName, () => Promise<Metered>>> = {
    gateway: metered('gateway', peers.legacy),
    modern: metered('modern', peers.modern),
    direct: metered('direct'),
  };
  const mark = watch.mark();
  const bytes = bench.sizes.transfer;
  const measured = await alternate(bench.repeat, runs, watch, 1, (round) => bench.say(`translator: ${row.name}, ${bytes / MiB} MiB, round ${round} of ${bench.repeat}`));
  rows.note(expectClientProtocol(watch, mark, row));

  const { gateway, modern, direct } = measured.results as Record<'gateway' | 'modern' | 'direct', Metered[]>;
  const throughput = (runs: Metered[]): Spread => spread(runs.map((run) => bytes / MiB / run.seconds));
  // CPU seconds or full GCs per GiB the translating hop moved.
  const perGiB = (amounts: number[]): Spread => spread(amounts.map((amount) => amount / (row.bytesMoved / GiB)));
  const gatewayThroughput = throughput(gateway);
  const goTranslator = throughput(modern);
  const cpu = perGiB(measured.gatewayCpu);
  const gcs = perGiB(measured.gatewayGcs);
  rows.add({
    name: row.name,
    unit: 'MiB/s',
    better: 'higher',
    gateway: gatewayThroughput,
    goTranslator,
    direct: throughput(direct),
    gatewayCpuPerGiB: cpu,
    fullGcsPerGiB: gcs,
    goTranslatorCpuPerGiB: perGiB(modern.map((run) => run.peerCpu)),
    upstreamCpuPerGiB: perGiB(gateway.map((run) => run.peerCpu)),
    goTranslatorLessKubeletCpuPerGiB: perGiB(modern.map((run, round) => run.peerCpu - gateway[round]!.peerCpu)),
    targets: [above('gateway/Go translator', TARGETS.translatorRatio, gatewayThroughput.median / goTranslator.median, '×'), ...perGiBTargets(cpu, gcs, row.relay)],
  });
}
