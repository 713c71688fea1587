import tls from 'node:tls';
import { once } from 'node:events';

/** Sends a raw HTTP request to the stack's gateway over TLS and returns everything it says before closing. */
export async function rawExchange(stack: { gateway: { port: number }; caPem: string }, request: string): Promise<string> {
  const socket = tls.connect({ host: '127.0.0.1', port: stack.gateway.port, ca: stack.caPem, servername: 'localhost' });
  await once(socket, 'secureConnect');
  socket.write(request);
  let answer = '';
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
  await once(socket, 'close');
  return answer;
}
