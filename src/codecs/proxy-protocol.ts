/**
 * PROXY protocol v1 (text) and v2 (binary) headers, as HAProxy, AWS NLB and other TCP load
 * balancers put them in front of a connection to say who the client is
 * (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt). I/O-free: bytes in, a result out.
 *
 *   parseProxyHeader(bytes) → incomplete (read more) | invalid (close) | header (its length, the
 *   client's address when the header names one)
 *
 * A v2 LOCAL command (the balancer's own health check), a v1 UNKNOWN and a v2 address family other
 * than TCP/UDP over IPv4/IPv6 name no client: the connection's own peer stands.
 */
import { isIP } from 'node:net';

export type ProxyHeaderResult =
  | { kind: 'incomplete' }
  | { kind: 'invalid'; reason: string }
  | { kind: 'header'; length: number; source?: { address: string; port: number } };

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/**
 * The spec's bound: "PROXY UNKNOWN" + two IPv6 addresses and ports + CRLF fits in 107 bytes.
 * @internal Exported for its unit tests (byte vectors, seams); the product does not import it.
 */
export const V1_MAX_LENGTH = 107;
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_FIXED_LENGTH = 16;
/**
 * Addresses (at most 216 bytes for UNIX) plus the TLVs balancers add (AWS: a VPC endpoint id); more is not a real header.
 * @internal Exported for its unit tests (byte vectors, seams); the product does not import it.
 */
export const V2_MAX_BODY = 1024;
/** Most bytes a caller ever needs to buffer before the result is known. */
export const PROXY_HEADER_MAX_LENGTH = V2_FIXED_LENGTH + V2_MAX_BODY;

const PORT = /^(0|[1-9][0-9]{0,4})$/;

export function parseProxyHeader(bytes: Buffer): ProxyHeaderResult {
  if (bytes.length === 0) return { kind: 'incomplete' };
  if (bytes[0] === V2_SIGNATURE[0]) return parseV2(bytes);
  if (bytes[0] === V1_PREFIX[0]) return parseV1(bytes);
  return { kind: 'invalid', reason: 'no PROXY protocol header' };
}

function startsLike(bytes: Buffer, prefix: Buffer): boolean {
  const n = Math.min(bytes.length, prefix.length);
  return bytes.subarray(0, n).equals(prefix.subarray(0, n));
}

function parseV1(bytes: Buffer): ProxyHeaderResult {
  if (!startsLike(bytes, V1_PREFIX)) return { kind: 'invalid', reason: 'no PROXY protocol header' };
  const end = bytes.subarray(0, V1_MAX_LENGTH).indexOf('\r\n', 0, 'latin1');
  if (end < 0) return bytes.length >= V1_MAX_LENGTH ? { kind: 'invalid', reason: `PROXY v1 header longer than ${V1_MAX_LENGTH} bytes` } : { kind: 'incomplete' };
  const line = bytes.subarray(0, end).toString('latin1');
  const length = end + 2;
  const fields = line.split(' ');
  if (fields[1] === 'UNKNOWN') return { kind: 'header', length };
  if (fields.length !== 6) return { kind: 'invalid', reason: 'PROXY v1 header is not "PROXY TCP4|TCP6 src dst sport dport"' };
  const [, family, source, destination, sourcePort, destinationPort] = fields as [string, string, string, string, string, string];
  const version = family === 'TCP4' ? 4 : family === 'TCP6' ? 6 : 0;
  if (version === 0) return { kind: 'invalid', reason: 'PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN' };
  if (isIP(source) !== version || isIP(destination) !== version) return { kind: 'invalid', reason: `PROXY v1 addresses are not ${family} addresses` };
  if (![sourcePort, destinationPort].every((port) => PORT.test(port) && Number(port) <= 65535)) return { kind: 'invalid', reason: 'PROXY v1 ports are not 0-65535' };
  return { kind: 'header', length, source: { address: source, port: Number(sourcePort) } };
}

function parseV2(bytes: Buffer): ProxyHeaderResult {
  if (!startsLike(bytes, V2_SIGNATURE)) return { kind: 'invalid', reason: 'no PROXY protocol header' };
  if (bytes.length < V2_FIXED_LENGTH) return { kind: 'incomplete' };
  const versionCommand = bytes[12]!;
  if (versionCommand >> 4 !== 2) return { kind: 'invalid', reason: `PROXY v2 header with version ${versionCommand >> 4}` };
  const command = versionCommand & 0x0f;
  if (command > 1) return { kind: 'invalid', reason: `PROXY v2 header with unknown command ${command}` };
  const bodyLength = bytes.readUInt16BE(14);
  if (bodyLength > V2_MAX_BODY) return { kind: 'invalid', reason: `PROXY v2 header of ${bodyLength} bytes is over ${V2_MAX_BODY}` };
  const length = V2_FIXED_LENGTH + bodyLength;
  if (bytes.length < length) return { kind: 'incomplete' };
  // LOCAL: the balancer speaking for itself (health checks); the address block is to be ignored.
  if (command === 0) return { kind: 'header', length };
  const family = bytes[13]! >> 4;
  const transport = bytes[13]! & 0x0f;
  if (transport !== 1 && transport !== 2) return { kind: 'header', length };
  const body = bytes.subarray(V2_FIXED_LENGTH, length);
  if (family === 1) {
    if (bodyLength < 12) return { kind: 'invalid', reason: 'PROXY v2 IPv4 address block is short' };
    return { kind: 'header', length, source: { address: [...body.subarray(0, 4)].join('.'), port: body.readUInt16BE(8) } };
  }
  if (family === 2) {
    if (bodyLength < 36) return { kind: 'invalid', reason: 'PROXY v2 IPv6 address block is short' };
    return { kind: 'header', length, source: { address: ipv6Text(body.subarray(0, 16)), port: body.readUInt16BE(32) } };
  }
  return { kind: 'header', length };
}

/**
 * RFC 5952 text: lowercase hex, the longest run (2+) of zero groups as `::`; IPv4-mapped as `::ffff:a.b.c.d`.
 * @internal Exported for its unit tests (byte vectors, seams); the product does not import it.
 */
export function ipv6Text(bytes: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i));
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) return `::ffff:${[...bytes.subarray(12, 16)].join('.')}`;
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}
