/**
 * The one configuration schema (YAML file, flags and environment all land here): strict objects,
 * defaults, a description on every field (docs/configuration.md is generated from them), and
 * checks across fields. Only the shape and the values are checked here; reading the files the
 * settings name is model.ts's job.
 */
import { z } from 'zod';
import { AUTHENTICATORS, AUTHENTICATOR_SETTINGS, settingGiven, type AuthenticatorSetting } from '../auth/authenticators.js';
import { getCiphers } from 'node:tls';
import { isIP } from 'node:net';
import { DEFAULT_TLS_CIPHER_SUITES, DEFAULT_TLS_MIN_VERSION, TLS_VERSIONS } from '../net/tls-policy.js';
import { cidrProblem } from '../net/cidr.js';
import { listenAddressProblem } from './listen-address.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
const AUTH_MODES = ['passthrough', 'edge'] as const;
const AUTHORIZATION_MODES = ['none', 'policy', 'subjectAccessReview'] as const;
const POLICY_VERBS = ['exec', 'attach', 'portforward', 'api', '*'] as const;
/** What kube-apiserver accepts for --oidc-signing-algs. */
const SIGNING_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512'] as const;

export const DEFAULT_LISTEN = '127.0.0.1:8080';
export const DEFAULT_ADMIN_LISTEN = '127.0.0.1:9090';
/** The upstream the `--upstream*` flags (and KSG_UPSTREAM) describe. */
export const FLAG_UPSTREAM_NAME = 'default';

const UPSTREAM_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const HOST = /^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$/;

// Field metadata (.meta): description (every field), flag, env, and defaultText for a default
// computed from other fields; reference.ts renders them into docs/configuration.md.

const path = () => z.string().min(1, 'must be a file path, got an empty string');
// Number.isInteger as a refinement rather than .int(): .int() aborts the checks of every enclosing
// object, which would hide their errors (e.g. duplicate upstream names) until this one is fixed.
const seconds = () => z.number().refine(Number.isInteger, 'must be a whole number of seconds').min(0, 'must be 0 or more');
const count = (minimum: number) => z.number().refine(Number.isInteger, 'must be a whole number').min(minimum, `must be ${minimum} or more`);
const names = () => z.array(z.string().min(1, 'must not be empty'));

/** Lets a check on an object run despite errors inside it, as long as it is an object at all. */
function whenMapping(payload: z.core.ParsePayload): boolean {
  return typeof payload.value === 'object' && payload.value !== null && !Array.isArray(payload.value);
}

/** A string that `problemOf` judges: it returns what is wrong, or undefined. */
const checkedString = (problemOf: (value: string) => string | undefined) =>
  z.string().superRefine((value, ctx) => {
    const problem = problemOf(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

const listenAddress = () => checkedString(listenAddressProblem);

const tlsSchema = z
  .strictObject({
    cert: path().optional().meta({ description: 'PEM server certificate (chain) the gateway serves HTTPS with. Reloaded when the file changes.', flag: '--tls-cert' }),
    key: path().optional().meta({ description: 'PEM private key of `cert`. Reloaded with it.', flag: '--tls-key' }),
    clientCA: path().optional().meta({ description: 'PEM bundle of the CAs whose client certificates authenticate callers (mTLS; the `clientCertificate` authenticator in edge mode). Reloaded when the file changes.' }),
    minVersion: z.enum(TLS_VERSIONS).default(DEFAULT_TLS_MIN_VERSION).meta({ description: 'Oldest TLS version accepted, on the listener and toward upstreams: `TLSv1.2` or `TLSv1.3`.' }),
    cipherSuites: z
      .array(checkedString(cipherSuiteProblem))
      .min(1, 'must list at least one cipher suite')
      .default([...DEFAULT_TLS_CIPHER_SUITES])
      .meta({ description: 'TLS 1.2 cipher suites (OpenSSL names) offered on the listener and toward upstreams; TLS 1.3 suites are not affected. The default is forward-secret (ECDHE) AEAD suites only: no static-RSA key exchange, no CBC.', defaultText: DEFAULT_TLS_CIPHER_SUITES.join(', ') }),
  })
  .superRefine((tls, ctx) => {
    if (tls.cert !== undefined && tls.key === undefined) ctx.addIssue({ code: 'custom', path: ['cert'], message: 'given without {tls.key} (give both or neither)' });
    if (tls.key !== undefined && tls.cert === undefined) ctx.addIssue({ code: 'custom', path: ['key'], message: 'given without {tls.cert} (give both or neither)' });
    if (tls.clientCA !== undefined && tls.cert === undefined && tls.key === undefined) ctx.addIssue({ code: 'custom', path: ['clientCA'], message: 'needs {tls.cert} and {tls.key}: client certificates only exist over TLS' });
  })
  .meta({ description: 'Serve HTTPS. Leave out `cert` and `key` to serve plain HTTP behind a TLS-terminating load balancer (kubectl sends tokens only over TLS, so something in front must do TLS); `minVersion` and `cipherSuites` apply toward upstreams either way.' });

const adminSchema = z
  .strictObject({
    listen: checkedString((value) => (value === 'off' ? undefined : listenAddressProblem(value)?.concat(', or "off"')))
      .default(DEFAULT_ADMIN_LISTEN)
      .meta({ description: 'Where `/metrics`, `/healthz`, `/livez` and `/readyz` are served (plain HTTP): `HOST:PORT`, or `off`.', flag: '--admin-listen', env: 'KSG_ADMIN_LISTEN' }),
  })
  .meta({ description: 'The admin listener: metrics and health endpoints, apart from the gateway listener.' });

const credentialSchema = z
  .strictObject({
    tokenFile: path().optional().meta({ description: 'File holding a bearer token (e.g. a projected ServiceAccount token). Reloaded when the file changes.' }),
    clientCert: path().optional().meta({ description: 'PEM client certificate the gateway presents to the upstream. Reloaded when the file changes.' }),
    clientKey: path().optional().meta({ description: 'PEM private key of `clientCert`.' }),
  })
  .superRefine((credential, ctx) => {
    if (credential.clientCert !== undefined && credential.clientKey === undefined) ctx.addIssue({ code: 'custom', path: ['clientCert'], message: 'given without clientKey (give both or neither)' });
    if (credential.clientKey !== undefined && credential.clientCert === undefined) ctx.addIssue({ code: 'custom', path: ['clientKey'], message: 'given without clientCert (give both or neither)' });
    if (credential.tokenFile === undefined && credential.clientCert === undefined && credential.clientKey === undefined) ctx.addIssue({ code: 'custom', message: 'empty: give tokenFile, or clientCert and clientKey' });
  })
  .meta({ description: "The gateway's own credential toward this upstream: used for callers' requests in edge mode (with impersonation), and for TokenReview, SubjectAccessReview and readiness checks. Overrides the kubeconfig user's." });

const upstreamSchema = z
  .strictObject({
    name: z
      .string()
      .regex(UPSTREAM_NAME, 'must be lowercase letters, digits and "-", starting and ending with a letter or digit (like a Kubernetes name)')
      .max(63, 'must be at most 63 characters')
      .meta({ description: 'Names the upstream: requests to `/clusters/{name}/...` go to it (the prefix is stripped), and metrics carry it as a label.' }),
    server: z
      .string()
      .optional()
      .meta({ description: 'The legacy API server or kubelet: `https://host:port`, optionally with a path prefix. Required unless `kubeconfig` gives it; replaces the kubeconfig\'s server when both are set.', flag: '--upstream', env: 'KSG_UPSTREAM' }),
    allowInsecureHTTP: z.boolean().default(false).meta({ description: 'Allow an `http://` server (no TLS toward the upstream: tokens travel in clear text). Testing only.' }),
    hosts: names().default([]).meta({ description: 'Requests whose `Host` header (without port) is one of these go to this upstream, e.g. one DNS name per cluster behind an ingress.' }),
    kubeconfig: path().optional().meta({ description: 'Take the server, CA, TLS server name and credential from this kubeconfig. Exec plugins and auth providers are refused.', flag: '--upstream-kubeconfig' }),
    context: z.string().min(1).optional().meta({ description: "The kubeconfig's context to use.", flag: '--upstream-context', defaultText: "the kubeconfig's current-context" }),
    ca: path().optional().meta({ description: "PEM CA bundle that verifies the upstream's certificate. Reloaded when the file changes.", flag: '--upstream-ca', defaultText: "the kubeconfig's CA, else the system's roots" }),
    insecureSkipTLSVerify: z.boolean().default(false).meta({ description: "Do not verify the upstream's certificate. Testing only: it allows a man in the middle. Cannot be combined with `ca`.", flag: '--upstream-insecure-skip-tls-verify' }),
    tlsServerName: z.string().regex(HOST, 'must be a host name').optional().meta({ description: "Name to verify the upstream's certificate against, when it differs from the server's host.", defaultText: "the kubeconfig's tls-server-name, else the server's host" }),
    credential: credentialSchema.optional(),
    streaming: z
      .enum(['spdy', 'websocket', 'auto'])
      .default('auto')
      .meta({
        description:
          'What the upstream speaks for exec, attach and port-forward. `spdy`: SPDY/3.1 only (a cluster before 1.31 or behind a proxy that drops WebSocket); WebSocket clients are translated to SPDY. `websocket`: WebSocket only (`v5.channel.k8s.io`, port-forward tunneling; a cluster or hop that refuses SPDY); SPDY clients (kubectl ≤ 1.29) are translated to it, v5 WebSocket clients relayed as they are, older channel clients (v4, base64) translated to v5. `auto`: SPDY first, as before; when the upstream refuses a SPDY upgrade with 400 and takes the WebSocket one, WebSocket is used for it for 10 minutes from the last success (the time running out makes the next session try SPDY first again; a WebSocket refusal meanwhile forgets it and that same session goes SPDY).',
      }),
  })
  .superRefine(
    (upstream, ctx) => {
      // Runs even when a field of this upstream is mistyped (see whenMapping): each check looks at types.
      if (upstream.server === undefined && upstream.kubeconfig === undefined) ctx.addIssue({ code: 'custom', path: ['server'], message: 'required (or {kubeconfig}, which names one)' });
      if (typeof upstream.server === 'string') {
        const problem = upstreamUrlProblem(upstream.server, upstream.allowInsecureHTTP === true);
        if (problem) ctx.addIssue({ code: 'custom', path: ['server'], message: problem });
      }
      if (upstream.context !== undefined && upstream.kubeconfig === undefined) ctx.addIssue({ code: 'custom', path: ['context'], message: 'only valid with {kubeconfig}' });
      if (upstream.ca !== undefined && upstream.insecureSkipTLSVerify === true) ctx.addIssue({ code: 'custom', path: ['ca'], message: 'cannot be combined with {insecureSkipTLSVerify} (a CA is pointless when verification is off)' });
      const seen = new Set<string>();
      (Array.isArray(upstream.hosts) ? upstream.hosts : []).forEach((host: unknown, index) => {
        if (typeof host !== 'string') return;
        if (!HOST.test(host)) ctx.addIssue({ code: 'custom', path: ['hosts', index], message: `must be a host name, got ${JSON.stringify(host)}` });
        else if (seen.has(host.toLowerCase())) ctx.addIssue({ code: 'custom', path: ['hosts', index], message: `${JSON.stringify(host)} is listed twice` });
        seen.add(host.toLowerCase());
      });
    },
    { when: whenMapping },
  )
  .meta({ description: 'A legacy cluster (API server or kubelet) behind the gateway.' });

const routingSchema = z
  .strictObject({
    defaultUpstream: z.string().optional().meta({ description: 'The upstream for requests that match neither a host nor a `/clusters/{name}/` prefix.', defaultText: 'the only upstream, when there is one; else such requests get a 404 Status' }),
    revealUpstreamNames: z.boolean().default(false).meta({ description: 'List the known upstream names in the 404 Status for an unknown cluster.' }),
  })
  .meta({ description: 'How requests find their upstream: by `Host` (`upstreams[].hosts`), by path prefix `/clusters/{name}/`, else the default.' });

const oidcSchema = z
  .strictObject({
    issuerURL: checkedString(httpsUrlProblem)
      .meta({ description: 'The issuer (`iss` claim); discovery at `{issuerURL}/.well-known/openid-configuration`. Must be https.' }),
    audiences: z.array(z.string().min(1)).min(1, 'must list at least one audience').meta({ description: 'Accepted `aud` values; a token must carry one of them.' }),
    usernameClaim: z.string().min(1).default('sub').meta({ description: 'Claim that holds the user name.' }),
    usernamePrefix: z.string().optional().meta({ description: 'Prefix for user names.', defaultText: '`{issuerURL}#` for claims other than `email` (as kube-apiserver)' }),
    groupsClaim: z.string().min(1).optional().meta({ description: 'Claim that holds the groups (a string or a list of strings).', defaultText: 'no groups from the token' }),
    groupsPrefix: z.string().optional().meta({ description: 'Prefix for group names.', defaultText: 'none' }),
    requiredClaims: z.record(z.string(), z.string()).default({}).meta({ description: 'Claims that must be present with exactly these values.' }),
    ca: path().optional().meta({ description: "PEM bundle that verifies the issuer's discovery and JWKS endpoints. Reloaded when the file changes.", defaultText: "the system's roots" }),
    signingAlgorithms: z.array(z.enum(SIGNING_ALGORITHMS)).min(1).default(['RS256']).meta({ description: 'Accepted JWS algorithms.' }),
    clockSkewSeconds: seconds().default(60).meta({ description: 'Tolerance for `exp`, `nbf` and `iat`.' }),
  })
  .meta({ description: 'OpenID Connect ID tokens as bearer tokens (the kube-apiserver `--oidc-*` settings).' });

const tokenReviewSchema = z
  .strictObject({
    upstream: z.string().optional().meta({ description: 'The upstream whose API server reviews tokens (TokenReview), with the gateway\'s credential for it.', defaultText: "the request's upstream" }),
    audiences: names().min(1).optional().meta({ description: "Audiences the token must be for: sent as `spec.audiences`, and the answer's `status.audiences` must include one of them (as kube-apiserver's webhook token authenticator checks). Set them when one cluster reviews tokens for several, so a token issued for one cluster is not accepted for another.", defaultText: "none sent: the reviewing API server's own audiences" }),
    cacheTTLSeconds: seconds().default(120).meta({ description: 'How long a positive answer is cached.' }),
    negativeCacheTTLSeconds: seconds().default(10).meta({ description: 'How long a negative answer is cached.' }),
  })
  .meta({ description: 'Bearer tokens checked by an upstream API server (TokenReview).' });

/** A policy or recording rule must name someone, or it would never match. */
function namesSomeone(rule: { users: string[]; groups: string[] }, ctx: z.RefinementCtx): void {
  if (rule.users.length === 0 && rule.groups.length === 0) ctx.addIssue({ code: 'custom', message: 'names no users and no groups (it would never match)' });
}

const policyRuleSchema = z
  .strictObject({
    users: names().default([]).meta({ description: 'User names this rule applies to; `*` = every authenticated user.' }),
    groups: names().default([]).meta({ description: 'Groups this rule applies to (any of them).' }),
    verbs: z.array(z.enum(POLICY_VERBS)).min(1, 'must list at least one verb').meta({ description: '`exec`, `attach`, `portforward`, `api` (every other request) or `*` (all).' }),
    namespaces: names().min(1).default(['*']).meta({ description: 'Namespaces; `*` = all.' }),
    pods: names().min(1).default(['*']).meta({ description: 'Pod name globs (`web-*`); `*` = all.' }),
    clusters: names().min(1).default(['*']).meta({ description: 'Upstream names (the cluster the request goes to); `*` = all.' }),
  })
  .superRefine(namesSomeone)
  .meta({ description: 'Allows the users or groups listed the verbs listed, in the namespaces and pods listed.' });

const authorizationSchema = z
  .strictObject({
    mode: z.enum(AUTHORIZATION_MODES).default('none').meta({ description: '`none`: the upstream authorizes (RBAC, via impersonation); `policy`: the rules below; `subjectAccessReview`: ask the upstream API server.' }),
    policy: z.array(policyRuleSchema).default([]).meta({ description: 'With `mode: policy`: the first matching rule allows; no match denies (403 Status).' }),
  })
  .superRefine((authorization, ctx) => {
    if (authorization.mode === 'policy' && authorization.policy.length === 0) ctx.addIssue({ code: 'custom', path: ['policy'], message: 'required when {auth.authorization.mode} is policy (no rule would deny everything)' });
    if (authorization.mode !== 'policy' && authorization.policy.length > 0) ctx.addIssue({ code: 'custom', path: ['policy'], message: `only used when {auth.authorization.mode} is policy (it is ${authorization.mode})` });
  })
  .meta({ description: 'What authenticated callers may do (edge mode).' });

const impersonationRuleSchema = z
  .strictObject({
    users: names().default([]).meta({ description: 'Callers (user names) allowed to send their own `Impersonate-*` headers.' }),
    groups: names().default([]).meta({ description: 'Callers in any of these groups likewise.' }),
  })
  .superRefine((rule, ctx) => {
    if (rule.users.length === 0 && rule.groups.length === 0) ctx.addIssue({ code: 'custom', message: 'names no users and no groups (it would never match)' });
  });

const authSchema = z
  .strictObject({
    mode: z.enum(AUTH_MODES).default('passthrough').meta({ description: "`passthrough`: each caller's own `Authorization` goes to the upstream, which authenticates and authorizes. `edge`: the gateway authenticates callers and reaches the upstream with its own credential, impersonating them." }),
    authenticators: z
      .array(z.enum(AUTHENTICATOR_SETTINGS))
      .min(1, 'must list at least one authenticator')
      .optional()
      .meta({ description: 'Edge mode: the authenticators tried, in this order. Each listed must be configured (`clientCertificate`: `tls.clientCA`; `tokenFile`: `auth.tokenFile`; `oidc`: `auth.oidc`; `tokenReview`: always).', defaultText: 'clientCertificate, tokenFile, oidc, tokenReview — those configured' }),
    tokenFile: path().optional().meta({ description: 'Static bearer tokens, kube-apiserver `--token-auth-file` format (`token,user,uid,"group1,group2"`). Reloaded when the file changes.' }),
    oidc: oidcSchema.optional(),
    tokenReview: tokenReviewSchema.prefault({}),
    authorization: authorizationSchema.prefault({}),
    impersonation: z.array(impersonationRuleSchema).default([]).meta({ description: 'Edge mode: callers allowed to impersonate others themselves (their `Impersonate-*` headers are kept); everyone else\'s are refused.' }),
    allowedOrigins: z
      .array(checkedString(originProblem))
      .default([])
      .meta({ description: 'Origins (`https://console.example.com`) allowed to open WebSocket sessions from a browser; an upgrade with another `Origin` is refused unless same-origin.' }),
  })
  .superRefine((auth, ctx) => {
    const seen = new Set<string>();
    auth.authenticators?.forEach((name, index) => {
      if (seen.has(name)) ctx.addIssue({ code: 'custom', path: ['authenticators', index], message: `${name} is listed twice` });
      seen.add(name);
    });
    if (auth.mode === 'passthrough') {
      const edgeOnly: Array<[string, boolean]> = [
        ['authenticators', auth.authenticators !== undefined],
        ['tokenFile', auth.tokenFile !== undefined],
        ['oidc', auth.oidc !== undefined],
        ['authorization', auth.authorization.mode !== 'none'],
        ['impersonation', auth.impersonation.length > 0],
      ];
      for (const [key, given] of edgeOnly) {
        if (given) ctx.addIssue({ code: 'custom', path: [key], message: 'only used in edge mode ({auth.mode}: edge); the upstream authenticates callers in passthrough mode' });
      }
      return;
    }
    // Settings under auth are judged here; others (tls.clientCA) by checkEdgeMode, on the whole file.
    for (const key of new Set(auth.authenticators)) {
      const [section, ...rest] = AUTHENTICATORS[key].requires ?? [];
      if (section === 'auth' && !settingGiven(auth, rest)) ctx.addIssue({ code: 'custom', path: rest, message: `required when {auth.authenticators} lists ${key}` });
    }
  })
  .meta({ description: 'Who callers are and what they may do.' });

const auditWebhookSchema = z
  .strictObject({
    kubeconfig: path().meta({ description: "A kubeconfig whose current context names the receiver: the cluster's `server` is the URL events are POSTed to, with its CA, and the user's client certificate or token (as kube-apiserver's `--audit-webhook-config-file`)." }),
    batchMaxSize: count(1).default(400).meta({ description: 'Events per POST at most; a full batch is sent at once.' }),
    batchMaxWaitSeconds: z.number().positive('must be more than 0').default(30).meta({ description: 'A batch that is not full is sent this long after its first event.' }),
    bufferSize: count(1).default(10000).meta({ description: 'Events waiting for delivery at most (one batch in flight besides); more are dropped and counted in `kube_stream_gateway_audit_events_dropped_total{sink="webhook"}`.' }),
    initialBackoffSeconds: z.number().positive('must be more than 0').default(10).meta({ description: 'Wait before retrying a failed batch (transport error, 429, 5xx); each further wait is 1.5 times longer, 5 attempts in all, then the batch is dropped and counted.' }),
  })
  .meta({ description: "Audit events POSTed in batches to an HTTP endpoint, as kube-apiserver's batching audit webhook (`audit.k8s.io/v1` `EventList` JSON)." });

const auditSchema = z
  .strictObject({
    path: z.string().min(1).optional().meta({ description: 'Where audit events (`audit.k8s.io/v1` `Event`, one JSON line per request stage) go: `-` for stdout, or a file path (mode 0600, appended to).', defaultText: 'no audit log' }),
    policyFile: path().optional().meta({ description: "Which requests are audited, at which level: kube-apiserver's `audit.k8s.io/v1` `Policy` (`--audit-policy-file`). Levels Request and RequestResponse are recorded as Metadata (no bodies). Reloaded when the file changes.", defaultText: 'every request at Metadata, RequestReceived omitted' }),
    maxSizeMegabytes: count(0).default(100).meta({ description: 'Rotate the `path` file before it grows past this many MiB: it is renamed `NAME-<UTC time>.EXT` and a new one is started; 0 = never rotate.' }),
    maxBackups: count(0).default(10).meta({ description: 'Rotated files kept (the newest); 0 = keep all.' }),
    maxAgeDays: count(0).default(0).meta({ description: 'Rotated files older than this (by the time in their name) are deleted; 0 = no age limit.' }),
    webhook: auditWebhookSchema.optional(),
  })
  .superRefine((audit, ctx) => {
    if (audit.policyFile !== undefined && audit.path === undefined && audit.webhook === undefined) {
      ctx.addIssue({ code: 'custom', path: ['policyFile'], message: 'has no effect without {path} or {webhook}' });
    }
  })
  .meta({ description: 'The audit log: every request, as kube-apiserver audits it (docs/auth.md, Audit).' });

const limitsSchema = z
  .strictObject({
    maxSessions: count(1).default(10000).meta({ description: 'Concurrent exec/attach/port-forward sessions; more are refused with a 429 Status.' }),
    maxSessionsPerUser: count(1).default(100).meta({ description: 'Concurrent sessions of one user (edge mode) or one client address (passthrough).' }),
    idleTimeoutSeconds: seconds().default(3600).meta({ description: 'End a session after this long without bytes in either direction; 0 = never.' }),
    maxSessionSeconds: seconds().default(86400).meta({ description: 'End a session after this long; 0 = never.' }),
    maxMessageBytes: count(1024).default(33554432).meta({ description: "Largest WebSocket message from a client that must be held whole (text, base64 framing): larger ones are refused with a Status on the error channel, then close 1009. Binary messages are streamed upstream as they arrive, whatever their size. The default is the API server's own limit (32 MiB)." }),
    maxHeaderBlockBytes: count(1024).default(262144).meta({ description: 'Largest decompressed SPDY header block accepted from an upstream.' }),
    sessionBufferBytes: count(65536).default(1048576).meta({ description: "Bytes one session may buffer before it stops reading its source (back-pressure): half for the client's WebSocket send queue, half shared by the SPDY streams. The kernel's socket buffers carry a connection over long round trips; more here measured no faster (docs/performance.md) and only raises what each session may hold in memory." }),
    pingIntervalSeconds: count(1).default(5).meta({ description: "Ping every client WebSocket this often (Kubernetes' own heartbeat period), which keeps load balancers and proxies with an idle timeout above it from cutting quiet sessions. Anything from the client counts as alive; a client that sends nothing at all for 12 intervals + 1 s (61 s at 5) is cut." }),
    failedAuthPerMinute: count(0).default(30).meta({ description: 'Failed authentications per client address per minute before 429; 0 = no limit.' }),
    headerTimeoutSeconds: count(1)
      .max(300, 'must be 300 or less')
      .default(10)
      .meta({ description: 'From accepting a connection to a complete request head (PROXY protocol header, TLS handshake, request line and headers); past it the connection is closed (408 when HTTP got that far). Later requests on a keep-alive connection get as long for their head; an idle keep-alive connection is closed after 5 s. Upgraded sessions are not affected.' }),
    maxConnections: count(1).default(10000).meta({ description: "Open client connections in all; more are closed at accept, before TLS. The default matches `maxSessions` (one connection per session); each open connection holds some 50 KiB (TLS and HTTP state), about 0.5 GiB at the limit." }),
    maxConnectionsPerClient: count(1)
      .default(200)
      .meta({ description: "Open connections of one client address (the socket's peer, or the client a PROXY protocol header names); more are closed at accept. A trusted proxy (`network.trustedProxies`) is not capped here: its clients are told apart only after the request head, by X-Forwarded-For (where `maxSessionsPerUser` and `failedAuthPerMinute` apply). The default leaves room for `maxSessionsPerUser` sessions and their API calls twice over." }),
  })
  .meta({ description: 'Bounds that keep one caller from exhausting the gateway.' });

const networkSchema = z
  .strictObject({
    trustedProxies: z
      .array(checkedString(cidrProblem))
      .default([])
      .meta({ description: 'CIDR ranges (IPv4 or IPv6; a bare address is one host) of the proxies in front of the gateway whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed. The client is the rightmost `X-Forwarded-For` address that is not a trusted proxy; from any other peer the headers are ignored. The client address counts for `limits.maxSessionsPerUser` (passthrough), `limits.failedAuthPerMinute`, logs (`clientAddress`), audit `sourceIPs`, and what the upstream is told (`X-Forwarded-For`; `Impersonate-Extra-Remote-Client-Ip` in edge mode).' }),
    proxyProtocol: z
      .boolean()
      .default(false)
      .meta({ description: 'Every connection starts with a PROXY protocol v1 or v2 header (AWS NLB with proxy protocol v2, HAProxy `send-proxy`), which names the client; a connection without a valid header is closed. Turn on only when every connection comes through such a load balancer: anyone who can reach the listener directly could name any address.' }),
  })
  .meta({ description: 'The network in front of the gateway: which proxies to believe about the client address.' });

const loggingSchema = z
  .strictObject({
    level: z.enum(LOG_LEVELS).default('info').meta({ description: 'Log level.', flag: '--log-level', env: 'KSG_LOG_LEVEL' }),
    format: z.enum(LOG_FORMATS).default('auto').meta({ description: '`json` (pino JSON lines), `pretty` (for people), or `auto`: pretty on a terminal, JSON otherwise.', env: 'KSG_LOG_FORMAT' }),
  })
  .meta({ description: 'Logs go to stdout. Tokens are never logged.' });

const shutdownSchema = z
  .strictObject({
    gracePeriodSeconds: seconds().default(25).meta({ description: 'On SIGTERM: stop accepting, turn `/readyz` false, let sessions run this long, then end the rest with a Status saying the gateway is shutting down. Keep it below the pod\'s terminationGracePeriodSeconds.', env: 'KSG_SHUTDOWN_GRACE_PERIOD_SECONDS' }),
  })
  .meta({ description: 'Graceful drain.' });

const recordingRetentionSchema = z
  .strictObject({
    maxAgeDays: count(0).default(30).meta({ description: 'Recordings older than this many days (by modification time) are deleted; 0 = no age limit.' }),
    maxTotalBytes: count(0).default(10737418240).meta({ description: 'The finished recordings in `recording.directory` are kept under this many bytes in all, the oldest deleted first; 0 = no size limit.' }),
    sweepIntervalSeconds: count(1).default(300).meta({ description: 'How often the gateway enforces the limits above (and measures the space left).' }),
  })
  .meta({ description: 'How long recordings are kept, enforced by the gateway itself (a periodic sweep of `recording.directory`).' });

const recordingRuleSchema = z
  .strictObject({
    ...policyRuleSchema.shape,
    content: z.boolean().default(false).meta({ description: 'Port-forward sessions this rule selects are recorded with their content: every forwarded connection\'s bytes each way, exactly, up to `recording.maxBytesPerSession` (docs/recording.md). Off: port-forwards are recorded as metadata only (ports, bytes, duration). Exec and attach are always recorded with their content.' }),
  })
  .superRefine(namesSomeone)
  .meta({ description: 'A recording rule: an `auth.authorization.policy` rule, and whether port-forward content is recorded.' });

const recordingSchema = z
  .strictObject({
    directory: path().optional().meta({ description: 'Record every exec, attach and port-forward session the rules select into this directory, one file per session named by its audit ID: asciicast v2 (`.cast`) for terminals, the raw framing (`.rec`) otherwise, metadata only (`.jsonl`) for port-forwards — or their content (`.rec`) when a rule with `content: true` selects them (docs/recording.md).', defaultText: 'no recording' }),
    rules: z.array(recordingRuleSchema).default([]).meta({ description: 'Which sessions are recorded, as `auth.authorization.policy` rules (users, groups, verbs, namespaces, pods, clusters): the session is recorded when any rule matches. Empty: every session.' }),
    captureInput: z.boolean().default(false).meta({ description: 'Record what the client sends (stdin, terminal keystrokes) too. Off by default: passwords are typed into terminals.' }),
    maxBytesPerSession: count(1024).default(67108864).meta({ description: "Content bytes recorded per session at most; past them the session goes on and the recording says where it was cut." }),
    required: z.boolean().default(false).meta({ description: 'Fail closed: a session whose recording cannot be opened is refused, and one whose recording can no longer be written (disk full, I/O error, the disk far behind) is ended, each with a Status saying why. Off: the failure is logged and counted and the session goes on unrecorded.' }),
    retention: recordingRetentionSchema.prefault({}),
  })
  .superRefine((recording, ctx) => {
    if (recording.directory === undefined && recording.required) ctx.addIssue({ code: 'custom', path: ['required'], message: 'has no effect without {directory}' });
  })
  .meta({ description: 'Session recording (docs/recording.md).' });

/** First path segments a Kubernetes API server (or the gateway's routing) serves: the interface must not shadow them. */
const KUBERNETES_PATH_ROOTS = ['api', 'apis', 'clusters', 'version', 'healthz', 'livez', 'readyz', 'openapi', 'metrics', 'logs', '.well-known', 'swagger.json', 'swaggerapi'];

function uiPathProblem(value: string): string | undefined {
  if (!/^(\/[A-Za-z0-9._~-]+)+\/$/.test(value) || value.split('/').some((segment) => segment === '.' || segment === '..')) {
    return `must be a path of one or more plain segments that starts and ends with "/" (like /ui/), got ${JSON.stringify(value)}`;
  }
  const root = value.split('/')[1]!.toLowerCase();
  if (KUBERNETES_PATH_ROOTS.includes(root)) return `must not start with /${root}/: a Kubernetes API path, which the interface would hide`;
  return undefined;
}

const uiSchema = z
  .strictObject({
    enabled: z.boolean().default(false).meta({ description: 'Serve the web interface (sessions, watch, a browser terminal, recordings) on the gateway listener. Edge mode only ({auth.mode}: edge): it signs users in with the edge authenticators.' }),
    path: checkedString(uiPathProblem).default('/ui/').meta({ description: 'Where the interface is served on the gateway listener; its API is under `{path}api/`. A path no Kubernetes API uses.' }),
    admins: names().default([]).meta({ description: 'Groups whose members see every live session and every recording, and may end any session; everyone else sees only their own.' }),
    peers: z
      .union([checkedString(peerNameProblem), z.array(checkedString(peerAddressProblem)).min(1, 'must list at least one address')])
      .optional()
      .meta({ description: "The gateway's other replicas, whose sessions the Sessions page lists too and whose sessions an admin may end: a DNS name (a headless Service's; resolved on every request, each A/AAAA record a replica, this one recognised and skipped; `NAME` uses this gateway's own listen port, `NAME:PORT` another), or a list of `HOST:PORT` addresses. Replicas are reached on their listener, over TLS when `tls` is set (verified with {ui.peerCA}). Needs {ui.peerSecretFile}. Off when absent (docs/ui.md, \"Several replicas\")." }),
    peerSecretFile: path().optional().meta({ description: 'A file holding the secret shared by every replica (at least 32 bytes; a mounted Kubernetes Secret): it signs the requests between replicas (HMAC-SHA256 over method, path, time, nonce and the signed-in user). With it, this replica answers its peers; with {ui.peers} too, it asks them. Read at start.' }),
    peerCA: path().optional().meta({ description: "PEM bundle that verifies the other replicas' listener certificates (when `tls` is set); the system's CAs when absent. The certificate must name the host in {ui.peers} (the headless Service's DNS name, or each listed host)." }),
  })
  .superRefine((ui, ctx) => {
    if (ui.peers !== undefined && ui.peerSecretFile === undefined) ctx.addIssue({ code: 'custom', path: ['peerSecretFile'], message: 'required when {ui.peers} is set: replicas authenticate each other with this shared secret' });
    if (ui.peerCA !== undefined && ui.peers === undefined) ctx.addIssue({ code: 'custom', path: ['peerCA'], message: 'has no effect without {ui.peers}' });
  })
  .meta({ description: 'The web interface (docs/ui.md).' });

/** Why `value` is not `HOST` or `HOST:PORT` (a DNS name or IP address; IPv6 in brackets), or undefined. */
function peerNameProblem(value: string): string | undefined {
  const [host, port] = splitHostPort(value);
  if (host === undefined || (port !== undefined && !validPort(port))) return `must be a DNS name or HOST:PORT, got ${JSON.stringify(value)}`;
  return undefined;
}

function peerAddressProblem(value: string): string | undefined {
  const [host, port] = splitHostPort(value);
  if (host === undefined || port === undefined || !validPort(port)) return `must be HOST:PORT (IPv6 as [ADDRESS]:PORT), got ${JSON.stringify(value)}`;
  return undefined;
}

/** `host[:port]` split, host unbracketed; host undefined when it is not a host name or IP address. */
export function splitHostPort(value: string): [string | undefined, string | undefined] {
  const bracketed = /^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$/.exec(value);
  if (bracketed) return [isIP(bracketed[1]!) === 6 ? bracketed[1] : undefined, bracketed[2]];
  const [host, port, ...rest] = value.split(':');
  if (rest.length > 0 || !host || !(HOST.test(host) || isIP(host) === 4)) return [undefined, undefined];
  return [host, port];
}

function validPort(port: string): boolean {
  return /^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535;
}

const gatewayFileObject = z
  .strictObject({
    listen: listenAddress().default(DEFAULT_LISTEN).meta({ description: 'Where the gateway listens: `HOST:PORT` or `[IPv6]:PORT`; port 0 picks a free port (see the `listening` log line). `0.0.0.0:8443` serves every interface.', flag: '--listen', env: 'KSG_LISTEN' }),
    tls: tlsSchema.optional(),
    admin: adminSchema.prefault({}),
    upstreams: z.array(upstreamSchema).min(1, 'must list at least one upstream').meta({ description: 'The legacy clusters behind the gateway, one or more. Required (or the `--upstream*` flags, which describe one upstream named `default`).' }),
    routing: routingSchema.prefault({}),
    auth: authSchema.prefault({}),
    audit: auditSchema.prefault({}),
    limits: limitsSchema.prefault({}),
    network: networkSchema.prefault({}),
    logging: loggingSchema.prefault({}),
    shutdown: shutdownSchema.prefault({}),
    recording: recordingSchema.prefault({}),

    ui: uiSchema.prefault({}),
  })
  .meta({ description: 'kube-stream-gateway configuration (YAML; keys are camelCase).' });

/** The file after validation, defaults filled in; paths still as written. */
export type GatewayFile = z.output<typeof gatewayFileObject>;
export type UpstreamEntry = GatewayFile['upstreams'][number];

type Ctx = z.core.$RefinementCtx<GatewayFile>;

export const gatewayFileSchema = gatewayFileObject
  // Checks across sections run even when other sections have errors: every error at once.
  .superRefine(checkUpstreamReferences, { when: () => true })
  .superRefine(checkEdgeMode, { when: () => true });

/**
 * Names, hosts and references between sections. It runs even when other parts of the file have
 * errors (so that one run reports everything), hence reads the document defensively.
 */
function checkUpstreamReferences(file: GatewayFile, ctx: Ctx): void {
  const upstreams: unknown[] = Array.isArray(file.upstreams) ? file.upstreams : [];
  const names: string[] = [];
  const firstWithName = new Map<string, number>();
  const hostOwner = new Map<string, number>();
  upstreams.forEach((entry, index) => {
    const upstream = entry as Partial<UpstreamEntry> | null;
    if (typeof upstream?.name !== 'string') return;
    names.push(upstream.name);
    const first = firstWithName.get(upstream.name);
    if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['upstreams', index, 'name'], message: `"${upstream.name}" is also the name of upstreams[${first}]` });
    else firstWithName.set(upstream.name, index);
    if (!Array.isArray(upstream.hosts)) return;
    upstream.hosts.forEach((host: unknown, hostIndex) => {
      if (typeof host !== 'string') return;
      const owner = hostOwner.get(host.toLowerCase());
      if (owner !== undefined && owner !== index) ctx.addIssue({ code: 'custom', path: ['upstreams', index, 'hosts', hostIndex], message: `"${host}" is also a host of upstreams[${owner}]` });
      else hostOwner.set(host.toLowerCase(), index);
    });
  });
  // A reference can only be judged when every upstream has a name.
  if (upstreams.length === 0 || names.length !== upstreams.length) return;
  const reference = (value: unknown, at: PropertyKey[]): void => {
    if (typeof value === 'string' && !names.includes(value)) ctx.addIssue({ code: 'custom', path: at, message: `"${value}" is not one of the upstreams (${[...new Set(names)].join(', ')})` });
  };
  reference(file.routing?.defaultUpstream, ['routing', 'defaultUpstream']);
  reference(file.auth?.tokenReview?.upstream, ['auth', 'tokenReview', 'upstream']);
  const policy: unknown = file.auth?.authorization?.policy;
  if (Array.isArray(policy)) {
    policy.forEach((rule: { clusters?: unknown } | null, index) => {
      if (!Array.isArray(rule?.clusters)) return;
      rule.clusters.forEach((name: unknown, at) => name !== '*' && reference(name, ['auth', 'authorization', 'policy', index, 'clusters', at]));
    });
  }
}

function checkEdgeMode(file: GatewayFile, ctx: Ctx): void {
  if (file.ui?.enabled === true && file.auth?.mode !== 'edge') {
    ctx.addIssue({ code: 'custom', path: ['ui', 'enabled'], message: 'the web interface needs edge mode ({auth.mode}: edge): it signs users in with the edge authenticators, which passthrough mode does not run' });
  }
  if (file.ui?.enabled !== true && (file.ui?.peers !== undefined || file.ui?.peerSecretFile !== undefined)) {
    ctx.addIssue({ code: 'custom', path: ['ui', file.ui?.peers !== undefined ? 'peers' : 'peerSecretFile'], message: 'has no effect without {ui.enabled}: true' });
  }
  if (file.auth?.mode !== 'edge') return;
  if (Array.isArray(file.auth.authenticators)) {
    for (const key of new Set(file.auth.authenticators as AuthenticatorSetting[])) {
      const requires = AUTHENTICATORS[key]?.requires;
      if (requires && requires[0] !== 'auth' && !settingGiven(file, requires)) ctx.addIssue({ code: 'custom', path: [...requires], message: `required when {auth.authenticators} lists ${key}` });
    }
  }
  const upstreams: unknown[] = Array.isArray(file.upstreams) ? file.upstreams : [];
  upstreams.forEach((entry, index) => {
    const upstream = entry as Partial<UpstreamEntry> | null;
    // A kubeconfig may hold the credential; model.ts checks that once it has read the kubeconfig.
    if (upstream && typeof upstream === 'object' && upstream.credential === undefined && upstream.kubeconfig === undefined) {
      ctx.addIssue({ code: 'custom', path: ['upstreams', index, 'credential'], message: 'required in edge mode ({auth.mode}: edge): the gateway reaches the upstream with its own credential (tokenFile, or clientCert and clientKey, or a kubeconfig user)' });
    }
  });
}

/** Why `value` cannot be an upstream server URL, or undefined when it can. */
function upstreamUrlProblem(value: string, allowInsecureHTTP: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `must be an https URL, got ${JSON.stringify(value)}`;
  }
  if (url.protocol === 'http:' && !allowInsecureHTTP) return `must be an https URL, got ${JSON.stringify(value)} (http only with {allowInsecureHTTP}: true)`;
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `must be an https URL, got ${JSON.stringify(value)}`;
  if (url.search || url.hash) return `must not carry a query or fragment, got ${JSON.stringify(value)}`;
  if (url.username || url.password) return "must not carry credentials (use the upstream's credential, or the callers' own)";
  return undefined;
}

function httpsUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `must be an https URL, got ${JSON.stringify(value)}`;
  }
  if (url.protocol !== 'https:') return `must be an https URL, got ${JSON.stringify(value)}`;
  if (url.search || url.hash || url.username || url.password) return `must be a plain https URL (no query, fragment or credentials), got ${JSON.stringify(value)}`;
  return undefined;
}

const KNOWN_CIPHERS = new Set(getCiphers());

function cipherSuiteProblem(value: string): string | undefined {
  return KNOWN_CIPHERS.has(value.toLowerCase()) ? undefined : `${JSON.stringify(value)} is not a cipher suite this OpenSSL knows (OpenSSL names, e.g. ECDHE-RSA-AES128-GCM-SHA256)`;
}

function originProblem(value: string): string | undefined {
  try {
    const url = new URL(value);
    if ((url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value.toLowerCase()) return undefined;
  } catch {
    // Reported below.
  }
  return `must be an origin (scheme://host[:port], no path), got ${JSON.stringify(value)}`;
}
