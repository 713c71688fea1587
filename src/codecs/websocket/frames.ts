import { isUtf8 } from 'node:buffer';
import { maskInto, unmaskInPlace } from './mask.js';

/** Frame opcodes (RFC 6455 §5.2). */
export const Opcode = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/**
 * A close frame's body holds a 2-byte code, so its reason gets 125 - 2 bytes (RFC 6455 §5.5).
 * @internal Exported for its unit tests (byte vectors, seams); the product does not import it.
 */
export const MAX_CLOSE_REASON_BYTES = 123;
const MAX_CONTROL_PAYLOAD = 125;
/** 2 fixed bytes + up to 8 of extended length + 4 of mask. */
export const MAX_HEADER_BYTES = 14;
const EMPTY = Buffer.alloc(0);

/** Close codes the parser fails a connection with (RFC 6455 §7.4.1). */
const PROTOCOL_ERROR = 1002;
const INVALID_PAYLOAD = 1007;
const MESSAGE_TOO_BIG = 1009;
/** Stands for "no code in the close frame"; never sent on the wire (RFC 6455 §7.4.1). */
const NO_STATUS_RECEIVED = 1005;

/** The longest prefix of `text` whose UTF-8 fits `maxBytes`, cut at a character boundary. */
function utf8Prefix(text: string, maxBytes: number): Buffer {
  const bytes = Buffer.from(text);
  if (bytes.length <= maxBytes) return bytes;
  let cut = maxBytes;
  // Back off continuation bytes (10xxxxxx) so the cut lands before the lead byte of a split character.
  while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--;
  return bytes.subarray(0, cut);
}

/** A close reason must fit in 123 bytes (RFC 6455 §5.5): a longer message is cut at a character and ends in "...". */
export function closeReason(message: string): string {
  if (Buffer.byteLength(message) <= MAX_CLOSE_REASON_BYTES) return message;
  return utf8Prefix(message, MAX_CLOSE_REASON_BYTES - 3).toString() + '...';
}

/** A frame that breaks RFC 6455: the connection must be failed with `closeCode` (1002, 1007 or 1009). */
export class WebSocketProtocolError extends Error {
  override name = 'WebSocketProtocolError';
  constructor(
    readonly closeCode: number,
    message: string,
  ) {
    // The message is meant to go out as the close reason, which has room for 123 bytes only.
    super(utf8Prefix(message, MAX_CLOSE_REASON_BYTES).toString());
  }
}

export interface WebSocketFrameHandler {
  /** A data message begins: opcode text (binary=false) or binary (binary=true). */
  messageStart(binary: boolean): void;
  /**
   * The next unmasked payload bytes of the current message, in order. A view (subarray) into the chunk given
   * to push(), unmasked in place — never a copy, never empty. Text messages come in pieces exactly like binary
   * ones and are NOT checked as UTF-8 here: a piece may end inside a character, so only whoever assembles the
   * message can check it (and fail the connection with 1007).
   */
  messageData(piece: Buffer): void;
  /** The message's final fragment has been fully delivered (also for empty messages: start then end). */
  messageEnd(): void;
  /** Payload ≤ 125 bytes: a view into the pushed chunk, or a copy when the frame was split across chunks. */
  ping(payload: Buffer): void;
  pong(payload: Buffer): void;
  /** A close frame: code 1005 if its body is empty; reason decoded UTF-8. After this, push() ignores all input. */
  close(code: number, reason: string): void;
}

export interface WebSocketFrameParserOptions {
  /** Largest message (sum of its fragments' payloads) accepted; beyond → WebSocketProtocolError(1009). */
  maxMessageBytes: number;
  /** The same bound for binary messages alone, when their owner streams them (default: maxMessageBytes). */
  maxBinaryMessageBytes?: number;
  /**
   * Whether frames must be masked: a client's are (the default, the gateway's side), a server's never
   * are (RFC 6455 §5.1) — false for a client of a WebSocket server, such as the benchmark's.
   */
  masked?: boolean;
}

// Parser states: numeric so the hot loop is a switch over small integers.
const HEADER = 0;
const DATA_PAYLOAD = 1;
const CONTROL_PAYLOAD = 2;
const FINISHED = 3;

/** ws's isValidStatusCode: codes a peer may put in a close frame (RFC 6455 §7.4, IANA registry). */
function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/**
 * Parses client→server frames. push() TAKES OWNERSHIP of each chunk (it unmasks payload in place).
 *
 * Data payload is handed on as it arrives — one messageData per frame segment per chunk, a view of the chunk —
 * so a frame that spans socket reads is never reassembled. Only a frame header (≤ 14 bytes) or a control
 * frame's payload (≤ 125 bytes) that straddles chunks is gathered, into scratch space sized once per parser.
 * Extensions are never negotiated, so any RSV bit is an error. Callbacks must not call push() themselves.
 */
export class WebSocketFrameParser {
  private readonly handler: WebSocketFrameHandler;
  private readonly maxMessageBytes: number;
  private readonly maxBinaryMessageBytes: number;
  private readonly masked: boolean;
  private state = HEADER;

  // The frame being parsed.
  private fin = false;
  private opcode = 0;
  /** The 7-bit length while the header is read, then the real payload length. */
  private payloadLength = 0;
  /** Data payload bytes of this frame handed on so far: the mask index of the next piece. */
  private delivered = 0;
  private readonly mask: Buffer;

  // The message in progress (its first frame was text or binary and its last has not ended yet).
  private inMessage = false;
  private messageBinary = false;
  private messageBytes = 0;

  // Scratch for what straddles chunks.
  private readonly header: Buffer;
  private headerHave = 0;
  private headerNeed = 0;
  private readonly control: Buffer;
  private controlHave = 0;

  constructor(handler: WebSocketFrameHandler, options: WebSocketFrameParserOptions) {
    if (!(options.maxMessageBytes >= 0)) throw new RangeError(`maxMessageBytes must be ≥ 0, got ${options.maxMessageBytes}`);
    this.handler = handler;
    this.maxMessageBytes = options.maxMessageBytes;
    this.maxBinaryMessageBytes = options.maxBinaryMessageBytes ?? options.maxMessageBytes;
    this.masked = options.masked ?? true;
    // One allocation for all of a parser's scratch: thousands of mostly idle connections each hold one.
    const scratch = Buffer.alloc(4 + MAX_HEADER_BYTES + MAX_CONTROL_PAYLOAD);
    this.mask = scratch.subarray(0, 4);
    this.header = scratch.subarray(4, 4 + MAX_HEADER_BYTES);
    this.control = scratch.subarray(4 + MAX_HEADER_BYTES);
  }

  /** True once a close frame was parsed or an error thrown. */
  get finished(): boolean {
    return this.state === FINISHED;
  }

  /**
   * Throws WebSocketProtocolError on the first violation; after a throw (or a close frame) the parser is
   * finished and every later push() is a no-op. Handler callbacks are called synchronously from push().
   * An exception thrown by a callback also finishes the parser: where it stopped in the stream is unknown.
   */
  push(chunk: Buffer): void {
    if (this.state === FINISHED) return;
    try {
      const end = chunk.length;
      let pos = 0;
      while (pos < end) {
        switch (this.state) {
          case HEADER:
            pos = this.readHeader(chunk, pos);
            break;
          case DATA_PAYLOAD:
            pos = this.readData(chunk, pos);
            break;
          case CONTROL_PAYLOAD:
            pos = this.readControl(chunk, pos);
            break;
          default:
            return;
        }
      }
    } catch (error) {
      this.state = FINISHED;
      throw error;
    }
  }

  private readHeader(chunk: Buffer, pos: number): number {
    const end = chunk.length;
    const scratch = this.header;
    let have = this.headerHave;
    if (have === 0 && end - pos >= 2) {
      // The usual case: the whole header is in this chunk and is read where it lies.
      const need = this.beginFrame(chunk[pos]!, chunk[pos + 1]!);
      if (end - pos >= need) {
        this.endHeader(chunk, pos + 2);
        return pos + need;
      }
      this.headerNeed = need;
      chunk.copy(scratch, 0, pos, end);
      this.headerHave = end - pos;
      return end;
    }
    if (have < 2) {
      scratch[have++] = chunk[pos++]!;
      if (have < 2) {
        this.headerHave = have;
        return pos;
      }
      // Checked as soon as the two fixed bytes are in, so e.g. an unmasked frame fails without waiting for a
      // mask that will never come.
      this.headerNeed = this.beginFrame(scratch[0]!, scratch[1]!);
    }
    const take = Math.min(this.headerNeed - have, end - pos);
    chunk.copy(scratch, have, pos, pos + take);
    have += take;
    pos += take;
    if (have < this.headerNeed) {
      this.headerHave = have;
      return pos;
    }
    this.headerHave = 0;
    this.endHeader(scratch, 2);
    return pos;
  }

  /** Checks the two fixed header bytes; returns the header's full length. */
  private beginFrame(b0: number, b1: number): number {
    if (b0 & 0x70) throw new WebSocketProtocolError(PROTOCOL_ERROR, 'RSV bits set but no extension was negotiated');
    const opcode = b0 & 0x0f;
    if ((opcode > Opcode.binary && opcode < Opcode.close) || opcode > Opcode.pong) {
      throw new WebSocketProtocolError(PROTOCOL_ERROR, `unknown opcode 0x${opcode.toString(16)}`);
    }
    const frameMasked = (b1 & 0x80) !== 0;
    if (frameMasked !== this.masked) {
      throw new WebSocketProtocolError(PROTOCOL_ERROR, this.masked ? 'client frame is not masked' : 'server frame is masked');
    }
    const fin = (b0 & 0x80) !== 0;
    const length7 = b1 & 0x7f;
    if (opcode >= Opcode.close) {
      if (!fin) throw new WebSocketProtocolError(PROTOCOL_ERROR, 'fragmented control frame');
      if (length7 > MAX_CONTROL_PAYLOAD) throw new WebSocketProtocolError(PROTOCOL_ERROR, 'control frame payload over 125 bytes');
    } else if (opcode === Opcode.continuation) {
      if (!this.inMessage) throw new WebSocketProtocolError(PROTOCOL_ERROR, 'continuation frame with no message in progress');
    } else if (this.inMessage) {
      throw new WebSocketProtocolError(PROTOCOL_ERROR, 'new data frame while a fragmented message is in progress');
    }
    this.fin = fin;
    this.opcode = opcode;
    this.payloadLength = length7;
    return (length7 < 126 ? 2 : length7 === 126 ? 4 : 10) + (this.masked ? 4 : 0);
  }

  /** Reads extended length and mask from `buf` at `p` (just past the fixed bytes) and starts the payload. */
  private endHeader(buf: Buffer, p: number): void {
    let length = this.payloadLength;
    if (length === 126) {
      // Non-minimal lengths (e.g. 5 in 16 bits) are accepted, as ws accepts them.
      length = (buf[p]! << 8) | buf[p + 1]!;
      p += 2;
    } else if (length === 127) {
      const high = buf.readUInt32BE(p);
      if (high > 0x001fffff) {
        throw new WebSocketProtocolError(
          PROTOCOL_ERROR,
          high >= 0x80000000 ? '64-bit payload length has its top bit set' : 'payload length beyond 2^53 - 1',
        );
      }
      length = high * 0x100000000 + buf.readUInt32BE(p + 4);
      p += 8;
    }
    if (this.masked) {
      const mask = this.mask;
      mask[0] = buf[p]!;
      mask[1] = buf[p + 1]!;
      mask[2] = buf[p + 2]!;
      mask[3] = buf[p + 3]!;
    }
    this.payloadLength = length;

    const opcode = this.opcode;
    if (opcode >= Opcode.close) {
      this.controlHave = 0;
      if (length === 0) {
        this.state = HEADER;
        this.controlFrame(EMPTY, false);
      } else {
        this.state = CONTROL_PAYLOAD;
      }
      return;
    }
    // From the header, before any of this frame's payload is handed on.
    const total = (opcode === Opcode.continuation ? this.messageBytes : 0) + length;
    const binary = opcode === Opcode.continuation ? this.messageBinary : opcode === Opcode.binary;
    const limit = binary ? this.maxBinaryMessageBytes : this.maxMessageBytes;
    if (total > limit) {
      throw new WebSocketProtocolError(MESSAGE_TOO_BIG, `message over ${limit} bytes`);
    }
    this.messageBytes = total;
    this.delivered = 0;
    if (length === 0) {
      this.state = HEADER;
      if (opcode !== Opcode.continuation) this.startMessage(opcode);
      if (this.fin) this.endMessage();
      return;
    }
    this.state = DATA_PAYLOAD;
    if (opcode !== Opcode.continuation) this.startMessage(opcode);
  }

  private startMessage(opcode: number): void {
    this.inMessage = true;
    this.messageBinary = opcode === Opcode.binary;
    this.handler.messageStart(opcode === Opcode.binary);
  }

  private endMessage(): void {
    this.inMessage = false;
    this.messageBytes = 0;
    this.handler.messageEnd();
  }

  private readData(chunk: Buffer, pos: number): number {
    const take = Math.min(this.payloadLength - this.delivered, chunk.length - pos);
    const piece = chunk.subarray(pos, pos + take);
    if (this.masked) unmaskInPlace(piece, this.mask, this.delivered);
    const frameDone = (this.delivered += take) === this.payloadLength;
    if (frameDone) this.state = HEADER;
    this.handler.messageData(piece);
    if (frameDone && this.fin) this.endMessage();
    return pos + take;
  }

  private readControl(chunk: Buffer, pos: number): number {
    const length = this.payloadLength;
    const have = this.controlHave;
    if (have === 0 && chunk.length - pos >= length) {
      const payload = chunk.subarray(pos, pos + length);
      if (this.masked) unmaskInPlace(payload, this.mask, 0);
      this.state = HEADER;
      this.controlFrame(payload, false);
      return pos + length;
    }
    const take = Math.min(length - have, chunk.length - pos);
    chunk.copy(this.control, have, pos, pos + take);
    if (have + take < length) {
      this.controlHave = have + take;
      return pos + take;
    }
    this.controlHave = 0;
    const payload = this.control.subarray(0, length);
    if (this.masked) unmaskInPlace(payload, this.mask, 0);
    this.state = HEADER;
    this.controlFrame(payload, true);
    return pos + take;
  }

  /** `inScratch`: the payload lies in this parser's scratch, reused by the next frame, so it is copied out. */
  private controlFrame(payload: Buffer, inScratch: boolean): void {
    switch (this.opcode) {
      case Opcode.ping:
        this.handler.ping(inScratch ? Buffer.from(payload) : payload);
        return;
      case Opcode.pong:
        this.handler.pong(inScratch ? Buffer.from(payload) : payload);
        return;
      default:
        break;
    }
    this.state = FINISHED;
    if (payload.length === 0) {
      this.handler.close(NO_STATUS_RECEIVED, '');
      return;
    }
    if (payload.length === 1) throw new WebSocketProtocolError(PROTOCOL_ERROR, 'close frame body of 1 byte');
    const code = (payload[0]! << 8) | payload[1]!;
    if (!isValidCloseCode(code)) throw new WebSocketProtocolError(PROTOCOL_ERROR, `invalid close code ${code}`);
    const reason = payload.subarray(2);
    if (!isUtf8(reason)) throw new WebSocketProtocolError(INVALID_PAYLOAD, 'close reason is not valid UTF-8');
    this.handler.close(code, reason.toString());
  }
}

/**
 * Server→client frame header (never masked), FIN set: 2, 4 or 10 bytes. `payloadLength` is the whole
 * frame payload; `prefixByte`, when given, is its first byte, appended to the header, so a message of
 * one byte + a large buffer goes out as this header and that buffer as is (a channel message, no copy).
 */
export function encodeFrameHeader(opcode: number, payloadLength: number, prefixByte?: number): Buffer {
  if (!Number.isSafeInteger(payloadLength) || payloadLength < 0) throw new RangeError(`invalid payload length ${payloadLength}`);
  if (prefixByte !== undefined && (payloadLength < 1 || !Number.isInteger(prefixByte) || prefixByte < 0 || prefixByte > 0xff)) {
    throw new RangeError(`invalid prefix byte ${prefixByte} for a payload of ${payloadLength} bytes`);
  }
  const extra = prefixByte === undefined ? 0 : 1;
  const b0 = 0x80 | (opcode & 0x0f);
  let header: Buffer;
  if (payloadLength < 126) {
    header = Buffer.allocUnsafe(2 + extra);
    header[1] = payloadLength;
  } else if (payloadLength < 0x10000) {
    header = Buffer.allocUnsafe(4 + extra);
    header[1] = 126;
    header[2] = payloadLength >>> 8;
    header[3] = payloadLength & 0xff;
  } else {
    header = Buffer.allocUnsafe(10 + extra);
    header[1] = 127;
    header.writeUInt32BE(Math.floor(payloadLength / 0x100000000), 2);
    header.writeUInt32BE(payloadLength >>> 0, 6);
  }
  header[0] = b0;
  if (prefixByte !== undefined) header[header.length - 1] = prefixByte;
  return header;
}

/**
 * A whole data frame, header and payload in one buffer (`prefixByte`, when given, before the payload,
 * as in encodeFrameHeader). For small messages — a keystroke, a resize — copying the payload costs less
 * than handing the socket two buffers to gather (a corked writev).
 */
export function encodeFrame(opcode: number, payload: Buffer, prefixByte?: number): Buffer {
  const header = prefixByte === undefined ? encodeFrameHeader(opcode, payload.length) : encodeFrameHeader(opcode, payload.length + 1, prefixByte);
  const frame = Buffer.allocUnsafe(header.length + payload.length);
  header.copy(frame);
  payload.copy(frame, header.length);
  return frame;
}

/**
 * Whole close frame: code + reason (reason truncated to fit 123 bytes of UTF-8 at a character boundary);
 * code 1005 → empty body.
 */
export function encodeCloseFrame(code: number, reason: string): Buffer {
  if (code === NO_STATUS_RECEIVED) return Buffer.from([0x80 | Opcode.close, 0]);
  const reasonBytes = utf8Prefix(reason, MAX_CLOSE_REASON_BYTES);
  const frame = Buffer.allocUnsafe(4 + reasonBytes.length);
  frame[0] = 0x80 | Opcode.close;
  frame[1] = 2 + reasonBytes.length;
  frame.writeUInt16BE(code, 2);
  reasonBytes.copy(frame, 4);
  return frame;
}

/** Whole ping/pong frame with payload ≤ 125 bytes (RangeError otherwise). */
export function encodeControlFrame(opcode: number, payload: Buffer): Buffer {
  if (opcode !== Opcode.ping && opcode !== Opcode.pong) throw new RangeError(`not a ping or pong opcode: ${opcode}`);
  if (payload.length > MAX_CONTROL_PAYLOAD) throw new RangeError(`control frame payload of ${payload.length} bytes (at most 125)`);
  const frame = Buffer.allocUnsafe(2 + payload.length);
  frame[0] = 0x80 | opcode;
  frame[1] = payload.length;
  payload.copy(frame, 2);
  return frame;
}

/**
 * A whole client→server data frame: header, `key` (4 bytes, fresh per frame: RFC 6455 §5.3) and the
 * payload (after `prefixByte`, when given) masked as it is copied in — one buffer and one pass over
 * the payload, where encoding then masking a copy would make two. `key` is read, never kept.
 */
export function encodeMaskedFrame(opcode: number, payload: Buffer, key: Buffer, prefixByte?: number): Buffer {
  const extra = prefixByte === undefined ? 0 : 1;
  const length = payload.length + extra;
  const header = encodeFrameHeader(opcode, length, prefixByte);
  const lengthBytes = header.length - extra;
  const frame = Buffer.allocUnsafe(lengthBytes + 4 + length);
  header.copy(frame, 0, 0, lengthBytes);
  frame[1] = frame[1]! | 0x80;
  frame[lengthBytes] = key[0]!;
  frame[lengthBytes + 1] = key[1]!;
  frame[lengthBytes + 2] = key[2]!;
  frame[lengthBytes + 3] = key[3]!;
  const at = lengthBytes + 4;
  if (prefixByte !== undefined) frame[at] = prefixByte ^ key[0]!;
  maskInto(payload, key, frame, at + extra, extra);
  return frame;
}

/**
 * A client→server copy of an encoded (unmasked) frame: the mask bit set, `key` (4 bytes, fresh and
 * random per frame: RFC 6455 §5.3) after the length, the payload masked with it. For the gateway's
 * side as a WebSocket client of an upstream.
 */
export function maskFrame(frame: Buffer, key: Buffer): Buffer {
  const length7 = frame[1]! & 0x7f;
  const headerLength = length7 < 126 ? 2 : length7 === 126 ? 4 : 10;
  const payload = frame.subarray(headerLength);
  const masked = Buffer.allocUnsafe(frame.length + 4);
  frame.copy(masked, 0, 0, headerLength);
  masked[1] = masked[1]! | 0x80;
  key.copy(masked, headerLength, 0, 4);
  maskInto(payload, key, masked, headerLength + 4, 0);
  return masked;
}
