import { createHash } from 'node:crypto';

/** RFC 6455 §1.3: the GUID appended to the client's key to prove the server read the handshake. */
const HANDSHAKE_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The Sec-WebSocket-Accept that answers a Sec-WebSocket-Key. */
export function webSocketAccept(key: string): string {
  return createHash('sha1').update(key + HANDSHAKE_GUID).digest('base64');
}
