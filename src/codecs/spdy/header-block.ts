import { Inflate, Z_SYNC_FLUSH } from 'pako';
import { SPDY3_DICTIONARY } from './dictionary.js';
import { SpdyProtocolError } from './errors.js';

/**
 * Header names are lower case (Kubernetes: `streamtype`, `port`, `requestid`). A name that occurs
 * several times carries its values joined by NUL, as on the wire.
 */
export type SpdyHeaders = Record<string, string>;

const DEFAULT_MAX_DECOMPRESSED_HEADER_BYTES = 256 * 1024;

/*
 * SPDY/3 header blocks: a name/value list compressed with zlib primed with the SPDY dictionary, ONE
 * context per direction for the whole connection, sync-flushed after every block — so encoder and
 * decoder are stateful and must see the blocks in frame order.
 *
 * Why pako and not node:zlib: node:zlib keeps a context across calls only in its asynchronous stream
 * API, which would make this codec asynchronous and frame order a matter of callbacks. Its
 * synchronous path (`inflateSync`, and the `_processChunk(buf, Z_SYNC_FLUSH)` it uses internally)
 * closes the handle after one buffer: on Node 20 the second block fails with "Cannot read properties
 * of null (reading 'writeSync')". pako's `push(data, Z_SYNC_FLUSH)` keeps its state, synchronously
 * (docs/decisions.md §1).
 */

const NUL = '\0';

/*
 * Blocks we send are zlib *stored* blocks: one zlib stream per connection as SPDY/3 requires (header
 * with the dictionary's id first, then every block sync-flushed), but nothing compressed, so the
 * encoder keeps no deflate context. pako's, even at windowBits 11 / memLevel 1, held ~80 KiB per
 * connection for its whole life — the largest single cost of an idle session — to save a few
 * hundred bytes once per stream. Any inflater reads stored blocks (RFC 1951 §3.2.4); the peer's
 * inflater, primed with the dictionary, simply never needs it. A side effect: no CRIME-style
 * compression oracle on header values.
 */
const MAX_STORED_BLOCK = 0xffff;
/** CMF 0x78 (deflate, 32 KiB window), FLG 0x20 (FDICT; 0x7820 is a multiple of 31, so FCHECK = 0). */
const ZLIB_HEADER = Buffer.from([0x78, 0x20]);
/** The empty stored block a sync flush ends with (zlib's Z_SYNC_FLUSH marker). */
const SYNC_FLUSH_MARKER = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]);

export class HeaderBlockEncoder {
  private started = false;

  encode(headers: SpdyHeaders): Buffer {
    // spdystream rejects upper-case and repeated names (DuplicateHeaders): merge after lower-casing.
    const merged = new Map<string, string>();
    for (const [name, value] of Object.entries(headers)) {
      const lower = name.toLowerCase();
      const previous = merged.get(lower);
      merged.set(lower, previous === undefined ? value : previous + NUL + value);
    }
    let size = 4;
    for (const [name, value] of merged) size += 8 + Buffer.byteLength(name) + Buffer.byteLength(value);
    const raw = Buffer.allocUnsafe(size);
    let at = raw.writeUInt32BE(merged.size, 0);
    for (const [name, value] of merged) {
      at = writeString(raw, at, name);
      at = writeString(raw, at, value);
    }
    const parts: Buffer[] = [];
    if (!this.started) {
      this.started = true;
      const dictionaryId = Buffer.allocUnsafe(4);
      dictionaryId.writeUInt32BE(DICTIONARY_ADLER32, 0);
      parts.push(ZLIB_HEADER, dictionaryId);
    }
    for (let from = 0; from < raw.length; from += MAX_STORED_BLOCK) {
      const data = raw.subarray(from, from + MAX_STORED_BLOCK);
      // BFINAL 0, BTYPE 00 (stored), then LEN and its one's complement, little-endian.
      const header = Buffer.from([0x00, data.length & 0xff, data.length >> 8, ~data.length & 0xff, (~data.length >> 8) & 0xff]);
      parts.push(header, data);
    }
    parts.push(SYNC_FLUSH_MARKER);
    return Buffer.concat(parts);
  }
}

const DICTIONARY_ADLER32 = adler32(SPDY3_DICTIONARY);

function adler32(bytes: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (const byte of bytes) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** 4 KiB: the dictionary (1,423 bytes) and the few hundred bytes of headers a session sees. */
const SMALL_WINDOW_BITS = 12;
const SMALL_WINDOW = 1 << SMALL_WINDOW_BITS;
const FULL_WINDOW_BITS = 15;
const FULL_WINDOW = 1 << FULL_WINDOW_BITS;
const ZLIB_HEADER_LENGTH = 6;

/*
 * The peer's blocks are one zlib stream whose back-references may reach 32 KiB back, so a standing
 * inflate context needs a 32 KiB window (plus pako's tables) for the connection's whole life — most of
 * what an idle session would cost. But a reference can never reach further back than the history so
 * far (dictionary + everything inflated), and a session sees a few hundred bytes of headers. Because
 * SPDY peers sync-flush every block, each block starts on a byte boundary with no pending bits, and an
 * inflater primed with the history decodes it exactly. So, while the history fits a 4 KiB window, the
 * decoder keeps only the history beyond the dictionary (a few hundred bytes) and makes a small raw
 * inflater for each block, primed with dictionary + history, then drops it: between blocks an idle
 * connection holds no inflate state at all. The first time the history outgrows the small window — or
 * a block fails in it, which is how a reference beyond it shows — a full 32 KiB inflater is primed with
 * the history, the block decoded again, and that inflater kept for the rest of the connection.
 */
export class HeaderBlockDecoder {
  /** Output so far beyond the dictionary, while the small window suffices; undefined once the full inflater is in use. */
  private history: Buffer | undefined = Buffer.alloc(0);
  private fullInflate: Inflate | undefined;
  private started = false;
  private readonly maxDecompressedBytes: number;
  private output: Uint8Array[] = [];
  private outputSize = 0;
  /** The inflater's message for the last block that failed. */
  private inflateError = '';
  private failure: SpdyProtocolError | undefined;

  constructor(options: { maxDecompressedBytes?: number } = {}) {
    this.maxDecompressedBytes = options.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_HEADER_BYTES;
  }

  /** Throws SpdyProtocolError; after one the shared context is lost, so every later call throws too. */
  decode(block: Buffer): SpdyHeaders {
    if (this.failure) throw this.failure;
    try {
      let data = block;
      if (!this.started) {
        checkZlibHeader(block);
        data = block.subarray(ZLIB_HEADER_LENGTH);
        this.started = true;
      }
      const raw = this.history ? this.decodeInSmallWindow(this.history, data) : this.inflateBlock(this.fullInflate!, data);
      if (raw === undefined) throw new SpdyProtocolError(`header block: ${this.inflateError || 'invalid zlib data'}`);
      return parseNameValues(raw);
    } catch (error) {
      this.failure = error instanceof SpdyProtocolError ? error : new SpdyProtocolError(`header block: ${String(error)}`);
      this.fullInflate = undefined;
      this.history = undefined;
      throw this.failure;
    }
  }

  private decodeInSmallWindow(history: Buffer, data: Buffer): Buffer | undefined {
    const window = Buffer.concat([SPDY3_DICTIONARY, history]);
    const raw = this.inflateBlock(this.newInflate(SMALL_WINDOW_BITS, window), data);
    if (raw !== undefined && window.length + raw.length <= SMALL_WINDOW) {
      // Its own small allocation: a slice of Buffer's shared pool would pin a whole 8 KiB slab.
      const grown = Buffer.allocUnsafeSlow(history.length + raw.length);
      history.copy(grown);
      raw.copy(grown, history.length);
      this.history = grown;
      return raw;
    }
    this.history = undefined;
    if (raw === undefined) {
      // Perhaps a reference beyond the small window: decode the block again with the full one.
      this.fullInflate = this.newInflate(FULL_WINDOW_BITS, window);
      return this.inflateBlock(this.fullInflate, data);
    }
    this.fullInflate = this.newInflate(FULL_WINDOW_BITS, Buffer.concat([window, raw]).subarray(-FULL_WINDOW));
    return raw;
  }

  /** The block's output, or undefined when the inflater reports an error. */
  private inflateBlock(inflate: Inflate, data: Buffer): Buffer | undefined {
    this.output = [];
    this.outputSize = 0;
    if (!inflate.push(data, Z_SYNC_FLUSH)) {
      this.inflateError = inflate.msg;
      return undefined;
    }
    const parts = this.output;
    this.output = [];
    return parts.length === 1 ? toBuffer(parts[0]!) : Buffer.concat(parts);
  }

  private newInflate(windowBits: number, dictionary: Uint8Array): Inflate {
    const inflate = new Inflate({ raw: true, windowBits, dictionary, chunkSize: 2048 });
    inflate.onData = (chunk) => {
      this.outputSize += chunk.length;
      // Stops a zlib bomb while it inflates: at most one chunk (2 KiB) beyond the bound is allocated.
      if (this.outputSize > this.maxDecompressedBytes) {
        throw new SpdyProtocolError(`header block inflates beyond ${this.maxDecompressedBytes} bytes`);
      }
      this.output.push(chunk);
    };
    return inflate;
  }
}

/** The zlib header (RFC 1950) that opens the peer's stream: deflate, a preset dictionary, and it must be ours. */
function checkZlibHeader(block: Buffer): void {
  if (block.length < ZLIB_HEADER_LENGTH) throw new SpdyProtocolError('header block: truncated zlib header');
  const cmf = block[0]!;
  const flg = block[1]!;
  if ((cmf & 0x0f) !== 8 || cmf >> 4 > 7 || ((cmf << 8) | flg) % 31 !== 0) throw new SpdyProtocolError('header block: incorrect header check');
  if ((flg & 0x20) === 0) throw new SpdyProtocolError('header block: the zlib stream does not use the SPDY dictionary');
  if (block.readUInt32BE(2) !== DICTIONARY_ADLER32) throw new SpdyProtocolError('header block: the zlib stream uses another dictionary');
}

function parseNameValues(raw: Buffer): SpdyHeaders {
  const fail = (why: string): never => {
    throw new SpdyProtocolError(`header block: ${why}`);
  };
  if (raw.length < 4) fail('truncated');
  const count = raw.readUInt32BE(0);
  let at = 4;
  // No prototype: a peer's `__proto__` header must stay a header.
  const headers = Object.create(null) as SpdyHeaders;
  for (let i = 0; i < count; i++) {
    const name = readString(raw, at) ?? fail('truncated name');
    at += 4 + name.length;
    const value = readString(raw, at) ?? fail('truncated value');
    at += 4 + value.length;
    if (name.length === 0) fail('empty header name');
    const key = name.toString('utf8').toLowerCase();
    const text = value.toString('utf8');
    const previous = headers[key];
    headers[key] = previous === undefined ? text : previous + NUL + text;
  }
  if (at !== raw.length) fail('bytes after the last header');
  return headers;
}

function readString(raw: Buffer, at: number): Buffer | undefined {
  if (at + 4 > raw.length) return undefined;
  const end = at + 4 + raw.readUInt32BE(at);
  return end > raw.length ? undefined : raw.subarray(at + 4, end);
}

function writeString(raw: Buffer, at: number, text: string): number {
  const length = raw.write(text, at + 4, 'utf8');
  raw.writeUInt32BE(length, at);
  return at + 4 + length;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
