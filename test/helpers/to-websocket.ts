import type { Test } from 'tap';
import { startStack, type Stack, type StackOptions } from './stack.js';
import type { LogRecord } from './log-recorder.js';

/** The gateway's session-end lines of SPDY clients translated toward a WebSocket upstream. */
export const towardWebSocket = (s: Stack): LogRecord[] => s.gatewayLogs.find((r) => r.event === 'session-end' && r.mode === 'to-websocket');

/** SPDY upgrades the `--streaming websocket` cluster refused (one log line each). */
export const refusedByCluster = (s: Stack): number => s.clusterLogs.find((r) => r.event === 'upgrade-refused').length;

export interface SpdyToWebSocketExpectation {
  clientProtocol: string;
  upstreamProtocol: string;
  exitCode?: number;
  /** How many sessions ended since `before` (default 1). */
  sessions?: number;
}

/** The gateway spoke SPDY to the client and WebSocket upstream; the cluster saw no SPDY upgrade. Returns the session-end lines. */
export function assertSpdyToWebSocket(t: Test, s: Stack, before: number, expect: SpdyToWebSocketExpectation): LogRecord[] {
  const ends = towardWebSocket(s).slice(before);
  t.equal(ends.length, expect.sessions ?? 1, 'sessions translated toward WebSocket');
  for (const end of ends) {
    t.match(end, { clientTransport: 'spdy', upstreamTransport: 'websocket', clientProtocol: expect.clientProtocol, upstreamProtocol: expect.upstreamProtocol });
  }
  if (expect.exitCode !== undefined) t.equal(ends[0]?.exitCode, expect.exitCode, 'exit code logged');
  t.equal(refusedByCluster(s), 0, 'the cluster never saw a SPDY upgrade');
  return ends;
}

/** A gateway with `streaming: websocket` in front of `legacy-cluster --streaming websocket`. */
export function startWebSocketOnlyStack(gateway: StackOptions['gateway'] = {}): Promise<Stack> {
  return startStack({
    gateway,
    cluster: { streaming: 'websocket' },
    upstream: (cluster, caPem) => ({ url: new URL(cluster.url), ca: caPem, insecureSkipTlsVerify: false, streaming: 'websocket' }),
  });
}
