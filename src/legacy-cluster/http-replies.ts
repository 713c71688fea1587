import type { ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import type { ApiError } from './api-objects.js';

/** An answer written as it is: status, `Name: value` header lines, body. */
export interface RawAnswer {
  code: number;
  headers: string[];
  body: Buffer;
}

/** The headers every API-server answer carries (audit id, no caching of API data). */
function apiServerHeaders(contentType: string, length: number): Record<string, string | number> {
  return {
    'Audit-Id': randomUUID(),
    'Cache-Control': 'no-cache, private',
    'Content-Type': contentType,
    'Content-Length': length,
  };
}

export function sendJson(res: ServerResponse, code: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(code, apiServerHeaders('application/json', Buffer.byteLength(text)));
  res.end(text);
}

export function sendApiError(res: ServerResponse, error: ApiError): void {
  sendJson(res, error.code, error.status);
}

/** A Status answer to an upgrade request, before any upgrade: on the raw socket, then closed. */
export function writeApiErrorOnSocket(socket: Duplex, error: ApiError): void {
  const body = Buffer.from(JSON.stringify(error.status));
  const headers = apiServerHeaders('application/json', body.length);
  writeRaw(socket, { code: error.code, headers: Object.entries(headers).filter(([name]) => name !== 'Content-Length').map(([name, value]) => `${name}: ${value}`), body });
}

export function sendRaw(res: ServerResponse, answer: RawAnswer): void {
  const headers: Array<[string, string]> = answer.headers.map((line) => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon), line.slice(colon + 1).trim()];
  });
  res.writeHead(answer.code, [...headers, ['Content-Length', String(answer.body.length)]].flat());
  res.end(answer.body);
}

/**
 * Writes an HTTP answer on a raw (not upgraded) socket and ends it. Every refusal of an upgrade is
 * a real HTTP answer: kubectl falls back to SPDY on any status but fails on a bare close.
 */
export function writeRaw(socket: Duplex, answer: RawAnswer): void {
  if (socket.destroyed || !socket.writable) return;
  const head =
    `HTTP/1.1 ${answer.code} ${STATUS_CODES[answer.code] ?? 'Unknown'}\r\n` +
    [...answer.headers, `Date: ${new Date().toUTCString()}`, `Content-Length: ${answer.body.length}`, 'Connection: close'].join('\r\n') +
    '\r\n\r\n';
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), answer.body]));
}
