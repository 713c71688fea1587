import { Deflate, Inflate, Z_SYNC_FLUSH } from 'pako';
import { SPDY3_DICTIONARY } from './dictionary.js';
import { SpdyProtocolError, GoawayStatus } from './errors.js';

/** SPDY header names are lower case on the wire (Kubernetes: `streamtype`, `port`, `requestid`). */
export type SpdyHeaders = Record<string, string>;

const DEFAULT_MAX_DECOMPRESSED = 256 * 1024;

/**
 * SPDY/3 header blocks: a name/value list compressed with zlib primed with the SPDY dictionary,
 * ONE context per direction for the whole connection, sync-flushed after every block — so encoder
 * and decoder are stateful and must see the blocks in frame order. Node's zlib offers a persistent
 * context only as an asynchronous stream (its synchronous calls close the context after one
 * buffer), which would make this codec asynchronous; pako keeps a synchronous, persistent context
 * (docs/decisions.md).
 */
export class HeaderBlockEncoder {
  // A 2 KiB window and the smallest hash keep the context at ~10 KiB instead of ~260 KiB per connection
  // (an idle session holds one): header blocks are tiny, and any zlib reader accepts a smaller window.
  private readonly deflate = new Deflate({ dictionary: SPDY3_DICTIONARY, windowBits: 11, memLevel: 1, chunkSize: 1024 });
  private output: Uint8Array[] = [];

  constructor() {
    this.deflate.onData = (chunk) => this.output.push(chunk);
  }

  encode(headers: SpdyHeaders): Buffer {
    const entries = Object.entries(headers);
    const parts: Buffer[] = [u32(entries.length)];
    for (const [name, value] of entries) {
      const nameBytes = Buffer.from(name.toLowerCase(), 'utf8');
      const valueBytes = Buffer.from(value, 'utf8');
      parts.push(u32(nameBytes.length), nameBytes, u32(valueBytes.length), valueBytes);
    }
    this.output = [];
    this.deflate.push(Buffer.concat(parts), Z_SYNC_FLUSH);
    return Buffer.concat(this.output);
  }
}

export class HeaderBlockDecoder {
  private readonly inflate = new Inflate({ dictionary: SPDY3_DICTIONARY, chunkSize: 4 * 1024 });
  private readonly maxDecompressedBytes: number;
  private output: Uint8Array[] = [];
  private outputSize = 0;

  constructor(options: { maxDecompressedBytes?: number } = {}) {
    this.maxDecompressedBytes = options.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED;
    this.inflate.onData = (chunk) => {
      this.outputSize += chunk.length;
      // Stop a zlib bomb while it inflates, before it allocates more than the bound.
      if (this.outputSize > this.maxDecompressedBytes) {
        throw new SpdyProtocolError(`header block: inflates beyond ${this.maxDecompressedBytes} bytes`, GoawayStatus.PROTOCOL_ERROR);
      }
      this.output.push(chunk);
    };
  }

  decode(block: Buffer): SpdyHeaders {
    this.output = [];
    this.outputSize = 0;
    this.inflate.push(block, Z_SYNC_FLUSH);
    if (this.inflate.err) throw new SpdyProtocolError(`header block: ${this.inflate.msg || 'invalid zlib data'}`, GoawayStatus.PROTOCOL_ERROR);
    return parseNameValues(Buffer.concat(this.output));
  }
}

function parseNameValues(raw: Buffer): SpdyHeaders {
  const fail = (why: string): never => {
    throw new SpdyProtocolError(`header block: ${why}`, GoawayStatus.PROTOCOL_ERROR);
  };
  if (raw.length < 4) fail('truncated');
  const count = raw.readUInt32BE(0);
  let offset = 4;
  const headers: SpdyHeaders = {};
  for (let i = 0; i < count; i++) {
    const name = readString(raw, offset) ?? fail('truncated name');
    offset += 4 + name.length;
    const value = readString(raw, offset) ?? fail('truncated value');
    offset += 4 + value.length;
    if (name.length === 0) fail('empty header name');
    headers[name.toString('utf8').toLowerCase()] = value.toString('utf8');
  }
  if (offset !== raw.length) fail('trailing bytes');
  return headers;
}

function readString(raw: Buffer, offset: number): Buffer | undefined {
  if (offset + 4 > raw.length) return undefined;
  const length = raw.readUInt32BE(offset);
  if (offset + 4 + length > raw.length) return undefined;
  return raw.subarray(offset + 4, offset + 4 + length);
}

function u32(value: number): Buffer {
  const buffer = Buffer.allocUnsafe(4);
  buffer.writeUInt32BE(value, 0);
  return buffer;
}
