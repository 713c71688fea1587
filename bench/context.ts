import { availableParallelism } from 'node:os';
import { PLACEMENT, pinToCpu, trustOf, type ServerProcess, type Transport } from './processes.js';

const MiB = 1024 * 1024;

/** How much each part measures; `--quick` shrinks all of it to prove the run works end to end. */
export interface Sizes {
  /** Bytes of each transfer (each way, for port-forward echoes). */
  transfer: number;
  /** Bytes each way on every path before a part measures (compiling the send paths is not measured). */
  warmUp: number;
  roundTrips: number;
  /** Sessions of `echo x` opened one after another. */
  setups: number;
  /** Sessions streaming at once, one curve point each. */
  curve: number[];
  /** Bytes each curve point moves in all, split over its sessions. */
  curveBytes: number;
  /** Sessions opened per second, and for how long. */
  arrivalRate: number;
  arrivalSeconds: number;
  idleSessions: number;
  /** Sessions opened and closed on a fresh gateway before the idle ones (compiling the path is not counted), and how long they idle. */
  idleWarmUp: number;
  idleSeconds: number;
  /** Sessions being opened at once (the idle part, and each curve point before its release). */
  inFlight: number;
}

export function sizesFor(options: { quick: boolean; mib?: number }): Sizes {
  const quick = options.quick;
  return {
    transfer: (options.mib ?? (quick ? 1 : 200)) * MiB,
    warmUp: (quick ? 1 : 16) * MiB,
    roundTrips: quick ? 50 : 2_000,
    setups: quick ? 5 : 100,
    curve: quick ? [1, 10] : [1, 10, 100, 1_000],
    curveBytes: (quick ? 1 : 256) * MiB,
    arrivalRate: quick ? 10 : 50,
    arrivalSeconds: quick ? 1 : 10,
    idleSessions: quick ? 50 : 10_000,
    idleWarmUp: quick ? 20 : 200,
    idleSeconds: quick ? 0.5 : 2,
    inFlight: quick ? 20 : 100,
  };
}

/** What every part of a run shares. */
export interface Bench {
  transport: Transport;
  /** The CA the clients trust (TLS), undefined over plain HTTP. */
  ca: string | undefined;
  sizes: Sizes;
  /** Repetitions of every row, alternating the paths. */
  repeat: number;
  pin: boolean;
  say(line: string): void;
}

export function createBench(transport: Transport, sizes: Sizes, repeat: number, pin: boolean): Bench {
  return { transport, ca: trustOf(transport), sizes, repeat, pin, say: (line) => void process.stderr.write(`bench: ${line}\n`) };
}

/** With `--pin`: the upstream on the clients' CPU, the hops (gateway, relay) on the other (processes.ts PLACEMENT). */
export function place(bench: Bench, upstream: ServerProcess, hops: ServerProcess[]): void {
  if (!bench.pin) return;
  pinToCpu(upstream.pid, PLACEMENT.clientsAndUpstream);
  for (const hop of hops) pinToCpu(hop.pid, PLACEMENT.hop);
}

/** What each path's processes had, for the report. */
export function placementOf(pin: boolean): string {
  if (pin) {
    return (
      `pinned — on both paths the bench's clients, kubectl and the upstream (with the commands it runs) share CPU ${PLACEMENT.clientsAndUpstream}; ` +
      `the gateway (or the floor's relay) has CPU ${PLACEMENT.hop}, which the direct path leaves idle`
    );
  }
  return `unpinned — every process may run on any of the ${availableParallelism()} CPUs; the gateway path and the floor have one process more competing for them than the direct path`;
}
