import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { UpstreamTarget } from './target.js';
import { dialUpstream, upstreamHost, upstreamPath } from './request-options.js';

export interface SpdyUpgradeRequest {
  /** Client path with query; the target's path prefix is added here. */
  path: string;
  /** End-to-end headers to pass on (Authorization, User-Agent, …); upgrade headers are added here. */
  headers: OutgoingHttpHeaders;
  /** Offered in preference order in `X-Stream-Protocol-Version`. */
  protocols: readonly string[];
  timeoutMs: number;
}

export type SpdyUpgradeOutcome =
  | { kind: 'upgraded'; socket: Socket; head: Buffer; protocol: string }
  /** The upstream answered without upgrading; its answer is replayed to the client as is. */
  | { kind: 'refused'; statusCode: number; rawHeaders: string[]; body: Buffer };

/** The upstream could not be reached or spoke nonsense: no HTTP answer to replay. */
export class UpstreamUnreachableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UpstreamUnreachableError';
  }
}

/** Bound on a refusal body kept for replay; real refusals are a short text or a Status. */
const MAX_REFUSAL_BODY = 64 * 1024;

/** HTTP/1.1 upgrade to SPDY/3.1, as client-go's SPDY round tripper does it (POST, one socket, no pool). */
export function dialSpdyUpgrade(target: UpstreamTarget, request: SpdyUpgradeRequest): Promise<SpdyUpgradeOutcome> {
  return new Promise((resolve, reject) => {
    const req = dialUpstream(target, {
      method: 'POST',
      path: upstreamPath(target, request.path),
      headers: {
        ...request.headers,
        host: upstreamHost(target),
        connection: 'Upgrade',
        upgrade: 'SPDY/3.1',
        'x-stream-protocol-version': [...request.protocols],
        'content-length': '0',
      },
    });
    let settled = false;
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(error);
    };
    const timer = setTimeout(
      () => fail(new UpstreamUnreachableError(`no answer from the upstream within ${request.timeoutMs} ms`)),
      request.timeoutMs,
    );

    req.on('error', (error) => fail(new UpstreamUnreachableError(describeDialError(error), { cause: error })));
    req.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
      if (settled) {
        socket.destroy();
        return;
      }
      const chosen = String(res.headers['x-stream-protocol-version'] ?? '');
      if (!request.protocols.includes(chosen)) {
        socket.destroy();
        fail(new UpstreamUnreachableError(`the upstream chose stream protocol "${chosen}", which was not offered`));
        return;
      }
      settled = true;
      clearTimeout(timer);
      resolve({ kind: 'upgraded', socket, head, protocol: chosen });
    });
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size >= MAX_REFUSAL_BODY) return;
        const kept = chunk.subarray(0, MAX_REFUSAL_BODY - size);
        chunks.push(kept);
        size += kept.length;
      });
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ kind: 'refused', statusCode: res.statusCode ?? 502, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) });
      });
      res.on('error', (error) => fail(new UpstreamUnreachableError(describeDialError(error), { cause: error })));
    });
    req.end();
  });
}

/** Error text in the shape the API server uses for an unreachable kubelet ("error dialing backend: …"). */
export function describeDialError(error: Error & { code?: string }): string {
  return `error dialing backend: ${error.message}${error.code && !error.message.includes(error.code) ? ` (${error.code})` : ''}`;
}
