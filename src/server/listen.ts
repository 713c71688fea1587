import type { Server } from 'node:net';
import type { ListenAddress } from './running-server.js';

export interface BoundAddress {
  host: string;
  port: number;
  /** `host:port`, with IPv6 hosts bracketed, for URLs. */
  authority: string;
}

/** Binds a server and resolves with the real address (port 0 picks a free port); rejects on EADDRINUSE etc. */
export function listen(server: Server, address: ListenAddress): Promise<BoundAddress> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(address.port, address.host, () => {
      server.off('error', onError);
      const bound = server.address();
      const port = typeof bound === 'object' && bound ? bound.port : address.port;
      const authority = address.host.includes(':') ? `[${address.host}]:${port}` : `${address.host}:${port}`;
      resolve({ host: address.host, port, authority });
    });
  });
}
