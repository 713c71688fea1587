import type { IncomingMessage } from 'node:http';

/** What a 1.28 kubelet serves over SPDY, in its preference order (remotecommand/constants.go). */
export const REMOTE_COMMAND_SPDY_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

export type HandshakeOutcome =
  | { ok: true; protocol: string }
  | { ok: false; status: number; headers: string[]; body: string };

/**
 * apimachinery httpstream.Handshake + spdy/upgrade.go: upgrade headers checked first (400), the
 * version taken as the first of the CLIENT's that the server supports; none → 403 listing ours.
 * Versions may come as repeated headers (kubectl ≤ 1.29) or one comma-separated header (1.30+);
 * Node joins repeats with ", ", so both read the same.
 */
export function negotiateSpdyUpgrade(req: IncomingMessage, serverProtocols: readonly string[]): HandshakeOutcome {
  const connection = String(req.headers.connection ?? '').toLowerCase();
  const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
  if (!connection.includes('upgrade') || !upgrade.includes('spdy/3.1')) {
    return { ok: false, status: 400, headers: [], body: 'unable to upgrade: missing upgrade headers in request: ' + JSON.stringify(req.headers) + '\n' };
  }
  const offered = String(req.headers['x-stream-protocol-version'] ?? '')
    .split(',')
    .map((token) => token.trim())
    .filter(Boolean);
  if (offered.length === 0) {
    return { ok: false, status: 400, headers: [], body: 'unable to upgrade: X-Stream-Protocol-Version is required\n' };
  }
  const protocol = offered.find((candidate) => serverProtocols.includes(candidate));
  if (!protocol) {
    return {
      ok: false,
      status: 403,
      headers: serverProtocols.map((p) => `X-Accepted-Stream-Protocol-Versions: ${p}`),
      body: `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server accepts [${serverProtocols.join(' ')}]\n`,
    };
  }
  return { ok: true, protocol };
}
