import { SpdyProtocolError } from './errors.js';

export const SPDY_VERSION = 3;
export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;
/** spdystream never sends DATA frames above this; we keep to it too. */
export const MAX_DATA_FRAME_PAYLOAD = 32 * 1024;

export const ControlType = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

/**
 * Frames as the parser yields them. A DATA frame may come in several pieces (payload as it arrives;
 * `fin` and `frameComplete` on the last piece only), so large frames never wait to be buffered whole.
 */
export type SpdyFrame =
  | { type: 'data'; streamId: number; payload: Buffer; fin: boolean; frameComplete: boolean }
  | { type: 'syn_stream'; streamId: number; associatedStreamId: number; priority: number; fin: boolean; unidirectional: boolean; headerBlock: Buffer }
  | { type: 'syn_reply'; streamId: number; fin: boolean; headerBlock: Buffer }
  | { type: 'headers'; streamId: number; fin: boolean; headerBlock: Buffer }
  | { type: 'rst_stream'; streamId: number; status: number }
  | { type: 'settings'; entries: Array<{ id: number; flags: number; value: number }> }
  | { type: 'ping'; id: number }
  | { type: 'goaway'; lastGoodStreamId: number; status: number }
  | { type: 'window_update'; streamId: number; delta: number };

export interface SpdyFrameParserOptions {
  /** Largest control frame accepted; Kubernetes' are a few hundred bytes. */
  maxControlFrameLength?: number;
}

const HEADER_LENGTH = 8;
const STREAM_ID_MASK = 0x7fffffff;

/** Bytes in, frames out; no I/O. Input may be split at any byte boundary. */
export class SpdyFrameParser {
  private pending: Buffer = Buffer.alloc(0);
  /** Remaining payload bytes of the DATA frame being streamed through, and its stream and flags. */
  private dataRemaining = 0;
  private dataStreamId = 0;
  private dataFin = false;
  private readonly maxControlFrameLength: number;

  constructor(options: SpdyFrameParserOptions = {}) {
    this.maxControlFrameLength = options.maxControlFrameLength ?? 64 * 1024;
  }

  push(chunk: Buffer): SpdyFrame[] {
    const frames: SpdyFrame[] = [];
    const input = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    let offset = 0;
    while (offset < input.length) {
      if (this.dataRemaining > 0) {
        const take = Math.min(this.dataRemaining, input.length - offset);
        this.dataRemaining -= take;
        const complete = this.dataRemaining === 0;
        frames.push({ type: 'data', streamId: this.dataStreamId, payload: input.subarray(offset, offset + take), fin: complete && this.dataFin, frameComplete: complete });
        offset += take;
        if (this.dataRemaining === 0) this.dataFin = false;
        continue;
      }
      if (input.length - offset < HEADER_LENGTH) break;
      const first = input.readUInt32BE(offset);
      const flags = input[offset + 4]!;
      const length = input.readUIntBE(offset + 5, 3);
      if ((first & 0x80000000) === 0) {
        offset += HEADER_LENGTH;
        const streamId = first & STREAM_ID_MASK;
        if (length === 0) {
          frames.push({ type: 'data', streamId, payload: Buffer.alloc(0), fin: (flags & FLAG_FIN) !== 0, frameComplete: true });
          continue;
        }
        this.dataStreamId = streamId;
        this.dataRemaining = length;
        this.dataFin = (flags & FLAG_FIN) !== 0;
        continue;
      }
      const version = (first >>> 16) & 0x7fff;
      if (version !== SPDY_VERSION) throw new SpdyProtocolError(`unsupported SPDY version ${version}`);
      if (length > this.maxControlFrameLength) throw new SpdyProtocolError(`control frame of ${length} bytes exceeds ${this.maxControlFrameLength}`);
      if (input.length - offset < HEADER_LENGTH + length) break;
      const body = input.subarray(offset + HEADER_LENGTH, offset + HEADER_LENGTH + length);
      offset += HEADER_LENGTH + length;
      const frame = parseControl(first & 0xffff, flags, body);
      if (frame) frames.push(frame);
    }
    // Only an incomplete frame header or control frame is kept; DATA payloads were handed out above.
    if (offset < input.length) this.pending = Buffer.from(input.subarray(offset));
    return frames;
  }
}

function parseControl(type: number, flags: number, body: Buffer): SpdyFrame | undefined {
  const need = (bytes: number, name: string): void => {
    if (body.length < bytes) throw new SpdyProtocolError(`${name} frame too short (${body.length} bytes)`);
  };
  const fin = (flags & FLAG_FIN) !== 0;
  switch (type) {
    case ControlType.SYN_STREAM:
      need(10, 'SYN_STREAM');
      return {
        type: 'syn_stream',
        streamId: body.readUInt32BE(0) & STREAM_ID_MASK,
        associatedStreamId: body.readUInt32BE(4) & STREAM_ID_MASK,
        priority: body[8]! >>> 5,
        fin,
        unidirectional: (flags & FLAG_UNIDIRECTIONAL) !== 0,
        headerBlock: body.subarray(10),
      };
    case ControlType.SYN_REPLY:
      need(4, 'SYN_REPLY');
      return { type: 'syn_reply', streamId: body.readUInt32BE(0) & STREAM_ID_MASK, fin, headerBlock: body.subarray(4) };
    case ControlType.HEADERS:
      need(4, 'HEADERS');
      return { type: 'headers', streamId: body.readUInt32BE(0) & STREAM_ID_MASK, fin, headerBlock: body.subarray(4) };
    case ControlType.RST_STREAM:
      need(8, 'RST_STREAM');
      return { type: 'rst_stream', streamId: body.readUInt32BE(0) & STREAM_ID_MASK, status: body.readUInt32BE(4) };
    case ControlType.SETTINGS: {
      need(4, 'SETTINGS');
      const count = body.readUInt32BE(0);
      need(4 + count * 8, 'SETTINGS');
      const entries = [];
      for (let i = 0; i < count; i++) {
        const at = 4 + i * 8;
        entries.push({ flags: body[at]!, id: body.readUIntBE(at + 1, 3), value: body.readUInt32BE(at + 4) });
      }
      return { type: 'settings', entries };
    }
    case ControlType.PING:
      need(4, 'PING');
      return { type: 'ping', id: body.readUInt32BE(0) };
    case ControlType.GOAWAY:
      need(8, 'GOAWAY');
      return { type: 'goaway', lastGoodStreamId: body.readUInt32BE(0) & STREAM_ID_MASK, status: body.readUInt32BE(4) };
    case ControlType.WINDOW_UPDATE:
      need(8, 'WINDOW_UPDATE');
      return { type: 'window_update', streamId: body.readUInt32BE(0) & STREAM_ID_MASK, delta: body.readUInt32BE(4) & STREAM_ID_MASK };
    default:
      // SPDY/3 §2.2.1: receivers ignore control frames of unknown type (CREDENTIAL, NOOP, …).
      return undefined;
  }
}

function controlFrame(type: number, flags: number, body: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_LENGTH + body.length);
  frame.writeUInt32BE((0x8000 | SPDY_VERSION) * 0x10000 + type, 0);
  frame[4] = flags;
  frame.writeUIntBE(body.length, 5, 3);
  body.copy(frame, HEADER_LENGTH);
  return frame;
}

/** The 8-byte header of a DATA frame, so the payload can be written after it without a copy. */
export function encodeDataFrameHeader(streamId: number, length: number, fin: boolean): Buffer {
  const header = Buffer.allocUnsafe(HEADER_LENGTH);
  header.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  header[4] = fin ? FLAG_FIN : 0;
  header.writeUIntBE(length, 5, 3);
  return header;
}

export function encodeSynStream(streamId: number, headerBlock: Buffer, options: { fin?: boolean; associatedStreamId?: number; priority?: number } = {}): Buffer {
  const body = Buffer.alloc(10 + headerBlock.length);
  body.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  body.writeUInt32BE((options.associatedStreamId ?? 0) & STREAM_ID_MASK, 4);
  body[8] = ((options.priority ?? 0) & 0x7) << 5;
  headerBlock.copy(body, 10);
  return controlFrame(ControlType.SYN_STREAM, options.fin ? FLAG_FIN : 0, body);
}

export function encodeSynReply(streamId: number, headerBlock: Buffer, fin = false): Buffer {
  return controlFrame(ControlType.SYN_REPLY, fin ? FLAG_FIN : 0, Buffer.concat([u32(streamId & STREAM_ID_MASK), headerBlock]));
}

export function encodeHeaders(streamId: number, headerBlock: Buffer, fin = false): Buffer {
  return controlFrame(ControlType.HEADERS, fin ? FLAG_FIN : 0, Buffer.concat([u32(streamId & STREAM_ID_MASK), headerBlock]));
}

export function encodeRstStream(streamId: number, status: number): Buffer {
  return controlFrame(ControlType.RST_STREAM, 0, Buffer.concat([u32(streamId & STREAM_ID_MASK), u32(status)]));
}

export function encodeSettings(entries: Array<{ id: number; value: number; flags?: number }>): Buffer {
  const body = Buffer.alloc(4 + entries.length * 8);
  body.writeUInt32BE(entries.length, 0);
  entries.forEach((entry, i) => {
    body[4 + i * 8] = entry.flags ?? 0;
    body.writeUIntBE(entry.id, 5 + i * 8, 3);
    body.writeUInt32BE(entry.value, 8 + i * 8);
  });
  return controlFrame(ControlType.SETTINGS, 0, body);
}

export function encodePing(id: number): Buffer {
  return controlFrame(ControlType.PING, 0, u32(id));
}

export function encodeGoaway(lastGoodStreamId: number, status: number): Buffer {
  return controlFrame(ControlType.GOAWAY, 0, Buffer.concat([u32(lastGoodStreamId & STREAM_ID_MASK), u32(status)]));
}

export function encodeWindowUpdate(streamId: number, delta: number): Buffer {
  return controlFrame(ControlType.WINDOW_UPDATE, 0, Buffer.concat([u32(streamId & STREAM_ID_MASK), u32(delta & STREAM_ID_MASK)]));
}

function u32(value: number): Buffer {
  const buffer = Buffer.allocUnsafe(4);
  buffer.writeUInt32BE(value >>> 0, 0);
  return buffer;
}
