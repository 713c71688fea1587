// One capture pair replayed through the gateway: the scripted kubectl on its client side, the
// scripted kubelet upstream, and the views the tests compare with what the real peers exchanged.
import type { Test } from 'tap';
import { startStack, type Stack } from './stack.js';
import { captureParts, scriptedKubectl, scriptedKubelet, within, type ScriptedKubectl, type ScriptedKubelet, type ScriptedKubeletOptions, type ScriptedKubectlOptions } from './scripted-peers.js';
import { parseHead, readSpdy, splitWebSocket, SYN_STREAM, webSocketMessages, type SpdyFrame, type WebSocketFrame, type WebSocketMessage } from './capture-frames.js';

/** Bound on one replay (a hang guard; a replay takes well under a second). */
export const REPLAY_LIMIT_MS = 10_000;

export interface Replay {
  stack: Stack;
  kubelet: ScriptedKubelet;
  kubectl: ScriptedKubectl;
}

/** Starts the scripted kubelet, a gateway in front of it and the scripted kubectl; resolves once the gateway closed the client connection. */
export async function replay(
  t: Test,
  kubeletOptions: ScriptedKubeletOptions,
  kubectlOptions: ScriptedKubectlOptions,
): Promise<Replay> {
  const kubelet = await scriptedKubelet(kubeletOptions);
  t.teardown(() => kubelet.close());
  const stack = await startStack({ upstream: () => ({ url: new URL(`http://127.0.0.1:${kubelet.port}`), insecureSkipTlsVerify: false }) });
  t.teardown(() => stack.close());
  const kubectl = await scriptedKubectl({ port: stack.gateway.port, caPem: stack.caPem }, kubectlOptions);
  await within(kubectl.closed, REPLAY_LIMIT_MS, () =>
    `the gateway did not close the client connection (kubectl wrote ${JSON.stringify(kubectl.progress())}, kubelet wrote ${JSON.stringify(kubelet.progress())}, client got ${JSON.stringify(describeMessages(webSocketMessages(kubectl.frames())))})`,
  );
  return { stack, kubelet, kubectl };
}

/** A message as one readable line: kind, channel byte in hex, the rest as a JSON string (close: code and reason). */
function describeMessage(message: WebSocketMessage, channelled = true): string {
  if (message.kind === 'close') {
    const code = message.payload.length >= 2 ? message.payload.readUInt16BE(0) : 'none';
    return `close ${code} ${JSON.stringify(message.payload.subarray(2).toString('utf8'))}`;
  }
  if (!channelled) return `${message.kind} ${message.payload.toString('hex')}`;
  if (message.kind === 'text') return `text ${JSON.stringify(message.payload.toString('latin1'))}`;
  const channel = message.payload.length > 0 ? message.payload[0]!.toString(16).padStart(2, '0') : '--';
  return `binary ${channel} ${JSON.stringify(message.payload.subarray(1).toString('latin1'))}`;
}

export function describeMessages(messages: WebSocketMessage[], channelled = true): string[] {
  return messages.map((message) => describeMessage(message, channelled));
}

/** The WebSocket messages (and close) a capture's server sent its client. */
export function capturedServerMessages(capture: string): WebSocketMessage[] {
  return webSocketMessages(splitWebSocket(captureParts(`${capture}.server-to-client.bin`).body).frames);
}

/** The messages the gateway sent the scripted kubectl. */
export function gatewayMessages(frames: WebSocketFrame[]): WebSocketMessage[] {
  return webSocketMessages(frames);
}

/** The 101 as far as the protocol fixes it: status line, accept key, subprotocol, Upgrade and Connection (not Date or header order). */
export function handshakeView(head: string | undefined): Record<string, string> {
  const parsed = parseHead(head ?? '');
  const view: Record<string, string> = { status: parsed.line };
  for (const [name, value] of parsed.headers) {
    if (['sec-websocket-accept', 'sec-websocket-protocol', 'upgrade'].includes(name)) view[name] = value;
    if (name === 'connection') view[name] = value.toLowerCase();
  }
  return view;
}

/**
 * The SPDY upgrade request as the protocol fixes it: method and target, Upgrade, the caller's
 * credential (passed through), the offered stream protocols in order.
 */
export function upgradeRequestView(head: string | undefined): { line: string; upgrade: string[]; authorization: string[]; streamProtocols: string[] } {
  const parsed = parseHead(head ?? '');
  return {
    line: parsed.line,
    upgrade: parsed.headers.filter(([n]) => n === 'upgrade').map(([, v]) => v),
    authorization: parsed.headers.filter(([n]) => n === 'authorization').map(([, v]) => v),
    streamProtocols: parsed.headers.filter(([n]) => n === 'x-stream-protocol-version').flatMap(([, v]) => v.split(',').map((p) => p.trim())),
  };
}

/** The streams a client opened: their header sets, sorted (the order is the client's choice; the kubelet waits for all). */
export function openedStreams(frames: SpdyFrame[]): string[] {
  return frames
    .filter((frame) => frame.type === 'control' && frame.kind === SYN_STREAM)
    .map((frame) => JSON.stringify(Object.fromEntries(Object.entries((frame as { headers?: Record<string, string> }).headers ?? {}).sort())))
    .sort();
}

/**
 * The DATA frames a client sent, in order across streams, each as `<streamtype>[FIN] <payload JSON>`:
 * what reaches each stream and when it is half-closed, independent of the stream ids chosen.
 */
export function dataSequence(frames: SpdyFrame[]): string[] {
  const types = new Map<number, string>();
  const lines: string[] = [];
  for (const frame of frames) {
    if (frame.type === 'control' && frame.kind === SYN_STREAM) types.set(frame.streamId!, `${frame.headers?.['streamtype']}${frame.headers?.['requestid'] === undefined ? '' : `#${frame.headers['requestid']}`}`);
    if (frame.type === 'data') lines.push(`${types.get(frame.streamId) ?? `?${frame.streamId}`}${frame.flags & 1 ? ' FIN' : ''} ${JSON.stringify(frame.payload.toString('latin1'))}`);
  }
  return lines;
}

/** The SPDY frames of a capture's client side (what the real API server sent the kubelet), headers inflated. */
export function capturedClientFrames(capture: string): SpdyFrame[] {
  return readSpdy(captureParts(`${capture}.client-to-server.bin`).body);
}
