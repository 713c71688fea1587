import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import { parseRemoteCommandRequest } from '../codecs/k8s/remote-command-request.js';
import { SpdyConnection } from '../sessions/spdy-connection.js';
import { HttpStatusError, sendStatusOnSocket, sendStatusResponse, writeRawResponse } from '../sessions/http-answers.js';
import { listen } from '../server/listen.js';
import type { ListenAddress, RunningServer, ServerTls } from '../server/running-server.js';
import { API_GROUP_LIST, CORE_V1_RESOURCES, LEGACY_VERSION, apiVersions, podList, podObject, type DemoPod } from './api-objects.js';
import { demoPods } from './pods.js';
import { REMOTE_COMMAND_SPDY_PROTOCOLS, negotiateSpdyUpgrade } from './spdy-handshake.js';
import { serveRemoteCommand } from './remote-command.js';
import { servePortForward } from './port-forward.js';
import { PodServices } from './pod-services.js';
import { parsePortForwardRequest, PortForwardRequestError } from '../codecs/k8s/port-forward-request.js';

/** The SPDY port-forward protocol a 1.28 kubelet speaks (apimachinery portforward/constants.go). */
const PORT_FORWARD_PROTOCOLS = ['portforward.k8s.io'];

export interface LegacyCluster extends RunningServer {
  /** Stops the pod's service on a pod port (connections are refused) or starts it again. */
  setPodPortOpen(pod: string, podPort: number, open: boolean): Promise<void>;
}

export interface LegacyClusterOptions {
  listen: ListenAddress;
  /** Every request must carry `Authorization: Bearer <token>`: this server runs commands on its host. */
  token: string;
  tls?: ServerTls;
  logger: Logger;
  /** Where the pods' scratch directories go; a fresh temporary directory (removed on close) by default. */
  workRoot?: string;
}

const POD_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/?$/;
const POD_LIST_PATH = /^\/api\/v1\/(?:namespaces\/([^/]+)\/)?pods\/?$/;

/**
 * A stand-in for a Kubernetes 1.28 API server with its kubelet: discovery, pods, and exec/attach
 * over SPDY/3.1 only (WebSocket upgrades are refused with 403, so kubectl falls back to SPDY as it
 * does against a real 1.28 cluster).
 */
export async function startLegacyCluster(options: LegacyClusterOptions): Promise<LegacyCluster> {
  const { logger } = options;
  const pods = demoPods();
  const ownsWorkRoot = !options.workRoot;
  const workRoot = options.workRoot ?? (await mkdtemp(join(tmpdir(), 'ksg-legacy-cluster-')));
  const podDirs = new Map<DemoPod, string>();
  const podServices = new Map<DemoPod, PodServices>();
  for (const pod of pods) {
    const dir = join(workRoot, `${pod.namespace}_${pod.name}`);
    await mkdir(dir, { recursive: true });
    podDirs.set(pod, dir);
    const services = new PodServices(pod);
    await services.start();
    podServices.set(pod, services);
  }
  const expectedAuthorization = Buffer.from(`Bearer ${options.token}`);
  const authorized = (req: IncomingMessage): boolean => {
    const given = Buffer.from(String(req.headers.authorization ?? ''));
    return given.length === expectedAuthorization.length && timingSafeEqual(given, expectedAuthorization);
  };
  const findPod = (namespace: string, name: string): DemoPod | undefined =>
    pods.find((pod) => pod.namespace === namespace && pod.name === name);
  const sessions = new Set<Promise<void>>();
  const connections = new Set<SpdyConnection>();

  const server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }) : http.createServer();
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };
  server.on('connection', track);

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    try {
      if (!authorized(req)) throw new HttpStatusError(401, 'Unauthorized', 'Unauthorized');
      const path = new URL(req.url ?? '/', 'http://legacy.invalid').pathname;
      if (parseRemoteCommandRequest(req.url ?? '/')) {
        // Not an upgrade at all: what upgrade.go answers.
        res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('unable to upgrade: missing upgrade headers in request\n');
        return;
      }
      if (req.method !== 'GET') throw new HttpStatusError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
      sendJson(res, route(path, req));
    } catch (error) {
      sendStatusResponse(res, asStatusError(error));
    }
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    try {
      if (!authorized(req)) throw new HttpStatusError(401, 'Unauthorized', 'Unauthorized');
      const portForward = parsePortForwardRequest(req.url ?? '/');
      if (portForward) {
        handlePortForwardUpgrade(req, socket, head, portForward.namespace, portForward.pod, portForward.ports.length);
        return;
      }
      if (String(req.headers.upgrade ?? '').toLowerCase() === 'websocket') {
        // A 1.28 server knows no v5.channel.k8s.io and no tunneling: the handshake fails with an empty 403.
        writeRawResponse(socket, 403, [], Buffer.alloc(0));
        return;
      }
      const request = parseRemoteCommandRequest(req.url ?? '/');
      if (!request) throw new HttpStatusError(404, 'NotFound', 'the server could not find the requested resource');
      const pod = findPod(request.namespace, request.pod);
      if (!pod) throw notFound(request.pod);
      const containerName = request.container ?? pod.defaultContainer;
      const container = pod.containers.find((c) => c.name === containerName);
      if (!container) throw new HttpStatusError(400, 'BadRequest', `container ${containerName} is not valid for pod ${pod.name}`);
      if (!request.stdin && !request.stdout && !request.stderr) {
        throw new HttpStatusError(400, 'BadRequest', 'you must specify at least 1 of stdin, stdout, stderr');
      }
      if (request.kind === 'exec' && request.command.length === 0) {
        throw new HttpStatusError(400, 'BadRequest', 'you must specify at least one command for the container');
      }
      const handshake = negotiateSpdyUpgrade(req, REMOTE_COMMAND_SPDY_PROTOCOLS);
      if (!handshake.ok) {
        writeRawResponse(socket, handshake.status, ['Content-Type: text/plain; charset=utf-8', ...handshake.headers], Buffer.from(handshake.body));
        return;
      }
      const connection = acceptSpdy(socket, head, handshake.protocol);
      const session = serveRemoteCommand({
        connection,
        protocol: handshake.protocol,
        request,
        argv: request.kind === 'exec' ? request.command : container.command,
        cwd: podDirs.get(pod)!,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: podDirs.get(pod)!, HOSTNAME: pod.name, LANG: 'C.UTF-8' },
        logger: logger.child({ kind: request.kind, namespace: pod.namespace, pod: pod.name, container: container.name }),
      });
      sessions.add(session);
      void session.then(() => sessions.delete(session));
    } catch (error) {
      sendStatusOnSocket(socket, asStatusError(error));
    }
  });

  function handlePortForwardUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, namespace: string, name: string, queryPorts: number): void {
    const pod = findPod(namespace, name);
    if (!pod) throw notFound(name);
    if (String(req.headers.upgrade ?? '').toLowerCase() === 'websocket') {
      // The 1.28 kubelet reads WebSocket port-forwards from ?ports=; kubectl's tunneling request has
      // none, so it is refused with this 400 (spec §8). Channel-protocol clients are refused too:
      // this stand-in, like a cluster behind a WebSocket-unaware proxy, speaks SPDY only.
      if (queryPorts === 0) writeRawResponse(socket, 400, ['Content-Type: text/plain; charset=utf-8'], Buffer.from('query parameter "port" is required\n'));
      else writeRawResponse(socket, 403, [], Buffer.alloc(0));
      return;
    }
    const handshake = negotiateSpdyUpgrade(req, PORT_FORWARD_PROTOCOLS);
    if (!handshake.ok) {
      writeRawResponse(socket, handshake.status, ['Content-Type: text/plain; charset=utf-8', ...handshake.headers], Buffer.from(handshake.body));
      return;
    }
    const connection = acceptSpdy(socket, head, handshake.protocol);
    const services = podServices.get(pod)!;
    servePortForward({
      connection,
      podName: pod.name,
      podUid: pod.uid,
      resolvePort: (port) => services.localPort(port),
      logger: logger.child({ kind: 'portforward', namespace: pod.namespace, pod: pod.name }),
    });
  }

  /** Answers 101 and runs SPDY over the socket, tracked so that close() can end it. */
  function acceptSpdy(socket: Duplex, head: Buffer, protocol: string): SpdyConnection {
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`);
    (socket as Socket).setNoDelay?.(true);
    const connection = new SpdyConnection(socket, { role: 'server' }, head);
    connections.add(connection);
    connection.on('close', () => connections.delete(connection));
    return connection;
  }

  function route(path: string, req: IncomingMessage): object {
    if (path === '/version') return LEGACY_VERSION;
    if (path === '/api') return apiVersions(req.headers.host ?? '127.0.0.1');
    if (path === '/apis') return API_GROUP_LIST;
    if (path === '/api/v1') return CORE_V1_RESOURCES;
    const list = POD_LIST_PATH.exec(path);
    if (list) return podList(list[1] ? pods.filter((pod) => pod.namespace === list[1]) : pods);
    const one = POD_PATH.exec(path);
    if (one) {
      const pod = findPod(one[1]!, one[2]!);
      if (!pod) throw notFound(one[2]!);
      return podObject(pod);
    }
    throw new HttpStatusError(404, 'NotFound', 'the server could not find the requested resource');
  }

  const address = await listen(server, options.listen);
  const scheme = options.tls ? 'https' : 'http';
  logger.info({ event: 'listening', url: `${scheme}://${address.authority}`, workRoot }, 'legacy cluster listening');
  let closing: Promise<void> | undefined;
  return {
    url: `${scheme}://${address.authority}`,
    host: address.host,
    port: address.port,
    async setPodPortOpen(name: string, podPort: number, open: boolean) {
      const pod = findPod('default', name);
      if (!pod) throw new Error(`no pod ${name}`);
      const services = podServices.get(pod)!;
      await (open ? services.open(podPort) : services.closePort(podPort));
    },
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const connection of connections) connection.destroy();
        for (const socket of sockets) socket.destroy();
        await Promise.all(sessions);
        await Promise.all([...podServices.values()].map((services) => services.stop()));
        await stopped;
        if (ownsWorkRoot) await rm(workRoot, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}

function sendJson(res: ServerResponse, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function notFound(name: string): HttpStatusError {
  return new HttpStatusError(404, 'NotFound', `pods "${name}" not found`);
}

function asStatusError(error: unknown): HttpStatusError {
  if (error instanceof HttpStatusError) return error;
  if (error instanceof PortForwardRequestError) return new HttpStatusError(400, 'BadRequest', error.message);
  return new HttpStatusError(500, 'InternalError', `Internal error occurred: ${(error as Error).message}`);
}

