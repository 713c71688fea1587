import http from 'node:http';
import type { Logger } from 'pino';
import { listen } from '../net/listen.js';
import type { ListenAddress, RunningServer } from '../net/running-server.js';
import { connectionOptions, requestFunction, upstreamHost, upstreamPath } from '../upstream/request-options.js';
import type { UpstreamTarget } from '../upstream/target.js';

/**
 * Kubernetes-style health endpoints (k8s.io/apiserver/pkg/server/healthz): `/livez` and `/healthz`
 * say the process is alive, `/readyz` that it should get traffic — the gateway's own readiness; each
 * upstream's reachability is a check of its own at `/readyz/upstream/<name>`, outside `/readyz`, so
 * that one unreachable cluster does not take the gateway away from the others. Each endpoint runs named checks;
 * `?verbose` lists them as `[+]name ok` / `[-]name failed: reason` and ends with `<endpoint> check
 * passed|failed`; `?exclude=name` (repeatable) skips one; `/readyz/<name>` runs only that one. A
 * failure always answers with the list. Two deliberate differences from Kubernetes: a failure is 503
 * (Kubernetes answers 500; a probe fails on either), and the reason is shown instead of "reason
 * withheld" — the admin listener is not meant to face the public, and "connect ECONNREFUSED" is what
 * an operator looking at `?verbose` needs.
 */

export type HealthEndpoint = 'livez' | 'healthz' | 'readyz';

export interface HealthCheck {
  /** Shown in the output and used by `?exclude=`; e.g. `upstream-default`. */
  name: string;
  /** Resolves when healthy; rejects (its message is the reason) when not. Should stop when `signal` aborts. */
  check: (signal: AbortSignal) => Promise<void>;
  /** Fails the check when it has not settled by then. Default: HealthChecksOptions.defaultTimeoutMs. */
  timeoutMs?: number;
}

export interface HealthChecksOptions {
  /** Default 2000 ms: under the 5 s probe timeout of the manifests, so a hung check still answers. */
  defaultTimeoutMs?: number;
  /** Checks that change state (ok ↔ failed) are logged once per change. */
  logger?: Logger;
  /** Told each time an upstream's reachability is found (every run, not only changes): e.g. a gauge. */
  onUpstreamOutcome?: (upstream: string, reachable: boolean) => void;
}

/** How often every upstream's reachability is checked in the background (watchUpstreams). */
const UPSTREAM_CHECK_INTERVAL_MS = 10_000;

export interface HealthAnswer {
  status: 200 | 503;
  body: string;
}

/**
 * The reason the `shutdown` check gives while draining.
 * @internal Exported for its unit test; the product uses it only here.
 */
export const DRAINING_REASON = 'the gateway is draining';

const CHECK_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** What the gateway knows of an upstream: `unknown` until its first check has run. */
export type UpstreamState = 'reachable' | 'unreachable' | 'unknown';

interface RegisteredCheck extends HealthCheck {
  timeoutMs: number;
  /** Concurrent probes share one run instead of piling up requests toward an upstream. */
  running?: Promise<string | undefined>;
  lastFailure?: string | undefined;
  everRan: boolean;
  /** Set for an upstream's reachability check. */
  upstream?: string;
}

export class HealthChecks {
  private readonly liveness: RegisteredCheck[] = [];
  private readonly readiness: RegisteredCheck[] = [];
  /**
   * Per upstream, outside `/readyz`: one unreachable cluster must not take the gateway out of the
   * Service for the healthy ones. Served as `/readyz/upstream/NAME`.
   */
  private readonly upstreams = new Map<string, RegisteredCheck>();
  private readonly defaultTimeoutMs: number;
  private readonly logger: Logger | undefined;
  private readonly onUpstreamOutcome: HealthChecksOptions['onUpstreamOutcome'];
  private isDraining: boolean = false;

  constructor(options: HealthChecksOptions = {}) {
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? 2_000;
    this.logger = options.logger;
    this.onUpstreamOutcome = options.onUpstreamOutcome;
    const ping = this.register({ name: 'ping', check: async () => {} });
    this.liveness.push(ping);
    this.readiness.push(ping);
    this.readiness.push(
      this.register({
        name: 'shutdown',
        check: async () => {
          if (this.isDraining) throw new Error(DRAINING_REASON);
        },
      }),
    );
  }

  /** A check for `/livez` and `/healthz` (and, as in Kubernetes, `/readyz` too). Keep these cheap and local. */
  addLivenessCheck(check: HealthCheck): void {
    const registered = this.register(check);
    this.liveness.push(registered);
    this.readiness.push(registered);
  }

  /** A check for `/readyz` only: e.g. an upstream being reachable. */
  addReadinessCheck(check: HealthCheck): void {
    this.readiness.push(this.register(check));
  }

  /**
   * An upstream's reachability: its own check at `/readyz/upstream/<upstream>`, not part of `/readyz`
   * (which is the gateway's own readiness). Its state is kept for routing (upstreamState).
   */
  addUpstreamCheck(upstream: string, check: HealthCheck): void {
    if (this.upstreams.has(upstream)) throw new TypeError(`upstream check ${JSON.stringify(upstream)} is already registered`);
    this.upstreams.set(upstream, { ...this.register(check), upstream });
  }

  /** The last outcome of the upstream's check; `unknown` before it first ran or for an unknown name. */
  upstreamState(upstream: string): UpstreamState {
    const check = this.upstreams.get(upstream);
    if (!check?.everRan) return 'unknown';
    return check.lastFailure === undefined ? 'reachable' : 'unreachable';
  }

  /** Runs the upstream's check now (shared with a run in progress); resolves with the failure, if any. */
  checkUpstream(upstream: string): Promise<string | undefined> {
    const check = this.upstreams.get(upstream);
    return check ? this.run(check) : Promise.resolve(undefined);
  }

  /** Checks every upstream now and then every `intervalMs`, until the returned function is called. */
  watchUpstreams(intervalMs: number = UPSTREAM_CHECK_INTERVAL_MS): () => void {
    const runAll = (): void => {
      for (const name of this.upstreams.keys()) void this.checkUpstream(name);
    };
    runAll();
    const timer = setInterval(runAll, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** From now on `/readyz` fails with `[-]shutdown failed: the gateway is draining`; liveness stays ok. */
  startDraining(): void {
    this.isDraining = true;
  }

  get draining(): boolean {
    return this.isDraining;
  }

  /**
   * The answer for `/<endpoint>` or `/<endpoint>/<check>` with this query string. `undefined` when
   * the path names no such check (the caller answers 404).
   */
  async evaluate(endpoint: HealthEndpoint, query: URLSearchParams, only?: string, upstream?: string): Promise<HealthAnswer | undefined> {
    const checks = endpoint === 'readyz' ? this.readiness : this.liveness;
    if (upstream !== undefined || only !== undefined) {
      const check = upstream === undefined ? checks.find((candidate) => candidate.name === only) : endpoint === 'readyz' ? this.upstreams.get(upstream) : undefined;
      if (!check) return undefined;
      const failure = await this.run(check);
      return failure === undefined ? { status: 200, body: 'ok' } : { status: 503, body: `internal server error: ${failure}\n` };
    }

    const excluded = new Set(query.getAll('exclude'));
    const outcomes = await Promise.all(checks.map((check) => (excluded.has(check.name) ? 'excluded' : this.run(check))));
    let lines = '';
    let failed = false;
    checks.forEach((check, index) => {
      const outcome = outcomes[index];
      if (outcome === 'excluded') {
        excluded.delete(check.name);
        lines += `[+]${check.name} excluded: ok\n`;
      } else if (outcome === undefined) {
        lines += `[+]${check.name} ok\n`;
      } else {
        failed = true;
        lines += `[-]${check.name} failed: ${outcome}\n`;
      }
    });
    if (excluded.size > 0) {
      const names = [...excluded].sort().map((name) => JSON.stringify(name)).join(',');
      lines += `warn: some health checks cannot be excluded: no matches for ${names}\n`;
    }
    if (failed) return { status: 503, body: `${lines}${endpoint} check failed\n` };
    if (!query.has('verbose')) return { status: 200, body: 'ok' };
    return { status: 200, body: `${lines}${endpoint} check passed\n` };
  }

  /**
   * Serves GET/HEAD `/livez`, `/healthz`, `/readyz` and `/<endpoint>/<check>`; returns false (and
   * writes nothing) for any other path, so the caller can route it elsewhere.
   */
  handle(request: http.IncomingMessage, response: http.ServerResponse): boolean {
    const url = new URL(request.url ?? '/', 'http://admin.invalid');
    const match = /^\/(livez|healthz|readyz)(?:\/(upstream)\/([^/]+)|\/([^/]+))?\/?$/.exec(url.pathname);
    if (!match) return false;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      writeText(response, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
      return true;
    }
    const endpoint = match[1] as HealthEndpoint;
    let only: string | undefined;
    let upstream: string | undefined;
    try {
      only = match[4] === undefined ? undefined : decodeURIComponent(match[4]);
      upstream = match[3] === undefined ? undefined : decodeURIComponent(match[3]);
    } catch {
      writeText(response, 400, 'bad request: malformed check name\n');
      return true;
    }
    this.evaluate(endpoint, url.searchParams, only, upstream).then(
      (answer) => {
        if (answer) writeText(response, answer.status, answer.body);
        else if (upstream !== undefined) writeText(response, 404, `404 page not found: no upstream ${JSON.stringify(upstream)} in /${endpoint}/upstream\n`);
        else writeText(response, 404, `404 page not found: no check ${JSON.stringify(only)} in /${endpoint}\n`);
      },
      (error: unknown) => writeText(response, 500, `internal server error: ${(error as Error).message}\n`),
    );
    return true;
  }

  private register(check: HealthCheck): RegisteredCheck {
    if (!CHECK_NAME.test(check.name)) throw new TypeError(`health check name ${JSON.stringify(check.name)}: letters, digits, ".", "_" and "-" only`);
    const taken = [...this.liveness, ...this.readiness, ...this.upstreams.values()].some((existing) => existing.name === check.name);
    if (taken) throw new TypeError(`health check ${JSON.stringify(check.name)} is already registered`);
    return { ...check, timeoutMs: check.timeoutMs ?? this.defaultTimeoutMs, everRan: false };
  }

  /** Undefined when the check passed, else the reason it failed. */
  private run(check: RegisteredCheck): Promise<string | undefined> {
    if (check.running) return check.running;
    const running = runWithTimeout(check).then((failure) => {
      check.running = undefined;
      this.noteOutcome(check, failure);
      return failure;
    });
    check.running = running;
    return running;
  }

  private noteOutcome(check: RegisteredCheck, failure: string | undefined): void {
    const changed = check.everRan ? (failure === undefined) !== (check.lastFailure === undefined) : failure !== undefined;
    check.everRan = true;
    check.lastFailure = failure;
    if (check.upstream !== undefined) this.onUpstreamOutcome?.(check.upstream, failure === undefined);
    if (!changed || !this.logger) return;
    const upstream = check.upstream === undefined ? {} : { upstream: check.upstream };
    if (failure === undefined) this.logger.info({ event: 'health-check-ok', check: check.name, ...upstream }, `health check ${check.name} ok again`);
    else this.logger.warn({ event: 'health-check-failed', check: check.name, ...upstream, reason: failure }, `health check ${check.name} failed: ${failure}`);
  }
}

function runWithTimeout(check: RegisteredCheck): Promise<string | undefined> {
  const controller = new AbortController();
  return new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => {
      controller.abort();
      resolve(`timed out after ${check.timeoutMs} ms`);
    }, check.timeoutMs);
    const settle = (failure: string | undefined): void => {
      clearTimeout(timer);
      resolve(failure);
    };
    let started: Promise<void>;
    try {
      started = check.check(controller.signal);
    } catch (error) {
      started = Promise.reject(error);
    }
    started.then(
      () => settle(undefined),
      (error: unknown) => settle(oneLine(error instanceof Error ? error.message : String(error)) || 'failed'),
    );
  });
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

function writeText(response: http.ServerResponse, status: number, body: string, headers: http.OutgoingHttpHeaders = {}): void {
  response.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  response.end(response.req.method === 'HEAD' ? undefined : body);
}

export interface UpstreamCheckOptions {
  /** Default `/healthz`: served by API servers and kubelets of every version (see docs/deployment.md). */
  path?: string;
  timeoutMs?: number;
}

/**
 * `upstream-<name>`: the upstream is reachable when it answers an HTTP request at all — any status,
 * 401 and 403 included, since an anonymous probe may be refused — over a TLS connection that passed
 * verification. A refused or reset connection, a TLS failure or no answer in time fails it. The
 * gateway's own credential is sent when the target has one, so the request is not anonymous where
 * anonymous access is off. `target` may be a function, to pick up reloaded CA bundles and credentials.
 */
export function upstreamReachableCheck(name: string, target: UpstreamTarget | (() => UpstreamTarget), options: UpstreamCheckOptions = {}): HealthCheck {
  const check: HealthCheck = {
    name: `upstream-${name}`,
    check: (signal) => probeUpstream(typeof target === 'function' ? target() : target, options.path ?? '/healthz', signal),
  };
  if (options.timeoutMs !== undefined) check.timeoutMs = options.timeoutMs;
  return check;
}

function probeUpstream(target: UpstreamTarget, path: string, signal: AbortSignal): Promise<void> {
  const options = connectionOptions(target);
  const headers: http.OutgoingHttpHeaders = { host: upstreamHost(target), accept: 'text/plain, */*', 'user-agent': 'kube-stream-gateway-readiness' };
  const credentials = target.credentials;
  if (credentials?.bearerToken) headers.authorization = `Bearer ${credentials.bearerToken}`;
  if (target.url.protocol === 'https:' && credentials?.clientCert && credentials.clientKey) {
    options.cert = credentials.clientCert;
    options.key = credentials.clientKey;
  }
  return new Promise((resolve, reject) => {
    const request = requestFunction(target)({ ...options, method: 'GET', path: upstreamPath(target, path), headers, agent: false, signal }, (response) => {
      // Any answer means TCP, TLS and HTTP work; the body is not needed. Destroying the request
      // may make the response emit an "aborted" error (Node versions differ): expected, and ignored.
      response.on('error', () => {});
      response.resume();
      request.destroy();
      resolve();
    });
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (signal.aborted) return; // the timeout already reported it
      reject(new Error(describeConnectError(target, error)));
    });
    request.end();
  });
}

function describeConnectError(target: UpstreamTarget, error: NodeJS.ErrnoException): string {
  const where = target.url.host;
  const byCode: Record<string, string> = {
    ECONNREFUSED: `connection refused by ${where}`,
    ECONNRESET: `connection reset by ${where}`,
    ENOTFOUND: `cannot resolve ${target.url.hostname}`,
    EHOSTUNREACH: `no route to ${where}`,
    ETIMEDOUT: `connecting to ${where} timed out`,
  };
  return byCode[error.code ?? ''] ?? `${where}: ${error.message}`;
}

/** Anything with Prometheus exposition text: GatewayMetrics. */
interface MetricsSource {
  render(): Promise<{ contentType: string; body: string }>;
}

export interface AdminServerOptions {
  listen: ListenAddress;
  health: HealthChecks;
  metrics?: MetricsSource;
  logger?: Logger;
}

/**
 * The admin listener: `/metrics`, `/livez`, `/healthz`, `/readyz` over plain HTTP. Keep it on a
 * private address (the pod network or 127.0.0.1): it has no authentication, like a kubelet's or a
 * controller's metrics port behind a NetworkPolicy.
 */
export async function startAdminServer(options: AdminServerOptions): Promise<RunningServer> {
  const server = http.createServer((request, response) => {
    if (options.health.handle(request, response)) return;
    const path = new URL(request.url ?? '/', 'http://admin.invalid').pathname;
    if (path === '/metrics' && options.metrics) {
      if (request.method !== 'GET' && request.method !== 'HEAD') return writeText(response, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
      options.metrics.render().then(
        (rendered) => writeText(response, 200, rendered.body, { 'content-type': rendered.contentType }),
        (error: unknown) => {
          options.logger?.error({ event: 'metrics-failed', err: error }, 'rendering /metrics failed');
          writeText(response, 500, `internal server error: ${(error as Error).message}\n`);
        },
      );
      return;
    }
    writeText(response, 404, '404 page not found\n');
  });
  // Probes and scrapes are short; a stuck client must not hold a socket for long.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;
  const bound = await listen(server, options.listen);
  options.logger?.info({ event: 'admin-listening', address: bound.authority }, `admin endpoints on http://${bound.authority}`);
  return {
    url: `http://${bound.authority}`,
    host: bound.host,
    port: bound.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
