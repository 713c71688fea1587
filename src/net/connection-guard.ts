/**
 * What happens to a TCP connection before HTTP sees it: the connection caps, the PROXY protocol
 * header, and one deadline for everything up to a complete request head (PROXY header, TLS
 * handshake, request line and headers). It takes over the server's own 'connection' handling
 * (TLS or HTTP) and hands each connection on once admitted, with any bytes read after the PROXY
 * header put back (socket.unshift), so TLS and HTTP start at the right byte.
 *
 * Node's own headersTimeout starts after the TLS handshake and is checked on an interval, so a
 * peer that never starts TLS, or stalls within it, would be held forever without this deadline.
 * The per-client cap counts the client PROXY protocol names, else the socket peer; a trusted proxy
 * (network.trustedProxies) is not capped per client, as its connections carry many clients (they
 * are told apart only by X-Forwarded-For, after the request head).
 */
import type { Server, Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';
import { parseProxyHeader, PROXY_HEADER_MAX_LENGTH } from '../codecs/proxy-protocol.js';
import type { Logger } from '../observability/logger.js';
import { peerAddress, rememberProxiedPeer } from './client-address.js';

const CONNECTION_REFUSALS = ['max-connections', 'max-connections-per-client', 'header-timeout', 'proxy-protocol'] as const;
export type ConnectionRefusal = (typeof CONNECTION_REFUSALS)[number];

export interface ConnectionGuardOptions {
  /** From accept to a complete first request head; the connection is closed past it. */
  headerTimeoutMs: number;
  /** Open connections in all; more are closed at accept. 0 = no cap. */
  maxConnections: number;
  /** Open connections of one client address; 0 = no cap. */
  maxConnectionsPerClient: number;
  /** Every connection starts with a PROXY protocol v1 or v2 header; one without is closed. */
  proxyProtocol: boolean;
  /** Peers whose connections carry many clients (trusted proxies): no per-client cap on them. */
  isTrustedProxy?: (address: string) => boolean;
  onRefused?: (reason: ConnectionRefusal) => void;
  logger: Logger;
}

export interface ConnectionGuard {
  /** A request head arrived on this (raw or TLS) socket: the connection's header deadline is met. */
  headReceived(socket: object): void;
}

const REQUEST_TIMEOUT = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

interface Pending {
  timer: NodeJS.Timeout;
  /** The socket HTTP reads from once admitted (the TLS socket over TLS). */
  http?: Socket;
}

export function guardConnections(server: Server, options: ConnectionGuardOptions): ConnectionGuard {
  const { logger } = options;
  const secure = server instanceof TlsServer;
  // The server's own handling (tls.Server's handshake or http.Server's parser), run once admitted.
  const handlers = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');
  const pending = new WeakMap<object, Pending>();
  const perClient = new Map<string, number>();
  // Connections open now, admitted or still waiting for their PROXY header.
  let open = 0;

  const refuse = (socket: Socket, reason: ConnectionRefusal, detail: Record<string, unknown>): void => {
    options.onRefused?.(reason);
    logger[reason === 'proxy-protocol' ? 'info' : 'debug']({ event: 'connection-refused', reason, ...detail }, 'connection closed');
    socket.destroy();
  };

  const admit = (socket: Socket, client: string, named: boolean): void => {
    if (socket.destroyed) return;
    // A trusted proxy carries many clients; PROXY protocol (named) tells them apart at this level.
    if (options.maxConnectionsPerClient > 0 && (named || !options.isTrustedProxy?.(client))) {
      const count = perClient.get(client) ?? 0;
      if (count >= options.maxConnectionsPerClient) {
        refuse(socket, 'max-connections-per-client', { clientAddress: client, limit: options.maxConnectionsPerClient });
        return;
      }
      perClient.set(client, count + 1);
      socket.once('close', () => {
        const left = (perClient.get(client) ?? 1) - 1;
        if (left > 0) perClient.set(client, left);
        else perClient.delete(client);
      });
    }
    // Over TLS, HTTP reads from the TLS socket ('secureConnection' below), never from this one.
    const state = pending.get(socket);
    if (state && !secure) state.http = socket;
    for (const handler of handlers) handler.call(server, socket);
  };

  server.on('connection', (socket: Socket) => {
    // Errors before HTTP takes over (a reset mid-handshake) must not reach the process.
    socket.on('error', () => undefined);
    if (options.maxConnections > 0 && open >= options.maxConnections) {
      refuse(socket, 'max-connections', { clientAddress: peerAddress(socket), limit: options.maxConnections });
      return;
    }
    open++;
    const timer = setTimeout(() => timedOut(socket), options.headerTimeoutMs);
    pending.set(socket, { timer });
    socket.once('close', () => {
      open--;
      clearTimeout(timer);
    });
    if (!options.proxyProtocol) {
      admit(socket, peerAddress(socket), false);
      return;
    }
    readProxyHeader(socket, (source) => {
      if (source !== undefined) rememberProxiedPeer(socket, source);
      admit(socket, peerAddress(socket), source !== undefined);
    });
  });

  // The TLS socket HTTP reads from, so that a timeout can answer in HTTP when it gets that far.
  server.on('secureConnection', (tlsSocket: Socket) => {
    const parent = (tlsSocket as unknown as { _parent?: object })._parent;
    const state = parent ? pending.get(parent) : undefined;
    if (state) state.http = tlsSocket;
  });

  function timedOut(socket: Socket): void {
    const state = pending.get(socket);
    pending.delete(socket);
    options.onRefused?.('header-timeout');
    logger.debug({ event: 'connection-refused', reason: 'header-timeout', clientAddress: peerAddress(socket), timeoutMs: options.headerTimeoutMs }, 'connection closed');
    const http = state?.http;
    if (http && http.writable) {
      // A request head started: say why in HTTP, then close whatever the peer does.
      const force = setTimeout(() => socket.destroy(), 1000).unref();
      http.end(REQUEST_TIMEOUT, () => {
        clearTimeout(force);
        http.destroy();
        socket.destroy();
      });
      return;
    }
    socket.destroy();
  }

  function readProxyHeader(socket: Socket, done: (source: string | undefined) => void): void {
    let buffered: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      const result = parseProxyHeader(buffered.subarray(0, PROXY_HEADER_MAX_LENGTH));
      if (result.kind === 'incomplete') return;
      socket.off('data', onData);
      socket.pause();
      if (result.kind === 'invalid') {
        refuse(socket, 'proxy-protocol', { clientAddress: peerAddress(socket), problem: result.reason });
        return;
      }
      const rest = buffered.subarray(result.length);
      if (rest.length > 0) socket.unshift(rest);
      done(result.source?.address);
      // HTTP reads this socket in flowing mode; over TLS the TLS socket owns its reading from now on.
      if (!secure) socket.resume();
    };
    socket.on('data', onData);
  }

  return {
    headReceived(socket: object) {
      const parent = (socket as { _parent?: object })._parent;
      for (const key of parent ? [parent, socket] : [socket]) {
        const state = pending.get(key);
        if (!state) continue;
        clearTimeout(state.timer);
        pending.delete(key);
      }
    },
  };
}
