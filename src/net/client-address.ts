/**
 * Who the client is when load balancers stand in between. The socket's peer is the client unless
 *   - PROXY protocol named another address for the connection (connection-guard.ts records it), or
 *   - the peer is one of `network.trustedProxies`: then X-Forwarded-For (every instance, comma
 *     lists) is walked from the right, trusted hops skipped, and the first untrusted address is
 *     the client (all trusted: the leftmost). Entries left of it were written by the client and
 *     are not believed. From an untrusted peer X-Forwarded-For is ignored entirely.
 * The result feeds limits, logs, audit and metrics, and what the upstream is told (X-Forwarded-For
 * with only the believed hops; in edge mode also an Impersonate-Extra- key).
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { CidrSet, normalAddress } from './cidr.js';

export interface ClientAddress {
  /** The client's address as the gateway believes it. */
  address: string;
  /** Believed hops, client first, the gateway's own peer last (the X-Forwarded-For sent upstream). */
  chain: string[];
  /** `https`/`http` as the trusted proxy in front says the client connected (X-Forwarded-Proto), if it does. */
  forwardedProto?: 'http' | 'https';
}

/** Client addresses PROXY protocol gave raw sockets; a TLS socket is looked up through its raw one. */
const proxiedPeers = new WeakMap<object, string>();

export function rememberProxiedPeer(rawSocket: object, address: string): void {
  proxiedPeers.set(rawSocket, normalAddress(address));
}

/** The connection's client: PROXY protocol's when it named one, else the socket's peer (normalised). */
export function peerAddress(socket: { remoteAddress?: string }): string {
  const parent = (socket as { _parent?: object })._parent;
  const proxied = proxiedPeers.get(socket) ?? (parent ? proxiedPeers.get(parent) : undefined);
  if (proxied !== undefined) return proxied;
  const remote = socket.remoteAddress ?? (parent as { remoteAddress?: string } | undefined)?.remoteAddress;
  return remote === undefined ? 'unknown' : normalAddress(remote);
}

export class ClientAddressResolver {
  private readonly trusted: CidrSet;

  constructor(trustedProxies: readonly string[] = []) {
    this.trusted = new CidrSet(trustedProxies);
  }

  /** Whether `address` is a trusted proxy (its X-Forwarded-* headers are believed). */
  isTrusted(address: string): boolean {
    return this.trusted.contains(address);
  }

  resolve(req: Pick<IncomingMessage, 'rawHeaders' | 'socket'>): ClientAddress {
    const peer = peerAddress(req.socket);
    if (this.trusted.size === 0 || !this.trusted.contains(peer)) return { address: peer, chain: [peer] };
    const chain = [peer];
    const hops = headerList(req.rawHeaders, 'x-forwarded-for');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hopAddress(hops[i]!);
      // Unparseable: nothing left of it can be believed; the last trusted hop is the best answer.
      if (hop === undefined) break;
      chain.unshift(hop);
      if (!this.trusted.contains(hop)) break;
    }
    const proto = headerList(req.rawHeaders, 'x-forwarded-proto').at(-1)?.toLowerCase();
    const result: ClientAddress = { address: chain[0]!, chain };
    if (proto === 'http' || proto === 'https') result.forwardedProto = proto;
    return result;
  }
}

/** Every instance of a header, comma lists split, entries trimmed, empty ones dropped. */
function headerList(rawHeaders: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() !== name) continue;
    for (const part of rawHeaders[i + 1]!.split(',')) {
      const trimmed = part.trim();
      if (trimmed) values.push(trimmed);
    }
  }
  return values;
}

/** `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:5678` → the address; anything else undefined. */
function hopAddress(hop: string): string | undefined {
  const text = hop.replace(/^"|"$/g, '');
  if (isIP(text)) return normalAddress(text);
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(text);
  if (bracketed && isIP(bracketed[1]!) === 6) return normalAddress(bracketed[1]!);
  const withPort = /^([\d.]+):\d{1,5}$/.exec(text);
  if (withPort && isIP(withPort[1]!) === 4) return withPort[1]!;
  return undefined;
}

/** X-Forwarded-For toward the upstream: the believed hops only (a client's own entries are dropped). */
export function withForwardedFor(headers: OutgoingHttpHeaders, client: ClientAddress): OutgoingHttpHeaders {
  for (const name of Object.keys(headers)) if (name.toLowerCase() === 'x-forwarded-for') delete headers[name];
  headers['x-forwarded-for'] = client.chain.join(', ');
  return headers;
}
