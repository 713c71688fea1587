// The real API server's WebSocket-side refusals and closed-port answer (`websocket-apiserver-refusals-*`,
// `websocket-apiserver-portforward-tunnel-closed-port`) replayed as a WebSocket-only upstream behind
// `streaming: websocket`, driven by kubectl 1.27 (SPDY): what kubectl 1.27 makes of them through the
// gateway is compared with what it makes of a SPDY API server's answer to the same request — the
// same recorded response to its own SPDY upgrade (port-forward: the API server answers both
// upgrades alike), or the legacy cluster's recorded SPDY refusal (`…-upstream`, exec).
import t, { type Test } from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startStack, type Stack } from '../helpers/stack.js';
import { runKubectl, type KubectlResult } from '../helpers/run-kubectl.js';
import { scriptedWebSocketUpstream, type ScriptedWebSocketUpstream } from '../helpers/scripted-websocket-upstream.js';
import { captureParts } from '../helpers/scripted-peers.js';
import { renderKubeconfig } from '../../src/config/kubeconfig.js';
import { tmpdir } from 'node:os';
import { mkdtemp, rm } from 'node:fs/promises';

async function scripted(t: Test, capture: string): Promise<ScriptedWebSocketUpstream> {
  const upstream = await scriptedWebSocketUpstream({ capture, refusal: true });
  t.teardown(() => upstream.close());
  return upstream;
}

/** kubectl 1.27 through a gateway (`streaming: websocket`) toward `upstream`. */
async function throughGateway(t: Test, upstream: ScriptedWebSocketUpstream, args: string[]): Promise<{ result: KubectlResult; stack: Stack }> {
  const stack = await startStack({ upstream: () => ({ url: upstream.url, insecureSkipTlsVerify: false, streaming: 'websocket' }) });
  t.teardown(() => stack.close());
  return { result: await runKubectl(27, args, { kubeconfig: stack.kubeconfig, timeoutMs: 60_000 }), stack };
}

/** kubectl 1.`minor` straight at `upstream` (plain HTTP): 1.27 as against a SPDY API server. */
async function direct(t: Test, upstream: ScriptedWebSocketUpstream, args: string[], minor = 27): Promise<KubectlResult> {
  const dir = await mkdtemp(join(tmpdir(), 'ksg-refusal-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'direct.kubeconfig');
  await writeFile(kubeconfig, renderKubeconfig({ server: upstream.url.origin, caPem: '', token: 'direct' }));
  return runKubectl(minor, args, { kubeconfig, timeoutMs: 60_000 });
}

/** kubectl's stderr without its log-line prefixes (time, pid, source line). */
const messages = (stderr: string): string => stderr.replace(/^[EIW]\d{4} [\d:.]+\s+\d+ [\w.-]+:\d+\] /gm, '');

for (const code of [401, 403, 404]) {
  t.test(`port-forward refused with ${code} (websocket-apiserver-refusals-portforward-${code}): as from a SPDY API server`, async (t) => {
    const capture = `websocket-apiserver-refusals-portforward-${code}`;
    const args = ['port-forward', 'pod/demo', ':7'];
    const ws = await scripted(t, capture);
    const { result, stack } = await throughGateway(t, ws, args);
    t.equal(ws.requests.length, 1);
    t.match(ws.requests[0], /\r\nUpgrade: websocket\r\n/i, 'the gateway asked the upstream over WebSocket');
    t.match(ws.requests[0], /\r\nSec-WebSocket-Protocol: SPDY\/3\.1\+portforward\.k8s\.io\r\n/i, 'for the tunneling subprotocol');
    const refused = await stack.gatewayLogs.waitFor((r) => r.event === 'session-refused' && r.mode === 'to-websocket');
    t.equal(refused.status, code, 'the gateway logged the upstream status');

    const spdy = await scripted(t, capture);
    const expected = await direct(t, spdy, args);
    t.match(spdy.requests[0], /\r\nUpgrade: SPDY\/3\.1\r\n/i, 'the comparison run was a SPDY upgrade');
    t.equal(result.code, expected.code, `exit code ${expected.code}`);
    t.equal(messages(result.stderr), messages(expected.stderr), `kubectl 1.27 says what it says to a SPDY API server: ${messages(expected.stderr).trim()}`);
  });
}

for (const code of [401, 403, 404]) {
  t.test(`exec refused with ${code} after the 101 (websocket-apiserver-refusals-exec-${code}): as kubectl 1.33 gets it, with a SPDY API server's message`, async (t) => {
    // The 1.31 API server's translator answers 101 first and puts the refusal on channel 3, where
    // client-go reads it as a plain error ("error: …"); a SPDY API server refuses the upgrade itself
    // (its answer to the translator, `…-upstream`), read as an API error ("Error from server (…): …").
    // Once that upstream has said 101 the SPDY client has had its 101 too: it gets what kubectl 1.33
    // gets from the real API server, and the same message a SPDY API server sends.
    const capture = `websocket-apiserver-refusals-exec-${code}`;
    const args = ['exec', 'demo', '-c', 'c', '--', 'true'];
    const ws = await scriptedWebSocketUpstream({ capture });
    t.teardown(() => ws.close());
    const { result, stack } = await throughGateway(t, ws, args);
    t.match(ws.requests[0], /\r\nSec-WebSocket-Protocol: v5\.channel\.k8s\.io\r\n/i, 'the gateway asked the upstream for v5');
    const end = await stack.gatewayLogs.waitFor((r) => r.event === 'session-end' && r.mode === 'to-websocket');
    t.match(end, { clientTransport: 'spdy', upstreamTransport: 'websocket', upstreamProtocol: 'v5.channel.k8s.io' });

    const modern = await scriptedWebSocketUpstream({ capture });
    t.teardown(() => modern.close());
    const fromApiServer = await direct(t, modern, args, 33);
    t.equal(result.code, fromApiServer.code, `exit code ${fromApiServer.code}`);
    t.equal(messages(result.stderr), messages(fromApiServer.stderr), `kubectl 1.27 says what kubectl 1.33 says to the real API server: ${messages(fromApiServer.stderr).trim()}`);

    const status = JSON.parse(captureParts(`${capture}-upstream.server-to-client.bin`).body.toString()) as { message: string };
    const spdy = await scripted(t, `${capture}-upstream`);
    const expected = await direct(t, spdy, args);
    t.equal(result.code, expected.code, 'the exit code a SPDY API server gives');
    t.ok(result.stderr.includes(status.message) && expected.stderr.includes(status.message), `and its message: ${status.message}`);
  });
}
