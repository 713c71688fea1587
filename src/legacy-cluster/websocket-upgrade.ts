import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { acceptClientWebSocket, type ClientWebSocket } from '../connections/websocket/client-websocket.js';
import { badRequest, type ApiError } from './api-objects.js';
import { headerValues } from './spdy-handshake.js';

/**
 * What the stand-in serves for exec, attach and port-forward (`legacy-cluster --streaming`):
 * `spdy` a 1.28 cluster (WebSocket refused), `websocket` a cluster that has dropped SPDY (KEP-4006's
 * end state, or a load balancer that passes WebSocket only), `both` a 1.31 API server.
 */
export type StreamingMode = 'spdy' | 'websocket' | 'both';
export const STREAMING_MODES: readonly StreamingMode[] = ['spdy', 'websocket', 'both'];

export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return (headerValues(req, 'upgrade')[0] ?? '').toLowerCase() === 'websocket';
}

/**
 * The answer of a WebSocket-only cluster to a SPDY upgrade. No released API server refuses SPDY yet
 * (KEP-4006 keeps it through its deprecation), so the status is a choice: 400 BadRequest, as the API
 * server's other upgrade refusals ("Upgrade request required", the handshake's "missing upgrade
 * headers") — not 403, which kubectl prints as "Forbidden" and sends users to their RBAC. The Status
 * message names WebSocket so that an old client's user sees what to change.
 */
export const SPDY_REFUSED: ApiError = badRequest(
  'unable to upgrade connection: SPDY/3.1 is not served by this cluster; use a WebSocket client (v5.channel.k8s.io, kubectl 1.30 or newer: KEP-4006)',
);

/** A WebSocket handshake the stand-in cannot answer (RFC 6455 §4.2.1: key and version 13). */
export function webSocketHandshakeProblem(req: IncomingMessage): string | undefined {
  if (!req.headers['sec-websocket-key']) return 'websocket: missing Sec-WebSocket-Key';
  if (req.headers['sec-websocket-version'] !== '13') return 'websocket: unsupported Sec-WebSocket-Version (13 only)';
  return undefined;
}

/** Answers 101 with the negotiated subprotocol and takes the socket over as a WebSocket. */
export function acceptWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, protocol: string): ClientWebSocket {
  return acceptClientWebSocket(req, socket, head, protocol || undefined);
}
