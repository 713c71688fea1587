/**
 * What a request asks for, in Kubernetes authorization terms (apiserver endpoints/request
 * requestinfo.go), so the edge policy and SubjectAccessReview judge it as the API server would.
 *
 *   requestAttributes({ method, url }) → RequestAttributes
 *
 * `url` is the request target as the upstream will see it (path and query, after the gateway's own
 * `/clusters/{name}` routing prefix is removed). The path is percent-decoded before it is split, as
 * Go's URL.Path is: `/pods/web/%65xec` is the exec subresource.
 *
 * Verbs: POST create, GET/HEAD get (list, or watch with a true `?watch=`, when no name), PUT update,
 * PATCH patch, DELETE delete (deletecollection when no name), `/watch/` and `/proxy/` path verbs;
 * non-resource requests get the lower-cased method. The rule that matters for this gateway:
 * pods/exec, pods/attach and pods/portforward are `create` whatever the method — a WebSocket upgrade
 * is a GET, and authorizing it as `get` let read-only roles exec until Kubernetes 1.35. The kubelet's
 * own paths (/exec, /attach, /portForward/{namespace}/{pod}/…) are the same subresources.
 */
import { splitRequestTarget } from '../codecs/k8s/request-url.js';

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
const KUBELET_STREAMING = /^\/(exec|attach|portForward)\/([^/]+)\/([^/]+)(?:\/.*)?$/;

export interface RequestAttributeOptions {
  /**
   * Derive every verb from the HTTP method, as API servers before 1.35 did (a GET exec is `get`),
   * and treat kubelet paths as non-resource paths: the embedded 1.28 stand-in's view, which the
   * tests need in order to show the difference. The gateway never sets it.
   */
  pre135Verbs?: boolean;
}

export function requestAttributes(request: { method: string; url: string }, options: RequestAttributeOptions = {}): RequestAttributes {
  const { pathname, query } = splitRequestTarget(request.url);
  const path = decodePath(pathname);
  const method = request.method.toUpperCase();
  const attributes: RequestAttributes = {
    verb: method.toLowerCase(),
    apiGroup: '',
    apiVersion: '',
    resource: '',
    subresource: '',
    namespace: '',
    name: '',
    resourceRequest: false,
    path,
  };

  const kubelet = options.pre135Verbs ? null : KUBELET_STREAMING.exec(path);
  if (kubelet) {
    return { ...attributes, verb: 'create', apiVersion: 'v1', resource: 'pods', subresource: kubelet[1]!.toLowerCase(), namespace: kubelet[2]!, name: kubelet[3]!, resourceRequest: true };
  }

  let parts = splitPath(path);
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

  if (!options.pre135Verbs && attributes.resource === 'pods' && attributes.apiGroup === '' && STREAMING_SUBRESOURCES.has(attributes.subresource)) {
    attributes.verb = 'create';
  }
  return attributes;
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

/** Go decodes URL.Path; an invalid escape makes Go refuse the request, so the raw text is as good as any here. */
function decodePath(pathname: string): string {
  try {
    return decodeURIComponent(pathname);
  } catch {
    return pathname;
  }
}

function splitPath(path: string): string[] {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? [] : trimmed.split('/');
}
