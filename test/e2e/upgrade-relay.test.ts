// Upgrades the gateway does not translate (old kubectl's SPDY) are relayed as they are: the upstream's
// refusal reaches the client intact, and an unreachable upstream gets a real HTTP answer.
import t from 'tap';
import { closedPort } from '../helpers/closed-port.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { rawExchange } from '../helpers/raw-exchange.js';

const spdyUpgrade = (stack: Stack, versions: string): string =>
  `POST /api/v1/namespaces/default/pods/demo/exec?command=true&stdout=true HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
  `Authorization: Bearer ${stack.token}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n` +
  `X-Stream-Protocol-Version: ${versions}\r\nContent-Length: 0\r\n\r\n`;

t.test("the upstream's refusal of a SPDY upgrade is replayed with its headers and body", async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const answer = await rawExchange(stack, spdyUpgrade(stack, 'v9.channel.k8s.io'));
  t.match(answer, /^HTTP\/1\.1 403 Forbidden\r\n/);
  t.match(answer, /X-Accepted-Stream-Protocol-Versions: v4\.channel\.k8s\.io\r\n/);
  t.match(answer, /X-Accepted-Stream-Protocol-Versions: channel\.k8s\.io\r\n/);
  t.match(answer, /\r\n\r\nunable to upgrade: unable to negotiate protocol: client supports \[v9\.channel\.k8s\.io\]/);
  t.equal(stack.gatewayLogs.find((r) => r.msg === 'upgrade refused by upstream').length, 1);
});

t.test('an unreachable upstream answers a relayed upgrade with 503 and a Status', async (t) => {
  const port = await closedPort();
  const stack = await startStack({ upstream: () => ({ url: new URL(`http://127.0.0.1:${port}`), insecureSkipTlsVerify: false }) });
  t.teardown(() => stack.close());
  const answer = await rawExchange(stack, spdyUpgrade(stack, 'v4.channel.k8s.io'));
  t.match(answer, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
  const status = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
  t.match(status, { kind: 'Status', code: 503, reason: 'ServiceUnavailable' });
  t.match(status.message, /^(Internal error occurred: )?the upstream cluster is unavailable$/);
});
