import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import type { UserInfo } from '../auth/identity.js';
import type { UpstreamCall } from '../translators/upstream-call.js';
import type { ClientAddress } from '../net/client-address.js';
import type { Route } from './routing.js';

/** What access control needs to know about a request beyond the request itself. */
export interface AccessRequest {
  req: IncomingMessage;
  /** The client's connection (its TLS peer certificate, its address). */
  socket: Duplex;
  route: Route;
  /** A WebSocket or SPDY upgrade (a streaming session), not a plain request. */
  upgrade: boolean;
  /** The real client behind any trusted proxies (client-address.ts): limits, logs and audit use it. */
  client: ClientAddress;
}

/**
 * Decides whether a request may reach its cluster and how it appears there. Refusals are thrown as
 * HttpStatusError (a Kubernetes Status with the HTTP code), before any upgrade.
 */
export interface AccessControl {
  admit(request: AccessRequest): Promise<UpstreamCall>;
  /** Who the caller is (edge mode only: passthrough leaves that to the upstream); refusals as in admit. */
  authenticate?(req: IncomingMessage, client: ClientAddress, upstream: string): Promise<UserInfo>;
  close(): void;
}

export function copyHeaders(headers: Readonly<Record<string, string | string[] | number | undefined>>): OutgoingHttpHeaders {
  const copy: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) copy[name] = value;
  return copy;
}
