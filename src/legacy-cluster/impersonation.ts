/**
 * The API server's impersonation filter (apiserver `pkg/endpoints/filters/impersonation.go`, 1.28),
 * between authentication and authorization:
 *
 * - `Impersonate-User`, `Impersonate-Group` (repeatable), `Impersonate-Uid` and
 *   `Impersonate-Extra-<key>` (repeatable; key lower-cased and percent-decoded) each become a request
 *   that the CALLER must be allowed: verb `impersonate` on `users`, `groups`,
 *   `serviceaccounts` (for `system:serviceaccount:<ns>:<name>`, in that namespace), `uids` and
 *   `userextras/<key>` (group authentication.k8s.io for the last two), with the name being
 *   impersonated. The first refusal is the 403 — e.g. `users "admin" is forbidden: User "alice"
 *   cannot impersonate resource "users" in API group "" at the cluster scope`.
 * - Groups, extra or uid without a user: 500 "requested [...] without impersonating a user".
 * - The effective user is then the impersonated one: its groups are the given ones (a service
 *   account without groups gets `system:serviceaccounts`, `system:serviceaccounts:<ns>`), plus
 *   `system:authenticated` unless `system:authenticated` or `system:unauthenticated` was given.
 */
import type { ApiError } from './api-objects.js';
import { forbidden, type RuleAuthorizer } from './authorizer.js';
import type { RawAnswer } from './http-replies.js';
import { ANONYMOUS_USER, SYSTEM_AUTHENTICATED, SYSTEM_UNAUTHENTICATED, type ClusterUser } from './identity.js';
import type { RequestAttributes } from './request-info.js';
import { decodeSegment } from './path-segments.js';

export type Impersonation =
  | { kind: 'none' }
  | { kind: 'impersonated'; user: ClusterUser }
  | { kind: 'forbidden'; error: ApiError }
  /** responsewriters.InternalError: plain text, not a Status. */
  | { kind: 'invalid'; answer: RawAnswer };

interface ImpersonationRequest {
  kind: 'User' | 'ServiceAccount' | 'Group' | 'UserExtra' | 'UID';
  namespace: string;
  name: string;
  apiVersion: string;
  fieldPath: string;
}

const USER_HEADER = 'impersonate-user';
const GROUP_HEADER = 'impersonate-group';
const UID_HEADER = 'impersonate-uid';
const EXTRA_PREFIX = 'impersonate-extra-';
const AUTHENTICATION_V1 = 'authentication.k8s.io/v1';
const SERVICE_ACCOUNT = /^system:serviceaccount:([^:]+):([^:]+)$/;

export function impersonate(headers: NodeJS.Dict<string[]>, requestUri: string, requestor: ClusterUser, authorizer: RuleAuthorizer): Impersonation {
  const requests = impersonationRequests(headers);
  if (requests.length === 0) return { kind: 'none' };
  const hasUser = requests.some((r) => r.kind === 'User' || r.kind === 'ServiceAccount');
  if (!hasUser) {
    const body = `Internal Server Error: ${JSON.stringify(requestUri)}: requested [${requests.map(goObjectReference).join(' ')}] without impersonating a user`;
    return { kind: 'invalid', answer: { code: 500, headers: ['Content-Type: text/plain; charset=utf-8', 'X-Content-Type-Options: nosniff'], body: Buffer.from(`${sanitize(body)}\n`) } };
  }
  const groupsSpecified = (headers[GROUP_HEADER] ?? []).length > 0;
  let username = '';
  let uid = '';
  let groups: string[] = [];
  const extra: Record<string, string[]> = {};
  for (const request of requests) {
    const attributes: RequestAttributes = {
      user: requestor,
      verb: 'impersonate',
      resourceRequest: true,
      path: '',
      apiGroup: request.apiVersion ? 'authentication.k8s.io' : '',
      apiVersion: request.apiVersion ? 'v1' : '',
      namespace: request.namespace,
      resource: '',
      subresource: '',
      name: request.name,
    };
    switch (request.kind) {
      case 'ServiceAccount':
        attributes.resource = 'serviceaccounts';
        username = `system:serviceaccount:${request.namespace}:${request.name}`;
        if (!groupsSpecified) groups = ['system:serviceaccounts', `system:serviceaccounts:${request.namespace}`];
        break;
      case 'User':
        attributes.resource = 'users';
        username = request.name;
        break;
      case 'Group':
        attributes.resource = 'groups';
        groups.push(request.name);
        break;
      case 'UserExtra':
        attributes.resource = 'userextras';
        attributes.subresource = request.fieldPath;
        (extra[request.fieldPath] ??= []).push(request.name);
        break;
      case 'UID':
        attributes.resource = 'uids';
        uid = request.name;
        break;
    }
    if (!authorizer.authorize(attributes).allowed) return { kind: 'forbidden', error: forbidden(attributes) };
  }
  if (username !== ANONYMOUS_USER) {
    if (!groups.includes(SYSTEM_AUTHENTICATED) && !groups.includes(SYSTEM_UNAUTHENTICATED)) groups.push(SYSTEM_AUTHENTICATED);
  } else if (!groups.includes(SYSTEM_UNAUTHENTICATED)) {
    groups.push(SYSTEM_UNAUTHENTICATED);
  }
  return { kind: 'impersonated', user: { name: username, ...(uid ? { uid } : {}), groups, extra } };
}

/** buildImpersonationRequests: user, then groups, then extras, then uid. */
function impersonationRequests(headers: NodeJS.Dict<string[]>): ImpersonationRequest[] {
  const requests: ImpersonationRequest[] = [];
  const base = { namespace: '', apiVersion: '', fieldPath: '' };
  const user = headers[USER_HEADER]?.[0] ?? '';
  if (user) {
    const account = SERVICE_ACCOUNT.exec(user);
    if (account) requests.push({ ...base, kind: 'ServiceAccount', namespace: account[1]!, name: account[2]! });
    else requests.push({ ...base, kind: 'User', name: user });
  }
  for (const group of headers[GROUP_HEADER] ?? []) requests.push({ ...base, kind: 'Group', name: group });
  for (const [header, values] of Object.entries(headers)) {
    if (!header.startsWith(EXTRA_PREFIX) || !values) continue;
    // Extra keys travel percent-encoded in header names (`Impersonate-Extra-example.com%2fscopes`).
    const key = decodeSegment(header.slice(EXTRA_PREFIX.length));
    for (const value of values) requests.push({ ...base, kind: 'UserExtra', name: value, apiVersion: AUTHENTICATION_V1, fieldPath: key });
  }
  const uid = headers[UID_HEADER]?.[0] ?? '';
  if (uid) requests.push({ ...base, kind: 'UID', name: uid, apiVersion: AUTHENTICATION_V1 });
  return requests;
}

/** Go's `%v` of a v1.ObjectReference: its seven string fields in order, space-separated. */
function goObjectReference(r: ImpersonationRequest): string {
  return `{${[r.kind, r.namespace, r.name, '', r.apiVersion, '', r.fieldPath].join(' ')}}`;
}

/** responsewriters' sanitizer: the error must not look like HTML. */
function sanitize(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
