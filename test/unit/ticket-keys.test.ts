// The listener's session-ticket keys rotate: a ticket issued before a rotation no longer resumes.
import t from 'tap';
import tls from 'node:tls';
import { once } from 'node:events';
import { tlsHandshake } from '../helpers/tls-handshake.js';
import type { AddressInfo } from 'node:net';
import { createCertificateAuthority } from '../../src/net/certificate-authority.js';
import { rotateTicketKeys } from '../../src/net/ticket-keys.js';

const ca = await createCertificateAuthority('ticket test CA');
const cert = await ca.issueServerCertificate(['127.0.0.1']);

for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
  t.test(`${maxVersion}: resumes until the keys rotate, then makes a full handshake`, async (t) => {
    const server = tls.createServer({ cert: cert.certPem, key: cert.keyPem, maxVersion }, (socket) => socket.resume());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const rotation = rotateTicketKeys(server);
    t.teardown(() => {
      rotation.stop();
      server.close();
    });
    const port = (server.address() as AddressInfo).port;
    const handshake = (session?: Buffer): ReturnType<typeof tlsHandshake> => tlsHandshake({ host: '127.0.0.1', port, ca: ca.caCertPem, ...(session ? { session } : {}) });
    const first = await handshake();
    t.equal((await handshake(first.session!)).resumed, true, 'resumed with the current keys');
    const keys = server.getTicketKeys();
    rotation.rotate();
    t.not(server.getTicketKeys().toString('hex'), keys.toString('hex'), 'new keys');
    t.equal((await handshake(first.session!)).resumed, false, 'a ticket from before the rotation is not accepted');
  });
}
