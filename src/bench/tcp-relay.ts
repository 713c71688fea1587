import net from 'node:net';

/**
 * The floor of any extra hop: a process that copies bytes between two TCP sockets and nothing else
 * (pipe back-pressure, Nagle off). The benchmark sends the direct SPDY path through it, so a
 * gateway/direct ratio can be read against relay/direct: what one more process on the path costs on
 * this machine before any translation. Prints its address as the gateway's `listening` line does.
 */
const target = new URL(process.argv[2] ?? '');
const server = net.createServer((client) => {
  const upstream = net.connect({ host: target.hostname, port: Number(target.port) });
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  client.pipe(upstream);
  upstream.pipe(client);
  const end = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', end);
  upstream.on('error', end);
  client.on('close', end);
  upstream.on('close', end);
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as net.AddressInfo;
  process.stdout.write(`${JSON.stringify({ event: 'listening', url: `http://127.0.0.1:${port}` })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
