import { directExec, gatewayExec } from './clients.js';
import { place, type Bench } from './context.js';
import type { ExecPaths } from './exec-rows.js';
import { GatewayWatch, RelayWatch } from './gateway-watch.js';
import { startGatewayServer, startLegacyClusterServer, startRelay, startSyntheticUpstreamServer, type ServerProcess } from './processes.js';

/** An upstream, a fresh gateway in front of it and (with a floor) the relay beside it, each its own process. */
export interface BenchStack {
  upstream: ServerProcess;
  gateway: ServerProcess;
  relay?: ServerProcess;
  watch: GatewayWatch;
  /** The relay's CPU over the floor's runs (with a floor). */
  floorWatch?: RelayWatch;
  /** The bench's exec clients: WebSocket v5 to the gateway, SPDY direct, SPDY through the relay. */
  paths: ExecPaths;
  stop(): Promise<void>;
}

/**
 * Starts the stack a part measures on — `legacy`: the legacy cluster (a real process per exec);
 * `synthetic`: the synthetic upstream (commands in-process) — placed on the CPUs `--pin` gives each.
 * What has started is stopped again if a later process fails to start.
 */
export async function startBenchStack(bench: Bench, upstreamKind: 'legacy' | 'synthetic', floor: boolean): Promise<BenchStack> {
  const started: ServerProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const server of started.reverse()) await server.stop();
  };
  try {
    const upstream = await (upstreamKind === 'legacy' ? startLegacyClusterServer(bench.transport) : startSyntheticUpstreamServer(bench.transport));
    started.push(upstream);
    const gateway = await startGatewayServer(upstream.url, bench.transport);
    started.push(gateway);
    const relay = floor ? await startRelay(upstream.url, bench.transport) : undefined;
    if (relay) started.push(relay);
    place(bench, upstream, relay ? [gateway, relay] : [gateway]);
    const paths: ExecPaths = {
      gateway: (command, stdin) => gatewayExec(gateway.url, command, stdin, bench.ca),
      direct: (command, stdin) => directExec(upstream.url, command, stdin, bench.ca),
      ...(relay ? { floor: (command: string[], stdin: boolean) => directExec(relay.url, command, stdin, bench.ca) } : {}),
    };
    return { upstream, gateway, ...(relay ? { relay, floorWatch: new RelayWatch(relay) } : {}), watch: new GatewayWatch(gateway), paths, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
