import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../observability/logger.js';
import { splitRequestTarget } from '../codecs/k8s/request-url.js';
import { SpdyConnection } from '../connections/spdy/spdy-connection.js';
import { listen } from '../net/listen.js';
import type { ListenAddress, RunningServer, ServerTls } from '../net/running-server.js';
import {
  API_GROUP_LIST,
  API_GROUP_RESOURCES,
  API_GROUPS,
  ApiError,
  CORE_V1_RESOURCES,
  LEGACY_VERSION,
  apiVersions,
  badRequest,
  methodNotAllowed,
  namespaceList,
  namespaceNotFound,
  namespaceObject,
  pathNotFound,
  podList,
  podNotFound,
  podObject,
  requestEntityTooLarge,
  unauthorized,
  type DemoPod,
} from './api-objects.js';
import { containerProcessSpec, createPodDirectories, demoPods } from './pods.js';
import { negotiateSpdyUpgrade, switchingProtocolsHead } from './spdy-handshake.js';
import { serveRemoteCommand, type Execution, type SessionStreams } from './remote-command.js';
import { decideRemoteCommand, type RemoteCommandTarget } from './remote-command-endpoint.js';
import { execInContainer } from './exec.js';
import { attachToContainer } from './attach.js';
import { ContainerMainProcess } from './containers.js';
import { ContainerLog, parseLogOptions, serveContainerLog } from './container-logs.js';
import { ProcessRegistry, type ProcessRegistryOptions } from './processes.js';
import { namespaceTable, podTable, tableRequested, type ApiObject } from './tables.js';
import { sendApiError, sendJson, sendRaw, writeApiErrorOnSocket, writeRaw } from './http-replies.js';
import { servePortForward } from './port-forward.js';
import { ChannelConnection } from '../connections/websocket/channel-connection.js';
import { MessageByteStream } from '../connections/websocket/message-byte-stream.js';
import { parseSubprotocolHeader, tunneledSpdyProtocols, SPDY_TUNNELING_PREFIX } from '../codecs/channels/protocols.js';
import { serveRemoteCommandOverWebSocket } from './websocket-remote-command.js';
import { acceptWebSocket, isWebSocketUpgrade, SPDY_REFUSED, webSocketHandshakeProblem, type StreamingMode } from './websocket-upgrade.js';
import { PodServices } from './pod-services.js';
import { parsePortForwardRequest, PortForwardRequestError } from '../codecs/k8s/port-forward-request.js';
import { decodeSegment } from './path-segments.js';
import { isPrivileged, TokenAuthenticator, type ClusterUser, type LegacyUser } from './identity.js';
import { forbidden, RuleAuthorizer, type AccessRule } from './authorizer.js';
import { impersonate } from './impersonation.js';
import { requestAttributes, type RequestAttributes } from './request-info.js';
import { selfSubjectAccessReview, subjectAccessReview, tokenReview } from './reviews.js';
import { SessionLog, sessionRecord, type SessionIdentity, type SessionRecord } from './session-record.js';
import type { RawAnswer } from './http-replies.js';
import { decodeProtobufReview } from './protobuf-reviews.js';

/** The SPDY port-forward protocol a 1.28 kubelet speaks (apimachinery portforward/constants.go). */
const PORT_FORWARD_PROTOCOLS = ['portforward.k8s.io'];

export interface LegacyCluster extends RunningServer {
  /** Writes a line to a container's log, as its process would (`kubectl logs` shows it; `-f` at once). */
  appendContainerLog(pod: string, container: string, line: string): void;
  /** Clients following a container's log right now (`logs -f`). */
  logFollowers(pod: string, container: string): number;
  /** Stops the pod's service on a pod port (connections are refused) or starts it again. */
  setPodPortOpen(pod: string, podPort: number, open: boolean): Promise<void>;
  /** The effective identity of every exec, attach and port-forward session so far, oldest first. */
  sessions(): SessionRecord[];
}

export interface LegacyClusterOptions {
  listen: ListenAddress;
  /**
   * The privileged bearer token (user `kubernetes-admin`, group `system:masters`: allowed
   * everything). Every request must carry this or a `users` token: this server runs commands on its host.
   */
  token: string;
  /** Token-file users (kube-apiserver `--token-auth-file`); they may do what `rules` allow. */
  users?: LegacyUser[];
  /** RBAC-like rules for `users` (authorizer.ts); none: users may only use discovery and self-reviews. */
  rules?: AccessRule[];
  tls?: ServerTls;
  logger: Logger;
  /** Where the pods' scratch directories go; a fresh temporary directory (removed on close) by default. */
  workRoot?: string;
  /** How long the kubelet side waits for a client's exec/attach streams; 30 s, as the kubelet. */
  streamCreationTimeoutMs?: number;
  /** Which upgrades exec, attach and port-forward accept (websocket-upgrade.ts); `spdy`, a 1.28 cluster, by default. */
  streaming?: StreamingMode;
  /** Loads node-pty for tty sessions (optional dependency); the dynamic import by default. */
  loadPty?: ProcessRegistryOptions['loadPty'];
}

const NAMESPACES = ['default'];
const POD_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/?$/;
const POD_LOG_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/log\/?$/;
const POD_LIST_PATH = /^\/api\/v1\/(?:namespaces\/([^/]+)\/)?pods\/?$/;
const NAMESPACE_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/?$/;
const API_GROUP_PATH = /^\/apis\/([^/]+)\/?$/;
const API_GROUP_VERSION_PATH = /^\/apis\/([^/]+\/[^/]+)\/?$/;
/** The privileged-only record of sessions (session-record.ts). */
export const SESSIONS_PATH = '/legacy-cluster/v1/sessions';
/** kube-apiserver's default --max-resource-write-bytes. */
const MAX_BODY_BYTES = 3 * 1024 * 1024;

/** Who a request acts as, once authenticated, impersonation applied, and authorized. */
interface Admitted {
  identity: SessionIdentity;
  attributes: RequestAttributes;
}

/**
 * A stand-in for a Kubernetes 1.28 API server with its kubelet: discovery, pods, and exec/attach
 * (and port-forward) over SPDY/3.1 only — WebSocket upgrades are refused with 403, so kubectl falls
 * back to SPDY as it does against a real 1.28 cluster. Its containers are THIS HOST (see pods.ts).
 *
 * Every request passes the API server's filters in their order: authentication (identity.ts: the
 * privileged token or a token-file user; 401 otherwise), impersonation (impersonation.ts), and
 * authorization (authorizer.ts, verbs from the HTTP method as in 1.28 — a GET exec upgrade is `get`
 * on pods/exec: request-info.ts). It serves TokenReview, SubjectAccessReview and
 * SelfSubjectAccessReview (reviews.ts), and records the effective identity of each exec, attach and
 * port-forward session (`sessions()`, `GET /legacy-cluster/v1/sessions`).
 */
export async function startLegacyCluster(options: LegacyClusterOptions): Promise<LegacyCluster> {
  const { logger } = options;
  const pods = demoPods();
  const ownsWorkRoot = !options.workRoot;
  const workRoot = options.workRoot ?? (await mkdtemp(join(tmpdir(), 'ksg-legacy-cluster-')));
  const podDirs = await createPodDirectories(pods, workRoot);
  const registry = new ProcessRegistry({ loadPty: options.loadPty });
  const mainProcesses = new Map<string, ContainerMainProcess>();
  const containerLogs = new Map<string, ContainerLog>();
  const podServices = new Map<DemoPod, PodServices>();
  for (const pod of pods) {
    for (const container of pod.containers) {
      const spec = containerProcessSpec(pod, podDirs.get(pod)!, container.command);
      const log = new ContainerLog();
      containerLogs.set(`${pod.namespace}/${pod.name}/${container.name}`, log);
      const main = new ContainerMainProcess(container, spec, registry, logger.child({ namespace: pod.namespace, pod: pod.name }), log);
      mainProcesses.set(`${pod.namespace}/${pod.name}/${container.name}`, main);
    }
    const services = new PodServices(pod);
    await services.start();
    podServices.set(pod, services);
  }
  const restartCount = (pod: DemoPod, container: string): number =>
    mainProcesses.get(`${pod.namespace}/${pod.name}/${container}`)?.restartCount ?? 0;
  const authenticator = new TokenAuthenticator(options.token, options.users);
  const authorizer = new RuleAuthorizer(options.rules);
  const sessionLog = new SessionLog();
  /** Authentication, impersonation, authorization; throws the Status, or returns a raw refusal. */
  const admit = (req: IncomingMessage): Admitted | RawAnswer => {
    const requestor = authenticator.authenticateHeader(req.headers.authorization);
    if (!requestor) throw unauthorized();
    let identity: SessionIdentity = { user: requestor };
    const impersonation = impersonate(req.headersDistinct, req.url ?? '/', requestor, authorizer);
    switch (impersonation.kind) {
      case 'invalid':
        return impersonation.answer;
      case 'forbidden':
        throw impersonation.error;
      case 'impersonated':
        identity = { user: impersonation.user, requestor };
        break;
      case 'none':
        break;
    }
    const attributes = requestAttributes(req.method ?? 'GET', req.url ?? '/', identity.user);
    const decision = authorizer.authorize(attributes);
    if (!decision.allowed) throw forbidden(attributes, decision.reason);
    return { identity, attributes };
  };
  const findPod = (namespace: string, name: string): DemoPod | undefined =>
    pods.find((pod) => pod.namespace === namespace && pod.name === name);
  const sessions = new Set<Promise<void>>();
  const connections = new Set<SpdyConnection>();
  const webSockets = new Set<ReturnType<typeof acceptWebSocket>>();
  const streaming = options.streaming ?? 'spdy';

  const server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }) : http.createServer();
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };
  server.on('connection', track);

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void serveRequest(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendApiError(res, asApiError(error));
      else res.destroy();
    });
  });

  async function serveRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const admitted = admit(req);
    if (!('identity' in admitted)) return sendRaw(res, admitted);
    const decision = decideRemoteCommand(req, findPod);
    switch (decision.kind) {
      case 'error':
        throw decision.error;
      case 'raw':
        return sendRaw(res, decision.answer);
      case 'upgrade':
        // Go's check passed on a request Node did not take for an upgrade (e.g. "Connection: noupgrade").
        throw badRequest('Upgrade request required');
      case 'not-mine':
        break;
    }
    const path = splitRequestTarget(req.url ?? '/').pathname;
    const review = reviewHandler(path, admitted.identity.user);
    if (review) {
      if (req.method !== 'POST') throw methodNotAllowed();
      return sendJson(res, 201, review(await readReviewBody(req)));
    }
    if (path === SESSIONS_PATH && req.method === 'GET') {
      // Only the privileged credential (not even a rule) may read who ran what.
      if (!isPrivileged(admitted.identity.user)) throw forbidden(admitted.attributes);
      return sendJson(res, 200, sessionLog.list());
    }
    if (req.method !== 'GET') throw methodNotAllowed();
    const logPath = POD_LOG_PATH.exec(path);
    if (logPath) return serveLog(req, res, decodeSegment(logPath[1]!), decodeSegment(logPath[2]!));
    sendJson(res, 200, route(path, req));
  }

  /** `kubectl logs [-f] [--tail] [--since] [--timestamps] [-c]`: the container's log, followed or not. */
  function serveLog(req: IncomingMessage, res: ServerResponse, namespace: string, name: string): void {
    const pod = findPod(namespace, name);
    if (!pod) throw podNotFound(name);
    const query = new URLSearchParams(splitRequestTarget(req.url ?? '/').query);
    const names = pod.containers.map((container) => container.name);
    const container = query.get('container') ?? (names.length === 1 ? names[0]! : undefined);
    // The API server's words (pkg/registry/core/pod/strategy.go, LogLocation).
    if (container === undefined) throw badRequest(`a container name must be specified for pod ${name}, choose one of: [${names.join(' ')}]`);
    if (!names.includes(container)) throw badRequest(`container ${container} is not valid for pod ${name}`);
    const options = parseLogOptions(query);
    const log = containerLogs.get(`${pod.namespace}/${pod.name}/${container}`)!;
    serveContainerLog(req, res, log, options, logger.child({ kind: 'logs', namespace: pod.namespace, pod: pod.name, container, follow: options.follow }));
  }

  /** The review a POST to this path creates, if any (cluster-scoped paths only, as the API server). */
  function reviewHandler(path: string, caller: ClusterUser): ((body: unknown) => object) | undefined {
    switch (path.replace(/\/$/, '')) {
      case '/apis/authentication.k8s.io/v1/tokenreviews':
        return (body) => tokenReview(body, authenticator);
      case '/apis/authorization.k8s.io/v1/subjectaccessreviews':
        return (body) => subjectAccessReview(body, authorizer);
      case '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews':
        return (body) => selfSubjectAccessReview(body, caller, authorizer);
      default:
        return undefined;
    }
  }

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    try {
      const admitted = admit(req);
      if (!('identity' in admitted)) return writeRaw(socket, admitted);
      const portForward = parsePortForwardRequest(req.url ?? '/');
      if (portForward) {
        handlePortForwardUpgrade(req, socket, head, portForward.namespace, portForward.pod, portForward.ports.length, admitted.identity);
        return;
      }
      const decision = decideRemoteCommand(req, findPod, streaming);
      if (decision.kind === 'error' && decision.error === SPDY_REFUSED) noteSpdyRefused(req);
      switch (decision.kind) {
        case 'not-mine':
          throw pathNotFound();
        case 'error':
          throw decision.error;
        case 'raw':
          return writeRaw(socket, decision.answer);
        case 'upgrade': {
          const { protocol, target } = decision;
          const connection = acceptSpdy(socket, head, protocol);
          const streamCreationTimeoutMs = options.streamCreationTimeoutMs;
          return startRemoteCommand(protocol, target, admitted.identity, (run) => serveRemoteCommand({ connection, protocol, streams: target.streams, streamCreationTimeoutMs, ...run }));
        }
        case 'websocket': {
          const { protocol, target } = decision;
          const channels = new ChannelConnection(trackWebSocket(acceptWebSocket(req, socket, head, protocol.name)), protocol);
          return startRemoteCommand(protocol.name, target, admitted.identity, (run) => serveRemoteCommandOverWebSocket({ channels, streams: target.streams, ...run }));
        }
      }
    } catch (error) {
      writeApiErrorOnSocket(socket, asApiError(error));
    }
  });

  /** What both transports share: the session record, the process to start, the log fields. */
  interface RemoteCommandRun {
    start(streams: SessionStreams): Execution;
    logger: Logger;
    logFields: Record<string, unknown>;
  }

  /** Records an exec/attach and runs it with `serve` (SPDY: serveRemoteCommand; WebSocket: serveRemoteCommandOverWebSocket). */
  function startRemoteCommand(protocol: string, target: RemoteCommandTarget, identity: SessionIdentity, serve: (run: RemoteCommandRun) => Promise<void>): void {
    const { pod, container, kind } = target;
    const dir = podDirs.get(pod)!;
    const record = recordSession(sessionRecord({ kind, namespace: pod.namespace, pod: pod.name, container: container.name, protocol }, identity));
    const main = mainProcesses.get(`${pod.namespace}/${pod.name}/${container.name}`)!;
    const session = serve({
      start: (streams) =>
        kind === 'exec'
          ? execInContainer(containerProcessSpec(pod, dir, target.command), target.streams.tty, streams, registry, logger)
          : attachToContainer(main, target.streams.tty, streams),
      logger,
      logFields: { ...identityLogFields(record), container: container.name, command: kind === 'exec' ? target.command : container.command },
    });
    sessions.add(session);
    void session.then(() => sessions.delete(session));
  }

  /** One line per refused SPDY upgrade (`--streaming websocket`): tests count them. */
  function noteSpdyRefused(req: IncomingMessage): void {
    logger.info({ event: 'upgrade-refused', upgrade: String(req.headers.upgrade ?? ''), path: splitRequestTarget(req.url ?? '/').pathname }, 'SPDY upgrade refused');
  }

  /** A WebSocket of ours, tracked so that close() can end it. */
  function trackWebSocket(webSocket: ReturnType<typeof acceptWebSocket>): ReturnType<typeof acceptWebSocket> {
    webSockets.add(webSocket);
    webSocket.once('close', () => webSockets.delete(webSocket));
    return webSocket;
  }

  function handlePortForwardUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, namespace: string, name: string, queryPorts: number, identity: SessionIdentity): void {
    const pod = findPod(namespace, name);
    if (!pod) throw podNotFound(name);
    const tunneled = tunneledSpdyProtocols(parseSubprotocolHeader(req.headers['sec-websocket-protocol']));
    if (streaming !== 'spdy' && isWebSocketUpgrade(req) && tunneled.some((p) => PORT_FORWARD_PROTOCOLS.includes(p))) {
      // The 1.31 API server's tunneling (streamtunnel.go): SPDY inside the WebSocket's binary messages.
      const problem = webSocketHandshakeProblem(req);
      if (problem) throw badRequest(problem);
      const protocol = SPDY_TUNNELING_PREFIX + PORT_FORWARD_PROTOCOLS[0]!;
      const tunnel = new MessageByteStream(trackWebSocket(acceptWebSocket(req, socket, head, protocol)));
      return servePodPortForward(pod, trackSpdy(new SpdyConnection(tunnel, { role: 'server' })), protocol, identity);
    }
    if (String(req.headers.upgrade ?? '').toLowerCase() === 'websocket') {
      // The 1.28 kubelet reads WebSocket port-forwards from ?ports=; kubectl's tunneling request has
      // none, so it is refused with this 400 (spec §8). Channel-protocol clients are refused too:
      // this stand-in, like a cluster behind a WebSocket-unaware proxy, speaks SPDY only.
      if (queryPorts === 0) writeRaw(socket, { code: 400, headers: ['Content-Type: text/plain; charset=utf-8'], body: Buffer.from('query parameter "port" is required\n') });
      else writeRaw(socket, { code: 403, headers: [], body: Buffer.alloc(0) });
      return;
    }
    if (streaming === 'websocket') {
      noteSpdyRefused(req);
      throw SPDY_REFUSED;
    }
    const handshake = negotiateSpdyUpgrade(req, PORT_FORWARD_PROTOCOLS);
    if (!handshake.ok) {
      const contentType = handshake.body ? ['Content-Type: text/plain; charset=utf-8'] : [];
      writeRaw(socket, { code: handshake.status, headers: [...contentType, ...handshake.headers], body: Buffer.from(handshake.body) });
      return;
    }
    servePodPortForward(pod, acceptSpdy(socket, head, handshake.protocol), handshake.protocol, identity);
  }

  function servePodPortForward(pod: DemoPod, connection: SpdyConnection, protocol: string, identity: SessionIdentity): void {
    recordSession(sessionRecord({ kind: 'portforward', namespace: pod.namespace, pod: pod.name, protocol }, identity));
    const services = podServices.get(pod)!;
    servePortForward({
      connection,
      podName: pod.name,
      podUid: pod.uid,
      resolvePort: (port) => services.localPort(port),
      logger: logger.child({ kind: 'portforward', namespace: pod.namespace, pod: pod.name }),
    });
  }

  /** Keeps the session's identity and logs it: one line per session, as soon as it is upgraded. */
  function recordSession(record: SessionRecord): SessionRecord {
    sessionLog.add(record);
    logger.info({ event: 'session-identity', ...identityLogFields(record), ...(record.container ? { container: record.container } : {}), protocol: record.protocol }, 'session identity');
    return record;
  }

  /** Answers 101 and runs SPDY over the socket, tracked so that close() can end it. */
  function acceptSpdy(socket: Duplex, head: Buffer, protocol: string): SpdyConnection {
    socket.write(switchingProtocolsHead(protocol));
    (socket as Socket).setNoDelay?.(true);
    return trackSpdy(new SpdyConnection(socket, { role: 'server' }, head));
  }

  function trackSpdy(connection: SpdyConnection): SpdyConnection {
    connections.add(connection);
    connection.on('close', () => connections.delete(connection));
    return connection;
  }

  function route(path: string, req: IncomingMessage): object {
    if (path === '/version') return LEGACY_VERSION;
    if (path === '/api') return apiVersions(req.headers.host ?? '127.0.0.1');
    if (path === '/apis') return API_GROUP_LIST;
    if (path === '/api/v1') return CORE_V1_RESOURCES;
    const group = API_GROUP_PATH.exec(path);
    if (group && API_GROUPS.has(group[1]!)) return API_GROUPS.get(group[1]!)!;
    const groupVersion = API_GROUP_VERSION_PATH.exec(path);
    if (groupVersion && API_GROUP_RESOURCES.has(groupVersion[1]!)) return API_GROUP_RESOURCES.get(groupVersion[1]!)!;
    // kubectl get asks for a Table (server-side printing); anything else gets the objects.
    const table = tableRequested(req.headers.accept, splitRequestTarget(req.url ?? '/').query);
    const list = POD_LIST_PATH.exec(path);
    if (list) {
      const namespace = list[1] ? decodeSegment(list[1]) : undefined;
      const found = podList(namespace ? pods.filter((pod) => pod.namespace === namespace) : pods, restartCount) as { items: ApiObject[] };
      return table ? podTable(table, found.items) : found;
    }
    const one = POD_PATH.exec(path);
    if (one) {
      const name = decodeSegment(one[2]!);
      const pod = findPod(decodeSegment(one[1]!), name);
      if (!pod) throw podNotFound(name);
      const object = podObject(pod, (container) => restartCount(pod, container));
      return table ? podTable(table, [object as ApiObject]) : object;
    }
    if (path === '/api/v1/namespaces' || path === '/api/v1/namespaces/') {
      const found = namespaceList(NAMESPACES, pods[0]!.createdAt) as { items: ApiObject[] };
      return table ? namespaceTable(table, found.items) : found;
    }
    const namespace = NAMESPACE_PATH.exec(path);
    if (namespace) {
      const name = decodeSegment(namespace[1]!);
      if (!NAMESPACES.includes(name)) throw namespaceNotFound(name);
      const object = namespaceObject(name, pods[0]!.createdAt);
      return table ? namespaceTable(table, [object as ApiObject]) : object;
    }
    throw pathNotFound();
  }

  const address = await listen(server, options.listen);
  const scheme = options.tls ? 'https' : 'http';
  logger.info({ event: 'listening', url: `${scheme}://${address.authority}`, workRoot }, 'legacy cluster listening');
  let closing: Promise<void> | undefined;
  return {
    url: `${scheme}://${address.authority}`,
    host: address.host,
    port: address.port,
    sessions: () => sessionLog.list(),
    appendContainerLog(pod: string, container: string, line: string) {
      const log = containerLogs.get(`default/${pod}/${container}`);
      if (!log) throw new Error(`no container ${container} in pod ${pod}`);
      log.appendLine(line);
    },
    logFollowers(pod: string, container: string) {
      return containerLogs.get(`default/${pod}/${container}`)?.followerCount ?? 0;
    },
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
        for (const webSocket of webSockets) webSocket.terminate();
        for (const socket of sockets) socket.destroy();
        await Promise.all(sessions);
        await registry.killAll();
        await Promise.all([...podServices.values()].map((services) => services.stop()));
        await stopped;
        if (ownsWorkRoot) await rm(workRoot, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}

/** Who a session runs as, for its log lines: names and groups, never a credential. */
function identityLogFields(record: SessionRecord): Record<string, unknown> {
  return {
    kind: record.kind,
    namespace: record.namespace,
    pod: record.pod,
    user: record.user,
    groups: record.groups,
    ...(record.impersonatedBy ? { impersonatedBy: record.impersonatedBy } : {}),
  };
}

/**
 * A review request body, at most MAX_BODY_BYTES (the rest is drained, not kept): JSON, or the
 * protobuf kubectl sends for built-in kinds.
 */
async function readReviewBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  if (size > MAX_BODY_BYTES) throw requestEntityTooLarge(MAX_BODY_BYTES);
  const body = Buffer.concat(chunks);
  try {
    if (String(req.headers['content-type'] ?? '').startsWith('application/vnd.kubernetes.protobuf')) return decodeProtobufReview(body);
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (error) {
    throw badRequest(`the body of the request could not be decoded: ${(error as Error).message}`);
  }
}


function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof PortForwardRequestError) return badRequest(error.message);
  return new ApiError({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: ${(error as Error).message}`,
    reason: 'InternalError',
    details: { causes: [{ message: (error as Error).message }] },
    code: 500,
  });
}
