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

/** kubectl 1.27 straight at `upstream` (plain HTTP), as against a SPDY API server. */
async function direct(t: Test, upstream: ScriptedWebSocketUpstream, args: string[]): Promise<KubectlResult> {
  const dir = await mkdtemp(join(tmpdir(), 'ksg-refusal-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'direct.kubeconfig');
  await writeFile(kubeconfig, renderKubeconfig({ server: upstream.url.origin, caPem: '', token: 'direct' }));
  return runKubectl(27, args, { kubeconfig, timeoutMs: 60_000 });
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
