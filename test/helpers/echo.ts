import net from 'node:net';
import { once } from 'node:events';

/** Sends `payload` to an echo service at a local port and returns what came back. */
export async function echoThrough(port: number, payload: Buffer): Promise<Buffer> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  let received = 0;
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    received += chunk.length;
    if (received >= payload.length) socket.end();
  });
  socket.write(payload);
  await once(socket, 'close');
  return Buffer.concat(chunks);
}
