/**
 * Takes the caller's credentials from a request, before any authenticator runs.
 *
 *   extractCredentials(req) → { ok: true, credentials, webSocketProtocols, tokenSource }
 *                           | { ok: false, reason }
 *
 * Bearer tokens come from `Authorization: Bearer <token>` or, for browsers that cannot set headers
 * on a WebSocket, from the subprotocol `base64url.bearer.authorization.k8s.io.<base64url token>`
 * (kube-apiserver's websocket ProtocolAuthenticator). `webSocketProtocols` is the offered
 * subprotocol list with the token entry removed: it is what may be chosen, echoed, forwarded or
 * logged — the raw Sec-WebSocket-Protocol header must not be. Client certificates come from the TLS
 * socket (requestCert on the listener; Node verifies against the client CA bundle).
 *
 * Refused outright (ok: false): two Authorization headers (Node keeps only the first in req.headers,
 * so a second one could smuggle past a check that reads req.headers), an Authorization header that
 * is not exactly `Bearer <token>`, a token both in the header and in a subprotocol, two token
 * subprotocols, an undecodable one, or a token subprotocol with no other subprotocol to choose.
 */
import type { IncomingMessage } from 'node:http';
import { TLSSocket, type DetailedPeerCertificate } from 'node:tls';
import { rawHeaderValues } from '../codecs/http/header-lists.js';
import { parseSubprotocolHeader } from '../codecs/channels/protocols.js';
import type { ClientCertificate, Credentials } from './identity.js';

/** @internal Exported for its unit test; the product uses it only here. */
export const BEARER_PROTOCOL_PREFIX = 'base64url.bearer.authorization.k8s.io.';

export type CredentialExtraction =
  | {
      ok: true;
      credentials: Credentials;
      /** Offered subprotocols without the token entry; undefined when the request offered none. */
      webSocketProtocols: string[] | undefined;
      tokenSource: 'authorization-header' | 'websocket-protocol' | undefined;
    }
  | { ok: false; reason: string };

/** Scheme case-insensitive, one token of visible ASCII (token files may use more than RFC 6750's b64token). */
const BEARER_HEADER = /^bearer +([\x21-\x7e]+) *$/i;
const BASE64URL_UNPADDED = /^[A-Za-z0-9_-]*$/;
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

export function extractCredentials(req: IncomingMessage): CredentialExtraction {
  const authorization = headerValues(req, 'authorization');
  if (authorization.length > 1) return { ok: false, reason: 'more than one Authorization header' };

  let bearerToken: string | undefined;
  let tokenSource: 'authorization-header' | 'websocket-protocol' | undefined;
  if (authorization.length === 1) {
    const match = BEARER_HEADER.exec(authorization[0]!);
    if (!match) return { ok: false, reason: 'malformed Authorization header: expected "Bearer <token>"' };
    bearerToken = match[1]!;
    tokenSource = 'authorization-header';
  }

  const split = webSocketProtocolToken(req);
  if (!split.ok) return split;
  const webSocketProtocols = split.protocols;
  if (split.token !== undefined) {
    if (bearerToken !== undefined) return { ok: false, reason: BOTH_TOKENS };
    bearerToken = split.token;
    tokenSource = 'websocket-protocol';
  }

  const credentials: Credentials = {};
  if (bearerToken !== undefined) credentials.bearerToken = bearerToken;
  const certificate = peerCertificate(req);
  if (certificate) credentials.clientCertificate = certificate;
  return { ok: true, credentials, webSocketProtocols, tokenSource };
}

export const BOTH_TOKENS = 'a bearer token both in the Authorization header and in a WebSocket subprotocol';

type ProtocolSplit = { ok: true; protocols: string[]; token: string | undefined } | { ok: false; reason: string };

/**
 * The offered subprotocols without the bearer-token entry (undefined when none were offered), and
 * the token that entry carried. Also what passthrough mode uses to turn a browser's token into the
 * Authorization header it stands for, under the same rules.
 */
export function webSocketProtocolToken(req: IncomingMessage): { ok: true; protocols: string[] | undefined; token: string | undefined } | { ok: false; reason: string } {
  const headers = headerValues(req, 'sec-websocket-protocol');
  if (headers.length === 0) return { ok: true, protocols: undefined, token: undefined };
  return splitProtocolToken(headers, isWebSocketRequest(req));
}

/**
 * As Kubernetes: every header occurrence, comma-split and trimmed (RFC 6455 §11.3.4 allows repeats;
 * the one Sec-WebSocket-Protocol parser, codecs/channels/protocols.ts, takes the list apart);
 * the token only counts on a WebSocket request, but its entry is removed from the list regardless.
 */
function splitProtocolToken(headers: string[], isWebSocket: boolean): ProtocolSplit {
  const protocols: string[] = [];
  let token: string | undefined;
  let sawToken = false;
  for (const protocol of parseSubprotocolHeader(headers)) {
    if (!protocol.startsWith(BEARER_PROTOCOL_PREFIX)) {
      protocols.push(protocol);
      continue;
    }
    if (sawToken) return { ok: false, reason: 'more than one base64url.bearer.authorization.k8s.io subprotocol' };
    sawToken = true;
    const decoded = decodeBase64UrlToken(protocol.slice(BEARER_PROTOCOL_PREFIX.length));
    if (decoded === undefined) return { ok: false, reason: 'invalid base64url.bearer.authorization.k8s.io token encoding' };
    if (decoded === '') return { ok: false, reason: 'empty base64url.bearer.authorization.k8s.io token' };
    if (isWebSocket) token = decoded;
  }
  // Kubernetes: one other subprotocol must remain, so there is something to echo back other than the token.
  if (token !== undefined && protocols.length === 0) return { ok: false, reason: 'a token subprotocol needs at least one other subprotocol' };
  return { ok: true, protocols, token };
}

/** Go's base64.RawURLEncoding plus utf8.Valid: unpadded URL alphabet, UTF-8 text. */
function decodeBase64UrlToken(encoded: string): string | undefined {
  if (!BASE64URL_UNPADDED.test(encoded) || encoded.length % 4 === 1) return undefined;
  try {
    return STRICT_UTF8.decode(Buffer.from(encoded, 'base64url'));
  } catch {
    return undefined;
  }
}

/** Every occurrence of a header, from rawHeaders: req.headers drops or joins repeats. */
export function headerValues(req: IncomingMessage, lowerCaseName: string): string[] {
  return rawHeaderValues(req.rawHeaders, lowerCaseName);
}

function isWebSocketRequest(req: IncomingMessage): boolean {
  return String(req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

/** The client certificate of a TLS request, whether or not Node could verify it; undefined when none was sent. */
function peerCertificate(req: IncomingMessage): ClientCertificate | undefined {
  const socket = req.socket;
  if (!(socket instanceof TLSSocket)) return undefined;
  // Node answers an empty object when the client sent no certificate.
  const cert = socket.getPeerCertificate(false) as DetailedPeerCertificate | Partial<DetailedPeerCertificate>;
  if (!cert?.raw) return undefined;
  return describeCertificate(cert as DetailedPeerCertificate, socket.authorized, socket.authorizationError);
}

function describeCertificate(cert: DetailedPeerCertificate, authorized: boolean, authorizationError?: Error | string): ClientCertificate {
  const subject = (cert.subject ?? {}) as unknown as Record<string, string | string[] | undefined>;
  const certificate: ClientCertificate = {
    authorized,
    commonName: asList(subject.CN)[0],
    organizations: asList(subject.O),
    validFrom: new Date(cert.valid_from),
    validTo: new Date(cert.valid_to),
    fingerprint256: cert.fingerprint256,
  };
  if (!authorized && authorizationError !== undefined) certificate.authorizationError = String(authorizationError);
  if (Array.isArray(cert.ext_key_usage)) certificate.extendedKeyUsage = [...cert.ext_key_usage];
  return certificate;
}

/** Node gives a single-valued RDN as a string and a repeated one (several O) as an array. */
function asList(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}
