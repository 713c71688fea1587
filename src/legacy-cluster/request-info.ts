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
import { requestAttributes as kubernetesRequestAttributes, type RequestAttributes as KubernetesRequestAttributes } from '../auth/request-attributes.js';
import type { ClusterUser } from './identity.js';

export interface RequestAttributes extends KubernetesRequestAttributes {
  user: ClusterUser;
}

/** RequestInfo as a 1.28 API server derives it: the verb from the method, streaming upgrades included. */
export function requestAttributes(method: string, target: string, user: ClusterUser): RequestAttributes {
  return { ...kubernetesRequestAttributes({ method, url: target }, { pre135Verbs: true }), user };
}
