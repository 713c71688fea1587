import tls from 'node:tls';
import { once } from 'node:events';

/**
 * One TLS connection (offering `options.session` when given): whether the server resumed it, and
 * the session it handed out on a full handshake (TLS 1.3: a ticket after the handshake, read like
 * data). The connection is closed again.
 */
export async function tlsHandshake(options: tls.ConnectionOptions): Promise<{ resumed: boolean; session?: Buffer }> {
  const socket = tls.connect(options);
  socket.resume();
  // A full handshake always ends with a new session; a resumed one may not.
  const ticket = once(socket, 'session').then(([value]) => value as Buffer, () => undefined);
  await once(socket, 'secureConnect');
  const resumed = socket.isSessionReused();
  const issued = resumed ? undefined : await ticket;
  socket.destroy();
  return { resumed, ...(issued ? { session: issued } : {}) };
}
