import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { HttpStatusError } from '../../net/http-answers.js';
import type { Logger } from '../../observability/logger.js';
import { PeerVerifier, PEER_HEADER, type PeerCaller, type PeerRefusal } from './peer-auth.js';
import { eachPeer, PeerClient, PeerError, type PeerFailure } from './peer-client.js';
import { PeerDirectory, type PeerAddress, type PeerSource } from './peer-directory.js';

/** ui.peers and ui.peerSecretFile, as the web interface uses them (docs/ui.md, "Several replicas"). */
export interface UiPeerOptions {
  /** The shared secret (ui.peerSecretFile) that signs requests between replicas. */
  secret: Buffer;
  /** Where the other replicas are; absent: this replica answers peers but asks none. */
  source?: PeerSource;
  /** PEM bundle verifying the peers' certificates (ui.peerCA); the system's CAs when absent. */
  ca?: string;
  /** One peer's whole answer at most (default 2 s). */
  timeoutMs?: number;
  /** Told about every failed peer request (metrics). */
  onFailure?: (reason: PeerFailure) => void;
  /** Told about every refused request on the peer API (metrics). */
  onRefused?: (reason: PeerRefusal) => void;
}

/** A replica as it marks its sessions: its name (the pod's host name) and the address it was reached at. */
interface ReplicaMark {
  name: string;
  address: string;
  local: boolean;
}

/** How one peer answered, as the Sessions API reports it. */
export interface PeerReport {
  name?: string;
  address: string;
  ok: boolean;
  error?: string;
}

/** What the peer API's answer for its sessions looks like. */
interface PeerSessionsAnswer {
  replica: { name: string; id: string };
  sessions: Array<Record<string, unknown>>;
}

/** Fields a peer's session may carry: anything else is dropped. */
const SESSION_FIELDS = ['id', 'user', 'cluster', 'namespace', 'pod', 'container', 'command', 'kind', 'protocol', 'client', 'userAgent', 'bytesFromClient', 'bytesToClient', 'startedAt', 'durationMs'];
/** Sessions taken from one peer at most. */
const MAX_SESSIONS_PER_PEER = 10_000;
const SESSION_ID = /^[A-Za-z0-9-]{1,64}$/;

export type EndElsewhere = { ended: true; replica: string } | { ended: false; forbidden: boolean; unreachable: number };

/**
 * This replica among the others: it asks them for their sessions and forwards ends to them, signed
 * with the shared secret and carrying the signed-in user; and it checks such requests from them.
 */
export class Replicas {
  /** This replica's name: the host name, which is the pod's name in Kubernetes. */
  readonly name = hostname();
  /** Tells this replica apart from others with the same name, and recognises itself in a list. */
  readonly id = randomUUID();
  private readonly verifier: PeerVerifier;
  private peerClient?: PeerClient;
  private readonly directory?: PeerDirectory;

  constructor(
    private readonly options: UiPeerOptions,
    /** Where the API is served (`{ui.path}api/`). */
    private readonly apiPath: string,
    /** Known once the gateway listens, which is before any request. */
    private readonly listener: () => { port: number; tls: boolean },
    private readonly logger: Logger,
  ) {
    this.verifier = new PeerVerifier(options.secret);
    if (options.source) this.directory = new PeerDirectory(options.source, () => listener().port);
  }

  /** The peers listen as this replica does (one Deployment): TLS when it serves TLS. */
  private get client(): PeerClient {
    const { secret, ca, timeoutMs } = this.options;
    this.peerClient ??= new PeerClient({ secret, tls: this.listener().tls, ca, timeoutMs });
    return this.peerClient;
  }

  /**
   * The caller of a peer API request, as the replica that forwarded it authenticated them; a 401
   * for anything else. The claims name the method and path, so one request's header opens nothing else.
   */
  callerOf(req: IncomingMessage): PeerCaller {
    const path = req.url ?? '';
    const verdict = this.verifier.verify(req.method ?? '', path, req.headers[PEER_HEADER]);
    if ('caller' in verdict) return verdict.caller;
    this.options.onRefused?.(verdict.refused);
    this.logger.warn({ event: 'peer-request-refused', reason: verdict.refused, method: req.method, path }, 'a request on the peer API was refused');
    throw new HttpStatusError(401, 'Unauthorized', 'this API is for other replicas of the gateway only');
  }

  peerSessionsAnswer(sessions: Array<Record<string, unknown>>): PeerSessionsAnswer {
    return { replica: { name: this.name, id: this.id }, sessions };
  }

  mark(address: string): ReplicaMark {
    return { name: this.name, address, local: true };
  }

  /** The sessions `caller` may see on every other replica, and how each peer answered. */
  async sessions(caller: PeerCaller): Promise<{ sessions: Array<Record<string, unknown>>; peers: PeerReport[] }> {
    if (!this.directory) return { sessions: [], peers: [] };
    const { peers, problems } = await this.directory.resolve();
    const reports: PeerReport[] = problems.map((problem) => (problem.reason === 'dns' ? this.failed(problem.address, new PeerError('dns', problem.error)) : { address: problem.address, ok: false, error: problem.reason }));
    const sessions: Array<Record<string, unknown>> = [];
    const seenReplicas = new Set<string>([this.id]);
    const answers = await eachPeer(peers, (peer) => this.askSessions(peer, caller));
    answers.forEach((answer, index) => {
      const peer = peers[index]!;
      if (answer instanceof PeerError) return reports.push(this.failed(peer.address, answer));
      // This replica itself (reached at an address it did not know as its own), or one reached twice.
      if (seenReplicas.has(answer.replica.id)) return;
      seenReplicas.add(answer.replica.id);
      reports.push({ name: answer.replica.name, address: peer.address, ok: true });
      const replica: ReplicaMark = { name: answer.replica.name, address: peer.address, local: false };
      for (const session of answer.sessions) sessions.push({ ...session, replica });
    });
    return { sessions, peers: reports };
  }

  /** Asks every peer to end session `id` for `caller`; each applies its own rules (admins only, visible only). */
  async end(caller: PeerCaller, id: string): Promise<EndElsewhere> {
    if (!this.directory) return { ended: false, forbidden: false, unreachable: 0 };
    const { peers, problems } = await this.directory.resolve();
    const path = `${this.apiPath}peer/sessions/${id}/end`;
    const answers = await eachPeer(peers, (peer) => this.client.ask(peer, 'POST', path, caller).catch((error: unknown) => (error instanceof PeerError ? error : new PeerError('unreachable', String(error)))));
    let forbidden = false;
    let unreachable = problems.length;
    for (const [index, answer] of answers.entries()) {
      const peer = peers[index]!;
      if (answer instanceof PeerError) {
        this.failed(peer.address, answer);
        unreachable++;
      } else if (answer.status === 200) {
        const replica = (answer.body as { replica?: unknown }).replica;
        return { ended: true, replica: typeof replica === 'string' ? replica : peer.address };
      } else if (answer.status === 403) forbidden = true;
    }
    return { ended: false, forbidden, unreachable };
  }

  close(): void {
    this.peerClient?.close();
  }

  private async askSessions(peer: PeerAddress, caller: PeerCaller): Promise<PeerSessionsAnswer | PeerError> {
    try {
      const { status, body } = await this.client.ask(peer, 'GET', `${this.apiPath}peer/sessions`, caller);
      if (status !== 200) return new PeerError('status', `answered ${status}`);
      return sessionsAnswer(body) ?? new PeerError('invalid', 'an answer that is not a session list');
    } catch (error) {
      return error instanceof PeerError ? error : new PeerError('unreachable', String(error));
    }
  }

  /** One log line per failed peer request, and the metric; never the secret or the signed header. */
  private failed(address: string, error: PeerError): PeerReport {
    this.options.onFailure?.(error.reason);
    this.logger.warn({ event: 'peer-failed', peer: address, reason: error.reason, err: error.message }, 'a peer replica did not answer');
    return { address, ok: false, error: error.reason };
  }
}

/** A peer's session list, kept to the known fields; undefined when it is not one. */
function sessionsAnswer(body: unknown): PeerSessionsAnswer | undefined {
  const answer = body as Partial<PeerSessionsAnswer> | null;
  if (typeof answer?.replica?.name !== 'string' || typeof answer.replica.id !== 'string' || !Array.isArray(answer.sessions)) return undefined;
  const sessions = answer.sessions.slice(0, MAX_SESSIONS_PER_PEER).flatMap((session: unknown) => {
    const fields = session as Record<string, unknown> | null;
    if (typeof fields?.id !== 'string' || !SESSION_ID.test(fields.id)) return [];
    return [Object.fromEntries(SESSION_FIELDS.filter((key) => key in fields).map((key) => [key, fields[key]]))];
  });
  return { replica: { name: answer.replica.name.slice(0, 253), id: answer.replica.id }, sessions };
}
