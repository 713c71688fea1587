/** remotecommand.TerminalSize (client-go tools/remotecommand/resize.go): uint16 fields, no JSON tags. */
export interface TerminalSize {
  Width: number;
  Height: number;
}

/**
 * One size as client-go writes it on the resize stream: json.Encoder.Encode, so the Go field names
 * and a trailing newline — `{"Width":80,"Height":24}\n` (client-go v3.go handleResizes).
 */
export function encodeTerminalSize(size: TerminalSize): Buffer {
  if (!isUint16(size.Width) || !isUint16(size.Height)) throw new RangeError('terminal size must be 0…65535');
  return Buffer.from(`{"Width":${size.Width},"Height":${size.Height}}\n`);
}

/**
 * The resize stream cannot be read any further. `sizes` holds the sizes that were complete before
 * the error in the same push (Kubernetes applies those, then stops reading resizes).
 */
export class TerminalSizeError extends Error {
  override name = 'TerminalSizeError';

  constructor(
    message: string,
    readonly sizes: TerminalSize[] = [],
  ) {
    super(message);
  }
}

export interface TerminalSizeDecoderOptions {
  /** Longest single JSON value accepted (a size is ~30 bytes); longer is an error, not buffering. */
  maxValueBytes?: number;
}

const enum S {
  /** Between top-level values. */
  Top,
  /** Inside the top-level literal `null`. */
  TopNull,
  BeginValue,
  BeginValueOrEmpty,
  BeginKeyOrEmpty,
  BeginKey,
  EndValue,
  InString,
  InStringEsc,
  InStringEscU,
  Neg,
  Zero,
  Digits,
  Dot,
  DotDigits,
  Exp,
  ExpSign,
  ExpDigits,
  Literal,
}

const enum Ctx {
  ObjectKey,
  ObjectValue,
  ArrayValue,
}

interface Member {
  keyStart: number;
  keyEnd: number;
  valueStart: number;
  valueEnd: number;
}

/**
 * Reads the resize stream as the kubelet and the API server do (handleResizeEvents: a json.Decoder
 * decoding remotecommand.TerminalSize values one after another until the first error):
 *
 * - values may be separated by JSON whitespace (space, tab, CR, LF) or nothing, and split anywhere
 *   across chunks; every byte is scanned once;
 * - field names match case-insensitively (`{"width":5}` sets Width), unknown fields (of any JSON type)
 *   are ignored, missing fields and `null` values stay 0; a top-level `null` is a 0×0 size (Go decodes
 *   it without error; delivered at once, where Go waits for the next byte);
 * - Width/Height must be integer literals 0–65535 (`80.0`, `1e2`, `-1`, `"80"` are errors, as
 *   strconv.ParseUint makes them in Go); a top-level value that is not an object or null, or any JSON
 *   syntax error, is an error;
 * - after an error the decoder stays failed (the kubelet stops reading resizes; the session goes on);
 * - a single value longer than `maxValueBytes` (default 4096) is an error; whitespace between values
 *   is never buffered, so memory stays bounded whatever the client sends.
 */
export class TerminalSizeDecoder {
  private readonly maxValueBytes: number;
  private state = S.Top;
  private readonly stack: Ctx[] = [];
  /** Bytes of the current top-level value from earlier chunks. */
  private readonly parts: Buffer[] = [];
  /** Length of the current top-level value so far. */
  private valueLength = 0;
  private members: Member[] = [];
  private segmentStart = 0;
  private memberKeyEnd = 0;
  private memberValueStart = 0;
  private literal = '';
  private literalIndex = 0;
  private escapeDigits = 0;
  private failure: string | undefined;

  constructor(options: TerminalSizeDecoderOptions = {}) {
    this.maxValueBytes = options.maxValueBytes ?? 4096;
  }

  /** Bytes held for a value that is not complete yet. */
  get pendingBytes(): number {
    return this.valueLength;
  }

  /** The sizes completed by this chunk, in order; throws TerminalSizeError once the stream is unreadable. */
  push(chunk: Buffer): TerminalSize[] {
    if (this.failure !== undefined) throw new TerminalSizeError(this.failure);
    const sizes: TerminalSize[] = [];
    let valueStartInChunk = this.state === S.Top ? -1 : 0;
    try {
      for (let i = 0; i < chunk.length; i++) {
        const c = chunk[i]!;
        if (this.state === S.Top) {
          if (isSpace(c)) continue;
          if (c === 0x7b /* { */) {
            valueStartInChunk = i;
            this.valueLength = 0;
            this.members = [];
          } else if (c === 0x6e /* n */) {
            valueStartInChunk = i;
            this.valueLength = 0;
          } else {
            throw topLevelError(c);
          }
        }
        const offset = this.valueLength++;
        if (this.valueLength > this.maxValueBytes) throw new TerminalSizeError(`resize value longer than ${this.maxValueBytes} bytes`);
        if (this.step(c, offset)) {
          const value = this.parts.length === 0 ? chunk.subarray(valueStartInChunk, i + 1) : Buffer.concat([...this.parts, chunk.subarray(valueStartInChunk, i + 1)]);
          this.parts.length = 0;
          this.valueLength = 0;
          valueStartInChunk = -1;
          sizes.push(this.toSize(value));
        }
      }
      if (valueStartInChunk >= 0) this.parts.push(Buffer.from(chunk.subarray(valueStartInChunk)));
    } catch (error) {
      if (!(error instanceof TerminalSizeError)) throw error;
      this.failure = error.message;
      this.parts.length = 0;
      this.valueLength = 0;
      throw new TerminalSizeError(error.message, sizes);
    }
    return sizes;
  }

  /** Scans one byte of the current value (at `offset` in it); true when the top-level value is complete. */
  private step(c: number, offset: number): boolean {
    for (;;) {
      switch (this.state) {
        case S.Top:
          if (c === 0x7b) {
            this.stack.push(Ctx.ObjectKey);
            this.segmentStart = offset + 1;
            this.state = S.BeginKeyOrEmpty;
          } else {
            this.literal = 'null';
            this.literalIndex = 1;
            this.state = S.TopNull;
          }
          return false;
        case S.TopNull:
          if (c !== this.literal.charCodeAt(this.literalIndex)) throw syntax(c, `in literal null (expecting '${this.literal[this.literalIndex]}')`);
          if (++this.literalIndex < this.literal.length) return false;
          this.state = S.Top;
          return true;
        case S.BeginValueOrEmpty:
          if (isSpace(c)) return false;
          if (c === 0x5d /* ] */) return this.closeContainer();
          this.state = S.BeginValue;
          continue;
        case S.BeginKeyOrEmpty:
          if (isSpace(c)) return false;
          if (c === 0x7d /* } */) return this.closeContainer();
          this.state = S.BeginKey;
          continue;
        case S.BeginKey:
          if (isSpace(c)) return false;
          if (c !== 0x22) throw syntax(c, 'looking for beginning of object key string');
          this.state = S.InString;
          return false;
        case S.BeginValue:
          return this.beginValue(c);
        case S.EndValue:
          return this.endValue(c, offset);
        case S.InString:
          if (c === 0x22) this.state = S.EndValue;
          else if (c === 0x5c /* \ */) this.state = S.InStringEsc;
          else if (c < 0x20) throw syntax(c, 'in string literal');
          return false;
        case S.InStringEsc:
          if (c === 0x75 /* u */) {
            this.escapeDigits = 0;
            this.state = S.InStringEscU;
          } else if ('btnfr\\/"'.includes(String.fromCharCode(c))) {
            this.state = S.InString;
          } else {
            throw syntax(c, 'in string escape code');
          }
          return false;
        case S.InStringEscU:
          if (!isHex(c)) throw syntax(c, 'in \\u hexadecimal character escape');
          if (++this.escapeDigits === 4) this.state = S.InString;
          return false;
        case S.Neg:
          if (c === 0x30) this.state = S.Zero;
          else if (isDigit(c)) this.state = S.Digits;
          else throw syntax(c, 'in numeric literal');
          return false;
        case S.Digits:
          if (isDigit(c)) return false;
          // After the integer part: the same choices as after a zero.
          this.state = S.Zero;
          continue;
        case S.Zero:
          if (c === 0x2e /* . */) {
            this.state = S.Dot;
            return false;
          }
          if (c === 0x65 || c === 0x45 /* e E */) {
            this.state = S.Exp;
            return false;
          }
          this.state = S.EndValue;
          continue;
        case S.Dot:
          if (!isDigit(c)) throw syntax(c, 'after decimal point in numeric literal');
          this.state = S.DotDigits;
          return false;
        case S.DotDigits:
          if (isDigit(c)) return false;
          if (c === 0x65 || c === 0x45) {
            this.state = S.Exp;
            return false;
          }
          this.state = S.EndValue;
          continue;
        case S.Exp:
          // A sign, or the first digit right away.
          this.state = S.ExpSign;
          if (c === 0x2b || c === 0x2d /* + - */) return false;
          continue;
        case S.ExpSign:
          if (!isDigit(c)) throw syntax(c, 'in exponent of numeric literal');
          this.state = S.ExpDigits;
          return false;
        case S.ExpDigits:
          if (isDigit(c)) return false;
          this.state = S.EndValue;
          continue;
        case S.Literal:
          if (c !== this.literal.charCodeAt(this.literalIndex)) {
            throw syntax(c, `in literal ${this.literal} (expecting '${this.literal[this.literalIndex]}')`);
          }
          if (++this.literalIndex === this.literal.length) this.state = S.EndValue;
          return false;
      }
    }
  }

  private beginValue(c: number): boolean {
    if (isSpace(c)) return false;
    switch (c) {
      case 0x7b:
        this.stack.push(Ctx.ObjectKey);
        this.state = S.BeginKeyOrEmpty;
        return false;
      case 0x5b /* [ */:
        this.stack.push(Ctx.ArrayValue);
        this.state = S.BeginValueOrEmpty;
        return false;
      case 0x22:
        this.state = S.InString;
        return false;
      case 0x2d:
        this.state = S.Neg;
        return false;
      case 0x30:
        this.state = S.Zero;
        return false;
      case 0x74 /* t */:
      case 0x66 /* f */:
      case 0x6e /* n */:
        this.literal = c === 0x74 ? 'true' : c === 0x66 ? 'false' : 'null';
        this.literalIndex = 1;
        this.state = S.Literal;
        return false;
      default:
        if (isDigit(c)) {
          this.state = S.Digits;
          return false;
        }
        throw syntax(c, 'looking for beginning of value');
    }
  }

  private endValue(c: number, offset: number): boolean {
    if (isSpace(c)) return false;
    const top = this.stack.length === 1;
    switch (this.stack[this.stack.length - 1]) {
      case Ctx.ObjectKey:
        if (c !== 0x3a /* : */) throw syntax(c, 'after object key');
        if (top) {
          this.memberKeyEnd = offset;
          this.memberValueStart = offset + 1;
        }
        this.stack[this.stack.length - 1] = Ctx.ObjectValue;
        this.state = S.BeginValue;
        return false;
      case Ctx.ObjectValue:
        if (c !== 0x2c /* , */ && c !== 0x7d) throw syntax(c, 'after object key:value pair');
        if (top) {
          this.members.push({ keyStart: this.segmentStart, keyEnd: this.memberKeyEnd, valueStart: this.memberValueStart, valueEnd: offset });
          this.segmentStart = offset + 1;
        }
        if (c === 0x7d) return this.closeContainer();
        this.stack[this.stack.length - 1] = Ctx.ObjectKey;
        this.state = S.BeginKey;
        return false;
      default:
        if (c === 0x5d) return this.closeContainer();
        if (c !== 0x2c) throw syntax(c, 'after array element');
        this.state = S.BeginValue;
        return false;
    }
  }

  /** A `}` or `]` closed the innermost container; true when that was the top-level object. */
  private closeContainer(): boolean {
    this.stack.pop();
    if (this.stack.length > 0) {
      this.state = S.EndValue;
      return false;
    }
    this.state = S.Top;
    return true;
  }

  /** Go's unmarshalling of one complete, syntactically valid value into a TerminalSize. */
  private toSize(value: Buffer): TerminalSize {
    const size: TerminalSize = { Width: 0, Height: 0 };
    if (value[0] !== 0x7b) return size; // null
    for (const member of this.members) {
      const key = JSON.parse(trimSpace(value.subarray(member.keyStart, member.keyEnd)).toString('utf8')) as string;
      const name = key.toLowerCase() === 'width' ? 'Width' : key.toLowerCase() === 'height' ? 'Height' : undefined;
      if (!name) continue;
      const raw = trimSpace(value.subarray(member.valueStart, member.valueEnd)).toString('utf8');
      if (raw === 'null') continue;
      if (!/^(?:0|[1-9][0-9]{0,4})$/.test(raw) || Number(raw) > 0xffff) {
        throw new TerminalSizeError(`json: cannot unmarshal ${jsonKind(raw)} into Go struct field TerminalSize.${name} of type uint16`);
      }
      size[name] = Number(raw);
    }
    return size;
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function isUint16(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffff;
}

function trimSpace(bytes: Buffer): Buffer {
  let start = 0;
  let end = bytes.length;
  while (start < end && isSpace(bytes[start]!)) start++;
  while (end > start && isSpace(bytes[end - 1]!)) end--;
  return bytes.subarray(start, end);
}

/** Go's wording for the JSON type in an UnmarshalTypeError. */
function jsonKind(raw: string): string {
  const first = raw[0];
  if (first === '"') return 'string';
  if (first === '{') return 'object';
  if (first === '[') return 'array';
  if (first === 't' || first === 'f') return 'bool';
  return `number ${raw}`;
}

/** As Go's scanner names a byte in its errors: 'x', or an escape for what is not printable. */
function quoteChar(c: number): string {
  if (c === 0x27) return "'\\''";
  return c >= 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `'\\x${c.toString(16).padStart(2, '0')}'`;
}

/** A top-level value that cannot become a TerminalSize: Go's type error, or its syntax error. */
function topLevelError(c: number): TerminalSizeError {
  const kind = c === 0x5b ? 'array' : c === 0x22 ? 'string' : c === 0x74 || c === 0x66 ? 'bool' : c === 0x2d || isDigit(c) ? 'number' : undefined;
  if (kind) return new TerminalSizeError(`json: cannot unmarshal ${kind} into Go value of type remotecommand.TerminalSize`);
  return syntax(c, 'looking for beginning of value');
}

function syntax(c: number, context: string): TerminalSizeError {
  return new TerminalSizeError(`invalid character ${quoteChar(c)} ${context}`);
}
