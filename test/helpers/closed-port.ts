import http from 'node:http';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';

/**
 * A loopback port nobody listens on, so connecting to it is refused. It is taken below the kernel's
 * ephemeral range: a port the kernel handed out and took back could be handed to another test's
 * `listen(0)` next (one test once reached a parallel test's server that way), one outside that range
 * never is.
 */
export async function closedPort(): Promise<number> {
  const ephemeralStart = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  const low = 10_000;
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = low + Math.floor(Math.random() * (ephemeralStart - low));
    const server = http.createServer();
    server.listen(port, '127.0.0.1');
    const taken = await Promise.race([once(server, 'listening').then(() => false), once(server, 'error').then(() => true)]);
    if (taken) continue;
    await new Promise((resolve) => server.close(resolve));
    return port;
  }
  throw new Error('no free port below the ephemeral range');
}
