/**
 * The edge policy of the configuration (`auth.authorization.policy`): the first rule that matches
 * allows; no match denies.
 *
 *   createPolicyAuthorizer(rules) → { authorize(user, attributes) → { allowed, reason } }
 *   forbiddenMessage(user, attributes, reason) → the Kubernetes-style 403 Status message
 *
 * A rule matches when all of these hold:
 *  - subject: the user's name is in `users`, or one of its groups is in `groups` ("*" in either
 *    matches every authenticated user). A rule with neither matches nobody.
 *  - verb: the request's policy verb is in `verbs` ("*" = all). Policy verbs: `exec`, `attach`,
 *    `portforward` (pods/exec, pods/attach, pods/portforward — already `create` in the attributes)
 *    and `api` for every other request.
 *  - namespace: the request's namespace is in `namespaces` ("*" or absent = all). A request without a
 *    namespace (cluster-scoped, non-resource, or a list across namespaces) matches only "*"/absent.
 *  - pod: for requests that name a pod (exec/attach/portforward, or the pods resource with a name),
 *    the pod name matches a glob of `pods` ("*" or absent = all; `*` any run, `?` one character).
 *    Any other request matches only a rule whose `pods` is "*" or absent, so a rule limited to some
 *    pods never grants wider access.
 *  - cluster: the upstream the request goes to is in `clusters` ("*" or absent = all), so an
 *    identity allowed on one cluster is not allowed on another by the same rule.
 */
import type { UserInfo } from './identity.js';
import { STREAMING_SUBRESOURCES, type RequestAttributes } from './request-attributes.js';

export interface PolicyRule {
  users?: string[];
  groups?: string[];
  verbs: string[];
  namespaces?: string[];
  pods?: string[];
  /** Upstream names; "*" or absent = all. */
  clusters?: string[];
}

interface AuthorizationDecision {
  allowed: boolean;
  reason: string;
}

export interface PolicyAuthorizer {
  /** `upstream`: the name of the cluster the request goes to. */
  authorize(user: UserInfo, attributes: RequestAttributes, upstream?: string): AuthorizationDecision;
}

/** @internal Exported for its unit test; the product uses it only here. */
export type PolicyVerb = 'exec' | 'attach' | 'portforward' | 'api';

/** @internal Exported for its unit test; the product uses it only here. */
export function policyVerb(attributes: RequestAttributes): PolicyVerb {
  if (attributes.resourceRequest && attributes.resource === 'pods' && attributes.apiGroup === '' && STREAMING_SUBRESOURCES.has(attributes.subresource)) {
    return attributes.subresource as PolicyVerb;
  }
  return 'api';
}

export function createPolicyAuthorizer(rules: PolicyRule[]): PolicyAuthorizer {
  const compiled = rules.map((rule, index) => ({ rule, index, pods: rule.pods?.map(globToRegExp) }));
  return {
    authorize(user, attributes, upstream = '') {
      const verb = policyVerb(attributes);
      const podName = attributes.resourceRequest && attributes.resource === 'pods' && attributes.apiGroup === '' ? attributes.name : '';
      for (const { rule, index, pods } of compiled) {
        if (!subjectMatches(rule, user)) continue;
        if (!rule.verbs.includes('*') && !rule.verbs.includes(verb)) continue;
        if (!allOrIncludes(rule.namespaces, attributes.namespace)) continue;
        if (!allOrIncludes(rule.clusters, upstream)) continue;
        if (pods && !rule.pods!.includes('*')) {
          if (podName === '' || !pods.some((glob) => glob.test(podName))) continue;
        }
        return { allowed: true, reason: `allowed by edge policy rule ${index + 1}` };
      }
      return {
        allowed: false,
        reason: `no edge policy rule allows ${verb}${attributes.namespace ? ` in namespace ${attributes.namespace}` : ''}${upstream ? ` on cluster ${upstream}` : ''}`,
      };
    },
  };
}

function subjectMatches(rule: PolicyRule, user: UserInfo): boolean {
  if (rule.users?.some((name) => name === '*' || name === user.name)) return true;
  return rule.groups?.some((group) => group === '*' || user.groups.includes(group)) ?? false;
}

function allOrIncludes(list: string[] | undefined, value: string): boolean {
  if (list === undefined || list.includes('*')) return true;
  return value !== '' && list.includes(value);
}

function globToRegExp(glob: string): RegExp {
  const source = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${source}$`, 's');
}

/**
 * kube-apiserver's forbidden message (apiserver endpoints/handlers/responsewriters), so clients print
 * what they would print for an RBAC denial: `pods "web" is forbidden: User "bob" cannot create
 * resource "pods/exec" in API group "" in the namespace "default": <reason>`.
 */
export function forbiddenMessage(user: UserInfo, attributes: RequestAttributes, reason: string): string {
  const suffix = reason ? `: ${reason}` : '';
  if (!attributes.resourceRequest) return `forbidden: User "${user.name}" cannot ${attributes.verb} path "${attributes.path}"${suffix}`;
  const resource = attributes.subresource ? `${attributes.resource}/${attributes.subresource}` : attributes.resource;
  // schema.GroupResource.String(): `deployments.apps`, or `pods` for the core group.
  const groupResource = attributes.apiGroup ? `${attributes.resource}.${attributes.apiGroup}` : attributes.resource;
  const object = attributes.name ? `${groupResource} "${attributes.name}"` : groupResource;
  const where = attributes.namespace ? ` in the namespace "${attributes.namespace}"` : ' at the cluster scope';
  return `${object} is forbidden: User "${user.name}" cannot ${attributes.verb} resource "${resource}" in API group "${attributes.apiGroup}"${where}${suffix}`;
}
