/**
 * The effective identity of each streaming session the legacy cluster started, in order — what the
 * tests read (in process with `cluster.sessions()`, or over HTTP with
 * `GET /legacy-cluster/v1/sessions`, privileged token only) to see as whom an exec really ran,
 * e.g. after the gateway impersonated its caller.
 */
import type { ClusterUser } from './identity.js';

export interface SessionRecord {
  kind: 'exec' | 'attach' | 'portforward';
  namespace: string;
  pod: string;
  /** exec and attach only. */
  container?: string;
  user: string;
  uid?: string;
  groups: string[];
  extra: Record<string, string[]>;
  /** The authenticated caller's name when it impersonated `user`. */
  impersonatedBy?: string;
  /** The negotiated stream protocol (`v4.channel.k8s.io`, `portforward.k8s.io`, …). */
  protocol: string;
}

/** The newest records are kept; a long soak run must not grow the cluster without bound. */
const MAX_SESSION_RECORDS = 10_000;

export class SessionLog {
  private readonly records: SessionRecord[] = [];

  constructor(private readonly limit = MAX_SESSION_RECORDS) {}

  add(record: SessionRecord): void {
    this.records.push(record);
    if (this.records.length > this.limit) this.records.splice(0, this.records.length - this.limit);
  }

  /** Copies, oldest first. */
  list(): SessionRecord[] {
    return structuredClone(this.records);
  }
}

export interface SessionIdentity {
  user: ClusterUser;
  /** The authenticated caller when it impersonated `user`. */
  requestor?: ClusterUser;
}

export function sessionRecord(
  target: { kind: SessionRecord['kind']; namespace: string; pod: string; container?: string; protocol: string },
  identity: SessionIdentity,
): SessionRecord {
  const { user, requestor } = identity;
  return {
    kind: target.kind,
    namespace: target.namespace,
    pod: target.pod,
    ...(target.container !== undefined ? { container: target.container } : {}),
    user: user.name,
    ...(user.uid ? { uid: user.uid } : {}),
    groups: [...user.groups],
    extra: structuredClone(user.extra),
    ...(requestor ? { impersonatedBy: requestor.name } : {}),
    protocol: target.protocol,
  };
}
