import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { UpstreamTarget } from './target.js';
import { dialUpstream, upstreamHost, upstreamPath } from './request-options.js';
import { describeDialError, UpstreamUnreachableError, type UpgradeOutcome } from './dial-outcome.js';

/** Bound on a refusal body kept for replay; real refusals are a short text or a Status. */
const MAX_REFUSAL_BODY = 64 * 1024;

export interface UpgradeDial {
  method: string;
  /** Client path with query; the target's path prefix is added here. */
  path: string;
  /** Every header but Host (added here), the upgrade's own included. */
  headers: OutgoingHttpHeaders;
  timeoutMs: number;
  /** Checks a 101: the protocol it chose, or why the answer is not acceptable (the socket is then dropped). */
  accept(res: IncomingMessage): { protocol: string } | { problem: string };
}

/**
 * One upgrade request upstream on its own socket (no pool), SPDY or WebSocket alike: a 101 that
 * `accept` takes resolves `upgraded`, any other answer `refused` with its (bounded) body for replay;
 * no answer in time or a transport error rejects with UpstreamUnreachableError.
 */
export function dialUpgrade(target: UpstreamTarget, dial: UpgradeDial): Promise<UpgradeOutcome> {
  return new Promise((resolve, reject) => {
    const req = dialUpstream(target, {
      method: dial.method,
      path: upstreamPath(target, dial.path),
      headers: { ...dial.headers, host: upstreamHost(target) },
    });
    let settled = false;
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(new UpstreamUnreachableError(`no answer from the upstream within ${dial.timeoutMs} ms`)), dial.timeoutMs);

    req.on('error', (error) => fail(new UpstreamUnreachableError(describeDialError(error), { cause: error })));
    req.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
      if (settled) {
        socket.destroy();
        return;
      }
      const accepted = dial.accept(res);
      if ('problem' in accepted) {
        socket.destroy();
        fail(new UpstreamUnreachableError(accepted.problem));
        return;
      }
      settled = true;
      clearTimeout(timer);
      resolve({ kind: 'upgraded', socket, head, protocol: accepted.protocol });
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
