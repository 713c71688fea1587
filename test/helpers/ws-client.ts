import WebSocket, { type ClientOptions } from 'ws';
import type { IncomingMessage } from 'node:http';

/** What the client needs of a stack: where the gateway is, the CA to trust, and a bearer token (none: no Authorization). */
export interface GatewayEndpoint {
  gateway: { url: string };
  caPem: string;
  token?: string;
}

export interface ReceivedMessage {
  data: Buffer;
  isBinary: boolean;
}

export type ConnectOutcome =
  | { kind: 'open'; socket: WebSocket; protocol: string; messages: ReceivedMessage[]; closed: Promise<{ code: number; reason: string }> }
  | { kind: 'refused'; statusCode: number; body: string };

/** A hand-driven WebSocket client (browsers, client libraries) against the gateway of a stack; `options` go to ws (e.g. autoPong). */
export function connect(stack: GatewayEndpoint, path: string, protocols: string[], headers: Record<string, string> = {}, options: ClientOptions = {}): Promise<ConnectOutcome> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(stack.gateway.url.replace(/^http/, 'ws') + path, protocols, {
      ...options,
      ca: stack.caPem,
      headers: { ...(stack.token === undefined ? {} : { authorization: `Bearer ${stack.token}` }), ...headers },
    });
    const messages: ReceivedMessage[] = [];
    socket.on('message', (data, isBinary) => messages.push({ data: data as Buffer, isBinary }));
    const closed = new Promise<{ code: number; reason: string }>((resolveClose) =>
      socket.on('close', (code, reason) => resolveClose({ code, reason: reason.toString() })),
    );
    socket.on('open', () => resolve({ kind: 'open', socket, protocol: socket.protocol, messages, closed }));
    socket.on('unexpected-response', (_req, res: IncomingMessage) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ kind: 'refused', statusCode: res.statusCode ?? 0, body }));
    });
    socket.on('error', (error) => reject(error));
  });
}

/** Resolves once a message satisfying `match` has arrived (including earlier ones). */
export function waitForMessage(
  socket: WebSocket,
  messages: ReceivedMessage[],
  match: (message: ReceivedMessage) => boolean,
): Promise<ReceivedMessage> {
  const found = messages.find(match);
  if (found) return Promise.resolve(found);
  return new Promise((resolve) => {
    const listener = (data: Buffer, isBinary: boolean): void => {
      const message = { data, isBinary };
      if (!match(message)) return;
      socket.off('message', listener);
      resolve(message);
    };
    socket.on('message', listener);
  });
}
