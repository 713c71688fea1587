import http from 'node:http';
import https from 'node:https';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import type { AuditEvent } from '../../src/observability/audit/events.js';

interface ReceivedPost {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: { kind: string; apiVersion: string; items: AuditEvent[] };
}

/**
 * A real audit webhook receiver on 127.0.0.1: records every EventList POSTed to it and answers each
 * with the next status of `answers` (200 once they run out); `hold` keeps requests unanswered.
 */
export interface AuditReceiver {
  url: string;
  posts: ReceivedPost[];
  /** Every event of every accepted (2xx) post, in arrival order. */
  readonly events: AuditEvent[];
  answers: number[];
  hold: boolean;
  /** Requests being held open right now. */
  readonly held: number;
  close(): Promise<void>;
}

export async function startAuditReceiver(tls?: { cert: string | Buffer; key: string | Buffer }): Promise<AuditReceiver> {
  const sockets = new Set<Socket>();
  let held = 0;
  const receiver: AuditReceiver = {
    url: '',
    posts: [],
    events: [],
    answers: [],
    hold: false,
    get held() {
      return held;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ReceivedPost['body'];
      receiver.posts.push({ path: req.url ?? '', headers: req.headers, body });
      if (receiver.hold) {
        held++;
        res.on('close', () => held--);
        return;
      }
      const status = receiver.answers.shift() ?? 200;
      if (status >= 200 && status < 300) receiver.events.push(...body.items);
      res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    });
  };
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  receiver.url = `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return receiver;
}
