import type { ConnectionOptions, TLSSocket } from 'node:tls';
import type { TlsPolicy } from '../net/tls-policy.js';

/** Where and how the gateway reaches the legacy API server or kubelet. */
export interface UpstreamTarget {
  /** Base URL, `https://host:port` or `http://host:port`, optionally with a path prefix. */
  url: URL;
  /** PEM CA bundle that verifies the upstream's certificate; the system roots when absent. */
  ca?: string | Buffer;
  insecureSkipTlsVerify: boolean;
  /** TLS server name to verify, when it differs from the URL's host. */
  serverName?: string;
  /**
   * The upstream credential from a kubeconfig. In passthrough mode the caller's own
   * `Authorization` is forwarded and these are not used for caller traffic (see docs/auth.md);
   * they are kept for the edge mode.
   */
  credentials?: UpstreamCredentials;
  /** What it speaks for exec, attach and port-forward (`upstreams[].streaming`); `auto` when absent (server/streaming-modes.ts). */
  streaming?: 'spdy' | 'websocket' | 'auto';
  /** TLS versions and suites toward this upstream; forward-secret AEAD only (DEFAULT_TLS_POLICY) when absent. */
  tlsPolicy?: TlsPolicy;
  /**
   * TLS work shared between dials to this upstream (SecureContext, session resumption; see
   * tls-reuse.ts). Absent: every dial builds its own context and makes a full handshake.
   */
  tlsReuse?: TlsDialReuse;
}

/** What a dial asks of the shared TLS work (implemented by tls-reuse.ts's UpstreamTlsReuse). */
export interface TlsDialReuse {
  /** The SecureContext and session for a dial to `target`; `track` is called with its socket. */
  dialOptions(target: UpstreamTarget): { options: ConnectionOptions; track(socket: TLSSocket): void };
}

export interface UpstreamCredentials {
  bearerToken?: string;
  clientCert?: string | Buffer;
  clientKey?: string | Buffer;
}
