/**
 * Address ranges in CIDR notation (`10.0.0.0/8`, `fd00::/8`, a bare address for one host), and
 * the normal form of an address: an IPv4-mapped IPv6 address (`::ffff:10.1.2.3`, what a dual-stack
 * socket reports for an IPv4 peer) is its IPv4 address, so that one client is one key everywhere.
 */
import { BlockList, isIP } from 'node:net';

/** Why `value` is not a CIDR range, or undefined when it is one. */
export function cidrProblem(value: string): string | undefined {
  const [address, prefix, extra] = value.split('/');
  const version = isIP(address ?? '');
  if (extra !== undefined || version === 0) return `must be an IPv4 or IPv6 address or CIDR range (10.0.0.0/8, fd00::/8), got ${JSON.stringify(value)}`;
  if (prefix === undefined) return undefined;
  const max = version === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return `prefix length must be 0-${max}, got ${JSON.stringify(value)}`;
  return undefined;
}

/** `::ffff:a.b.c.d` → `a.b.c.d`; other addresses unchanged (IPv6 lower-cased). */
export function normalAddress(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped && isIP(mapped[1]!) === 4) return mapped[1]!;
  return address.toLowerCase();
}

/** A set of CIDR ranges; `contains` answers for IPv4, IPv6 and IPv4-mapped IPv6 addresses. */
export class CidrSet {
  private readonly list = new BlockList();
  readonly size: number;

  /** Throws on a range that `cidrProblem` refuses (the schema has checked them already). */
  constructor(ranges: readonly string[]) {
    for (const range of ranges) {
      const problem = cidrProblem(range);
      if (problem) throw new Error(`${range}: ${problem}`);
      const [address, prefix] = range.split('/') as [string, string | undefined];
      const normal = normalAddress(address);
      const type = isIP(normal) === 4 ? 'ipv4' : 'ipv6';
      const bits = prefix === undefined ? (type === 'ipv4' ? 32 : 128) : Number(prefix);
      this.list.addSubnet(normal, type === 'ipv4' && normal !== address ? Math.max(0, bits - 96) : bits, type);
    }
    this.size = ranges.length;
  }

  contains(address: string): boolean {
    const normal = normalAddress(address);
    const version = isIP(normal);
    if (version === 0) return false;
    return this.list.check(normal, version === 4 ? 'ipv4' : 'ipv6');
  }
}
