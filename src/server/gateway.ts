import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Logger } from '../observability/logger.js';
import { RemoteCommandTranslator } from '../translators/remote-command/handler.js';
import { PortForwardTunnel, tunneledProtocols } from '../translators/port-forward/tunnel.js';
import { PortForwardChannels } from '../translators/port-forward/channels.js';
import { isWebSocketUpgrade } from '../translators/upgrade-request.js';
import { portForwardTarget } from '../codecs/k8s/port-forward-request.js';
import type { UpstreamTarget } from '../upstream/target.js';
import { createHttpProxy } from './http-proxy.js';
import { listen } from './listen.js';
import type { ListenAddress, RunningServer, ServerTls } from './running-server.js';
import { relayUpgrade } from './upgrade-relay.js';

export interface GatewayOptions {
  listen: ListenAddress;
  /** Serve HTTPS; plain HTTP otherwise (behind a TLS-terminating load balancer). */
  tls?: ServerTls;
  upstream: UpstreamTarget;
  logger: Logger;
  clientPingIntervalMs?: number;
  upstreamPingIntervalMs?: number;
}

/**
 * The gateway's listener. Each request goes one of three ways: an exec/attach WebSocket upgrade is
 * translated to SPDY; any other upgrade is relayed raw; everything else is reverse-proxied.
 */
export interface Gateway extends RunningServer {
  /** Client connections open right now (for leak checks and, later, metrics). */
  readonly openConnections: number;
  /** Translated exec/attach sessions and port-forward tunnels in progress. */
  readonly activeSessions: number;
  /** Bytes exec/attach sessions hold in user space (stream buffers and unflushed WebSocket data). */
  readonly bufferedBytes: number;
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { logger, upstream } = options;
  const proxy = createHttpProxy(upstream, logger);
  const translator = new RemoteCommandTranslator({
    upstream,
    logger,
    clientPingIntervalMs: options.clientPingIntervalMs,
    upstreamPingIntervalMs: options.upstreamPingIntervalMs,
  });
  const tunnel = new PortForwardTunnel({ upstream, logger, clientPingIntervalMs: options.clientPingIntervalMs });
  const portForwardChannels = new PortForwardChannels({ upstream, logger, clientPingIntervalMs: options.clientPingIntervalMs });
  const server = options.tls
    ? https.createServer({ cert: options.tls.cert, key: options.tls.key })
    : http.createServer();
  const sockets = new Set<Socket>();

  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('request', (req, res) => proxy.handle(req, res));
  server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    if (isWebSocketUpgrade(req)) {
      if (translator.tryHandle(req, socket, head)) return;
      const portForward = portForwardTarget(req.url ?? '/');
      if (portForward && tunneledProtocols(req).length > 0) {
        void tunnel.handle(req, socket, head, portForward);
        return;
      }
      if (portForward && PortForwardChannels.wants(req)) {
        void portForwardChannels.handle(req, socket, head);
        return;
      }
    }
    relayUpgrade(upstream, req, socket, head, logger);
  });
  server.on('clientError', (error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    logger.debug({ err: error.message }, 'malformed client request');
  });

  const address = await listen(server, options.listen);
  const scheme = options.tls ? 'https' : 'http';
  logger.info({ event: 'listening', url: `${scheme}://${address.authority}`, upstream: upstream.url.origin }, 'gateway listening');

  let closing: Promise<void> | undefined;
  return {
    url: `${scheme}://${address.authority}`,
    host: address.host,
    port: address.port,
    get openConnections() {
      return sockets.size;
    },
    get bufferedBytes() {
      return translator.bufferedBytes;
    },
    get activeSessions() {
      return translator.activeSessions + tunnel.activeTunnels + portForwardChannels.activeSessions;
    },
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        await translator.shutdown('the gateway is shutting down');
        await tunnel.shutdown();
        await portForwardChannels.shutdown();
        server.closeIdleConnections();
        for (const socket of sockets) socket.destroy();
        proxy.close();
        await stopped;
      })();
      return closing;
    },
  };
}
