import { GoawayStatus, RstStatus, SpdyProtocolError } from './errors.js';

export { GoawayStatus, RstStatus, SpdyProtocolError };

const SPDY_VERSION = 3;
const FLAG_FIN = 0x01;
const FLAG_UNIDIRECTIONAL = 0x02;
/** spdystream never sends DATA frames above this; we keep to it too. */
export const MAX_DATA_FRAME_PAYLOAD = 32 * 1024;
/** Kubernetes' control frames are a few hundred bytes; anything near this is hostile. */
const DEFAULT_MAX_CONTROL_FRAME_LENGTH = 64 * 1024;

const ControlType = {
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
 * Header blocks stay compressed: they must be inflated in frame order with the connection's context.
 */
export type SpdyFrame =
  | {
      type: 'data';
      streamId: number;
      payload: Buffer;
      fin: boolean;
      frameComplete: boolean;
    }
  | { type: 'syn_stream'; streamId: number; associatedStreamId: number; priority: number; fin: boolean; unidirectional: boolean; headerBlock: Buffer }
  | { type: 'syn_reply'; streamId: number; fin: boolean; headerBlock: Buffer }
  | { type: 'headers'; streamId: number; fin: boolean; headerBlock: Buffer }
  | { type: 'rst_stream'; streamId: number; status: number }
  | { type: 'settings'; entries: Array<{ id: number; flags: number; value: number }> }
  | { type: 'ping'; id: number }
  | { type: 'goaway'; lastGoodStreamId: number; status: number }
  | { type: 'window_update'; streamId: number; delta: number };

export interface SpdyFrameParserOptions {
  /** Largest control frame body accepted (bytes after the 8-byte header, still compressed). */
  maxControlFrameLength?: number;
}

const HEADER_LENGTH = 8;
const ID_MASK = 0x7fffffff;
const EMPTY = Buffer.alloc(0);
const KNOWN_CONTROL_TYPES = new Set<number>(Object.values(ControlType));

/**
 * Bytes in, frames out; no I/O. Input may be split at any byte boundary. DATA payloads are handed
 * out as subarrays of the input (no copy). Only a frame header or a control
 * frame that straddles chunks is assembled, in a buffer sized once from its length (never
 * re-concatenated per chunk).
 * After a SpdyProtocolError the position in the byte stream is lost: abandon the connection.
 */
export class SpdyFrameParser {
  private readonly maxControlFrameLength: number;
  private readonly header = Buffer.alloc(HEADER_LENGTH);
  private headerFill = 0;
  /** DATA frame being streamed through. */
  private dataRemaining = 0;
  private dataStreamId = 0;
  private dataFin = false;
  /** Control frame body being assembled across chunks. */
  private body: Buffer | undefined;
  private bodyFill = 0;
  private controlType = 0;
  private controlFlags = 0;
  /** Bytes of an unknown control frame still to be skipped. */
  private skipRemaining = 0;

  constructor(options: SpdyFrameParserOptions = {}) {
    this.maxControlFrameLength = options.maxControlFrameLength ?? DEFAULT_MAX_CONTROL_FRAME_LENGTH;
  }

  push(chunk: Buffer): SpdyFrame[] {
    const frames: SpdyFrame[] = [];
    const end = chunk.length;
    let offset = 0;
    while (offset < end) {
      if (this.dataRemaining > 0) {
        const take = Math.min(this.dataRemaining, end - offset);
        this.dataRemaining -= take;
        const complete = this.dataRemaining === 0;
        const payload = chunk.subarray(offset, offset + take);
        frames.push({ type: 'data', streamId: this.dataStreamId, payload, fin: complete && this.dataFin, frameComplete: complete });
        offset += take;
        continue;
      }
      if (this.skipRemaining > 0) {
        const take = Math.min(this.skipRemaining, end - offset);
        this.skipRemaining -= take;
        offset += take;
        continue;
      }
      if (this.body) {
        const take = Math.min(this.body.length - this.bodyFill, end - offset);
        chunk.copy(this.body, this.bodyFill, offset, offset + take);
        this.bodyFill += take;
        offset += take;
        if (this.bodyFill < this.body.length) break;
        const body = this.body;
        this.body = undefined;
        frames.push(parseControl(this.controlType, this.controlFlags, body));
        continue;
      }
      // Frame header: read in place when whole, else assembled in the fixed 8-byte buffer.
      let header = chunk;
      let at = offset;
      if (this.headerFill > 0 || end - offset < HEADER_LENGTH) {
        const take = Math.min(HEADER_LENGTH - this.headerFill, end - offset);
        chunk.copy(this.header, this.headerFill, offset, offset + take);
        this.headerFill += take;
        offset += take;
        if (this.headerFill < HEADER_LENGTH) break;
        this.headerFill = 0;
        header = this.header;
        at = 0;
      } else {
        offset += HEADER_LENGTH;
      }
      const first = header.readUInt32BE(at);
      const flags = header[at + 4]!;
      const length = header.readUIntBE(at + 5, 3);
      if ((first & 0x80000000) === 0) {
        const streamId = first & ID_MASK;
        if (streamId === 0) throw new SpdyProtocolError('DATA frame on stream 0');
        if (length === 0) {
          frames.push({ type: 'data', streamId, payload: EMPTY, fin: (flags & FLAG_FIN) !== 0, frameComplete: true });
        } else {
          this.dataStreamId = streamId;
          this.dataRemaining = length;
          this.dataFin = (flags & FLAG_FIN) !== 0;
        }
        continue;
      }
      const version = (first >>> 16) & 0x7fff;
      if (version !== SPDY_VERSION) throw new SpdyProtocolError(`unsupported SPDY version ${version}`);
      if (length > this.maxControlFrameLength) {
        throw new SpdyProtocolError(`control frame of ${length} bytes exceeds ${this.maxControlFrameLength}`);
      }
      const type = first & 0xffff;
      if (!KNOWN_CONTROL_TYPES.has(type)) {
        // SPDY/3 §2.2.1: unknown control types (CREDENTIAL, NOOP, …) are ignored — skipped, not buffered.
        this.skipRemaining = length;
        continue;
      }
      if (end - offset >= length) {
        frames.push(parseControl(type, flags, chunk.subarray(offset, offset + length)));
        offset += length;
      } else {
        this.body = Buffer.allocUnsafe(length);
        this.bodyFill = 0;
        this.controlType = type;
        this.controlFlags = flags;
      }
    }
    return frames;
  }
}

/** Sizes and zero-id checks as spdystream's framer (spdy/read.go) makes them. */
function parseControl(type: number, flags: number, body: Buffer): SpdyFrame {
  const fin = (flags & FLAG_FIN) !== 0;
  const size = (valid: boolean, name: string): void => {
    if (!valid) throw new SpdyProtocolError(`${name} frame has an invalid length (${body.length} bytes)`);
  };
  const streamId = (name: string): number => {
    const id = body.readUInt32BE(0) & ID_MASK;
    if (id === 0) throw new SpdyProtocolError(`${name} frame on stream 0`);
    return id;
  };
  switch (type) {
    case ControlType.SYN_STREAM:
      size(body.length >= 10, 'SYN_STREAM');
      return {
        type: 'syn_stream',
        streamId: streamId('SYN_STREAM'),
        associatedStreamId: body.readUInt32BE(4) & ID_MASK,
        priority: body[8]! >>> 5,
        fin,
        unidirectional: (flags & FLAG_UNIDIRECTIONAL) !== 0,
        headerBlock: body.subarray(10),
      };
    case ControlType.SYN_REPLY:
      size(body.length >= 4, 'SYN_REPLY');
      return { type: 'syn_reply', streamId: streamId('SYN_REPLY'), fin, headerBlock: body.subarray(4) };
    case ControlType.HEADERS:
      size(body.length >= 4, 'HEADERS');
      return { type: 'headers', streamId: streamId('HEADERS'), fin, headerBlock: body.subarray(4) };
    case ControlType.RST_STREAM: {
      size(body.length === 8, 'RST_STREAM');
      const id = streamId('RST_STREAM');
      const status = body.readUInt32BE(4);
      if (status === 0) throw new SpdyProtocolError('RST_STREAM with status 0');
      return { type: 'rst_stream', streamId: id, status };
    }
    case ControlType.SETTINGS: {
      size(body.length >= 4, 'SETTINGS');
      size(body.length === 4 + body.readUInt32BE(0) * 8, 'SETTINGS');
      const entries = [];
      for (let at = 4; at < body.length; at += 8) {
        entries.push({ flags: body[at]!, id: body.readUIntBE(at + 1, 3), value: body.readUInt32BE(at + 4) });
      }
      return { type: 'settings', entries };
    }
    case ControlType.PING: {
      size(body.length === 4, 'PING');
      const id = body.readUInt32BE(0);
      if (id === 0) throw new SpdyProtocolError('PING with id 0');
      return { type: 'ping', id };
    }
    case ControlType.GOAWAY:
      size(body.length === 8, 'GOAWAY');
      return { type: 'goaway', lastGoodStreamId: body.readUInt32BE(0) & ID_MASK, status: body.readUInt32BE(4) };
    default: // WINDOW_UPDATE, the last known type
      size(body.length === 8, 'WINDOW_UPDATE');
      return { type: 'window_update', streamId: body.readUInt32BE(0) & ID_MASK, delta: body.readUInt32BE(4) & ID_MASK };
  }
}

/** A control frame with its header written and `bodyLength` bytes after it for the caller to fill. */
function controlFrame(type: number, flags: number, bodyLength: number): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_LENGTH + bodyLength);
  frame.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  frame.writeUInt16BE(type, 2);
  frame[4] = flags;
  frame.writeUIntBE(bodyLength, 5, 3);
  return frame;
}

/** Stream id + header block (SYN_REPLY, HEADERS). */
function streamHeadersFrame(type: number, streamId: number, headerBlock: Buffer, fin: boolean): Buffer {
  const frame = controlFrame(type, fin ? FLAG_FIN : 0, 4 + headerBlock.length);
  frame.writeUInt32BE(streamId & ID_MASK, 8);
  headerBlock.copy(frame, 12);
  return frame;
}

/** Two 32-bit words (RST_STREAM, GOAWAY, WINDOW_UPDATE). */
function twoWordFrame(type: number, first: number, second: number): Buffer {
  const frame = controlFrame(type, 0, 8);
  frame.writeUInt32BE(first >>> 0, 8);
  frame.writeUInt32BE(second >>> 0, 12);
  return frame;
}

/** The 8-byte header of a DATA frame, so the payload can be written after it without a copy. */
export function encodeDataFrameHeader(streamId: number, length: number, fin: boolean): Buffer {
  const header = Buffer.allocUnsafe(HEADER_LENGTH);
  header.writeUInt32BE(streamId & ID_MASK, 0);
  header[4] = fin ? FLAG_FIN : 0;
  header.writeUIntBE(length, 5, 3);
  return header;
}

/** A whole DATA frame, header and payload in one buffer: for small payloads, where one copy is cheaper than a writev of two. */
export function encodeDataFrame(streamId: number, payload: Buffer, fin: boolean): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_LENGTH + payload.length);
  frame.writeUInt32BE(streamId & ID_MASK, 0);
  frame[4] = fin ? FLAG_FIN : 0;
  frame.writeUIntBE(payload.length, 5, 3);
  payload.copy(frame, HEADER_LENGTH);
  return frame;
}

export function encodeSynStream(
  streamId: number,
  headerBlock: Buffer,
  options: { fin?: boolean; unidirectional?: boolean; associatedStreamId?: number; priority?: number } = {},
): Buffer {
  const flags = (options.fin ? FLAG_FIN : 0) | (options.unidirectional ? FLAG_UNIDIRECTIONAL : 0);
  const frame = controlFrame(ControlType.SYN_STREAM, flags, 10 + headerBlock.length);
  frame.writeUInt32BE(streamId & ID_MASK, 8);
  frame.writeUInt32BE((options.associatedStreamId ?? 0) & ID_MASK, 12);
  frame[16] = ((options.priority ?? 0) & 0x7) << 5;
  frame[17] = 0; // credential slot, unused
  headerBlock.copy(frame, 18);
  return frame;
}

export function encodeSynReply(streamId: number, headerBlock: Buffer, fin = false): Buffer {
  return streamHeadersFrame(ControlType.SYN_REPLY, streamId, headerBlock, fin);
}

/** @internal Exported for its unit tests (byte vectors, seams); the product does not import it. */
export function encodeHeaders(streamId: number, headerBlock: Buffer, fin = false): Buffer {
  return streamHeadersFrame(ControlType.HEADERS, streamId, headerBlock, fin);
}

export function encodeRstStream(streamId: number, status: number): Buffer {
  return twoWordFrame(ControlType.RST_STREAM, streamId & ID_MASK, status);
}

/** @internal Exported for its unit tests (byte vectors, seams); the product does not import it. */
export function encodeSettings(entries: ReadonlyArray<{ id: number; value: number; flags?: number }>): Buffer {
  const frame = controlFrame(ControlType.SETTINGS, 0, 4 + entries.length * 8);
  frame.writeUInt32BE(entries.length, 8);
  entries.forEach((entry, i) => {
    const at = 12 + i * 8;
    frame[at] = entry.flags ?? 0;
    frame.writeUIntBE(entry.id, at + 1, 3);
    frame.writeUInt32BE(entry.value >>> 0, at + 4);
  });
  return frame;
}

export function encodePing(id: number): Buffer {
  const frame = controlFrame(ControlType.PING, 0, 4);
  frame.writeUInt32BE(id >>> 0, 8);
  return frame;
}

export function encodeGoaway(lastGoodStreamId: number, status: number): Buffer {
  return twoWordFrame(ControlType.GOAWAY, lastGoodStreamId & ID_MASK, status);
}

/** @internal Exported for its unit tests (byte vectors, seams); the product does not import it. */
export function encodeWindowUpdate(streamId: number, delta: number): Buffer {
  return twoWordFrame(ControlType.WINDOW_UPDATE, streamId & ID_MASK, delta & ID_MASK);
}
