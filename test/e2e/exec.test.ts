// kubectl exec through the gateway: WebSocket (v5) on the client side, SPDY/3.1 upstream, for every
// kubectl release that speaks WebSocket; kubectl 1.27 (SPDY only) relayed untouched.
import t, { type Test } from 'tap';
import { startStack, type Stack } from '../helpers/stack.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import type { LogRecord } from '../helpers/log-recorder.js';

let stack: Stack;
t.before(async () => {
  stack = await startStack();
});
t.teardown(() => stack.close());

/** kubectl 1.30 needs the opt-in; 1.31+ use WebSockets by default (PROTOCOLS.md §8). */
const WEBSOCKET_RELEASES: Array<{ minor: number; env: Record<string, string> }> = [
  { minor: 30, env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'true' } },
  { minor: 31, env: {} },
  { minor: 33, env: {} },
];

/**
 * The proof that translation happened: the gateway's own session line says it spoke v5 WebSocket to
 * the client and SPDY v4 upstream, and no SPDY upgrade was relayed (kubectl falls back silently).
 */
function assertTranslated(t: Test, before: LogMark, expect: { exitCode: number }): LogRecord {
  const ends = stack.sessionEnds().slice(before.sessions);
  t.equal(ends.length, 1, 'exactly one translated session');
  const end = ends[0]!;
  t.equal(end.clientProtocol, 'v5.channel.k8s.io', 'client side spoke WebSocket v5');
  t.equal(end.upstreamProtocol, 'v4.channel.k8s.io', 'upstream side spoke SPDY v4');
  t.equal(end.exitCode, expect.exitCode, 'exit code logged');
  t.equal(relayedUpgrades().length, before.relays, 'no SPDY fallback through the raw relay');
  return end;
}

interface LogMark {
  sessions: number;
  relays: number;
}
const relayedUpgrades = (): LogRecord[] => stack.gatewayLogs.find((r) => r.event === 'session-start' && r.mode === 'relay');
const mark = (): LogMark => ({ sessions: stack.sessionEnds().length, relays: relayedUpgrades().length });

for (const { minor, env } of WEBSOCKET_RELEASES) {
  t.test(`kubectl 1.${minor} exec over WebSocket`, async (t) => {
    t.test('stdin to stdout, and stdin end-of-file ends cat (v5 CLOSE)', async (t) => {
      const before = mark();
      const result = await runKubectl(minor, ['exec', '-i', 'demo', '--', 'cat'], {
        kubeconfig: stack.kubeconfig,
        stdin: 'hello through the gateway\n',
        env,
        // cat ends in milliseconds once its stdin has ended: a hang means the CLOSE never became a FIN upstream.
        timeoutMs: 15_000,
        hangHint: 'the v5 CLOSE of stdin did not half-close the upstream stdin stream',
      });
      t.equal(result.stderr, '');
      t.equal(result.code, 0);
      t.equal(result.stdout.toString(), 'hello through the gateway\n');
      const end = assertTranslated(t, before, { exitCode: 0 });
      t.equal(end.bytesFromClient, 'hello through the gateway\n'.length);
    });

    t.test('stdout, stderr and exit code 3', async (t) => {
      const before = mark();
      const result = await runKubectl(minor, ['exec', 'demo', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3'], {
        kubeconfig: stack.kubeconfig,
        env,
      });
      t.equal(result.code, 3);
      t.equal(result.stdout.toString(), 'out\n');
      t.match(result.stderr, /^err\n/);
      t.match(result.stderr, /command terminated with exit code 3/);
      assertTranslated(t, before, { exitCode: 3 });
    });

    t.test('a process killed by a signal', async (t) => {
      const before = mark();
      const result = await runKubectl(minor, ['exec', 'demo', '--', 'sh', '-c', 'kill -9 $$'], {
        kubeconfig: stack.kubeconfig,
        env,
      });
      t.equal(result.code, 137, '128 + SIGKILL, as the kubelet reports it');
      assertTranslated(t, before, { exitCode: 137 });
    });
  });
}

t.test('a large stdout download and stdin upload (far beyond any 64 KiB window)', async (t) => {
  const before = mark();
  const payload = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE((i * 2654435761) >>> 0, i);
  const result = await runKubectl(33, ['exec', '-i', 'demo', '--', 'cat'], {
    kubeconfig: stack.kubeconfig,
    stdin: payload,
    hangHint: 'the upload stalled, or the v5 CLOSE of stdin did not reach the upstream',
  });
  t.equal(result.code, 0);
  t.ok(result.stdout.equals(payload), 'every byte came back in order');
  const end = assertTranslated(t, before, { exitCode: 0 });
  t.equal(end.bytesFromClient, payload.length);
  t.equal(end.bytesToClient, payload.length);
});

t.test('kubectl 1.27 (SPDY only) is relayed untouched', async (t) => {
  const before = mark();
  const result = await runKubectl(27, ['exec', '-i', 'demo', '--', 'sh', '-c', 'cat; exit 3'], {
    kubeconfig: stack.kubeconfig,
    stdin: 'old client\n',
  });
  t.equal(result.stdout.toString(), 'old client\n');
  t.equal(result.code, 3);
  t.equal(stack.sessionEnds().length, before.sessions, 'not translated');
  const relays = relayedUpgrades().slice(before.relays);
  t.equal(relays.length, 1, 'the SPDY upgrade went through the raw relay');
  t.equal(relays[0]!.upstreamProtocol, 'v4.channel.k8s.io');
});

t.test('plain API requests are reverse-proxied (discovery, get)', async (t) => {
  const result = await runKubectl(33, ['get', 'pods', '-o', 'name'], { kubeconfig: stack.kubeconfig });
  t.equal(result.code, 0, result.stderr);
  t.match(result.stdout.toString(), /pod\/demo/);
});

t.test('no log line of the gateway or the cluster carries the bearer token', async (t) => {
  t.ok(stack.gatewayLogs.records.length > 10 && stack.clusterLogs.records.length > 10, 'there were logs to look at');
  for (const record of [...stack.gatewayLogs.records, ...stack.clusterLogs.records]) {
    t.notOk(JSON.stringify(record).includes(stack.token), `no token in: ${record.msg}`);
  }
});
