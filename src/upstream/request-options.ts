import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tlsPolicyOptions } from '../net/tls-policy.js';
import { PLAIN_DIAL_AGENT, TLS_DIAL_AGENT } from './dial-agent.js';
import type { UpstreamTarget } from './target.js';

export type UpstreamRequestOptions = https.RequestOptions;

/** `http.request` or `https.request`, by the upstream's scheme. */
export function requestFunction(target: UpstreamTarget): typeof https.request {
  return target.url.protocol === 'https:' ? https.request : (http.request as typeof https.request);
}

/** The upstream path for a client path: the target URL's path prefix (if any) joined with it. */
export function upstreamPath(target: UpstreamTarget, clientPath: string): string {
  const prefix = target.url.pathname.replace(/\/+$/, '');
  return prefix + clientPath;
}

/** Host header value the upstream expects (its own authority, not the gateway's). */
export function upstreamHost(target: UpstreamTarget): string {
  return target.url.host;
}

/**
 * Connection options shared by proxied requests and upgrades: address, TLS trust, SNI, and the
 * TLS versions and suites (tls.minVersion, tls.cipherSuites) the listener uses too.
 * SNI is only sent for DNS names; Node rejects IP addresses as servername (RFC 6066 §3).
 */
export function connectionOptions(target: UpstreamTarget): UpstreamRequestOptions {
  const hostname = target.url.hostname.replace(/^\[|\]$/g, '');
  const secure = target.url.protocol === 'https:';
  const options: UpstreamRequestOptions = {
    hostname,
    port: target.url.port || (secure ? 443 : 80),
  };
  if (secure) {
    Object.assign(options, tlsPolicyOptions(target.tlsPolicy));
    options.rejectUnauthorized = !target.insecureSkipTlsVerify;
    if (target.ca) options.ca = target.ca;
    const serverName = target.serverName ?? hostname;
    if (!isIP(serverName)) options.servername = serverName;
    // Only an edge-mode call carries the gateway's own credential (access control decides).
    const { clientCert, clientKey } = target.credentials ?? {};
    if (clientCert && clientKey) {
      options.cert = clientCert;
      options.key = clientKey;
    }
  }
  return options;
}

/**
 * A request on a connection of its own (no pool: upgrades and one-off calls), with the target's
 * connection options and `options`; over TLS it takes the SecureContext and session the target's
 * `tlsReuse` has, and gives it the new session back.
 */
export function dialUpstream(target: UpstreamTarget, options: UpstreamRequestOptions): http.ClientRequest {
  const request = requestFunction(target);
  const secure = target.url.protocol === 'https:';
  const agent = secure ? TLS_DIAL_AGENT : PLAIN_DIAL_AGENT;
  const reuse = secure ? target.tlsReuse?.dialOptions(target) : undefined;
  if (!reuse) return request({ ...connectionOptions(target), ...options, agent });
  const req = request({ ...connectionOptions(target), ...options, ...reuse.options, agent });
  req.once('socket', (socket) => reuse.track(socket as TLSSocket));
  return req;
}
