import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorStatus } from '../../codecs/k8s/status.js';
import type { UserInfo } from '../../auth/identity.js';
import { HttpStatusError, sendStatusOnSocket, sendStatusResponse } from '../../net/http-answers.js';
import { acceptClientWebSocket } from '../../connections/websocket/client-websocket.js';
import { headerValues } from '../../auth/credentials.js';
import type { Duplex } from 'node:stream';
import { hostname } from 'node:os';
import { SessionWatch } from './session-watch.js';
import type { Logger } from '../../observability/logger.js';
import type { ClientAddress } from '../../net/client-address.js';
import type { LiveSessionView, SessionRegistry } from '../session-registry.js';
import { securityHeaders } from './security-headers.js';
import { StaticAssets } from './static-assets.js';
import { Replicas, type UiPeerOptions } from './replicas.js';
import { isRecordingsRoute, RecordingsApi } from './recordings-api.js';

export interface UiOptions {
  /** Where the interface is served: starts and ends with `/` (`/ui/`). */
  path: string;
  /** Groups whose members see and may end every session; others see their own. */
  admins: string[];
  /** The built bundle (static-assets.ts defaultAssetsDir). */
  assetsDir: string;
  /** The other replicas (ui.peers, ui.peerSecretFile); absent: this replica lists only its own sessions. */
  peers?: UiPeerOptions;
  /** `recording.directory`, listed by the Recordings page; undefined when recording is off. */
  recordingsDirectory?: string;
}

export interface UiContext {
  registry: SessionRegistry;
  /** The cluster names behind the gateway (the Terminal page's choice) and the default one. */
  clusters: readonly string[];
  defaultCluster?: string;
  /** The edge authenticator chain, per request (AccessControl.authenticate). */
  authenticate(req: IncomingMessage, client: ClientAddress): Promise<UserInfo>;
  /** The existing WebSocket Origin check (auth/origin.ts with auth.allowedOrigins), for state-changing requests. */
  originAllowed(req: IncomingMessage, client: ClientAddress): { allowed: boolean; reason: string };
  logger: Logger;
  /** The gateway's listener once it listens: its port and scheme (the peers', too) and `host:port`. */
  listener(): { port: number; tls: boolean; authority: string };
}

const END_PATH = /^sessions\/([A-Za-z0-9-]{1,64})\/end$/;
const WATCH_PATH = /^sessions\/([A-Za-z0-9-]{1,64})\/watch$/;
/** The Watch page's WebSocket subprotocol: output as binary messages, resizes as JSON text; nothing is read from the watcher. */
const WATCH_PROTOCOL = 'watch.kube-stream-gateway.v1';

/**
 * The web interface on the gateway's listener: its page and bundle, and a small JSON API under
 * `{path}api/` that authenticates every request by the edge authenticators (no cookie, no session
 * of its own). Reading is GET; ending a session is POST only, and refused from a foreign Origin.
 */
export class UiServer {
  private readonly assets: StaticAssets;
  private readonly recordings: RecordingsApi;
  /** Feeds the Watch page; the gateway hands `watch.tapFactory` to the exec/attach translator. */
  readonly watch = new SessionWatch();
  private readonly replicas?: Replicas;

  constructor(
    private readonly options: UiOptions,
    private readonly context: UiContext,
  ) {
    this.assets = new StaticAssets(options.assetsDir);
    this.recordings = new RecordingsApi(options.recordingsDirectory, context.logger);
    if (options.peers) this.replicas = new Replicas(options.peers, `${options.path}api/`, () => context.listener(), context.logger);
  }

  close(): void {
    this.replicas?.close();
  }

  /** True for a request under the interface's path (routed here before any cluster). */
  handles(url: string | undefined): boolean {
    const path = (url ?? '').split('?')[0]!;
    return path.startsWith(this.options.path) || path === this.options.path.slice(0, -1);
  }

  async serve(req: IncomingMessage, res: ServerResponse, client: ClientAddress): Promise<void> {
    const path = (req.url ?? '').split('?')[0]!;
    if (path === this.options.path.slice(0, -1)) {
      res.writeHead(308, { ...securityHeaders(), location: this.options.path, 'content-length': '0' }).end();
      return;
    }
    const rest = path.slice(this.options.path.length);
    try {
      if (rest.startsWith('api/')) return await this.api(rest.slice('api/'.length), req, res, client);
      if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed(req.method, 'GET');
      if (!this.assets.serve(rest, req, res)) throw new HttpStatusError(404, 'NotFound', 'the web interface has no such page');
    } catch (error) {
      if (!(error instanceof HttpStatusError)) throw error;
      sendUiStatus(res, error);
    }
  }

  /**
   * The Watch page's WebSocket (`{path}api/sessions/{id}/watch`): the caller must be allowed to see
   * the session (admin, or its own), authenticated as any request (the token in the browser token
   * subprotocol). The gateway has checked the Origin already, as for every WebSocket upgrade.
   */
  async serveUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, client: ClientAddress): Promise<void> {
    try {
      const path = (req.url ?? '').split('?')[0]!;
      const match = WATCH_PATH.exec(path.slice(this.options.path.length + 'api/'.length));
      if (!path.startsWith(`${this.options.path}api/`) || !match) throw new HttpStatusError(404, 'NotFound', 'the web interface has no such WebSocket');
      if (req.method !== 'GET' || String(req.headers.upgrade).toLowerCase() !== 'websocket') throw new HttpStatusError(400, 'BadRequest', 'a WebSocket upgrade (GET) is required');
      const offered = headerValues(req, 'sec-websocket-protocol').flatMap((value) => value.split(',')).map((value) => value.trim());
      if (!offered.includes(WATCH_PROTOCOL)) throw new HttpStatusError(400, 'BadRequest', `the watch needs the subprotocol ${WATCH_PROTOCOL}`);
      const user = await this.context.authenticate(req, client);
      const admin = user.groups.some((group) => this.options.admins.includes(group));
      const id = match[1]!;
      const target = this.context.registry.list().find((view) => view.id === id && (admin || view.subject.user === user.name));
      if (!target) throw new HttpStatusError(404, 'NotFound', `no live session ${id}`);
      if (target.subject.kind !== 'exec' && target.subject.kind !== 'attach') throw new HttpStatusError(400, 'BadRequest', `only exec and attach sessions can be watched, not ${target.subject.kind}`);
      const ws = acceptClientWebSocket(req, socket, head, WATCH_PROTOCOL);
      // Read-only: what the watcher sends is read (so control frames work) and ignored.
      ws.receive({ binaryStart: () => undefined, binaryData: () => undefined, binaryEnd: () => undefined, text: () => undefined });
      const unwatch = this.context.registry.list().some((view) => view.id === id)
        ? this.watch.watch(id, {
            send: (data, binary) => ws.send(data, binary),
            get backlog() {
              return socket.writableLength;
            },
            drop: (code, reason) => (code === 1000 ? ws.close(code, reason) : ws.terminate()),
          })
        : undefined;
      if (!unwatch) ws.close(1000, 'the session ended');
      this.context.logger.info({ event: 'watch-start', auditID: id, watcher: user.name, user: target.subject.user }, 'watching a session');
      ws.on('close', (code, reason) => {
        unwatch?.();
        this.context.logger.info({ event: 'watch-end', auditID: id, watcher: user.name, code, reason }, 'stopped watching a session');
      });
    } catch (error) {
      if (!(error instanceof HttpStatusError)) throw error;
      sendStatusOnSocket(socket, error);
    }
  }

  /** A session is over: whoever watches it is told. */
  sessionEnded(id: string): void {
    this.watch.ended(id, 'the session ended');
  }

  private async api(route: string, req: IncomingMessage, res: ServerResponse, client: ClientAddress): Promise<void> {
    if (route.startsWith('peer/')) return this.peerApi(route.slice('peer/'.length), req, res);
    if (isRecordingsRoute(route)) {
      return this.recordings.serve(route, req, res, async () => {
        const user = await this.context.authenticate(req, client);
        return { user, admin: user.groups.some((group) => this.options.admins.includes(group)) };
      });
    }
    const end = END_PATH.exec(route);
    const method = req.method ?? 'GET';
    const known = route === 'whoami' || route === 'sessions' || route === 'clusters';
    if (!known && !end) throw new HttpStatusError(404, 'NotFound', 'the web interface has no such API');
    // Checked before authenticating: a GET never changes anything, whoever sends it.
    if (end && method !== 'POST') throw methodNotAllowed(method, 'POST');
    if (!end && method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(method, 'GET');
    if (end) {
      // A client certificate is ambient (the browser presents it to any page's request): a foreign page must not end sessions.
      const origin = this.context.originAllowed(req, client);
      if (!origin.allowed) throw new HttpStatusError(403, 'Forbidden', `request from origin ${JSON.stringify(req.headers.origin)} refused: ${origin.reason} (auth.allowedOrigins)`);
    }
    const user = await this.context.authenticate(req, client);
    const admin = user.groups.some((group) => this.options.admins.includes(group));
    if (route === 'whoami') return sendJson(res, { user: user.name, groups: user.groups, admin });
    if (route === 'clusters') return sendJson(res, { clusters: this.context.clusters, default: this.context.defaultCluster ?? null });
    const visible = this.visibleTo(user.name, admin);
    if (route === 'sessions') return sendJson(res, await this.everyReplicasSessions(user, visible));
    const id = end![1]!;
    if (this.replicas && !visible.some((view) => view.id === id)) return sendJson(res, await this.endElsewhere(user, id));
    this.endHere(id, visible, user.name, admin);
    sendJson(res, { ended: id });
  }

  private visibleTo(user: string, admin: boolean): LiveSessionView[] {
    return this.context.registry.list().filter((view) => admin || view.subject.user === user);
  }

  /** Ends session `id` on this replica for `user`; `via` names the replica that forwarded the request. */
  private endHere(id: string, visible: LiveSessionView[], user: string, admin: boolean, via?: string): void {
    const target = visible.find((view) => view.id === id);
    // Someone else's session is "not found" to a non-admin: its existence is not theirs to learn.
    if (!target) throw new HttpStatusError(404, 'NotFound', `no live session ${id}`);
    if (!admin) throw new HttpStatusError(403, 'Forbidden', `ending sessions needs membership in one of ui.admins`);
    const message = `session ended by admin ${user}`;
    this.context.registry.end(id, errorStatus(403, 'Forbidden', message), 'ended-by-admin');
    this.context.logger.info({ event: 'session-ended-by-admin', auditID: id, admin: user, user: target.subject.user, upstream: target.subject.upstream, ...(via === undefined ? {} : { via }) }, message);
  }

  /** This replica's sessions the user may see, and (with peers) every other reachable replica's. */
  private async everyReplicasSessions(user: UserInfo, visible: LiveSessionView[]): Promise<Record<string, unknown>> {
    const listener = this.context.listener();
    const replica = this.replicas?.mark(listener.authority) ?? { name: hostname(), address: listener.authority, local: true };
    const sessions = visible.map((view) => ({ ...sessionJson(view), replica }));
    if (!this.replicas) return { sessions, replica, peers: [] };
    const others = await this.replicas.sessions({ user: user.name, groups: user.groups, via: this.replicas.name });
    return { sessions: [...sessions, ...others.sessions], replica, peers: others.peers };
  }

  /** A session not on this replica: every peer is asked to end it, as this user. */
  private async endElsewhere(user: UserInfo, id: string): Promise<Record<string, unknown>> {
    const result = await this.replicas!.end({ user: user.name, groups: user.groups, via: this.replicas!.name }, id);
    if (result.ended) {
      this.context.logger.info({ event: 'session-end-forwarded', auditID: id, admin: user.name, replica: result.replica }, `session on replica ${result.replica} ended by admin ${user.name}`);
      return { ended: id, replica: result.replica };
    }
    if (result.forbidden) throw new HttpStatusError(403, 'Forbidden', `ending sessions needs membership in one of ui.admins`);
    const unreachable = result.unreachable > 0 ? ` (${result.unreachable} peer replica(s) did not answer)` : '';
    throw new HttpStatusError(404, 'NotFound', `no live session ${id}${unreachable}`);
  }

  /**
   * The API other replicas call (`{path}api/peer/…`), for a user they authenticated: this replica's
   * own sessions only (never its peers': no loops), with the same visibility and admin rules. Only a
   * request signed with the shared secret gets here; without peers configured it does not exist.
   */
  private async peerApi(route: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const end = END_PATH.exec(route);
    if (!this.replicas || (route !== 'sessions' && !end)) throw new HttpStatusError(404, 'NotFound', 'the web interface has no such API');
    if (end && req.method !== 'POST') throw methodNotAllowed(req.method, 'POST');
    if (!end && req.method !== 'GET') throw methodNotAllowed(req.method, 'GET');
    const caller = this.replicas.callerOf(req);
    const admin = caller.groups.some((group) => this.options.admins.includes(group));
    const visible = this.visibleTo(caller.user, admin);
    if (!end) return sendJson(res, this.replicas.peerSessionsAnswer(visible.map(sessionJson)));
    this.endHere(end[1]!, visible, caller.user, admin, caller.via);
    sendJson(res, { ended: end[1], replica: this.replicas.name });
  }
}

function sessionJson(view: LiveSessionView): Record<string, unknown> {
  const { subject } = view;
  return {
    id: view.id,
    user: subject.user,
    cluster: subject.upstream,
    namespace: subject.namespace,
    pod: subject.pod,
    container: subject.container,
    command: subject.command,
    kind: subject.kind,
    protocol: view.clientProtocol,
    client: subject.clientAddress,
    userAgent: subject.userAgent,
    bytesFromClient: view.bytesFromClient,
    bytesToClient: view.bytesToClient,
    startedAt: new Date(view.startedAt).toISOString(),
    durationMs: view.durationMs,
  };
}

function methodNotAllowed(method: string | undefined, allowed: string): HttpStatusError {
  return new HttpStatusError(405, 'MethodNotAllowed', `${method ?? ''} is not allowed here; use ${allowed}`);
}

function sendJson(res: ServerResponse, body: unknown): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(200, { ...securityHeaders(), 'content-type': 'application/json', 'content-length': bytes.length, 'cache-control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : bytes);
}

function sendUiStatus(res: ServerResponse, error: HttpStatusError): void {
  for (const [name, value] of Object.entries(securityHeaders())) res.setHeader(name, value);
  res.setHeader('cache-control', 'no-store');
  sendStatusResponse(res, error);
}
