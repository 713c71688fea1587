// The tests' own reading of SPDY/3 and WebSocket bytes, written apart from src/codecs on purpose:
// the captures check the gateway against real peers, and a decoder shared with the gateway would
// hide any bug the two have in common. Whole frames only (a trailing partial frame is returned as
// `rest`), no limits: the input is a fixture or what one test connection carried.
import { Inflate, Z_SYNC_FLUSH } from 'pako';
import { SPDY3_DICTIONARY } from '../../src/codecs/spdy/dictionary.js';

type SpdyHeaders = Record<string, string>;

export type SpdyFrame =
  | { type: 'data'; streamId: number; flags: number; payload: Buffer; raw: Buffer }
  | { type: 'control'; kind: number; flags: number; body: Buffer; raw: Buffer; streamId?: number; headers?: SpdyHeaders };

export const SYN_STREAM = 1;
const SYN_REPLY = 2;
const RST_STREAM = 3;
export const PING = 6;
export const GOAWAY = 7;
const HEADERS = 8;

/** Splits bytes into SPDY frames; header blocks are NOT inflated (see SpdyHeaderReader). */
export function splitSpdy(bytes: Buffer): { frames: SpdyFrame[]; rest: Buffer } {
  const frames: SpdyFrame[] = [];
  let at = 0;
  while (at + 8 <= bytes.length) {
    const length = bytes.readUIntBE(at + 5, 3);
    if (at + 8 + length > bytes.length) break;
    const raw = bytes.subarray(at, at + 8 + length);
    const flags = raw[4]!;
    const body = raw.subarray(8);
    if (raw[0]! & 0x80) {
      const kind = raw.readUInt16BE(2);
      const streamId = kind === SYN_STREAM || kind === SYN_REPLY || kind === RST_STREAM || kind === HEADERS ? body.readUInt32BE(0) & 0x7fffffff : undefined;
      frames.push({ type: 'control', kind, flags, body, raw, ...(streamId === undefined ? {} : { streamId }) });
    } else {
      frames.push({ type: 'data', streamId: raw.readUInt32BE(0) & 0x7fffffff, flags, payload: body, raw });
    }
    at += 8 + length;
  }
  return { frames, rest: bytes.subarray(at) };
}

/** One direction's header-block inflater: SPDY/3 uses one zlib context per direction, blocks in frame order. */
export class SpdyHeaderReader {
  private readonly inflate = new Inflate({ dictionary: SPDY3_DICTIONARY });
  private chunks: Uint8Array[] = [];

  constructor() {
    this.inflate.onData = (chunk) => {
      this.chunks.push(chunk);
    };
  }

  /** Fills `headers` on SYN_STREAM / SYN_REPLY / HEADERS frames, in order. */
  read(frame: SpdyFrame): SpdyFrame {
    if (frame.type !== 'control' || ![SYN_STREAM, SYN_REPLY, HEADERS].includes(frame.kind)) return frame;
    this.chunks = [];
    this.inflate.push(frame.body.subarray(frame.kind === SYN_STREAM ? 10 : 4), Z_SYNC_FLUSH);
    if (this.inflate.err) throw new Error(`header block: ${this.inflate.msg}`);
    const block = Buffer.concat(this.chunks);
    const headers: SpdyHeaders = {};
    let at = 4;
    for (let i = block.readUInt32BE(0); i > 0; i--) {
      const nameLength = block.readUInt32BE(at);
      const name = block.toString('latin1', at + 4, at + 4 + nameLength);
      at += 4 + nameLength;
      const valueLength = block.readUInt32BE(at);
      headers[name] = block.toString('latin1', at + 4, at + 4 + valueLength);
      at += 4 + valueLength;
    }
    frame.headers = headers;
    return frame;
  }
}

/** All frames of one direction with their headers inflated. */
export function readSpdy(bytes: Buffer): SpdyFrame[] {
  const reader = new SpdyHeaderReader();
  return splitSpdy(bytes).frames.map((frame) => reader.read(frame));
}

export interface WebSocketFrame {
  fin: boolean;
  opcode: number;
  /** Unmasked. */
  payload: Buffer;
  /** As on the wire (still masked when it was). */
  raw: Buffer;
}

/** Splits bytes into WebSocket frames, unmasking payloads. */
export function splitWebSocket(bytes: Buffer): { frames: WebSocketFrame[]; rest: Buffer } {
  const frames: WebSocketFrame[] = [];
  let at = 0;
  for (;;) {
    if (at + 2 > bytes.length) break;
    const masked = (bytes[at + 1]! & 0x80) !== 0;
    let length = bytes[at + 1]! & 0x7f;
    let header = 2;
    if (length === 126) {
      if (at + 4 > bytes.length) break;
      length = bytes.readUInt16BE(at + 2);
      header = 4;
    } else if (length === 127) {
      if (at + 10 > bytes.length) break;
      length = Number(bytes.readBigUInt64BE(at + 2));
      header = 10;
    }
    const maskAt = at + header;
    if (masked) header += 4;
    if (at + header + length > bytes.length) break;
    const payload = Buffer.from(bytes.subarray(at + header, at + header + length));
    if (masked) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ bytes[maskAt + (i % 4)]!;
    frames.push({ fin: (bytes[at]! & 0x80) !== 0, opcode: bytes[at]! & 0x0f, payload, raw: bytes.subarray(at, at + header + length) });
    at += header + length;
  }
  return { frames, rest: bytes.subarray(at) };
}

export interface WebSocketMessage {
  /** 'binary' | 'text' for data messages, 'close' for the close frame. */
  kind: 'binary' | 'text' | 'close';
  payload: Buffer;
}

/** Data messages (fragments joined) and close frames, in order; pings and pongs are left out. */
export function webSocketMessages(frames: WebSocketFrame[]): WebSocketMessage[] {
  const messages: WebSocketMessage[] = [];
  let current: { kind: 'binary' | 'text'; parts: Buffer[] } | undefined;
  for (const frame of frames) {
    if (frame.opcode === 0x8) messages.push({ kind: 'close', payload: frame.payload });
    if (frame.opcode >= 0x8) continue;
    if (frame.opcode !== 0x0) current = { kind: frame.opcode === 0x1 ? 'text' : 'binary', parts: [] };
    current?.parts.push(frame.payload);
    if (frame.fin && current) {
      messages.push({ kind: current.kind, payload: Buffer.concat(current.parts) });
      current = undefined;
    }
  }
  return messages;
}

/** An HTTP head (request or response) split off the bytes after it. */
export function splitHead(bytes: Buffer): { head: string; rest: Buffer } | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  return { head: bytes.subarray(0, end + 4).toString('latin1'), rest: bytes.subarray(end + 4) };
}

/** The head's first line and its headers (names lower-cased, repeated ones in order). */
export function parseHead(head: string): { line: string; headers: Array<[string, string]> } {
  const [line, ...rest] = head.split('\r\n').filter((l) => l !== '');
  return {
    line: line ?? '',
    headers: rest.map((l) => {
      const colon = l.indexOf(':');
      return [l.slice(0, colon).toLowerCase(), l.slice(colon + 1).trim()] as [string, string];
    }),
  };
}
