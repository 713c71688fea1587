import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { WebSocketServer, type ServerOptions } from 'ws';

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

/** Checked before dialling the upstream, so a broken handshake costs no upstream connection. */
export function hasValidWebSocketHandshake(req: IncomingMessage): boolean {
  return WEBSOCKET_KEY.test(String(req.headers['sec-websocket-key'] ?? '')) && req.headers['sec-websocket-version'] === '13';
}

export function forwardedHeaders(req: IncomingMessage): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && FORWARDED_HEADERS.test(name)) headers[name] = value;
  }
  return headers;
}

export interface ClientWebSocketLimits {
  /** Largest WebSocket message accepted from a client (ws answers a larger one with close 1009). */
  maxMessageBytes?: number;
  /** How long to wait for the client's close frame after the gateway's own. */
  closeTimeoutMs?: number;
}

/**
 * The ws server every translator accepts clients with: no compression (kubectl offers none, and it
 * would cost CPU on the hot path), bounded messages, a bounded closing handshake, and the
 * subprotocol the translator chose before the handshake.
 */
export function createClientWebSocketServer(
  limits: ClientWebSocketLimits,
  chooseProtocol?: (req: IncomingMessage) => string | undefined,
): WebSocketServer {
  const options: ServerOptions & { closeTimeout: number } = {
    noServer: true,
    perMessageDeflate: false,
    maxPayload: limits.maxMessageBytes ?? 16 * 1024 * 1024,
    // ws ≥ 8.18 option, missing from @types/ws.
    closeTimeout: limits.closeTimeoutMs ?? 30_000,
  };
  if (chooseProtocol) options.handleProtocols = (_offered, req) => chooseProtocol(req) ?? false;
  return new WebSocketServer(options);
}
