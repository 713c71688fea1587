import { listElements } from '../http/header-lists.js';

/**
 * Channel numbers of the remote-command protocols (apimachinery pkg/util/remotecommand/constants.go:
 * StreamStdIn … StreamResize; the first three equal the POSIX file descriptors).
 */
export const Channel = {
  stdin: 0,
  stdout: 1,
  stderr: 2,
  error: 3,
  resize: 4,
} as const;

/** v5 only: the binary message `[0xFF, channel]` says the client sends nothing more on that channel (StreamClose). */
export const CLOSE_SIGNAL = 0xff;

/**
 * A remote-command WebSocket connection always has exactly these five channels, whatever the request
 * asked for (kubelet remotecommand/websocket.go and apiserver proxy/websocket.go createChannels).
 */
export const REMOTE_COMMAND_CHANNEL_COUNT = 5;

/** A Kubernetes channel subprotocol: how messages are framed and what the error channel carries. */
export interface RemoteCommandProtocol {
  /** The Sec-WebSocket-Protocol token; "" when the client sent none. */
  readonly name: string;
  readonly version: 1 | 4 | 5;
  /** binary: channel byte + payload in binary messages; base64: '0'+channel + base64 in text messages. */
  readonly framing: 'binary' | 'base64';
  /** Whether the v5 CLOSE signal exists in this protocol (only v5.channel.k8s.io). */
  readonly supportsClose: boolean;
  /** json: a metav1.Status on the error channel, also on success (v4, v5); text: status.Error() on failure only. */
  readonly statusFormat: 'json' | 'text';
}

/** The same shape serves port-forward's channel protocols; the older name stays for those users. */
export type ChannelProtocol = RemoteCommandProtocol;

function protocol(entry: RemoteCommandProtocol): RemoteCommandProtocol {
  return Object.freeze(entry);
}

/**
 * Every remote-command WebSocket subprotocol a Kubernetes server speaks, in the gateway's preference
 * order (the order only matters for error messages: negotiation follows the client's order).
 *
 * - `v5.channel.k8s.io`: only the API server's StreamTranslatorProxy (apiserver proxy/websocket.go);
 *   binary, JSON Status, CLOSE signal.
 * - `v4.channel.k8s.io`, `v4.base64.channel.k8s.io`: kubelet remotecommand/websocket.go, JSON Status
 *   (v4WriteStatusFunc), no CLOSE.
 * - `channel.k8s.io`, `base64.channel.k8s.io`, `""`: kubelet websocket.go "preV4" protocols, text
 *   status on failure only (v1WriteStatusFunc), no CLOSE.
 *
 * `v2.channel.k8s.io` and `v3.channel.k8s.io` exist for SPDY only: no server offers them as WebSocket
 * subprotocols (client-go's WebSocket executor could name them, nothing answers them).
 */
export const REMOTE_COMMAND_PROTOCOLS: readonly RemoteCommandProtocol[] = Object.freeze([
  protocol({ name: 'v5.channel.k8s.io', version: 5, framing: 'binary', supportsClose: true, statusFormat: 'json' }),
  protocol({ name: 'v4.channel.k8s.io', version: 4, framing: 'binary', supportsClose: false, statusFormat: 'json' }),
  protocol({ name: 'v4.base64.channel.k8s.io', version: 4, framing: 'base64', supportsClose: false, statusFormat: 'json' }),
  protocol({ name: 'channel.k8s.io', version: 1, framing: 'binary', supportsClose: false, statusFormat: 'text' }),
  protocol({ name: 'base64.channel.k8s.io', version: 1, framing: 'base64', supportsClose: false, statusFormat: 'text' }),
  protocol({ name: '', version: 1, framing: 'binary', supportsClose: false, statusFormat: 'text' }),
]);

/**
 * Port-forward's WebSocket channel protocols. The kubelet (portforward/websocket.go) serves `""`,
 * `v4.channel.k8s.io` (binary) and `v4.base64.channel.k8s.io`; `portforward.k8s.io` is the SPDY
 * protocol name, accepted here as a binary alias (a gateway extension, no Kubernetes server offers it
 * over WebSocket). Channels 2i/2i+1 carry data/errors of the i-th port; no Status and no CLOSE.
 */
export const PORT_FORWARD_CHANNEL_PROTOCOLS: readonly ChannelProtocol[] = Object.freeze([
  protocol({ name: 'v4.channel.k8s.io', version: 4, framing: 'binary', supportsClose: false, statusFormat: 'text' }),
  protocol({ name: 'v4.base64.channel.k8s.io', version: 4, framing: 'base64', supportsClose: false, statusFormat: 'text' }),
  protocol({ name: 'portforward.k8s.io', version: 1, framing: 'binary', supportsClose: false, statusFormat: 'text' }),
  protocol({ name: '', version: 1, framing: 'binary', supportsClose: false, statusFormat: 'text' }),
]);

/** A remote-command version the gateway offers upstream over SPDY, and what it can do there. */
export interface UpstreamRemoteCommandProtocol {
  /** The `X-Stream-Protocol-Version` token. */
  readonly name: string;
  /** Whether the version has a resize stream (v3, v4; v1/v2 have none). */
  readonly resize: boolean;
  /** json: the error stream carries a metav1.Status (v4); text: status.Error() (v1–v3). */
  readonly statusFormat: 'json' | 'text';
}

/** What the gateway offers upstream for exec/attach, in preference order: the API server translator's list (PROTOCOLS.md §1). */
export const REMOTE_COMMAND_UPSTREAM_PROTOCOLS: readonly UpstreamRemoteCommandProtocol[] = Object.freeze([
  // Offered first, as the API server's translator does (captures websocket-apiserver-exec-v5-*-upstream):
  // kubelets choose v4 (no kubelet serves v5 over SPDY); one that did would mean v4's semantics, since
  // the CLOSE signal is WebSocket-only and SPDY half-closes stdin itself.
  Object.freeze({ name: 'v5.channel.k8s.io', resize: true, statusFormat: 'json' as const }),
  Object.freeze({ name: 'v4.channel.k8s.io', resize: true, statusFormat: 'json' as const }),
  Object.freeze({ name: 'v3.channel.k8s.io', resize: true, statusFormat: 'text' as const }),
  Object.freeze({ name: 'v2.channel.k8s.io', resize: false, statusFormat: 'text' as const }),
  Object.freeze({ name: 'channel.k8s.io', resize: false, statusFormat: 'text' as const }),
]);

/** The upstream version the upstream chose, by its token (undefined: not one the gateway offered). */
export function upstreamRemoteCommandProtocol(name: string): UpstreamRemoteCommandProtocol | undefined {
  return REMOTE_COMMAND_UPSTREAM_PROTOCOLS.find((candidate) => candidate.name === name);
}

/** The upstream speaks SPDY port-forward whatever the client's channel protocol. */
export const PORT_FORWARD_UPSTREAM_PROTOCOL = 'portforward.k8s.io';

/** The prefix kubectl puts before a SPDY protocol to tunnel it in WebSocket (apimachinery util/portforward). */
export const SPDY_TUNNELING_PREFIX = 'SPDY/3.1+';

/** The 1.31 API server's tunneling subprotocol for port-forward (streamtunnel.go). */
export const PORT_FORWARD_TUNNELING_PROTOCOL = SPDY_TUNNELING_PREFIX + PORT_FORWARD_UPSTREAM_PROTOCOL;
/** Tunneled protocols must end with this (streamtunnel.go spdyProtocolsFromWebsocketProtocols). */
const KUBERNETES_PROTOCOL_SUFFIX = '.k8s.io';

/**
 * The SPDY protocols a tunneling client asks for, in its order, as the API server derives them
 * (streamtunnel.go): tokens starting with `SPDY/3.1+` and ending with `.k8s.io`, prefix removed.
 * `["SPDY/3.1+portforward.k8s.io"]` → `["portforward.k8s.io"]`. Empty → the API server answers 400.
 */
export function tunneledSpdyProtocols(offered: readonly string[]): string[] {
  return offered
    .filter((token) => token.startsWith(SPDY_TUNNELING_PREFIX) && token.endsWith(KUBERNETES_PROTOCOL_SUFFIX))
    .map((token) => token.slice(SPDY_TUNNELING_PREFIX.length));
}

/**
 * Sec-WebSocket-Protocol tokens in the client's order, from one comma-separated header or several
 * (Node joins repeated headers with ", "; an array is accepted too). Tokens are trimmed of spaces and
 * tabs; empty tokens are dropped (golang.org/x/net/websocket would keep them as "", which could only
 * select the "" protocol, the same result as sending no header).
 */
export function parseSubprotocolHeader(header: string | readonly string[] | undefined): string[] {
  return listElements(header);
}

/**
 * The protocol to answer with: the first of the CLIENT's tokens that is supported (wsstream/conn.go
 * handshake walks the client's list, then the server's); no tokens at all means the protocol "".
 * Tokens that are not channel protocols (the browser bearer-token subprotocol
 * `base64url.bearer.authorization.k8s.io.<token>`, tunneling tokens, garbage) never match. Undefined:
 * refuse the handshake (Kubernetes answers 403 Forbidden).
 */
export function negotiateSubprotocol<P extends { readonly name: string }>(offered: readonly string[], supported: readonly P[]): P | undefined {
  if (offered.length === 0) return supported.find((candidate) => candidate.name === '');
  for (const token of offered) {
    if (token === '') continue;
    const match = supported.find((candidate) => candidate.name === token);
    if (match) return match;
  }
  return undefined;
}
