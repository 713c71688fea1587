import type { IncomingMessage } from 'node:http';
import { HttpStatusError } from '../net/http-answers.js';
import { parseRequestTarget, RequestTargetError, type RequestTarget } from '../codecs/k8s/request-url.js';
import type { UpstreamTarget } from '../upstream/target.js';
import { requestAttributes, type RequestAttributes } from '../auth/request-attributes.js';

/** One legacy cluster behind the gateway. */
export interface NamedUpstream {
  /** DNS-label name: the `/clusters/{name}/` prefix and the `upstream` label of logs and metrics. */
  name: string;
  target: UpstreamTarget;
  /** Host names (without port) whose requests go to this cluster. */
  hosts?: readonly string[];
}

export interface RoutingOptions {
  upstreams: readonly NamedUpstream[];
  /** Where requests go that neither a host nor a prefix names; the only upstream when there is one. */
  defaultUpstream?: string;
  /** List the known cluster names in the 404 for an unknown one (off by default: names can be private). */
  revealUpstreamNames?: boolean;
}

export interface Route {
  upstream: NamedUpstream;
  /** The request target as the upstream sees it: the `/clusters/{name}` prefix removed. */
  path: string;
  /** `path` as read once for authorization and audit (`parseRequestTarget`): what the upstream will act on. */
  target: RequestTarget;
  /** `target` and the method in authorization terms, read once for the streaming check, access control and audit. */
  attributes: RequestAttributes;
}

const CLUSTER_PREFIX = 'clusters';

/**
 * Picks the cluster for a request. An explicit `/clusters/{name}/` prefix wins (a client asked for
 * that cluster by name); then the Host header; then the default. The prefix is stripped so the
 * upstream sees the path it serves (kubectl with `server: https://gw/clusters/a` sends
 * `/clusters/a/api/v1/...`).
 */
export class Router {
  private readonly byName = new Map<string, NamedUpstream>();
  private readonly byHost = new Map<string, NamedUpstream>();
  private readonly fallback: NamedUpstream | undefined;

  constructor(private readonly options: RoutingOptions) {
    for (const upstream of options.upstreams) {
      this.byName.set(upstream.name, upstream);
      for (const host of upstream.hosts ?? []) this.byHost.set(host.toLowerCase(), upstream);
    }
    const fallbackName = options.defaultUpstream ?? (options.upstreams.length === 1 ? options.upstreams[0]!.name : undefined);
    this.fallback = fallbackName === undefined ? undefined : this.byName.get(fallbackName);
    if (fallbackName !== undefined && !this.fallback) throw new Error(`default upstream ${JSON.stringify(fallbackName)} is not one of the upstreams`);
  }

  get upstreams(): readonly NamedUpstream[] {
    return this.options.upstreams;
  }

  /**
   * The route, or a 404 Status error naming what was asked for. A request target the gateway could
   * read differently from the upstream (absolute-form, `%2F`, dot segments, `//`…: parseRequestTarget)
   * is a 400 before anything else: `/pods/p/log/../exec` or `http://x/…/exec` would otherwise be
   * authorized as one thing and served as another.
   */
  route(req: Pick<IncomingMessage, 'url' | 'headers'> & Partial<Pick<IncomingMessage, 'method'>>): Route {
    const routed = (upstream: NamedUpstream, path: string, target: RequestTarget): Route => ({ upstream, path, target, attributes: requestAttributes({ method: req.method ?? 'GET', target }) });
    const target = readTarget(req.url ?? '/');
    if (target.segments[0] === CLUSTER_PREFIX && target.segments.length >= 2) {
      const name = target.segments[1]!;
      const upstream = this.byName.get(name);
      if (!upstream) throw this.notFound(`no cluster named ${JSON.stringify(name)} behind this gateway`);
      // rawPath is `/clusters/{name}[/rest]`: the upstream gets `/rest` exactly as sent.
      const rest = `/${target.rawPath.split('/').slice(3).join('/')}${target.search}`;
      return routed(upstream, rest, readTarget(rest));
    }
    const path = req.url ?? '/';
    const host = hostName(req.headers.host);
    // A host configured with its port matches only that port; one without matches any port.
    const fullHost = req.headers.host?.trim().toLowerCase();
    const byHost = (fullHost === undefined ? undefined : this.byHost.get(fullHost)) ?? (host === undefined ? undefined : this.byHost.get(host));
    if (byHost) return routed(byHost, path, target);
    if (this.fallback) return routed(this.fallback, path, target);
    throw this.notFound(`no cluster for host ${JSON.stringify(host ?? '')}; use a cluster's host name or the /clusters/{name}/ prefix`);
  }

  private notFound(message: string): HttpStatusError {
    const known = this.options.revealUpstreamNames ? ` (known clusters: ${[...this.byName.keys()].join(', ')})` : '';
    return new HttpStatusError(404, 'NotFound', message + known);
  }
}

/** `Host: a.example.com:8443` → `a.example.com`; `[::1]:8443` → `[::1]`. */
function hostName(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const host = header.trim().toLowerCase();
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

function readTarget(url: string): RequestTarget {
  try {
    return parseRequestTarget(url);
  } catch (error) {
    if (error instanceof RequestTargetError) throw new HttpStatusError(400, 'BadRequest', error.message);
    throw error;
  }
}
