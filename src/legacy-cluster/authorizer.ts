/**
 * RBAC-like authorization for the legacy cluster: flat rules, each an RBAC PolicyRule with its
 * subjects (the union of a Role/ClusterRole and its binding), matched as the RBAC authorizer matches
 * (plugin/pkg/auth/authorizer/rbac, `rbac.go` and `rbac/helpers.go`). The first rule that matches
 * allows; no match denies — a 403 whose message is exactly the API server's
 * (`responsewriters.Forbidden` + `apierrors.NewForbidden`).
 *
 * - Users in `system:masters` (the privileged token) may do everything, before any rule.
 * - `verbs`: request verbs (`get`, `list`, `create`, `impersonate`, …) or `*`.
 * - `resources`: `pods`, `pods/exec`, `*` and, for any resource, `*` + `/exec` (a bare `pods` does NOT cover `pods/exec`).
 * - `apiGroups`: omitted = every group (a convenience: real RBAC rules must list them).
 * - `resourceNames`: omitted = every name.
 * - `namespaces`: omitted or `*` = every namespace and the cluster scope (a ClusterRoleBinding);
 *   named namespaces do not cover cluster-scoped requests (a RoleBinding).
 * - `nonResourceURLs`: paths, `*`, or a prefix ending in `*` (`/apis/*`), for non-resource requests.
 * - Built in, as the bootstrap ClusterRoles bound to `system:authenticated`: discovery
 *   (system:discovery, system:public-info-viewer) and self-reviews (system:basic-user).
 *
 * Verbs come from the HTTP method (request-info.ts): a GET exec upgrade is `get` on pods/exec, as on
 * a real 1.28 server.
 */
import { ApiError } from './api-objects.js';
import { isPrivileged, SYSTEM_AUTHENTICATED, type ClusterUser } from './identity.js';
import type { RequestAttributes } from './request-info.js';

export interface AccessRule {
  users?: string[];
  groups?: string[];
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  namespaces?: string[];
  nonResourceURLs?: string[];
}

export interface Decision {
  allowed: boolean;
  /** Why, when allowed (SubjectAccessReview status.reason); empty when denied, as RBAC's. */
  reason: string;
}

/** Subsets of the bootstrap policy every authenticated user has, so that kubectl keeps working. */
const BUILT_IN_RULES: ReadonlyArray<{ name: string; rule: AccessRule }> = [
  {
    name: 'system:discovery',
    rule: {
      groups: [SYSTEM_AUTHENTICATED],
      verbs: ['get'],
      nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/openapi', '/openapi/*', '/readyz', '/version', '/version/'],
    },
  },
  {
    name: 'system:basic-user',
    rule: { groups: [SYSTEM_AUTHENTICATED], verbs: ['create'], apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews'] },
  },
];

export class RuleAuthorizer {
  constructor(private readonly rules: readonly AccessRule[] = []) {}

  authorize(attributes: RequestAttributes): Decision {
    if (isPrivileged(attributes.user)) return { allowed: true, reason: '' };
    for (const [index, rule] of this.rules.entries()) {
      if (ruleAllows(rule, attributes)) return { allowed: true, reason: `allowed by rule ${index + 1}` };
    }
    for (const { name, rule } of BUILT_IN_RULES) {
      if (ruleAllows(rule, attributes)) return { allowed: true, reason: `allowed by built-in rule "${name}"` };
    }
    return { allowed: false, reason: '' };
  }
}

function ruleAllows(rule: AccessRule, attributes: RequestAttributes): boolean {
  return appliesTo(rule, attributes.user) && matches(rule, attributes);
}

function appliesTo(rule: AccessRule, user: ClusterUser): boolean {
  return (rule.users ?? []).includes(user.name) || (rule.groups ?? []).some((group) => user.groups.includes(group));
}

function matches(rule: AccessRule, a: RequestAttributes): boolean {
  if (!hasOrStar(rule.verbs, a.verb)) return false;
  if (!a.resourceRequest) return (rule.nonResourceURLs ?? []).some((url) => url === '*' || url === a.path || (url.endsWith('*') && a.path.startsWith(url.slice(0, -1))));
  if (!rule.resources) return false;
  const namespaces = rule.namespaces ?? ['*'];
  if (!namespaces.includes('*') && (a.namespace === '' || !namespaces.includes(a.namespace))) return false;
  if (rule.apiGroups && !hasOrStar(rule.apiGroups, a.apiGroup)) return false;
  if (!resourceMatches(rule.resources, a.resource, a.subresource)) return false;
  return !rule.resourceNames?.length || rule.resourceNames.includes(a.name);
}

function hasOrStar(list: readonly string[], value: string): boolean {
  return list.includes('*') || list.includes(value);
}

/** rbac.ResourceMatches: `*`, the exact `resource/subresource`, or `*\/subresource`. */
function resourceMatches(ruleResources: readonly string[], resource: string, subresource: string): boolean {
  const combined = subresource ? `${resource}/${subresource}` : resource;
  return ruleResources.some((r) => r === '*' || r === combined || (subresource !== '' && r === `*/${subresource}`));
}

/**
 * The 403 of `responsewriters.Forbidden`: `<resource>[.<group>] "<name>" is forbidden: User "u"
 * cannot <verb> resource "<resource>[/<sub>]" in API group "<group>" in the namespace "<ns>"`
 * (or `at the cluster scope`); non-resource requests: `forbidden: User "u" cannot get path "/x"`.
 */
export function forbidden(a: RequestAttributes, reason = ''): ApiError {
  let statement: string;
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  if (!a.resourceRequest) statement = `User "${a.user.name}" cannot ${a.verb} path "${a.path}"`;
  else if (a.namespace) statement = `User "${a.user.name}" cannot ${a.verb} resource "${resource}" in API group "${a.apiGroup}" in the namespace "${a.namespace}"`;
  else statement = `User "${a.user.name}" cannot ${a.verb} resource "${resource}" in API group "${a.apiGroup}" at the cluster scope`;
  if (reason) statement += `: ${reason}`;
  const qualified = !a.resourceRequest || !a.resource ? '' : a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource;
  let message: string;
  if (!qualified) message = `forbidden: ${statement}`;
  else if (!a.name) message = `${qualified} is forbidden: ${statement}`;
  else message = `${qualified} "${a.name}" is forbidden: ${statement}`;
  const details = {
    ...(a.name && qualified ? { name: a.name } : {}),
    ...(qualified && a.apiGroup ? { group: a.apiGroup } : {}),
    ...(qualified ? { kind: a.resource } : {}),
  };
  return new ApiError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'Forbidden', details, code: 403 });
}

const RULE_KEYS = ['users', 'groups', 'verbs', 'apiGroups', 'resources', 'resourceNames', 'namespaces', 'nonResourceURLs'] as const;

export class RulesError extends Error {
  override name = 'RulesError';
}

/**
 * Checks rules read from YAML/JSON (`rules:` list or a bare list); `source` names them in errors.
 * Strict: unknown keys and rules that could never match are refused, so a typo cannot silently deny.
 */
export function parseRules(document: unknown, source: string): AccessRule[] {
  const list = Array.isArray(document) ? document : isRecord(document) && Object.keys(document).every((key) => key === 'rules') ? document.rules : undefined;
  if (list === undefined || list === null) {
    if (document === null || document === undefined) return [];
    throw new RulesError(`${source}: expected a list of rules (or "rules:" with a list)`);
  }
  if (!Array.isArray(list)) throw new RulesError(`${source}: rules: expected a list`);
  return list.map((item, index) => parseRule(item, `${source}: rules[${index}]`));
}

function parseRule(item: unknown, where: string): AccessRule {
  if (!isRecord(item)) throw new RulesError(`${where}: expected a mapping`);
  const unknown = Object.keys(item).filter((key) => !(RULE_KEYS as readonly string[]).includes(key));
  if (unknown.length) throw new RulesError(`${where}: unknown key ${JSON.stringify(unknown[0])} (known: ${RULE_KEYS.join(', ')})`);
  const rule: AccessRule = { verbs: [] };
  for (const key of RULE_KEYS) {
    const value = item[key];
    if (value === undefined || value === null) continue;
    // "" is the core API group, as in RBAC rules; elsewhere an empty string is a mistake.
    const allowEmpty = key === 'apiGroups';
    if (!Array.isArray(value) || !value.every((entry) => typeof entry === 'string' && (allowEmpty || entry !== ''))) {
      throw new RulesError(`${where}.${key}: expected a list of ${allowEmpty ? '' : 'non-empty '}strings`);
    }
    rule[key] = value as string[];
  }
  if (!rule.verbs.length) throw new RulesError(`${where}.verbs: required (e.g. [get, list] or ["*"])`);
  if (!rule.users?.length && !rule.groups?.length) throw new RulesError(`${where}: give users or groups (e.g. groups: [system:authenticated])`);
  if (!rule.resources?.length && !rule.nonResourceURLs?.length) throw new RulesError(`${where}: give resources or nonResourceURLs`);
  return rule;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
