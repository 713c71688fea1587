/** Channel numbers of the remote-command protocols (apimachinery pkg/util/remotecommand). */
export const Channel = {
  stdin: 0,
  stdout: 1,
  stderr: 2,
  error: 3,
  resize: 4,
} as const;

/** v5 only: `[0xFF, channel]` says the client will send nothing more on that channel. */
export const CLOSE_SIGNAL = 0xff;

/** A Kubernetes channel subprotocol: how messages are framed and what the error channel carries. */
export interface ChannelProtocol {
  /** The Sec-WebSocket-Protocol token; "" when the client sent none. */
  name: string;
  version: 1 | 4 | 5;
  framing: 'binary' | 'base64';
  /** Whether the v5 CLOSE signal exists in this protocol. */
  supportsClose: boolean;
  /** v4 and later report a JSON Status on the error channel (also on success); older ones text on failure. */
  statusFormat: 'json' | 'text';
}

/**
 * Every remote-command WebSocket subprotocol Kubernetes clients use (kubelet websocket.go for
 * "", channel.k8s.io, base64.channel.k8s.io, v4.*; apiserver streamtranslator for v5).
 */
export const REMOTE_COMMAND_PROTOCOLS: readonly ChannelProtocol[] = [
  { name: 'v5.channel.k8s.io', version: 5, framing: 'binary', supportsClose: true, statusFormat: 'json' },
  { name: 'v4.channel.k8s.io', version: 4, framing: 'binary', supportsClose: false, statusFormat: 'json' },
  { name: 'v4.base64.channel.k8s.io', version: 4, framing: 'base64', supportsClose: false, statusFormat: 'json' },
  { name: 'channel.k8s.io', version: 1, framing: 'binary', supportsClose: false, statusFormat: 'text' },
  { name: 'base64.channel.k8s.io', version: 1, framing: 'base64', supportsClose: false, statusFormat: 'text' },
  { name: '', version: 1, framing: 'binary', supportsClose: false, statusFormat: 'text' },
];

/**
 * Port-forward's channel subprotocols as the kubelet serves them (portforward/websocket.go): binary
 * for "" and `portforward.k8s.io`, plus the v4 binary and base64 variants. Channels 2i and 2i+1 carry
 * the data and errors of the i-th requested port; there is no Status and no CLOSE.
 */
export const PORT_FORWARD_CHANNEL_PROTOCOLS: readonly ChannelProtocol[] = [
  { name: 'v4.channel.k8s.io', version: 4, framing: 'binary', supportsClose: false, statusFormat: 'text' },
  { name: 'v4.base64.channel.k8s.io', version: 4, framing: 'base64', supportsClose: false, statusFormat: 'text' },
  { name: 'portforward.k8s.io', version: 1, framing: 'binary', supportsClose: false, statusFormat: 'text' },
  { name: '', version: 1, framing: 'binary', supportsClose: false, statusFormat: 'text' },
];

/** Sec-WebSocket-Protocol tokens, from one comma-separated header or several. */
export function parseSubprotocolHeader(header: string | string[] | undefined): string[] {
  const values = Array.isArray(header) ? header : header === undefined ? [] : [header];
  return values.flatMap((value) => value.split(',')).map((token) => token.trim()).filter(Boolean);
}

/**
 * The first of the CLIENT's tokens that is supported (wsstream/conn.go); no tokens at all means the
 * protocol "". Tokens that are not channel protocols (such as the browser bearer-token token) are skipped.
 */
export function negotiateSubprotocol(
  offered: readonly string[],
  supported: readonly ChannelProtocol[],
): ChannelProtocol | undefined {
  if (offered.length === 0) return supported.find((protocol) => protocol.name === '');
  for (const token of offered) {
    const match = supported.find((protocol) => protocol.name !== '' && protocol.name === token);
    if (match) return match;
  }
  return undefined;
}
