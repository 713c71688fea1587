/**
 * The authorization attributes a 1.28 API server derives from a request (apiserver
 * `pkg/endpoints/request/requestinfo.go`, RequestInfoFactory).
 *
 * The verb comes from the HTTP method, WHATEVER the resource: POST → create, GET/HEAD → get (list or
 * watch without a name), PUT → update, PATCH → patch, DELETE → delete (deletecollection without a
 * name). So on this 1.28 stand-in a GET exec/attach/portforward upgrade — every WebSocket upgrade —
 * is authorized as `get` on `pods/exec`, and a POST (kubectl's SPDY request) as `create`: a role
 * with only `get` on pods/exec can exec over GET. Kubernetes closed that hole in 1.35 with an extra
 * `create` check on upgrades (feature gate AuthorizePodWebsocketUpgradeCreatePermission, KEP-4006,
 * kubernetes/kubernetes#134577; reported as #78741). This cluster models the clusters that still
 * have it, so that the gateway's own authorization (exec is `create` whatever the method) can be
 * tested against it.
 */
import { splitRequestTarget } from '../codecs/k8s/request-url.js';
import type { ClusterUser } from './identity.js';
import { decodeSegment } from './path-segments.js';
import { queryBool } from './remote-command-endpoint.js';

export interface RequestAttributes {
  user: ClusterUser;
  verb: string;
  resourceRequest: boolean;
  /** The URL path (non-resource requests are authorized on it). */
  path: string;
  apiGroup: string;
  apiVersion: string;
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
}

const API_PREFIXES = new Set(['api', 'apis']);
const GROUPLESS_PREFIXES = new Set(['api']);
/** Path-prefix verbs of the old API (`/api/v1/watch/...`). */
const SPECIAL_VERBS = new Set(['proxy', 'watch']);
const SPECIAL_VERBS_NO_SUBRESOURCES = new Set(['proxy']);
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

export function requestAttributes(method: string, target: string, user: ClusterUser): RequestAttributes {
  const { pathname, query } = splitRequestTarget(target);
  const info: RequestAttributes = {
    user,
    verb: method.toLowerCase(),
    resourceRequest: false,
    path: pathname,
    apiGroup: '',
    apiVersion: '',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
  };
  const trimmed = pathname.replace(/^\/+|\/+$/g, '');
  let parts = trimmed === '' ? [] : trimmed.split('/');
  if (parts.length < 3 || !API_PREFIXES.has(parts[0]!)) return info;
  const prefix = parts[0]!;
  parts = parts.slice(1);
  let apiGroup = '';
  if (!GROUPLESS_PREFIXES.has(prefix)) {
    if (parts.length < 3) return info;
    apiGroup = parts[0]!;
    parts = parts.slice(1);
  }
  info.resourceRequest = true;
  info.apiGroup = apiGroup;
  info.apiVersion = parts[0]!;
  parts = parts.slice(1);
  if (SPECIAL_VERBS.has(parts[0]!) && parts.length >= 2) {
    info.verb = parts[0]!;
    parts = parts.slice(1);
  } else {
    info.verb = verbOfMethod(method);
  }
  if (parts[0] === 'namespaces') {
    if (parts.length > 1) {
      info.namespace = decodeSegment(parts[1]!);
      if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2]!)) parts = parts.slice(2);
    }
  }
  if (parts.length >= 3 && !SPECIAL_VERBS_NO_SUBRESOURCES.has(info.verb)) info.subresource = decodeSegment(parts[2]!);
  if (parts.length >= 2) info.name = decodeSegment(parts[1]!);
  if (parts.length >= 1) info.resource = decodeSegment(parts[0]!);
  if (!info.name && info.verb === 'get') info.verb = queryBool(query, 'watch') ? 'watch' : 'list';
  if (!info.name && info.verb === 'delete') info.verb = 'deletecollection';
  return info;
}

function verbOfMethod(method: string): string {
  switch (method) {
    case 'POST':
      return 'create';
    case 'GET':
    case 'HEAD':
      return 'get';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return 'delete';
    default:
      return '';
  }
}
