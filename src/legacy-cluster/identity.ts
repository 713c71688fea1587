/**
 * Who a request to the legacy cluster is: the bearer-token authentication of a 1.28 API server
 * with a static token file (`--token-auth-file`), plus the cluster's own privileged token.
 *
 * - The privileged `token` is the cluster-admin credential: user `kubernetes-admin` in group
 *   `system:masters` (what kubeadm's admin.conf carries), allowed everything.
 * - `users` are token-file users; unknown or missing tokens are refused with 401 (anonymous
 *   authentication is off, as with `--anonymous-auth=false`).
 * - Like kube-apiserver's AuthenticatedGroupAdder, every authenticated user also gets
 *   `system:authenticated`.
 *
 * Deviation kept from the single-token cluster: only `Authorization: Bearer <token>` with that
 * exact scheme spelling is read (a real server also takes `bearer`).
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** Kubernetes user.Info. */
export interface ClusterUser {
  name: string;
  uid?: string;
  groups: string[];
  extra: Record<string, string[]>;
}

/** One token-file user, as given in the `users` option or a `--users-file` line. */
export interface LegacyUser {
  token: string;
  name: string;
  uid?: string;
  groups?: string[];
}

const SYSTEM_MASTERS = 'system:masters';
export const SYSTEM_AUTHENTICATED = 'system:authenticated';
export const SYSTEM_UNAUTHENTICATED = 'system:unauthenticated';
export const ANONYMOUS_USER = 'system:anonymous';
const PRIVILEGED_USER_NAME = 'kubernetes-admin';

/** A user record without the token, as the authenticator hands it on. */
function userInfo(name: string, uid: string | undefined, groups: readonly string[]): ClusterUser {
  const all = groups.includes(SYSTEM_AUTHENTICATED) ? [...groups] : [...groups, SYSTEM_AUTHENTICATED];
  return { name, ...(uid ? { uid } : {}), groups: all, extra: {} };
}

export function isPrivileged(user: ClusterUser): boolean {
  return user.groups.includes(SYSTEM_MASTERS);
}

/** Bearer tokens to users. Tokens are kept only as SHA-256 digests and compared in constant time. */
export class TokenAuthenticator {
  private readonly entries: Array<{ digest: Buffer; user: ClusterUser }> = [];

  constructor(privilegedToken: string, users: readonly LegacyUser[] = []) {
    // The privileged token is matched first, so a users entry cannot shadow it; among users the
    // last entry for a token wins, as kube-apiserver's token file reader keeps the last duplicate.
    this.entries.push({ digest: digest(privilegedToken), user: userInfo(PRIVILEGED_USER_NAME, undefined, [SYSTEM_MASTERS]) });
    for (const user of [...users].reverse()) {
      if (!user.token) continue;
      this.entries.push({ digest: digest(user.token), user: userInfo(user.name, user.uid, user.groups ?? []) });
    }
  }

  /** The user of a bearer token, or undefined. */
  authenticateToken(token: string): ClusterUser | undefined {
    if (!token) return undefined;
    const given = digest(token);
    let found: ClusterUser | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, given) && !found) found = entry.user;
    }
    return found && structuredClone(found);
  }

  /** The user of an `Authorization` header value (`Bearer <token>`), or undefined. */
  authenticateHeader(authorization: string | undefined): ClusterUser | undefined {
    if (!authorization?.startsWith('Bearer ')) return undefined;
    return this.authenticateToken(authorization.slice('Bearer '.length));
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
