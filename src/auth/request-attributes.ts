/**
 * What a request asks for, in Kubernetes authorization terms (apiserver endpoints/request
 * requestinfo.go), so the edge policy and SubjectAccessReview judge it as the API server would.
 *
 *   requestAttributes({ method, url }) → RequestAttributes
 *
 * The request target is the one the upstream will see (path and query, after the gateway's own
 * `/clusters/{name}` routing prefix is removed), read by `parseRequestTarget` — the gateway's one
 * reading of a target, shared with routing and audit: percent-decoded as Go's URL.Path is
 * (`/pods/web/%65xec` is the exec subresource). A target that reading refuses is a non-resource
 * request here (the gateway never lets one through; the legacy stand-in may see one).
 *
 * Verbs: POST create, GET/HEAD get (list, or watch with a true `?watch=`, when no name), PUT update,
 * PATCH patch, DELETE delete (deletecollection when no name), `/watch/` and `/proxy/` path verbs;
 * non-resource requests get the lower-cased method. The rule that matters for this gateway:
 * pods/exec, pods/attach and pods/portforward are `create` whatever the method — a WebSocket upgrade
 * is a GET, and authorizing it as `get` let read-only roles exec until Kubernetes 1.35. The kubelet's
 * own paths (/exec, /attach, /portForward/{namespace}/{pod}/…) are the same subresources.
 */
import { splitRequestTarget, tryParseRequestTarget, type RequestTarget } from '../codecs/k8s/request-url.js';

export interface RequestAttributes {
  verb: string;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  resourceRequest: boolean;
  /** The decoded path, for non-resource authorization and audit. */
  path: string;
}

export const STREAMING_SUBRESOURCES = new Set(['exec', 'attach', 'portforward']);

const API_PREFIXES = new Set(['api', 'apis']);
const GROUPLESS_PREFIX = 'api';
const SPECIAL_VERBS = new Set(['proxy', 'watch']);
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);
/** The kubelet's `/exec|attach/{namespace}/{pod}/…` and `/portForward/{namespace}/{pod}…`, by first segment. */
const KUBELET_STREAMING = new Set(['exec', 'attach', 'portForward']);

export interface RequestAttributeOptions {
  /**
   * Derive every verb from the HTTP method, as API servers before 1.35 did (a GET exec is `get`),
   * and treat kubelet paths as non-resource paths: the embedded 1.28 stand-in's view, which the
   * tests need in order to show the difference. The gateway never sets it.
   */
  pre135Verbs?: boolean;
}

/** `url`: the raw request target; `target`: one already read by `parseRequestTarget` (routing's). */
export function requestAttributes(request: { method: string; url: string } | { method: string; target: RequestTarget }, options: RequestAttributeOptions = {}): RequestAttributes {
  const method = request.method.toUpperCase();
  const target = 'target' in request ? request.target : tryParseRequestTarget(request.url);
  const attributes: RequestAttributes = {
    verb: method.toLowerCase(),
    apiGroup: '',
    apiVersion: '',
    resource: '',
    subresource: '',
    namespace: '',
    name: '',
    resourceRequest: false,
    // A target `parseRequestTarget` refuses is still described, by its raw path, as a non-resource request.
    path: target ? target.path : splitRequestTarget((request as { url: string }).url).pathname,
  };
  if (!target) return attributes;
  const { query } = target;

  const first = target.segments[0] ?? '';
  if (!options.pre135Verbs && KUBELET_STREAMING.has(first) && target.segments.length >= 3) {
    const [, namespace, name] = target.segments as [string, string, string];
    return { ...attributes, verb: 'create', apiVersion: 'v1', resource: 'pods', subresource: first.toLowerCase(), namespace, name, resourceRequest: true };
  }

  let parts = target.segments;
  if (parts.length < 3 || !API_PREFIXES.has(parts[0]!)) return attributes;
  const prefix = parts[0]!;
  parts = parts.slice(1);
  if (prefix !== GROUPLESS_PREFIX) {
    if (parts.length < 3) return attributes;
    attributes.apiGroup = parts[0]!;
    parts = parts.slice(1);
  }
  attributes.resourceRequest = true;
  attributes.apiVersion = parts[0]!;
  parts = parts.slice(1);

  if (SPECIAL_VERBS.has(parts[0]!)) {
    if (parts.length < 2) return attributes; // Kubernetes: "unable to determine kind and namespace"
    attributes.verb = parts[0]!;
    parts = parts.slice(1);
  } else {
    attributes.verb = methodVerb(method);
  }

  if (parts[0] === 'namespaces') {
    if (parts.length > 1) {
      attributes.namespace = parts[1]!;
      if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2]!)) parts = parts.slice(2);
    }
  }

  if (parts.length >= 3 && attributes.verb !== 'proxy') attributes.subresource = parts[2]!;
  if (parts.length >= 2) attributes.name = parts[1]!;
  if (parts.length >= 1) attributes.resource = parts[0]!;

  if (attributes.name === '' && attributes.verb === 'get') {
    const watch = query.getAll('watch');
    attributes.verb = watch.length > 0 && !['false', '0'].includes(watch[0]!.toLowerCase()) ? 'watch' : 'list';
  }
  if (attributes.name === '' && attributes.verb === 'delete') attributes.verb = 'deletecollection';

  if (!options.pre135Verbs && isStreamingRequest(attributes)) attributes.verb = 'create';
  return attributes;
}

/**
 * exec, attach or portforward of a pod, by API or kubelet path: a streaming session, which only an
 * upgrade may open and which is `create` whatever the method.
 */
export function isStreamingRequest(attributes: RequestAttributes): boolean {
  return attributes.resourceRequest && attributes.resource === 'pods' && attributes.apiGroup === '' && STREAMING_SUBRESOURCES.has(attributes.subresource);
}

function methodVerb(method: string): string {
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
