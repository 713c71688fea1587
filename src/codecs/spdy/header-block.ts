import { Deflate, Inflate, Z_SYNC_FLUSH } from 'pako';
import { SPDY3_DICTIONARY } from './dictionary.js';
import { SpdyProtocolError } from './errors.js';

/**
 * Header names are lower case (Kubernetes: `streamtype`, `port`, `requestid`). A name that occurs
 * several times carries its values joined by NUL, as on the wire.
 */
export type SpdyHeaders = Record<string, string>;

export const DEFAULT_MAX_DECOMPRESSED_HEADER_BYTES = 256 * 1024;

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

export class HeaderBlockEncoder {
  /*
   * The SPDY dictionary is 1,423 bytes, so a 2 KiB window still holds all of it, and header blocks
   * are tiny: windowBits 11 / memLevel 1 cost ~10 KiB per connection instead of zlib's default
   * ~256 KiB, which matters with thousands of idle sessions. Any inflater (Go's included) accepts a
   * window smaller than its own; the zlib header announces it.
   */
  private readonly deflate = new Deflate({ dictionary: SPDY3_DICTIONARY, windowBits: 11, memLevel: 1, chunkSize: 1024 });
  private output: Uint8Array[] = [];

  constructor() {
    this.deflate.onData = (chunk) => this.output.push(chunk);
  }

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
    this.output = [];
    if (!this.deflate.push(raw, Z_SYNC_FLUSH)) throw new Error(`header compression failed: ${this.deflate.msg}`);
    const parts = this.output;
    this.output = [];
    // pako starts a fresh output buffer after every flush, so its output can be wrapped without a copy.
    return parts.length === 1 ? toBuffer(parts[0]!) : Buffer.concat(parts);
  }
}

export class HeaderBlockDecoder {
  private readonly inflate = new Inflate({ dictionary: SPDY3_DICTIONARY, chunkSize: 4096 });
  private readonly maxDecompressedBytes: number;
  private output: Uint8Array[] = [];
  private outputSize = 0;
  private failure: SpdyProtocolError | undefined;

  constructor(options: { maxDecompressedBytes?: number } = {}) {
    this.maxDecompressedBytes = options.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_HEADER_BYTES;
    this.inflate.onData = (chunk) => {
      this.outputSize += chunk.length;
      // Stops a zlib bomb while it inflates: at most one chunk (4 KiB) beyond the bound is allocated.
      if (this.outputSize > this.maxDecompressedBytes) {
        throw new SpdyProtocolError(`header block inflates beyond ${this.maxDecompressedBytes} bytes`);
      }
      this.output.push(chunk);
    };
  }

  /** Throws SpdyProtocolError; after one the shared context is lost, so every later call throws too. */
  decode(block: Buffer): SpdyHeaders {
    if (this.failure) throw this.failure;
    this.output = [];
    this.outputSize = 0;
    try {
      if (!this.inflate.push(block, Z_SYNC_FLUSH)) {
        throw new SpdyProtocolError(`header block: ${this.inflate.msg || 'invalid zlib data'}`);
      }
      const parts = this.output;
      this.output = [];
      return parseNameValues(parts.length === 1 ? toBuffer(parts[0]!) : Buffer.concat(parts));
    } catch (error) {
      this.failure = error instanceof SpdyProtocolError ? error : new SpdyProtocolError(`header block: ${String(error)}`);
      throw this.failure;
    }
  }
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
