import type { IncomingMessage } from 'node:http';
import { rawHeaderValues } from '../codecs/http/header-lists.js';

/** What a 1.28 kubelet serves over SPDY, in its preference order (apimachinery remotecommand/constants.go). */
export const REMOTE_COMMAND_SPDY_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

export type HandshakeOutcome =
  | { ok: true; protocol: string }
  /** `headers` are `Name: value` lines without Content-Type; a non-empty body is `text/plain; charset=utf-8`. */
  | { ok: false; status: number; headers: string[]; body: string };

/**
 * The kubelet's SPDY handshake, in its order (kubelet remotecommand/httpstream.go
 * createHTTPStreamStreams): first apimachinery `httpstream.Handshake`, then `spdy.UpgradeResponse`.
 *
 * - No `X-Stream-Protocol-Version` at all: Handshake returns an error **without writing anything**,
 *   the handler returns, and Go's server completes the exchange as an empty `200 OK`.
 * - Versions are read from every header line, each split at commas (kubectl ≤ 1.29 repeats the
 *   header, 1.30+ sends one comma-separated line); the first of the CLIENT's that the server supports
 *   wins. None in common: `403` with one `X-Accepted-Stream-Protocol-Versions` per server version and
 *   http.Error's text body.
 * - Then `Connection` must contain "upgrade" and `Upgrade` "spdy/3.1" (first values, any case);
 *   otherwise `400` "missing upgrade headers" dumping the request headers (Go's %#v of http.Header;
 *   the API server has already dropped `Authorization`). The chosen version header was set before,
 *   so it is part of that answer.
 */
export function negotiateSpdyUpgrade(req: IncomingMessage, serverProtocols: readonly string[]): HandshakeOutcome {
  const offered = headerValues(req, 'x-stream-protocol-version')
    .flatMap((line) => line.split(','))
    .map((token) => token.trim())
    .filter(Boolean);
  if (offered.length === 0) return { ok: false, status: 200, headers: [], body: '' };
  const protocol = offered.find((candidate) => serverProtocols.includes(candidate));
  if (!protocol) {
    return {
      ok: false,
      status: 403,
      headers: [...serverProtocols.map((p) => `X-Accepted-Stream-Protocol-Versions: ${p}`), 'X-Content-Type-Options: nosniff'],
      body: `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server accepts [${serverProtocols.join(' ')}]\n`,
    };
  }
  const connection = (headerValues(req, 'connection')[0] ?? '').toLowerCase();
  const upgrade = (headerValues(req, 'upgrade')[0] ?? '').toLowerCase();
  if (!connection.includes('upgrade') || !upgrade.includes('spdy/3.1')) {
    return {
      ok: false,
      status: 400,
      headers: ['X-Content-Type-Options: nosniff', `X-Stream-Protocol-Version: ${protocol}`],
      body: `unable to upgrade: missing upgrade headers in request: ${goHeaderDump(req)}\n`,
    };
  }
  return { ok: true, protocol };
}

/** The 101 head spdy.UpgradeResponse writes (header order as in the captures). */
export function switchingProtocolsHead(protocol: string): string {
  return (
    'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
    `X-Stream-Protocol-Version: ${protocol}\r\nDate: ${new Date().toUTCString()}\r\n\r\n`
  );
}

/** Every value of a header, one per line as sent (Node would join repeats into one string). */
export function headerValues(req: IncomingMessage, name: string): string[] {
  return rawHeaderValues(req.rawHeaders, name);
}

/**
 * `fmt.Sprintf("%#v", req.Header)`: canonical names in sorted order, values as Go string literals.
 * Go's server keeps Host out of the map; the API server's authentication filter removes
 * Authorization before proxying, so the token never appears here.
 */
function goHeaderDump(req: IncomingMessage): string {
  const header = new Map<string, string[]>();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = canonicalHeaderKey(req.rawHeaders[i]!);
    if (name === 'Host' || name === 'Authorization') continue;
    header.set(name, [...(header.get(name) ?? []), req.rawHeaders[i + 1]!]);
  }
  const entries = [...header.keys()].sort().map((name) => `${JSON.stringify(name)}:[]string{${header.get(name)!.map((v) => JSON.stringify(v)).join(', ')}}`);
  return `http.Header{${entries.join(', ')}}`;
}

/** Go's textproto.CanonicalMIMEHeaderKey for ordinary names: upper-case the first letter and each after '-'. */
function canonicalHeaderKey(name: string): string {
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_match, dash: string, letter: string) => dash + letter.toUpperCase());
}
