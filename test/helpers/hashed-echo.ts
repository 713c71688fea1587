import net from 'node:net';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';

export interface HashedEcho {
  sentSha256: string;
  receivedSha256: string;
  receivedBytes: number;
}

const CHUNK_BYTES = 64 * 1024;

/**
 * Sends `bytes` random bytes to an echo service at a local port while reading the echo, hashing
 * both sides as they pass: memory stays at a chunk or two however large `bytes` is. Writes wait
 * for 'drain', so the send side keeps to the path's back-pressure.
 */
export async function hashedEcho(port: number, bytes: number): Promise<HashedEcho> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const sent = createHash('sha256');
  const received = createHash('sha256');
  let receivedBytes = 0;
  socket.on('data', (chunk: Buffer) => {
    received.update(chunk);
    receivedBytes += chunk.length;
    if (receivedBytes >= bytes) socket.end();
  });
  const closed = once(socket, 'close');
  for (let offset = 0; offset < bytes; offset += CHUNK_BYTES) {
    const chunk = randomBytes(Math.min(CHUNK_BYTES, bytes - offset));
    sent.update(chunk);
    if (!socket.write(chunk)) await Promise.race([once(socket, 'drain'), closed]);
    if (socket.destroyed) break;
  }
  await closed;
  return { sentSha256: sent.digest('hex'), receivedSha256: received.digest('hex'), receivedBytes };
}
