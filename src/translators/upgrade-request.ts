import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';

/** Client headers that carry identity or audit context and so travel with a re-originated upgrade. */
const FORWARDED_HEADERS = /^(authorization|user-agent|kubectl-command|kubectl-session|impersonate-.*)$/;
/** A valid Sec-WebSocket-Key is 16 random bytes in base64 (RFC 6455 §4.2.1). */
const WEBSOCKET_KEY = /^[+/0-9A-Za-z]{22}==$/;
/** Set-up ends at the upstream's answer; a real API server answers well within this. */
export const UPSTREAM_DIAL_TIMEOUT_MS = 30_000;

export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return (
    String(req.headers.upgrade ?? '').toLowerCase() === 'websocket' &&
    String(req.headers.connection ?? '').toLowerCase().includes('upgrade')
  );
}

/** The 400's message when `hasValidWebSocketHandshake` fails. */
export const INVALID_HANDSHAKE = 'invalid WebSocket handshake: method (GET), Sec-WebSocket-Key or Sec-WebSocket-Version (13)';

/**
 * Checked before dialling the upstream, so a broken handshake costs no upstream connection; what
 * passes here is all the gateway's own handshake needs (RFC 6455 §4.2.1: GET, a 16-byte key, version 13).
 */
export function hasValidWebSocketHandshake(req: IncomingMessage): boolean {
  return req.method === 'GET' && WEBSOCKET_KEY.test(String(req.headers['sec-websocket-key'] ?? '')) && req.headers['sec-websocket-version'] === '13';
}

export function forwardedHeaders(req: IncomingMessage): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && FORWARDED_HEADERS.test(name)) headers[name] = value;
  }
  return headers;
}
