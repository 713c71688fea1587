// The pieces of ui.peers that the two-replica test cannot reach on loopback: a headless Service's
// DNS answer (every replica, this one included), and the verifier's clock and nonce bounds.
import t from 'tap';
import { PeerDirectory } from '../../../src/server/ui/peer-directory.js';
import { PeerVerifier, signPeerRequest } from '../../../src/server/ui/peer-auth.js';

const local = () => new Set(['10.0.0.7', '127.0.0.1']);

t.test('a DNS name: every A/AAAA record is a replica, this one skipped, the own port by default', async (t) => {
  const asked: string[] = [];
  const lookup = (host: string) => {
    asked.push(host);
    return Promise.resolve([{ address: '10.0.0.5' }, { address: '10.0.0.7' }, { address: 'fd00::5' }, { address: '10.0.0.5' }]);
  };
  const directory = new PeerDirectory({ kind: 'dns', host: 'gw-peers.ns.svc' }, () => 8443, lookup, local);
  const { peers, problems } = await directory.resolve();
  t.same(peers.map((peer) => [peer.address, peer.serverName]), [
    ['10.0.0.5:8443', 'gw-peers.ns.svc'],
    ['[fd00::5]:8443', 'gw-peers.ns.svc'],
  ], 'itself (a local address on its own port) skipped, duplicates once, the certificate checked against the Service name');
  t.same(problems, []);
  await directory.resolve();
  t.same(asked, ['gw-peers.ns.svc', 'gw-peers.ns.svc'], 'resolved on every call: replicas come and go');

  const otherPort = new PeerDirectory({ kind: 'dns', host: 'gw-peers', port: 9443 }, () => 8443, lookup, local);
  t.same((await otherPort.resolve()).peers.map((peer) => peer.address), ['10.0.0.5:9443', '10.0.0.7:9443', '[fd00::5]:9443'], 'a local address on another port is another replica');
});

t.test('a failed lookup is a reported problem; the fan-out is capped', async (t) => {
  const failing = new PeerDirectory({ kind: 'dns', host: 'nowhere' }, () => 8443, () => Promise.reject(Object.assign(new Error('x'), { code: 'ENOTFOUND' })), local);
  t.same(await failing.resolve(), { peers: [], problems: [{ address: 'nowhere:8443', reason: 'dns', error: 'dns: ENOTFOUND' }] });
  const hanging = new PeerDirectory({ kind: 'dns', host: 'slow' }, () => 8443, () => new Promise(() => undefined), local);
  t.same(await hanging.resolve(), { peers: [], problems: [{ address: 'slow:8443', reason: 'dns', error: 'dns: timeout' }] }, 'a resolver that never answers is given up on');
  const many = Array.from({ length: 40 }, (_, index) => ({ address: `10.1.0.${index + 1}` }));
  const crowd = new PeerDirectory({ kind: 'dns', host: 'crowd' }, () => 8443, () => Promise.resolve(many), local);
  const { peers, problems } = await crowd.resolve();
  t.equal(peers.length, 32, 'at most 32 peers asked');
  t.match(problems, [{ address: '8 more', reason: 'not-asked', error: /at most 32/ }], 'the rest reported');
});

t.test('a listed address of this replica is skipped; others are dialled as written', async (t) => {
  const list = new PeerDirectory({ kind: 'list', addresses: [{ host: '127.0.0.1', port: 8443 }, { host: '127.0.0.1', port: 9443 }, { host: 'gw-2.example', port: 8443 }] }, () => 8443, undefined, local);
  t.same((await list.resolve()).peers.map((peer) => peer.address), ['127.0.0.1:9443', 'gw-2.example:8443']);
});

t.test('the verifier: a window of 30 s either way, each nonce once, forgotten after it', async (t) => {
  const secret = Buffer.from('s'.repeat(32));
  let now = 1_000_000;
  const verifier = new PeerVerifier(secret, () => now);
  const caller = { user: 'root', groups: ['admins'], via: 'gw-1' };
  const header = signPeerRequest(secret, 'GET', '/ui/api/peer/sessions', caller, now);
  t.same(verifier.verify('GET', '/ui/api/peer/sessions', header), { caller });
  t.same(verifier.verify('GET', '/ui/api/peer/sessions', header), { refused: 'replayed' });
  now += 31_000;
  t.same(verifier.verify('GET', '/ui/api/peer/sessions', header), { refused: 'stale' }, 'past the window: stale, not merely replayed');
  t.same(verifier.verify('GET', '/ui/api/peer/sessions', signPeerRequest(secret, 'GET', '/ui/api/peer/sessions', caller, now + 29_000)), { caller }, 'a clock slightly ahead is accepted');
  t.same(verifier.verify('GET', '/ui/api/peer/sessions', [header!, header!]), { refused: 'malformed' }, 'the header twice');
  t.same(verifier.verify('GET', '/ui/api/peer/sessions', undefined), { refused: 'missing' });
  t.equal(signPeerRequest(secret, 'GET', '/', { ...caller, groups: Array.from({ length: 1000 }, (_, index) => `group-${index}`) }), undefined, 'an identity too large to carry is not signed');
});
