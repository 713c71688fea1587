import type { ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorStatus, type Status } from '../codecs/k8s/status.js';

/** A Kubernetes-style failure that should reach the client as an HTTP status with a `Status` body. */
export class HttpStatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }

  toStatus(): Status {
    return errorStatus(this.code, this.reason, this.message);
  }
}

export function sendStatusResponse(res: ServerResponse, error: HttpStatusError): void {
  const body = JSON.stringify(error.toStatus());
  res.writeHead(error.code, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/**
 * Answers an upgrade request on its raw socket, before any upgrade happened. kubectl falls back to
 * SPDY on any real HTTP answer but fails with "unexpected EOF" on a bare close, so always answer.
 */
export function sendStatusOnSocket(socket: Duplex, error: HttpStatusError, extraHeaders: string[] = []): void {
  const body = JSON.stringify(error.toStatus());
  writeRawResponse(socket, error.code, ['Content-Type: application/json', ...extraHeaders], Buffer.from(body));
}

/** Response headers that describe the upstream connection's framing, which a replay re-frames. */
const FRAMING_HEADERS = new Set(['connection', 'transfer-encoding', 'content-length', 'keep-alive']);

/** Replays an upstream's non-101 answer to an upgrade on the client's raw socket, re-framed. */
export function replayResponse(socket: Duplex, statusCode: number, rawHeaders: string[], body: Buffer): void {
  writeRawResponse(socket, statusCode, headerLines(rawHeaders, (name) => !FRAMING_HEADERS.has(name.toLowerCase())), body);
}

/** `Name: value` lines from Node's flat rawHeaders list, keeping the upstream's spelling and repeats. */
export function headerLines(rawHeaders: string[], keep: (name: string) => boolean): string[] {
  const lines: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (keep(name)) lines.push(`${name}: ${rawHeaders[i + 1]}`);
  }
  return lines;
}

/**
 * The status each upgrade socket was answered with. Its answer may come from any layer (the
 * gateway's refusals, an upstream's replayed one, a 101); audit reads it here afterwards.
 */
const answers = new WeakMap<Duplex, number>();

export function noteAnswer(socket: Duplex, code: number): void {
  answers.set(socket, code);
}

/** undefined: nothing was written (the client went away first). */
export function answeredStatus(socket: Duplex): number | undefined {
  return answers.get(socket);
}

function writeRawResponse(socket: Duplex, code: number, headerLines: string[], body: Buffer): void {
  if (socket.destroyed || !socket.writable) return;
  noteAnswer(socket, code);
  const head =
    `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? 'Unknown'}\r\n` +
    [...headerLines, `Content-Length: ${body.length}`, 'Connection: close'].join('\r\n') +
    '\r\n\r\n';
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
}
