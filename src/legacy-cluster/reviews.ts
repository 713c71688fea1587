/**
 * The review APIs of a 1.28 API server, as far as an authenticating proxy uses them (free of I/O):
 *
 * - `TokenReview` (authentication.k8s.io/v1, `pkg/registry/authentication/tokenreview`): is this
 *   bearer token one this cluster accepts, and whose. Token-file tokens are audience-agnostic: they
 *   authenticate for the API audiences (`https://kubernetes.default.svc.cluster.local`), which is
 *   also what an empty `spec.audiences` means; other audiences do not authenticate them.
 * - `SubjectAccessReview` (authorization.k8s.io/v1): may user/groups do this, by the cluster's
 *   rules (`system:authenticated` is NOT added: the spec's groups are taken as given).
 * - `SelfSubjectAccessReview`: the same for the caller (`kubectl auth can-i`).
 *
 * Each answers 201 Created with the object and its status, as the API server's create handler.
 */
import { ApiError, badRequest } from './api-objects.js';
import type { RuleAuthorizer } from './authorizer.js';
import type { ClusterUser, TokenAuthenticator } from './identity.js';
import type { RequestAttributes } from './request-info.js';

const API_AUDIENCES = ['https://kubernetes.default.svc.cluster.local'];

const AUTHENTICATION_V1 = 'authentication.k8s.io/v1';
const AUTHORIZATION_V1 = 'authorization.k8s.io/v1';

export function tokenReview(body: unknown, authenticator: TokenAuthenticator): object {
  const review = objectOf(body, AUTHENTICATION_V1, 'TokenReview');
  const spec = record(review.spec, 'spec');
  const token = optionalString(spec.token, 'spec.token');
  const audiences = optionalStrings(spec.audiences, 'spec.audiences');
  if (!token) throw badRequest('token is required for TokenReview in authentication');
  const wanted = audiences.length ? audiences : API_AUDIENCES;
  const granted = API_AUDIENCES.filter((audience) => wanted.includes(audience));
  const user = granted.length ? authenticator.authenticateToken(token) : undefined;
  const status = user
    ? {
        authenticated: true,
        user: { username: user.name, ...(user.uid ? { uid: user.uid } : {}), ...(user.groups.length ? { groups: user.groups } : {}) },
        audiences: granted,
      }
    : { user: {} };
  return {
    kind: 'TokenReview',
    apiVersion: AUTHENTICATION_V1,
    metadata: outputMetadata(review.metadata),
    spec: { token, ...(audiences.length ? { audiences } : {}) },
    status,
  };
}

export function subjectAccessReview(body: unknown, authorizer: RuleAuthorizer): object {
  const review = objectOf(body, AUTHORIZATION_V1, 'SubjectAccessReview');
  const spec = record(review.spec, 'spec');
  const attributes = attributesSpec(spec);
  const user = optionalString(spec.user, 'spec.user');
  const groups = optionalStrings(spec.groups, 'spec.groups');
  const uid = optionalString(spec.uid, 'spec.uid');
  const extra = extraOf(spec.extra);
  const errors = attributes.errors;
  if (!user && groups.length === 0) errors.push(invalid('spec.user', JSON.stringify(user), 'at least one of user or group must be specified'));
  if (errors.length) throw invalidReview('SubjectAccessReview', errors);
  const subject: ClusterUser = { name: user, ...(uid ? { uid } : {}), groups, extra };
  const decision = authorizer.authorize(attributes.toRequest(subject));
  return {
    kind: 'SubjectAccessReview',
    apiVersion: AUTHORIZATION_V1,
    metadata: outputMetadata(review.metadata),
    spec: { ...attributes.echo, ...(user ? { user } : {}), ...(groups.length ? { groups } : {}), ...(Object.keys(extra).length ? { extra } : {}), ...(uid ? { uid } : {}) },
    status: { allowed: decision.allowed, ...(decision.reason ? { reason: decision.reason } : {}) },
  };
}

export function selfSubjectAccessReview(body: unknown, caller: ClusterUser, authorizer: RuleAuthorizer): object {
  const review = objectOf(body, AUTHORIZATION_V1, 'SelfSubjectAccessReview');
  const spec = record(review.spec, 'spec');
  const attributes = attributesSpec(spec);
  if (attributes.errors.length) throw invalidReview('SelfSubjectAccessReview', attributes.errors);
  const decision = authorizer.authorize(attributes.toRequest(caller));
  return {
    kind: 'SelfSubjectAccessReview',
    apiVersion: AUTHORIZATION_V1,
    metadata: outputMetadata(review.metadata),
    spec: attributes.echo,
    status: { allowed: decision.allowed, ...(decision.reason ? { reason: decision.reason } : {}) },
  };
}

interface FieldError {
  field: string;
  message: string;
}

/** resourceAttributes / nonResourceAttributes: exactly one (ValidateSubjectAccessReviewSpec). */
function attributesSpec(spec: Record<string, unknown>): { errors: FieldError[]; echo: object; toRequest(user: ClusterUser): RequestAttributes } {
  const errors: FieldError[] = [];
  const resource = spec.resourceAttributes === undefined || spec.resourceAttributes === null ? undefined : record(spec.resourceAttributes, 'spec.resourceAttributes');
  const nonResource =
    spec.nonResourceAttributes === undefined || spec.nonResourceAttributes === null ? undefined : record(spec.nonResourceAttributes, 'spec.nonResourceAttributes');
  if (resource && nonResource) errors.push(invalid('spec.nonResourceAttributes', goStruct(nonResource), 'cannot be specified in combination with resourceAttributes'));
  if (!resource && !nonResource) errors.push(invalid('spec.resourceAttributes', 'null', 'exactly one of nonResourceAttributes or resourceAttributes must be specified'));
  const field = (from: Record<string, unknown> | undefined, name: string, where: string): string => (from ? optionalString(from[name], `${where}.${name}`) : '');
  const r = {
    namespace: field(resource, 'namespace', 'spec.resourceAttributes'),
    verb: field(resource, 'verb', 'spec.resourceAttributes'),
    group: field(resource, 'group', 'spec.resourceAttributes'),
    version: field(resource, 'version', 'spec.resourceAttributes'),
    resource: field(resource, 'resource', 'spec.resourceAttributes'),
    subresource: field(resource, 'subresource', 'spec.resourceAttributes'),
    name: field(resource, 'name', 'spec.resourceAttributes'),
  };
  const n = { path: field(nonResource, 'path', 'spec.nonResourceAttributes'), verb: field(nonResource, 'verb', 'spec.nonResourceAttributes') };
  const dropEmpty = (o: Record<string, string>): object => Object.fromEntries(Object.entries(o).filter(([, value]) => value !== ''));
  return {
    errors,
    echo: { ...(resource ? { resourceAttributes: dropEmpty(r) } : {}), ...(nonResource ? { nonResourceAttributes: dropEmpty(n) } : {}) },
    toRequest: (user) =>
      resource
        ? { user, verb: r.verb, resourceRequest: true, path: '', apiGroup: r.group, apiVersion: r.version, namespace: r.namespace, resource: r.resource, subresource: r.subresource, name: r.name }
        : { user, verb: n.verb, resourceRequest: false, path: n.path, apiGroup: '', apiVersion: '', namespace: '', resource: '', subresource: '', name: '' },
  };
}

function invalid(field: string, value: string, detail: string): FieldError {
  return { field, message: `Invalid value: ${value}: ${detail}` };
}

/** apierrors.NewInvalid(Kind(kind), "", errs): 422 with one cause per field error. */
function invalidReview(kind: string, errors: FieldError[]): ApiError {
  const list = errors.map((e) => `${e.field}: ${e.message}`);
  const aggregate = list.length === 1 ? list[0]! : `[${list.join(', ')}]`;
  return new ApiError({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `${kind}.authorization.k8s.io "" is invalid: ${aggregate}`,
    reason: 'Invalid',
    details: { group: 'authorization.k8s.io', kind, causes: errors.map((e) => ({ reason: 'FieldValueInvalid', message: e.message, field: e.field })) },
    code: 422,
  });
}

/** How Go's field.Invalid prints a struct value: `{field:value …}`-ish; enough to name it. */
function goStruct(value: Record<string, unknown>): string {
  return JSON.stringify(`{${Object.values(value).join(' ')}}`);
}

/** The request object, checked against the kind and version its URL serves. */
function objectOf(body: unknown, apiVersion: string, kind: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest(`the body of the request must be a ${kind} object`);
  const object = body as Record<string, unknown>;
  if (object.apiVersion !== undefined && object.apiVersion !== apiVersion) {
    throw badRequest(`the API version in the data (${String(object.apiVersion)}) does not match the expected API version (${apiVersion})`);
  }
  if (object.kind !== undefined && object.kind !== kind) throw badRequest(`the kind in the data (${String(object.kind)}) does not match the expected kind (${kind})`);
  return object;
}

function outputMetadata(metadata: unknown): object {
  const name = typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, unknown>).name : undefined;
  return { ...(typeof name === 'string' && name ? { name } : {}), creationTimestamp: null };
}

function record(value: unknown, where: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw badRequest(`${where}: expected an object`);
  return value as Record<string, unknown>;
}

function optionalString(value: unknown, where: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw badRequest(`${where}: expected a string`);
  return value;
}

function optionalStrings(value: unknown, where: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) throw badRequest(`${where}: expected a list of strings`);
  return value as string[];
}

function extraOf(value: unknown): Record<string, string[]> {
  const extra = record(value, 'spec.extra');
  return Object.fromEntries(Object.entries(extra).map(([key, values]) => [key, optionalStrings(values, `spec.extra.${key}`)]));
}
