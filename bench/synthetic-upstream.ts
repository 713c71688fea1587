import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../src/observability/logger.js';
import { SpdyConnection } from '../src/connections/spdy/spdy-connection.js';
import { listen } from '../src/net/listen.js';
import type { ListenAddress, RunningServer } from '../src/net/running-server.js';
import { ApiError, badRequest, pathNotFound, unauthorized, type DemoPod } from '../src/legacy-cluster/api-objects.js';
import { sendApiError, writeApiErrorOnSocket, writeRaw } from '../src/legacy-cluster/http-replies.js';
import { decideRemoteCommand } from '../src/legacy-cluster/remote-command-endpoint.js';
import { serveRemoteCommand } from '../src/legacy-cluster/remote-command.js';
import { switchingProtocolsHead } from '../src/legacy-cluster/spdy-handshake.js';
import { runSyntheticCommand } from './synthetic-commands.js';

export interface SyntheticUpstreamOptions {
  listen: ListenAddress;
  /**
   * The one bearer token accepted; none: every request is. This is a benchmark-only stand-in on
   * loopback, not an access-controlled server — the check only makes a misconfigured client fail the
   * way it would against the legacy cluster.
   */
  token?: string;
  /** Serve HTTPS with this certificate and key (PEM), as a kubelet does; plain HTTP without. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  logger: Logger;
}

/**
 * A kubelet-shaped upstream for the benchmark that answers exec upgrades over SPDY/3.1 and runs the
 * commands in-process (synthetic-commands.ts) instead of spawning them, so a benchmark measures the
 * gateway rather than the stand-in's processes and pipes, and a session costs one socket here, not a
 * process and four descriptors. The exec request is decided and served by the legacy cluster's own
 * code (decideRemoteCommand, serveRemoteCommand): same handshake, stream set-up, Status and teardown
 * as there. Every pod exists and has one container; nothing but exec is served.
 */
export interface SyntheticUpstream extends RunningServer {
  /** Exec sessions not yet over (a client gone mid-command counts until its command has stopped). */
  activeSessions(): number;
}

export async function startSyntheticUpstream(options: SyntheticUpstreamOptions): Promise<SyntheticUpstream> {
  const { logger } = options;
  const sockets = new Set<Duplex>();
  const sessions = new Set<Promise<void>>();
  const notFound = (_req: IncomingMessage, res: http.ServerResponse): void => sendApiError(res, pathNotFound());
  const server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, notFound) : http.createServer(notFound);
  server.on(options.tls ? 'secureConnection' : 'connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    try {
      if (options.token !== undefined && req.headers.authorization !== `Bearer ${options.token}`) throw unauthorized();
      const decision = decideRemoteCommand(req, syntheticPod);
      if (decision.kind === 'raw') return writeRaw(socket, decision.answer);
      if (decision.kind !== 'upgrade') throw decision.kind === 'error' ? decision.error : pathNotFound();
      if (decision.target.kind !== 'exec') throw badRequest('the synthetic upstream serves exec only');
      socket.write(switchingProtocolsHead(decision.protocol));
      (socket as Socket).setNoDelay?.(true);
      const { command, streams } = decision.target;
      const session = serveRemoteCommand({
        connection: new SpdyConnection(socket, { role: 'server' }, head),
        protocol: decision.protocol,
        streams,
        start: (sessionStreams) => runSyntheticCommand(command, sessionStreams),
        logger,
        logFields: { kind: 'exec', command },
      });
      sessions.add(session);
      void session.then(() => sessions.delete(session));
    } catch (error) {
      writeApiErrorOnSocket(socket, error instanceof ApiError ? error : badRequest((error as Error).message));
    }
  });

  const bound = await listen(server, options.listen);
  return {
    url: `${options.tls ? 'https' : 'http'}://${bound.authority}`,
    host: bound.host,
    port: bound.port,
    activeSessions: () => sessions.size,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/** Whatever pod is asked for exists, with one container (exec needs a pod and a container to resolve). */
function syntheticPod(namespace: string, name: string): DemoPod {
  const container = { name: 'synthetic', image: 'synthetic', command: [], stdin: true, stdinOnce: false, tty: false };
  return { namespace, name, uid: '00000000-0000-0000-0000-000000000000', defaultContainer: 'synthetic', containers: [container], createdAt: '1970-01-01T00:00:00Z', nodeName: 'synthetic' };
}
