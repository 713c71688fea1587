import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { parseArgs } from 'node:util';

/**
 * The floor of any extra hop: a process that copies bytes between two sockets and nothing else
 * (pipe back-pressure, Nagle off). The benchmark sends the direct SPDY path through it, so a
 * gateway/direct ratio can be read against relay/direct: what one more process on the path costs on
 * this machine before any translation. With `--tls-cert/--tls-key/--ca` it terminates the client's
 * TLS and speaks TLS to the upstream (verified against the CA), as the gateway does in production —
 * the floor then includes both legs' encryption. Prints its address as the gateway's `listening`
 * line does.
 */
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { 'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' }, ca: { type: 'string' } },
});
const target = new URL(positionals[0] ?? '');
const secure = values['tls-cert'] !== undefined;
const ca = values.ca === undefined ? undefined : readFileSync(values.ca, 'utf8');

function relay(client: net.Socket): void {
  const upstream = secure
    ? tls.connect({ host: target.hostname, port: Number(target.port), ca, servername: net.isIP(target.hostname) ? undefined : target.hostname })
    : net.connect({ host: target.hostname, port: Number(target.port) });
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
}

const server = secure
  ? tls.createServer({ cert: readFileSync(values['tls-cert']!), key: readFileSync(values['tls-key']!) }, relay)
  : net.createServer(relay);
server.on('tlsClientError', () => undefined);
// As the gateway's listener: a thousand clients connecting at once overflow Node's default backlog of 511.
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  const { port } = server.address() as net.AddressInfo;
  process.stdout.write(`${JSON.stringify({ event: 'listening', url: `${secure ? 'https' : 'http'}://127.0.0.1:${port}` })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
