import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { signPeerRequest, PEER_HEADER, type PeerCaller } from './peer-auth.js';
import type { PeerAddress } from './peer-directory.js';

/** Why asking a peer failed; a closed set (metric label values, and what the Sessions page shows). */
export type PeerFailure = 'dns' | 'timeout' | 'refused' | 'unreachable' | 'tls' | 'rejected' | 'status' | 'too-large' | 'invalid';

export class PeerError extends Error {
  constructor(
    readonly reason: PeerFailure,
    detail: string,
  ) {
    super(detail);
  }
}

export interface PeerClientOptions {
  secret: Buffer;
  /** The peers' listener serves TLS (this replica's does: they are one Deployment). */
  tls: boolean;
  /** PEM bundle verifying the peers' certificates; the system's CAs when absent. */
  ca?: string;
  /** One peer's whole answer, from dial to last byte (default 2 s). */
  timeoutMs?: number;
}

/** A peer's answer larger than this is cut off: a session list of thousands fits well within. */
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;
/** Peers asked at the same time, at most. */
const CONCURRENCY = 8;
const DEFAULT_TIMEOUT_MS = 2_000;

/**
 * Signed JSON requests to other replicas, each bounded in time and size: a slow or broken peer
 * costs one request's wait at most and never this replica's memory.
 */
export class PeerClient {
  private readonly agent: http.Agent;

  constructor(private readonly options: PeerClientOptions) {
    this.agent = options.tls ? new https.Agent({ keepAlive: true, maxSockets: 4, ca: options.ca }) : new http.Agent({ keepAlive: true, maxSockets: 4 });
  }

  /** `method path` on `peer` as `caller`: the status and the parsed JSON body, or a PeerError. */
  ask(peer: PeerAddress, method: string, path: string, caller: PeerCaller): Promise<{ status: number; body: unknown }> {
    const signature = signPeerRequest(this.options.secret, method, path, caller);
    if (signature === undefined) return Promise.reject(new PeerError('invalid', 'the identity is too large to forward'));
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const request = this.options.tls ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const req = request({
        host: peer.host,
        port: peer.port,
        method,
        path,
        agent: this.agent,
        headers: { [PEER_HEADER]: signature, accept: 'application/json' },
        // The certificate must name the host as configured (the headless Service's name, or the listed host).
        ...(this.options.tls && isIP(peer.serverName) === 0 ? { servername: peer.serverName } : {}),
      });
      // Settled here, not through the stream's events: which of request and response reports a destroy depends on how far the answer got.
      const fail = (error: PeerError): void => {
        clearTimeout(timer);
        reject(error);
        req.destroy(error);
      };
      const timer = setTimeout(() => fail(new PeerError('timeout', `no answer within ${timeoutMs} ms`)), timeoutMs);
      req.on('error', (error) => {
        clearTimeout(timer);
        reject(error instanceof PeerError ? error : classify(error as NodeJS.ErrnoException));
      });
      req.on('response', (res) => {
        // A peer that resets mid-answer: the request fails, the process does not.
        res.on('error', (error) => {
          clearTimeout(timer);
          reject(error instanceof PeerError ? error : classify(error as NodeJS.ErrnoException));
        });
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) fail(new PeerError('too-large', `the answer exceeds ${MAX_ANSWER_BYTES} bytes`));
          else chunks.push(chunk);
        });
        res.on('end', () => {
          clearTimeout(timer);
          const status = res.statusCode ?? 0;
          if (status === 401) return reject(new PeerError('rejected', 'the peer refused this replica\'s signature (is ui.peerSecretFile the same on both?)'));
          try {
            resolve({ status, body: JSON.parse(Buffer.concat(chunks).toString()) as unknown });
          } catch {
            reject(new PeerError('invalid', `an answer (${status}) that is not JSON`));
          }
        });
      });
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Runs `task` for every item, at most CONCURRENCY at once, in order of the results. */
export async function eachPeer<T, R>(items: readonly T[], task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
  return results;
}

function classify(error: NodeJS.ErrnoException): PeerError {
  const code = error.code ?? '';
  if (code === 'ECONNREFUSED') return new PeerError('refused', 'connection refused');
  if (code.startsWith('ERR_TLS') || code.includes('CERT') || code.startsWith('ERR_SSL') || /certificate|self.signed/i.test(error.message)) return new PeerError('tls', `TLS: ${code || error.message}`);
  return new PeerError('unreachable', code || error.message);
}
