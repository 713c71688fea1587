// The bench's repetition and its reading of the gateway: paths alternate round by round, a row's
// CPU and GC count are read only once the gateway has logged the end of the sessions it opened, and
// the protocols kubectl spoke are read from the gateway's session-start lines.
import t from 'tap';
import { alternate, GatewayWatch } from '../../bench/gateway-watch.js';
import type { ServerProcess } from '../../bench/processes.js';
import { spread } from '../../bench/results.js';
import { expectClientProtocol } from '../../bench/kubectl-rows.js';

/** A stand-in gateway process whose CPU, GC count and log lines the test sets. */
function fakeGateway(): { process: ServerProcess; log(record: Record<string, unknown>): void; cpu: number; gcs: number } {
  const listeners: Array<(record: Record<string, unknown>) => void> = [];
  const state = {
    cpu: 0,
    gcs: 0,
    log: (record: Record<string, unknown>) => listeners.forEach((listener) => listener(record)),
    process: undefined as unknown as ServerProcess,
  };
  state.process = {
    url: 'https://127.0.0.1:1',
    pid: 0,
    cpuSeconds: () => state.cpu,
    usage: () => ({ userSeconds: state.cpu, systemSeconds: 0, minorFaults: 0 }),
    fullGcs: () => state.gcs,
    onLog: (listener) => void listeners.push(listener),
    stop: async () => undefined,
  };
  return state;
}

/** Runs that note their path in `order` and return how many have run; the gateway's logs one session costing 2 CPU seconds. */
function recordingRuns(gateway: ReturnType<typeof fakeGateway>, order: string[]): (path: string) => () => Promise<number> {
  return (path) => async () => {
    order.push(path);
    if (path === 'gateway') {
      gateway.log({ event: 'session-start', clientProtocol: 'v5.channel.k8s.io' });
      gateway.cpu += 2;
      gateway.log({ event: 'session-end' });
    }
    return order.length;
  };
}

t.test('paths alternate: direct, floor, gateway, then the reverse, round after round', async (t) => {
  const gateway = fakeGateway();
  const watch = new GatewayWatch(gateway.process);
  const order: string[] = [];
  const run = recordingRuns(gateway, order);
  const measured = await alternate(3, { gateway: run('gateway'), direct: run('direct'), floor: run('floor') }, watch, 1);
  t.same(order, ['direct', 'floor', 'gateway', 'gateway', 'floor', 'direct', 'direct', 'floor', 'gateway']);
  t.same(measured.results.direct, [1, 6, 7]);
  t.same(measured.gatewayCpu, [2, 2, 2], "each gateway run's CPU, and only its");
});

t.test('the Go translator path takes its turn between direct and gateway, reversed every other round', async (t) => {
  const gateway = fakeGateway();
  const watch = new GatewayWatch(gateway.process);
  const order: string[] = [];
  const run = recordingRuns(gateway, order);
  const measured = await alternate(2, { gateway: run('gateway'), modern: run('modern'), direct: run('direct') }, watch, 1);
  t.same(order, ['direct', 'modern', 'gateway', 'gateway', 'modern', 'direct']);
  t.same(measured.results.modern, [2, 5]);
  t.same(measured.gatewayCpu, [2, 2], 'only the gateway runs are measured through its log');
});

t.test("a gateway run is measured up to the end of its sessions in the gateway's log", async (t) => {
  const gateway = fakeGateway();
  const watch = new GatewayWatch(gateway.process);
  const measuring = watch.measure(1, async () => {
    gateway.log({ event: 'session-start', clientProtocol: 'v5.channel.k8s.io' });
    gateway.cpu += 1;
    return 'done';
  });
  // The client is done; the gateway is still tearing the session down, then logs its end.
  await new Promise((resolve) => setImmediate(resolve));
  gateway.cpu += 0.5;
  gateway.gcs += 1;
  gateway.log({ event: 'session-end' });
  const measured = await measuring;
  t.equal(measured.result, 'done');
  t.equal(measured.cpuSeconds, 1.5, 'teardown counted');
  t.equal(measured.fullGcs, 1);
});

t.test('the protocols clients spoke come from session-start lines; relayed upgrades are counted', async (t) => {
  const gateway = fakeGateway();
  const watch = new GatewayWatch(gateway.process);
  gateway.log({ event: 'session-start', clientProtocol: 'v5.channel.k8s.io' });
  const mark = watch.mark();
  gateway.log({ event: 'session-end' });
  gateway.log({ event: 'session-start', clientProtocol: 'SPDY/3.1+portforward.k8s.io' });
  gateway.log({ event: 'session-end' });
  gateway.log({ event: 'session-start', mode: 'relay', clientProtocol: 'SPDY/3.1' });
  gateway.log({ event: 'session-end', mode: 'relay' });
  t.same(watch.since(mark), { ended: 2, relayed: 1, clientProtocols: { 'SPDY/3.1+portforward.k8s.io': 1 }, modes: { unknown: 1 } });
});

t.test('a SPDY client carried toward a WebSocket upstream (mode to-websocket) passes a row that expects it, and only such a row', async (t) => {
  const gateway = fakeGateway();
  const watch = new GatewayWatch(gateway.process);
  const mark = watch.mark();
  gateway.log({ event: 'session-start', mode: 'to-websocket', clientProtocol: 'SPDY/3.1 v4.channel.k8s.io' });
  gateway.log({ event: 'session-end', mode: 'to-websocket' });
  t.same(watch.since(mark), { ended: 1, relayed: 0, clientProtocols: { 'SPDY/3.1 v4.channel.k8s.io': 1 }, modes: { 'to-websocket': 1 } });
  const row = { name: 'exec', bytesMoved: 1, relay: false, run: async () => 0 };
  t.match(expectClientProtocol(watch, mark, { ...row, clientProtocol: 'SPDY/3.1 v4.channel.k8s.io', mode: 'to-websocket' }), /in all 1 sessions, carried as to-websocket/);
  t.throws(() => expectClientProtocol(watch, mark, { ...row, clientProtocol: 'SPDY/3.1 v4.channel.k8s.io', mode: 'translated' }), /did not carry every session as translated/);
  t.throws(() => expectClientProtocol(watch, mark, { ...row, clientProtocol: 'v5.channel.k8s.io' }), /did not speak v5/);
});

t.test('a second gateway (the baseline path) is measured through its own log, alternating with the first', async (t) => {
  const on = fakeGateway();
  const off = fakeGateway();
  const order: string[] = [];
  const run = (gateway: ReturnType<typeof fakeGateway>, path: string, cpu: number) => async () => {
    order.push(path);
    gateway.log({ event: 'session-start', clientProtocol: 'v5.channel.k8s.io' });
    gateway.cpu += cpu;
    gateway.log({ event: 'session-end' });
    return cpu;
  };
  const measured = await alternate(2, { gateway: run(on, 'gateway', 3), baseline: run(off, 'baseline', 2) }, new GatewayWatch(on.process), 1, undefined, { baseline: new GatewayWatch(off.process) });
  t.same(order, ['baseline', 'gateway', 'gateway', 'baseline']);
  t.same(measured.gatewayCpu, [3, 3]);
  t.same(measured.otherCpu.baseline, [2, 2], "the baseline's own CPU, from its own process");
});

t.test('a session that never ends in the log fails the row with what was seen, not a hang', async (t) => {
  const gateway = fakeGateway();
  const watch = new GatewayWatch(gateway.process);
  const mark = watch.mark();
  gateway.log({ event: 'session-start', clientProtocol: 'v5.channel.k8s.io' });
  await t.rejects(watch.untilEnded(mark, 1, 50), /logged 0 of 1 session ends \(1 still open\)/);
});

t.test('spread: min, median and max of every repetition', async (t) => {
  t.same(spread([3, 1, 2]), { min: 1, median: 2, max: 3, n: 3 });
  t.same(spread([5]), { min: 5, median: 5, max: 5, n: 1 });
  t.throws(() => spread([]), /no samples/);
});
