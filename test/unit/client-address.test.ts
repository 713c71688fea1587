// The client address behind proxies: X-Forwarded-For is believed only from trusted proxies and
// only as far as the first untrusted hop; PROXY protocol's address wins over the socket's.
import t from 'tap';
import { ClientAddressResolver, rememberProxiedPeer, withForwardedFor } from '../../src/net/client-address.js';
import { CidrSet, normalAddress } from '../../src/net/cidr.js';

/** A request as the resolver sees it: raw header pairs and a socket peer. */
function request(remoteAddress: string, headers: Array<[string, string]> = [], socket: object = {}) {
  return { rawHeaders: headers.flat(), socket: Object.assign(socket, { remoteAddress }) as never };
}

const resolver = new ClientAddressResolver(['10.0.0.0/8', '2001:db8:ffff::/48', '192.0.2.1']);

t.test('an untrusted peer is the client, whatever it says', async (t) => {
  t.same(resolver.resolve(request('198.51.100.9', [['X-Forwarded-For', '203.0.113.1'], ['X-Forwarded-Proto', 'https']])), { address: '198.51.100.9', chain: ['198.51.100.9'] });
  t.same(new ClientAddressResolver([]).resolve(request('10.1.1.1', [['X-Forwarded-For', '203.0.113.1']])).address, '10.1.1.1', 'no trusted proxies: XFF ignored');
});

t.test('from a trusted peer: the rightmost untrusted X-Forwarded-For address', async (t) => {
  const cases: Array<[string, Array<[string, string]>, string, string[]]> = [
    ['10.0.0.5', [['X-Forwarded-For', '203.0.113.1']], '203.0.113.1', ['203.0.113.1', '10.0.0.5']],
    ['10.0.0.5', [['X-Forwarded-For', '6.6.6.6, 203.0.113.1']], '203.0.113.1', ['203.0.113.1', '10.0.0.5']],
    ['10.0.0.5', [['X-Forwarded-For', '6.6.6.6, 203.0.113.1, 10.2.2.2']], '203.0.113.1', ['203.0.113.1', '10.2.2.2', '10.0.0.5']],
    // Every instance of the header counts, in order: a second one cannot hide the real client.
    ['10.0.0.5', [['X-Forwarded-For', '6.6.6.6'], ['x-forwarded-for', '203.0.113.1 ,10.3.3.3']], '203.0.113.1', ['203.0.113.1', '10.3.3.3', '10.0.0.5']],
    ['::ffff:10.0.0.5', [['X-Forwarded-For', '::ffff:203.0.113.1']], '203.0.113.1', ['203.0.113.1', '10.0.0.5']],
    ['2001:db8:ffff::7', [['X-Forwarded-For', '2001:DB8::1']], '2001:db8::1', ['2001:db8::1', '2001:db8:ffff::7']],
    ['192.0.2.1', [['X-Forwarded-For', '[2001:db8::2]:4431, 203.0.113.4:8080']], '203.0.113.4', ['203.0.113.4', '192.0.2.1']],
    ['10.0.0.5', [['X-Forwarded-For', '10.9.9.9, 10.8.8.8']], '10.9.9.9', ['10.9.9.9', '10.8.8.8', '10.0.0.5']],
    ['10.0.0.5', [['X-Forwarded-For', '203.0.113.1, garbage, 10.8.8.8']], '10.8.8.8', ['10.8.8.8', '10.0.0.5']],
    ['10.0.0.5', [['X-Forwarded-For', '']], '10.0.0.5', ['10.0.0.5']],
    ['10.0.0.5', [], '10.0.0.5', ['10.0.0.5']],
  ];
  for (const [peer, headers, address, chain] of cases) {
    const resolved = resolver.resolve(request(peer, headers));
    t.equal(resolved.address, address, `${peer} ${JSON.stringify(headers)}`);
    t.same(resolved.chain, chain);
  }
});

t.test('X-Forwarded-Proto from a trusted peer only, the nearest value', async (t) => {
  t.equal(resolver.resolve(request('10.0.0.5', [['X-Forwarded-Proto', 'http, HTTPS']])).forwardedProto, 'https');
  t.equal(resolver.resolve(request('10.0.0.5', [['X-Forwarded-Proto', 'gopher']])).forwardedProto, undefined);
  t.equal(resolver.resolve(request('198.51.100.9', [['X-Forwarded-Proto', 'https']])).forwardedProto, undefined);
});

t.test('PROXY protocol: the client it named, also through the TLS socket over that connection', async (t) => {
  const raw = { remoteAddress: '10.0.0.5' };
  rememberProxiedPeer(raw, '::ffff:203.0.113.50');
  t.equal(resolver.resolve(request('10.0.0.5', [], raw)).address, '203.0.113.50');
  const tlsSocket = { _parent: raw };
  t.equal(resolver.resolve(request('10.0.0.5', [], tlsSocket)).address, '203.0.113.50');
  t.equal(resolver.resolve(request('10.0.0.5', [['X-Forwarded-For', '198.51.100.1']], {})).address, '198.51.100.1', 'a trusted peer without PROXY header still uses XFF');
});

t.test('X-Forwarded-For toward the upstream: the believed hops only, any client copy replaced', async (t) => {
  const headers = withForwardedFor({ 'X-Forwarded-For': '6.6.6.6', accept: 'application/json' }, resolver.resolve(request('10.0.0.5', [['X-Forwarded-For', '6.6.6.6, 203.0.113.1']])));
  t.same(headers, { accept: 'application/json', 'x-forwarded-for': '203.0.113.1, 10.0.0.5' });
});

t.test('CIDR sets and address normal form', async (t) => {
  const set = new CidrSet(['10.0.0.0/8', '::ffff:192.168.0.0/112', 'fd00::/8', '0.0.0.0/0']);
  t.ok(set.contains('192.168.4.4'), 'an IPv4-mapped range holds IPv4 addresses');
  t.ok(set.contains('fd12::1'));
  t.notOk(set.contains('fe80::1'));
  t.notOk(set.contains('not-an-address'));
  const narrow = new CidrSet(['10.1.0.0/16']);
  t.ok(narrow.contains('::ffff:10.1.2.3'));
  t.notOk(narrow.contains('10.2.0.1'));
  t.equal(normalAddress('::FFFF:10.1.2.3'), '10.1.2.3');
  t.equal(normalAddress('2001:DB8::1'), '2001:db8::1');
  t.throws(() => new CidrSet(['10.0.0.0/40']));
});
