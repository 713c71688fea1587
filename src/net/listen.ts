import type { Server } from 'node:net';
import type { ListenAddress } from './running-server.js';

export interface BoundAddress {
  host: string;
  port: number;
  /** `host:port`, with IPv6 hosts bracketed, for URLs. */
  authority: string;
}

/**
 * Pending connections the kernel queues before accept (capped by net.core.somaxconn). Node's default,
 * 511, overflows when a thousand clients connect at once: the overflow waits out SYN retransmits
 * (1 s, 3 s, …), which showed as one session in six finishing several times later than the rest.
 */
const LISTEN_BACKLOG = 4096;

/** Binds a server and resolves with the real address (port 0 picks a free port); rejects on EADDRINUSE etc. */
export function listen(server: Server, address: ListenAddress): Promise<BoundAddress> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen({ port: address.port, host: address.host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', onError);
      const bound = server.address();
      const port = typeof bound === 'object' && bound ? bound.port : address.port;
      const authority = address.host.includes(':') ? `[${address.host}]:${port}` : `${address.host}:${port}`;
      resolve({ host: address.host, port, authority });
    });
  });
}

/**
 * Marks a failure to bind with the setting that named the address (`admin.listen`), so the command
 * line can say which of its listeners could not start; the first setting given wins.
 */
export function withListenSetting(error: unknown, setting: string): unknown {
  if (error !== null && typeof error === 'object') (error as { setting?: string }).setting ??= setting;
  return error;
}
