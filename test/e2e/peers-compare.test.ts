// The gateway in front of the legacy Go peer against the modern Go peer (the API server's own
// translator and tunnel, 1.31+): for the same request, where the output is deterministic, both
// answer the same. The differences that remain are listed in docs/protocols.md with the reason.
import t, { type Test } from 'tap';
import { startStack } from '../helpers/stack.js';
import { startPeerStack, type PeerStack } from '../helpers/peer-stack.js';
import { connect, type ConnectOutcome, type GatewayEndpoint } from '../helpers/ws-client.js';
import { runExecClient, startGoPortForward, type ClientEndpoint } from '../helpers/go-clients.js';
import { rawExchange } from '../helpers/raw-exchange.js';

let stack: PeerStack;
/** The same client side, once toward the gateway (→ legacy peer), once toward the modern peer. */
let viaGateway: GatewayEndpoint & ClientEndpoint;
let modern: GatewayEndpoint & ClientEndpoint;
t.before(async () => {
  // The modern peer refuses SPDY (a cluster that has removed it): whatever works there went over WebSockets.
  stack = await startPeerStack({ modern: true, refuseSpdy: true });
  viaGateway = { gateway: { url: stack.gateway.url }, url: stack.gateway.url, caPem: stack.caPem, token: stack.token };
  modern = { gateway: { url: stack.modern!.url }, url: stack.modern!.url, caPem: stack.caPem, token: stack.token };
});
t.teardown(() => stack.close());

const EXEC = '/api/v1/namespaces/default/pods/demo/exec';
const PF = '/api/v1/namespaces/default/pods/demo/portforward';
const exitThree = `${EXEC}?command=sh&command=-c&command=${encodeURIComponent('echo out; echo err >&2; exit 3')}&stdout=true&stderr=true`;

interface Observed {
  protocol?: string;
  refused?: { statusCode: number; body: unknown };
  /** Payload bytes per channel, in order of arrival (the first byte of each message is its channel). */
  channels?: Record<number, string>;
  /** Every message, hex, in order. */
  messages?: string[];
  close?: { code: number; reason: string };
}

/** A raw WebSocket session, recorded until the server closes it (bounded: a hang fails at once). */
async function observe(endpoint: GatewayEndpoint, path: string, protocols: string[]): Promise<Observed> {
  const outcome: ConnectOutcome = await connect(endpoint, path, protocols);
  if (outcome.kind === 'refused') return { refused: { statusCode: outcome.statusCode, body: JSON.parse(outcome.body) as unknown } };
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      outcome.socket.terminate();
      reject(new Error(`${path}: the server did not close the session within 20 s`));
    }, 20_000);
  });
  const close = await Promise.race([outcome.closed, hang]).finally(() => clearTimeout(timer));
  const channels: Record<number, string> = {};
  for (const { data } of outcome.messages) channels[data[0]!] = (channels[data[0]!] ?? '') + data.subarray(1).toString('latin1');
  return { protocol: outcome.protocol, channels, messages: outcome.messages.map((m) => m.data.toString('hex')), close };
}

t.test('v5 exec with exit code 3: the same output, Status and close code', async (t) => {
  const [gateway, reference] = [await observe(viaGateway, exitThree, ['v5.channel.k8s.io']), await observe(modern, exitThree, ['v5.channel.k8s.io'])];
  t.equal(gateway.protocol, 'v5.channel.k8s.io');
  t.equal(reference.protocol, 'v5.channel.k8s.io');
  t.equal(gateway.channels![1], reference.channels![1], 'stdout');
  t.equal(gateway.channels![2], reference.channels![2], 'stderr');
  t.equal(gateway.channels![3], reference.channels![3], "the Status bytes: the translator's, its message rebuilt from client-go's exit error");
  t.same(gateway.close, reference.close, 'close code and reason');
  t.same(gateway.messages![0], reference.messages![0], 'the first message: empty on stdout');
});

t.test('exec into a pod that does not exist: the same refusal', async (t) => {
  const path = `${EXEC.replace('/demo/', '/nope/')}?command=true&stdout=true`;
  const [gateway, reference] = [await observe(viaGateway, path, ['v5.channel.k8s.io']), await observe(modern, path, ['v5.channel.k8s.io'])];
  t.same(gateway.refused, reference.refused, 'status code and Status body');
  t.match(gateway.refused, { statusCode: 404, body: { kind: 'Status', reason: 'NotFound', message: 'pods "nope" not found' } });
});

/** What the kubelet's own WebSocket port-forward sends for a port nothing listens on (PROTOCOLS.md §9). */
function assertKubeletClosedPort(t: Test, observed: Observed): void {
  t.equal(observed.protocol, 'v4.channel.k8s.io');
  t.equal(observed.messages![0], '000100', 'data channel: port 1, little-endian');
  t.equal(observed.messages![1], '010100', 'error channel: the same prefix');
  t.match(observed.channels![1], /error forwarding port 1 to pod demo, uid [^:]*: failed to connect to localhost:1 /, 'the error text on the error channel');
  t.equal(observed.close!.code, 1000, 'then a normal close');
}

t.test("port-forward channels to a closed port: the kubelet's error on the port's error channel, then close 1000", async (t) => {
  // The kubelet's runtime ends the data stream first, then writes the error.
  const reference = await observe(modern, `${PF}?ports=1`, ['v4.channel.k8s.io']);
  assertKubeletClosedPort(t, reference);

  t.test('through the gateway to the embedded cluster', async (t) => {
    const embedded = await startStack();
    t.teardown(() => embedded.close());
    assertKubeletClosedPort(t, await observe(embedded, `${PF}?ports=1`, ['v4.channel.k8s.io']));
  });

  // The real kubelet ends the data stream before it writes the error: a gateway that finishes a port on
  // the data stream's end loses the error here, while the embedded cluster's test above still passes.
  t.test('through the gateway to the legacy peer (the real kubelet)', async (t) => {
    const gateway = await observe(viaGateway, `${PF}?ports=1`, ['v4.channel.k8s.io']);
    assertKubeletClosedPort(t, gateway);
    t.same(gateway.messages, reference.messages, 'every message, in order, as the kubelet sent them');
  });
});

t.test("client-go's WebSocket executor: the same outcome through the gateway as from a 1.31+ server", async (t) => {
  const run = (endpoint: ClientEndpoint) =>
    runExecClient(endpoint, { protocol: 'websocket', command: ['sh', '-c', 'cat; echo err >&2; exit 3'], stdin: 'through the executor\n' });
  const [gateway, reference] = [await run(viaGateway), await run(modern)];
  t.equal(gateway.stdout.toString(), 'through the executor\n');
  t.equal(gateway.stderr, 'err\n');
  t.equal(gateway.result.exitCode, 3);
  t.equal(gateway.stdout.toString(), reference.stdout.toString());
  t.equal(gateway.stderr, reference.stderr);
  t.same(gateway.result, reference.result, 'the error StreamWithContext returned, its exit code and text');
  const end = stack.sessionEnds().at(-1)!;
  t.equal(end.clientProtocol, 'v5.channel.k8s.io', 'the gateway translated it');
  t.equal(end.upstreamProtocol, 'v4.channel.k8s.io');
});

t.test("client-go's WebSocket executor with a terminal: sizes reach the pod", async (t) => {
  const run = (endpoint: ClientEndpoint) =>
    runExecClient(endpoint, { protocol: 'websocket', tty: true, resize: ['97x31'], command: ['sh', '-c', 'sleep 0.5; stty size'] });
  const [gateway, reference] = [await run(viaGateway), await run(modern)];
  t.equal(gateway.stdout.toString().trim(), '31 97');
  t.equal(gateway.stdout.toString(), reference.stdout.toString());
  t.same(gateway.result, reference.result);
});

t.test("client-go's SPDY executor and port-forwarder: relayed to the legacy peer, refused by a cluster without SPDY", async (t) => {
  const refused = await runExecClient(modern, { protocol: 'spdy', command: ['true'] });
  t.match(refused.result.error, /SPDY\/3\.1 is not served by this cluster/);
  const relayed = await runExecClient(viaGateway, { protocol: 'spdy', command: ['sh', '-c', 'exit 3'] });
  t.equal(relayed.result.exitCode, 3, 'the gateway relays SPDY to the legacy peer');

  const forward = await startGoPortForward(viaGateway, 'spdy', ['0:80']);
  const res = await fetch(`http://127.0.0.1:${forward.localPorts[0]}/`);
  t.equal(await res.text(), 'Hello from pod default/demo\n', 'SPDY port-forward through the gateway');
  t.same(await forward.stop(), {});
  await t.rejects(startGoPortForward(modern, 'spdy', ['0:80']), /SPDY\/3\.1 is not served by this cluster|unable to upgrade/);
});

t.test("client-go's tunneling port-forwarder: the same answers, and the same error for a closed port", async (t) => {
  for (const endpoint of [viaGateway, modern]) {
    const forward = await startGoPortForward(endpoint, 'tunnel', ['0:80']);
    const res = await fetch(`http://127.0.0.1:${forward.localPorts[0]}/`);
    t.equal(await res.text(), 'Hello from pod default/demo\n');
    t.same(await forward.stop(), {}, 'ended cleanly');
  }
  const errors: string[] = [];
  for (const endpoint of [viaGateway, modern]) {
    const forward = await startGoPortForward(endpoint, 'tunnel', ['0:1']);
    await fetch(`http://127.0.0.1:${forward.localPorts[0]}/`).catch(() => undefined);
    t.same(await forward.ended, { error: 'lost connection to pod' }, 'ForwardPorts ends on the error stream');
    errors.push(/error forwarding port 1 to pod .*?connection refused/.exec(forward.stderr())?.[0] ?? forward.stderr());
  }
  t.match(errors[0], /^error forwarding port 1 to pod demo, uid : failed to connect to localhost:1 inside namespace .*demo.*: dial tcp4 127\.0\.0\.1:1: connect: connection refused$/);
  t.equal(errors[0], errors[1], 'the error client-go reports is the same');
});

t.test('the legacy peer answers WebSocket upgrades as a 1.28 cluster does (PROTOCOLS.md §8)', async (t) => {
  const peer = { gateway: { port: Number(new URL(stack.legacy.url).port) }, caPem: stack.caPem };
  const upgrade = (path: string, protocol: string): string =>
    `GET ${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${stack.token}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`;
  const exec = await rawExchange(peer, upgrade(`${EXEC}?command=true&stdout=true`, 'v5.channel.k8s.io'));
  t.match(exec, /^HTTP\/1\.1 403 Forbidden\r\n/, 'v5 exec: the kubelet refuses the subprotocol');
  const tunnel = await rawExchange(peer, upgrade(PF, 'SPDY/3.1+portforward.k8s.io'));
  t.match(tunnel, /^HTTP\/1\.1 400 Bad Request\r\n/);
  t.match(tunnel, /\r\n\r\nquery parameter "port" is required$/, 'tunneling: the kubelet wants ports');
});
