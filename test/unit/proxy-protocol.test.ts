// PROXY protocol v1/v2 headers as byte vectors: every form a balancer sends, and what an attacker
// or a broken peer could send instead (truncated, oversized, wrong version, forged addresses).
import t from 'tap';
import fc from 'fast-check';
import { parseProxyHeader, ipv6Text, PROXY_HEADER_MAX_LENGTH, V1_MAX_LENGTH, V2_MAX_BODY } from '../../src/codecs/proxy-protocol.js';

const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A v2 header: version/command byte, family/transport byte, address block (and any TLVs). */
function v2(versionCommand: number, familyTransport: number, body: Buffer, length = body.length): Buffer {
  const fixed = Buffer.alloc(4);
  fixed[0] = versionCommand;
  fixed[1] = familyTransport;
  fixed.writeUInt16BE(length, 2);
  return Buffer.concat([SIGNATURE, fixed, body]);
}

function ipv4Block(source: number[], destination: number[], sourcePort: number, destinationPort: number): Buffer {
  const block = Buffer.alloc(12);
  Buffer.from(source).copy(block, 0);
  Buffer.from(destination).copy(block, 4);
  block.writeUInt16BE(sourcePort, 8);
  block.writeUInt16BE(destinationPort, 10);
  return block;
}

function ipv6Block(source: string, destination: string, sourcePort: number, destinationPort: number): Buffer {
  const block = Buffer.alloc(36);
  Buffer.from(source, 'hex').copy(block, 0);
  Buffer.from(destination, 'hex').copy(block, 16);
  block.writeUInt16BE(sourcePort, 32);
  block.writeUInt16BE(destinationPort, 34);
  return block;
}

t.test('v1: TCP4, TCP6 and UNKNOWN; the bytes after the header are not part of it', async (t) => {
  const tcp4 = Buffer.from('PROXY TCP4 192.0.2.10 10.0.0.1 56324 443\r\nGET / HTTP/1.1\r\n');
  t.same(parseProxyHeader(tcp4), { kind: 'header', length: 42, source: { address: '192.0.2.10', port: 56324 } });
  const tcp6 = Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 65535 443\r\n\x16\x03\x01');
  t.same(parseProxyHeader(tcp6), { kind: 'header', length: tcp6.length - 3, source: { address: '2001:db8::1', port: 65535 } });
  t.same(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), { kind: 'header', length: 15 }, 'UNKNOWN: no client named');
  // The spec's worst case, UNKNOWN with two full IPv6 addresses, is exactly the 107-byte bound.
  const longest = Buffer.from(`PROXY UNKNOWN ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`);
  t.equal(longest.length, V1_MAX_LENGTH);
  t.same(parseProxyHeader(longest), { kind: 'header', length: V1_MAX_LENGTH });
  const tcp6Longest = Buffer.from(`PROXY TCP6 ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`);
  t.same(parseProxyHeader(tcp6Longest), { kind: 'header', length: tcp6Longest.length, source: { address: `${'ffff:'.repeat(7)}ffff`, port: 65535 } });
});

t.test('v1: truncated is incomplete until the 107-byte bound, then invalid', async (t) => {
  const line = Buffer.from('PROXY TCP4 192.0.2.10 10.0.0.1 56324 443\r\n');
  for (let n = 1; n < line.length; n++) t.same(parseProxyHeader(line.subarray(0, n)), { kind: 'incomplete' }, `${n} bytes`);
  const endless = Buffer.from(`PROXY TCP4 ${'1'.repeat(200)}`);
  t.same(parseProxyHeader(endless.subarray(0, V1_MAX_LENGTH - 1)), { kind: 'incomplete' });
  t.match(parseProxyHeader(endless.subarray(0, V1_MAX_LENGTH)), { kind: 'invalid', reason: /longer than 107 bytes/ });
  t.match(parseProxyHeader(endless), { kind: 'invalid' }, 'a CRLF past the bound does not count');
});

t.test('v1: malformed lines are invalid, never a forged address', async (t) => {
  for (const line of [
    'PROXY TCP4 999.0.2.10 10.0.0.1 56324 443',
    'PROXY TCP4 2001:db8::1 10.0.0.1 56324 443',
    'PROXY TCP6 192.0.2.10 2001:db8::2 56324 443',
    'PROXY TCP4 192.0.2.10 10.0.0.1 65536 443',
    'PROXY TCP4 192.0.2.10 10.0.0.1 0443 443',
    'PROXY TCP4 192.0.2.10 10.0.0.1 -1 443',
    'PROXY TCP4 192.0.2.10 10.0.0.1 56324',
    'PROXY TCP4 192.0.2.10 10.0.0.1 56324 443 extra',
    'PROXY  TCP4 192.0.2.10 10.0.0.1 56324 443',
    'PROXY UDP4 192.0.2.10 10.0.0.1 56324 443',
    'PROXY tcp4 192.0.2.10 10.0.0.1 56324 443',
    'PROXY TCP4 192.0.2.10\t10.0.0.1 56324 443',
  ]) {
    t.equal(parseProxyHeader(Buffer.from(`${line}\r\n`)).kind, 'invalid', JSON.stringify(line));
  }
  for (const start of ['GET / HTTP/1.1\r\n', 'proxy TCP4', 'PROXZ', '\x16\x03\x01\x02\x00', 'P\r\n']) {
    t.same(parseProxyHeader(Buffer.from(start)), { kind: 'invalid', reason: 'no PROXY protocol header' }, JSON.stringify(start));
  }
});

t.test('v2: PROXY over TCP4 and TCP6, with TLVs after the addresses', async (t) => {
  const tcp4 = v2(0x21, 0x11, ipv4Block([203, 0, 113, 7], [10, 0, 0, 1], 51234, 443));
  t.same(parseProxyHeader(Buffer.concat([tcp4, Buffer.from('\x16\x03\x01')])), { kind: 'header', length: 28, source: { address: '203.0.113.7', port: 51234 } });
  const tcp6 = v2(0x21, 0x21, ipv6Block('20010db8000000000000000000000042', '20010db8000000000000000000000001', 50000, 443));
  t.same(parseProxyHeader(tcp6), { kind: 'header', length: 52, source: { address: '2001:db8::42', port: 50000 } });
  // AWS NLB appends TLVs (type 0xEA: the VPC endpoint id); they are skipped.
  const tlv = Buffer.concat([Buffer.from([0xea, 0x00, 0x09, 0x01]), Buffer.from('vpce-1234')]);
  const withTlv = v2(0x21, 0x11, Buffer.concat([ipv4Block([198, 51, 100, 2], [10, 0, 0, 1], 1, 2), tlv]));
  t.same(parseProxyHeader(withTlv), { kind: 'header', length: 16 + 12 + tlv.length, source: { address: '198.51.100.2', port: 1 } });
  t.same(parseProxyHeader(v2(0x21, 0x12, ipv4Block([198, 51, 100, 3], [10, 0, 0, 1], 1, 2))).kind, 'header', 'UDP4 parses too');
});

t.test('v2: LOCAL, UNSPEC and UNIX name no client', async (t) => {
  t.same(parseProxyHeader(v2(0x20, 0x00, Buffer.alloc(0))), { kind: 'header', length: 16 }, 'LOCAL (health check)');
  t.same(parseProxyHeader(v2(0x20, 0x11, ipv4Block([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))), { kind: 'header', length: 28 }, 'LOCAL ignores an address block');
  t.same(parseProxyHeader(v2(0x21, 0x00, Buffer.alloc(0))), { kind: 'header', length: 16 }, 'PROXY with UNSPEC');
  t.same(parseProxyHeader(v2(0x21, 0x31, Buffer.alloc(216))), { kind: 'header', length: 232 }, 'UNIX socket addresses');
});

t.test('v2: truncated is incomplete; wrong version, command, short blocks and oversized headers are invalid', async (t) => {
  const tcp4 = v2(0x21, 0x11, ipv4Block([203, 0, 113, 7], [10, 0, 0, 1], 51234, 443));
  for (let n = 1; n < tcp4.length; n++) t.same(parseProxyHeader(tcp4.subarray(0, n)), { kind: 'incomplete' }, `${n} bytes`);
  t.match(parseProxyHeader(v2(0x11, 0x11, ipv4Block([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))), { kind: 'invalid', reason: /version 1/ });
  t.match(parseProxyHeader(v2(0x22, 0x11, ipv4Block([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))), { kind: 'invalid', reason: /command 2/ });
  t.match(parseProxyHeader(v2(0x21, 0x11, Buffer.alloc(8))), { kind: 'invalid', reason: /IPv4 address block is short/ });
  t.match(parseProxyHeader(v2(0x21, 0x21, Buffer.alloc(20))), { kind: 'invalid', reason: /IPv6 address block is short/ });
  // The length field is read before the body arrives: a huge one is refused at once, not buffered.
  t.match(parseProxyHeader(v2(0x21, 0x11, Buffer.alloc(0), V2_MAX_BODY + 1)), { kind: 'invalid', reason: /over 1024/ });
  t.match(parseProxyHeader(v2(0x21, 0x11, Buffer.alloc(0), 0xffff)), { kind: 'invalid' });
  t.same(parseProxyHeader(v2(0x21, 0x11, Buffer.alloc(0), V2_MAX_BODY)), { kind: 'incomplete' }, 'the largest allowed still waits for its body');
  const corrupt = Buffer.from(SIGNATURE);
  corrupt[7] = 0x52;
  t.same(parseProxyHeader(corrupt), { kind: 'invalid', reason: 'no PROXY protocol header' }, 'a broken signature');
});

t.test('IPv6 text is RFC 5952', async (t) => {
  const text = (hex: string) => ipv6Text(Buffer.from(hex, 'hex'));
  t.equal(text('00000000000000000000000000000001'), '::1');
  t.equal(text('00000000000000000000000000000000'), '::');
  t.equal(text('20010db8000000010000000000000001'), '2001:db8:0:1::1');
  t.equal(text('20010db8000000000001000000000001'), '2001:db8::1:0:0:1', 'the first of two equal runs');
  t.equal(text('20010db8000100010001000100010001'), '2001:db8:1:1:1:1:1:1', 'a single zero group is not compressed');
  t.equal(text('00000000000000000000ffffc0000207'), '::ffff:192.0.2.7', 'IPv4-mapped');
});

t.test('random bytes in random chunks: a result for every prefix, never a throw, never past the bound', async () => {
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }).map((tail) => new Uint8Array([...SIGNATURE, ...tail])), fc.string({ maxLength: 120 }).map((tail) => new Uint8Array(Buffer.from(`PROXY ${tail}`)))), (bytes) => {
      const buffer = Buffer.from(bytes);
      for (let n = 0; n <= buffer.length; n++) {
        const result = parseProxyHeader(buffer.subarray(0, n));
        if (result.kind === 'header' && (result.length > n || result.length > PROXY_HEADER_MAX_LENGTH)) throw new Error(`header of ${result.length} from ${n} bytes`);
        if (result.kind === 'incomplete' && n >= PROXY_HEADER_MAX_LENGTH) throw new Error('incomplete past the bound');
      }
    }),
    { numRuns: Number(process.env.FUZZ_RUNS ?? 300) },
  );
});
