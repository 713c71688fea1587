/**
 * Impersonation at the edge, both directions.
 *
 * (a) clientImpersonation(req, caller, rules): what the caller's own `Impersonate-*` headers ask for,
 *     and whether `auth.impersonation` lets that caller ask. → { kind: 'none' } |
 *     { kind: 'allowed', user } | { kind: 'denied', reason } | { kind: 'invalid', reason }.
 *     Read from rawHeaders (repeats count). As kube-apiserver: Impersonate-Group/-Uid/-Extra-* need
 *     Impersonate-User; one Impersonate-User and at most one Impersonate-Uid; extra keys are the
 *     lower-cased, percent-decoded header suffix; the impersonated user (other than
 *     system:anonymous) gets system:authenticated.
 *
 * (b) upstreamHeaders(clientHeaders, user, options): the header set for the upstream in edge mode —
 *     the client's Authorization, Proxy-Authorization, Impersonate-* and X-Remote-* (request-header
 *     identity) headers dropped, the gateway's own Authorization added when it uses a token, and
 *     Impersonate-User, Impersonate-Uid, Impersonate-Group (repeated) and Impersonate-Extra-<key>
 *     (key percent-encoded as client-go's headerKeyEscape does) carrying the caller's identity.
 *     system:authenticated is not sent: kube-apiserver adds it to every impersonated user itself.
 *     Sec-WebSocket-Protocol is replaced by the offered list without the bearer-token entry.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { AUTHENTICATED_GROUP, type UserInfo } from './identity.js';

export interface ImpersonationRule {
  users?: string[];
  groups?: string[];
}

export type ClientImpersonation =
  | { kind: 'none' }
  | { kind: 'allowed'; user: UserInfo }
  | { kind: 'denied'; reason: string }
  | { kind: 'invalid'; reason: string };

const USER = 'impersonate-user';
const UID = 'impersonate-uid';
const GROUP = 'impersonate-group';
const EXTRA_PREFIX = 'impersonate-extra-';
const ANONYMOUS = 'system:anonymous';

export function clientImpersonation(req: Pick<IncomingMessage, 'rawHeaders'>, caller: UserInfo, rules: ImpersonationRule[]): ClientImpersonation {
  const users: string[] = [];
  const uids: string[] = [];
  const groups: string[] = [];
  const extra: Record<string, string[]> = {};
  let any = false;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (!name.startsWith('impersonate-')) continue;
    any = true;
    const value = raw[i + 1]!;
    if (name === USER) users.push(value);
    else if (name === UID) uids.push(value);
    else if (name === GROUP) groups.push(value);
    else if (name.startsWith(EXTRA_PREFIX) && name.length > EXTRA_PREFIX.length) (extra[unescapeExtraKey(name.slice(EXTRA_PREFIX.length))] ??= []).push(value);
    else return { kind: 'invalid', reason: `unknown impersonation header ${raw[i]}` };
  }
  if (!any) return { kind: 'none' };
  if (users.length !== 1 || users[0] === '') {
    return { kind: 'invalid', reason: users.length === 0 ? 'impersonation headers without Impersonate-User' : 'exactly one non-empty Impersonate-User is required' };
  }
  if (uids.length > 1) return { kind: 'invalid', reason: 'at most one Impersonate-Uid is allowed' };

  const name = users[0]!;
  if (!mayImpersonate(caller, rules)) {
    return { kind: 'denied', reason: `users "${name}" is forbidden: User "${caller.name}" cannot impersonate resource "users" in API group "" at the cluster scope` };
  }
  const user: UserInfo = { name, groups: [...groups], extra };
  if (uids[0] !== undefined) user.uid = uids[0];
  if (name !== ANONYMOUS && !user.groups.includes(AUTHENTICATED_GROUP)) user.groups.push(AUTHENTICATED_GROUP);
  return { kind: 'allowed', user };
}

/** @internal Exported for its unit test; the product uses it only here. */
export function mayImpersonate(caller: UserInfo, rules: ImpersonationRule[]): boolean {
  return rules.some((rule) => rule.users?.includes(caller.name) || rule.groups?.some((group) => caller.groups.includes(group)));
}

/** Go's url.PathUnescape; an invalid escape keeps the text as sent, as Kubernetes does. */
function unescapeExtraKey(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return encoded;
  }
}

export interface UpstreamHeaderOptions {
  /** `Bearer <token>` of the gateway's own credential; absent when it authenticates with a client certificate. */
  gatewayAuthorization?: string;
  /** The offered subprotocols with the bearer-token entry removed (credentials.ts). */
  webSocketProtocols?: string[];
}

const DROPPED = /^(authorization|proxy-authorization|impersonate-.*|x-remote-.*|sec-websocket-protocol)$/;

export function upstreamHeaders(clientHeaders: IncomingHttpHeaders, user: UserInfo, options: UpstreamHeaderOptions = {}): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(clientHeaders)) {
    if (value !== undefined && !DROPPED.test(name.toLowerCase())) headers[name] = value;
  }
  if (options.webSocketProtocols?.length) headers['sec-websocket-protocol'] = options.webSocketProtocols.join(', ');
  if (options.gatewayAuthorization) headers.authorization = options.gatewayAuthorization;
  headers['impersonate-user'] = user.name;
  if (user.uid) headers['impersonate-uid'] = user.uid;
  const groups = user.groups.filter((group) => group !== AUTHENTICATED_GROUP);
  if (groups.length > 0) headers['impersonate-group'] = groups;
  for (const [key, values] of Object.entries(user.extra)) {
    if (values.length > 0) headers[`impersonate-extra-${headerKeyEscape(key)}`] = [...values];
  }
  return headers;
}

/** RFC 7230 tchar, the bytes a header name may hold (client-go's legalHeaderKeyBytes). */
const TCHAR = /^[!#$&'*+\-.^_`|~0-9A-Za-z]$/;

/**
 * client-go transport headerKeyEscape: every UTF-8 byte that is not a tchar, and '%', as %XX.
 * @internal Exported for its unit test; the product uses it only here.
 */
export function headerKeyEscape(key: string): string {
  let escaped = '';
  for (const byte of Buffer.from(key, 'utf8')) {
    const char = String.fromCharCode(byte);
    escaped += byte < 0x80 && TCHAR.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return escaped;
}
