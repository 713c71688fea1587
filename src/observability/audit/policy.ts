/**
 * kube-apiserver's audit policy (`audit.k8s.io/v1` `Policy`, the `--audit-policy-file` format):
 * which requests are audited, at which level, and which stages are left out.
 *
 *   parseAuditPolicy(yamlText) → AuditPolicy                  (throws AuditPolicyError, one line)
 *   policy.evaluate({ user, attributes }) → { level, omitStages }
 *   DEFAULT_AUDIT_POLICY                                     (no policy file: Metadata for all)
 *
 * Rules are tried in order and the first that matches decides; no match is level None, as in
 * kube-apiserver (staging/src/k8s.io/apiserver/pkg/audit/policy/checker.go). A rule matches when
 * every selector it has matches: users (user name), userGroups (any group), verbs, and either
 * resources/namespaces (resource requests only) or nonResourceURLs (other requests only).
 * The gateway never records bodies: Request and RequestResponse are accepted and written as Metadata.
 */
import { parse } from 'yaml';
import type { UserInfo } from '../../auth/identity.js';
import type { RequestAttributes } from '../../auth/request-attributes.js';

const AUDIT_LEVELS = ['None', 'Metadata', 'Request', 'RequestResponse'] as const;
type AuditLevel = (typeof AUDIT_LEVELS)[number];

const AUDIT_STAGES = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'] as const;
type PolicyStage = (typeof AUDIT_STAGES)[number];

interface GroupResources {
  group: string;
  resources: string[];
  resourceNames: string[];
}

interface PolicyRule {
  level: AuditLevel;
  users: string[];
  userGroups: string[];
  verbs: string[];
  resources: GroupResources[];
  namespaces: string[];
  nonResourceURLs: string[];
  omitStages: PolicyStage[];
}

export interface AuditDecision {
  level: AuditLevel;
  omitStages: ReadonlySet<PolicyStage>;
}

export interface AuditPolicy {
  /** `user`: the authenticated caller (the impersonator when it impersonates); absent when unknown. */
  evaluate(request: { user?: UserInfo; attributes: RequestAttributes }): AuditDecision;
}

export class AuditPolicyError extends Error {
  override name = 'AuditPolicyError';
}

type Mapping = Record<string, unknown>;

const RULE_KEYS = new Set(['level', 'users', 'userGroups', 'verbs', 'resources', 'namespaces', 'nonResourceURLs', 'omitStages', 'omitManagedFields']);
const POLICY_KEYS = new Set(['apiVersion', 'kind', 'metadata', 'rules', 'omitStages', 'omitManagedFields']);
const GROUP_RESOURCE_KEYS = new Set(['group', 'resources', 'resourceNames']);

/** What the gateway does without `audit.policyFile`: every request at Metadata, RequestReceived left out. */
export const DEFAULT_AUDIT_POLICY: AuditPolicy = policyOf([{ level: 'Metadata', users: [], userGroups: [], verbs: [], resources: [], namespaces: [], nonResourceURLs: [], omitStages: [] }], ['RequestReceived']);

export function parseAuditPolicy(text: string): AuditPolicy {
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new AuditPolicyError(`invalid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (!isMapping(document)) throw new AuditPolicyError('expected an audit.k8s.io/v1 Policy (a YAML mapping with rules)');
  unknownKeys(document, POLICY_KEYS, '');
  if (document.apiVersion !== 'audit.k8s.io/v1') throw new AuditPolicyError(`apiVersion: must be audit.k8s.io/v1, not ${JSON.stringify(document.apiVersion ?? null)}`);
  if (document.kind !== 'Policy') throw new AuditPolicyError(`kind: must be Policy, not ${JSON.stringify(document.kind ?? null)}`);
  const rules = document.rules ?? [];
  if (!Array.isArray(rules)) throw new AuditPolicyError('rules: must be a list');
  return policyOf(
    rules.map((rule, index) => parseRule(rule, `rules[${index}]`)),
    stages(document.omitStages, 'omitStages'),
  );
}

function policyOf(rules: PolicyRule[], omitStages: PolicyStage[]): AuditPolicy {
  return {
    evaluate({ user, attributes }) {
      for (const rule of rules) {
        if (ruleMatches(rule, user, attributes)) return { level: rule.level, omitStages: new Set([...omitStages, ...rule.omitStages]) };
      }
      return { level: 'None', omitStages: new Set(omitStages) };
    },
  };
}

function ruleMatches(rule: PolicyRule, user: UserInfo | undefined, a: RequestAttributes): boolean {
  if (rule.users.length > 0 && !(user && rule.users.includes(user.name))) return false;
  if (rule.userGroups.length > 0 && !(user && user.groups.some((group) => rule.userGroups.includes(group)))) return false;
  if (rule.verbs.length > 0 && !rule.verbs.includes(a.verb)) return false;
  if (rule.namespaces.length > 0 || rule.resources.length > 0) return resourceMatches(rule, a);
  if (rule.nonResourceURLs.length > 0) return !a.resourceRequest && rule.nonResourceURLs.some((spec) => pathMatches(a.path, spec));
  return true;
}

function resourceMatches(rule: PolicyRule, a: RequestAttributes): boolean {
  if (!a.resourceRequest) return false;
  // "" in namespaces selects cluster-scoped resources, as in kube-apiserver.
  if (rule.namespaces.length > 0 && !rule.namespaces.includes(a.namespace)) return false;
  if (rule.resources.length === 0) return true;
  const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  for (const gr of rule.resources) {
    if (gr.group !== a.apiGroup) continue;
    if (gr.resources.length === 0) return true;
    if (gr.resourceNames.length > 0 && !gr.resourceNames.includes(a.name)) continue;
    for (const resource of gr.resources) {
      if (resource === '*' || resource === combined) return true;
      if (a.subresource && resource.startsWith('*/') && resource.slice(2) === a.subresource) return true;
      if (resource.endsWith('/*') && resource.slice(0, -2) === a.resource) return true;
    }
  }
  return false;
}

/** `*` is every path; a trailing `*` is a prefix; anything else is the exact path. */
function pathMatches(path: string, spec: string): boolean {
  if (spec === '*') return true;
  if (spec.endsWith('*')) return path.startsWith(spec.slice(0, -1));
  return path === spec;
}

function parseRule(value: unknown, at: string): PolicyRule {
  if (!isMapping(value)) throw new AuditPolicyError(`${at}: must be a mapping with a level`);
  unknownKeys(value, RULE_KEYS, at);
  if (!AUDIT_LEVELS.includes(value.level as AuditLevel)) throw new AuditPolicyError(`${at}.level: must be one of ${AUDIT_LEVELS.join(', ')}, not ${JSON.stringify(value.level ?? null)}`);
  const rule: PolicyRule = {
    level: value.level as AuditLevel,
    users: strings(value.users, `${at}.users`),
    userGroups: strings(value.userGroups, `${at}.userGroups`),
    verbs: strings(value.verbs, `${at}.verbs`),
    resources: list(value.resources, `${at}.resources`).map((entry, index) => groupResources(entry, `${at}.resources[${index}]`)),
    namespaces: strings(value.namespaces, `${at}.namespaces`),
    nonResourceURLs: strings(value.nonResourceURLs, `${at}.nonResourceURLs`),
    omitStages: stages(value.omitStages, `${at}.omitStages`),
  };
  if (rule.nonResourceURLs.length > 0 && (rule.resources.length > 0 || rule.namespaces.length > 0)) {
    throw new AuditPolicyError(`${at}.nonResourceURLs: cannot be combined with resources or namespaces`);
  }
  rule.nonResourceURLs.forEach((url, index) => {
    if (url !== '*' && (!url.startsWith('/') || url.slice(0, -1).includes('*'))) {
      throw new AuditPolicyError(`${at}.nonResourceURLs[${index}]: must be * or a path starting with /, with * only at the end, not ${JSON.stringify(url)}`);
    }
  });
  return rule;
}

function groupResources(value: unknown, at: string): GroupResources {
  if (!isMapping(value)) throw new AuditPolicyError(`${at}: must be a mapping (group, resources, resourceNames)`);
  unknownKeys(value, GROUP_RESOURCE_KEYS, at);
  if (value.group !== undefined && value.group !== null && typeof value.group !== 'string') throw new AuditPolicyError(`${at}.group: must be a string ("" is the core group)`);
  const resources = strings(value.resources, `${at}.resources`);
  resources.forEach((resource, index) => {
    if (resource.split('/').length > 2) throw new AuditPolicyError(`${at}.resources[${index}]: must be resource, resource/subresource, */subresource or resource/*, not ${JSON.stringify(resource)}`);
  });
  return { group: (value.group as string | undefined) ?? '', resources, resourceNames: strings(value.resourceNames, `${at}.resourceNames`) };
}

function stages(value: unknown, at: string): PolicyStage[] {
  const names = strings(value, at);
  names.forEach((name, index) => {
    if (!AUDIT_STAGES.includes(name as PolicyStage)) throw new AuditPolicyError(`${at}[${index}]: must be one of ${AUDIT_STAGES.join(', ')}, not ${JSON.stringify(name)}`);
  });
  return names as PolicyStage[];
}

function strings(value: unknown, at: string): string[] {
  const items = list(value, at);
  items.forEach((item, index) => {
    if (typeof item !== 'string') throw new AuditPolicyError(`${at}[${index}]: must be a string`);
  });
  return items as string[];
}

function list(value: unknown, at: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new AuditPolicyError(`${at}: must be a list`);
  return value;
}

function unknownKeys(value: Mapping, known: ReadonlySet<string>, at: string): void {
  for (const key of Object.keys(value)) {
    if (!known.has(key)) throw new AuditPolicyError(`${at ? `${at}.` : ''}${key}: unknown field (known here: ${[...known].join(', ')})`);
  }
}

function isMapping(value: unknown): value is Mapping {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
