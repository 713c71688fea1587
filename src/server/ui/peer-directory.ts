import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

/** Where the other replicas are: every address of a DNS name (a headless Service), or a fixed list. */
export type PeerSource = { kind: 'dns'; host: string; port?: number } | { kind: 'list'; addresses: Array<{ host: string; port: number }> };

/** One replica to ask: where to dial, and the name its TLS certificate must carry (the host as configured). */
export interface PeerAddress {
  host: string;
  port: number;
  /** `host:port` as reported in answers and logs. */
  address: string;
  serverName: string;
}

/** A peer that could not even be found (DNS), or was left out (too many), reported as an unreachable one. */
export interface PeerProblem {
  address: string;
  reason: 'dns' | 'not-asked';
  error: string;
}

/** Addresses asked at most per request (the rest are reported, not asked): bounds the fan-out. */
const MAX_PEERS = 32;
/** A resolver that does not answer must not hold the Sessions page longer than a peer may. */
const LOOKUP_TIMEOUT_MS = 2_000;

type Lookup = (host: string) => Promise<Array<{ address: string }>>;

/**
 * The replicas to ask right now. A DNS name is resolved on every call (A and AAAA records: a
 * headless Service answers with every ready pod), so replicas that come and go are followed without
 * a datastore; this replica's own address (a local interface address on its own port) is skipped.
 */
export class PeerDirectory {
  constructor(
    private readonly source: PeerSource,
    /** This replica's listener port: the default port of a DNS name, and half of recognising itself. */
    private readonly ownPort: () => number,
    private readonly lookup: Lookup = (host) => dnsLookup(host, { all: true }),
    private readonly localAddresses: () => Set<string> = interfaceAddresses,
  ) {}

  async resolve(): Promise<{ peers: PeerAddress[]; problems: PeerProblem[] }> {
    const problems: PeerProblem[] = [];
    let candidates: PeerAddress[];
    if (this.source.kind === 'list') {
      candidates = this.source.addresses.map(({ host, port }) => peerAddress(host, port, host));
    } else {
      const { host } = this.source;
      const port = this.source.port ?? this.ownPort();
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(Object.assign(new Error('timeout'), { code: 'timeout' })), LOOKUP_TIMEOUT_MS)));
      try {
        const records = await Promise.race([this.lookup(host), late]);
        candidates = records.map((record) => peerAddress(record.address, port, host));
      } catch (error) {
        return { peers: [], problems: [{ address: `${host}:${port}`, reason: 'dns', error: `dns: ${(error as NodeJS.ErrnoException).code ?? 'lookup failed'}` }] };
      } finally {
        clearTimeout(timer);
      }
    }
    const local = this.localAddresses();
    const seen = new Set<string>();
    const peers = candidates.filter((peer) => {
      if (seen.has(peer.address)) return false;
      seen.add(peer.address);
      return !(peer.port === this.ownPort() && local.has(peer.host));
    });
    if (peers.length > MAX_PEERS) problems.push({ address: `${peers.length - MAX_PEERS} more`, reason: 'not-asked', error: `not asked: at most ${MAX_PEERS} peers are asked` });
    return { peers: peers.slice(0, MAX_PEERS), problems };
  }
}

function peerAddress(host: string, port: number, configuredHost: string): PeerAddress {
  return { host, port, address: isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`, serverName: configuredHost };
}

function interfaceAddresses(): Set<string> {
  const addresses = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const entry of list ?? []) addresses.add(entry.address);
  return addresses;
}
