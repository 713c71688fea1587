import type { Socket } from 'node:net';

/** How an upgrade dial upstream ended, SPDY or WebSocket alike. */
export type UpgradeOutcome =
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

/** Error text in the shape the API server uses for an unreachable kubelet ("error dialing backend: …"). */
export function describeDialError(error: Error & { code?: string }): string {
  return `error dialing backend: ${error.message}${error.code && !error.message.includes(error.code) ? ` (${error.code})` : ''}`;
}
