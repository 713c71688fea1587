import { createRequire } from 'node:module';

type NativeUnmask = (buffer: Buffer, mask: Buffer) => void;
type NativeMask = (source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number) => void;

/** Below this many bytes the call into native code costs more than the loop saves (ws's own threshold). */
const NATIVE_MIN_BYTES = 32;

/** bufferutil, as ws loads it: optional, and WS_NO_BUFFER_UTIL turns it off for both of us alike. */
function loadBufferUtil(): { unmask?: NativeUnmask; mask?: NativeMask } {
  if (process.env.WS_NO_BUFFER_UTIL) return {};
  try {
    const bufferUtil = createRequire(import.meta.url)('bufferutil') as { unmask?: unknown; mask?: unknown };
    if (typeof bufferUtil.unmask !== 'function' || typeof bufferUtil.mask !== 'function') return {};
    return { unmask: bufferUtil.unmask as NativeUnmask, mask: bufferUtil.mask as NativeMask };
  } catch {
    return {};
  }
}

const { unmask: nativeUnmask, mask: nativeMask } = loadBufferUtil();

/**
 * Whether buffers of 32 bytes and more go to bufferutil's unmask.
 * @internal Exported for its unit tests (byte vectors, seams); the product does not import it.
 */
export const usesBufferUtil = nativeUnmask !== undefined;

/**
 * bufferutil's unmask always starts at mask index 0, so a piece that starts mid-frame gets a rotated mask.
 * One module-level scratch serves every call: unmasking is synchronous and the native side keeps no
 * reference, so nothing is allocated per piece.
 */
const rotated = Buffer.alloc(4);

/** The mask as it applies from payload offset `offset` on: index 0 of the result is mask[offset % 4]. */
function rotatedMask(mask: Buffer, offset: number): Buffer {
  // `& 3` rather than `% 4`: ToInt32 keeps the low bits exactly for any offset up to 2^53.
  const shift = offset & 3;
  if (shift === 0) return mask;
  rotated[0] = mask[shift]!;
  rotated[1] = mask[(shift + 1) & 3]!;
  rotated[2] = mask[(shift + 2) & 3]!;
  rotated[3] = mask[(shift + 3) & 3]!;
  return rotated;
}

/** XORs buf in place with the 4-byte mask, starting at mask index `offset % 4` (the payload offset of buf[0]). */
export function unmaskInPlace(buf: Buffer, mask: Buffer, offset: number): void {
  if (nativeUnmask === undefined || buf.length < NATIVE_MIN_BYTES) {
    unmaskInPlaceJs(buf, mask, offset);
    return;
  }
  nativeUnmask(buf, rotatedMask(mask, offset));
}

/**
 * Writes `source` XOR the mask into `target` at `at`, as payload bytes from payload offset `offset`
 * on: a client's copy into its frame and its masking in one pass over the bytes instead of two.
 */
export function maskInto(source: Buffer, mask: Buffer, target: Buffer, at: number, offset: number): void {
  if (nativeMask === undefined || source.length < NATIVE_MIN_BYTES) {
    source.copy(target, at);
    unmaskInPlaceJs(target.subarray(at, at + source.length), mask, offset);
    return;
  }
  nativeMask(source, rotatedMask(mask, offset), target, at, source.length);
}

/**
 * The same as unmaskInPlace without bufferutil: exported so the two paths can be held to each other.
 * @internal Exported for its unit tests (byte vectors, seams); the product does not import it.
 */
export function unmaskInPlaceJs(buf: Buffer, mask: Buffer, offset: number): void {
  const shift = offset & 3;
  // Locals rather than mask[(i + offset) & 3]: four XORs per step with no index arithmetic.
  const m0 = mask[shift]!;
  const m1 = mask[(shift + 1) & 3]!;
  const m2 = mask[(shift + 2) & 3]!;
  const m3 = mask[(shift + 3) & 3]!;
  const length = buf.length;
  const whole = length - (length & 3);
  let i = 0;
  for (; i < whole; i += 4) {
    buf[i] ^= m0;
    buf[i + 1] ^= m1;
    buf[i + 2] ^= m2;
    buf[i + 3] ^= m3;
  }
  if (i < length) buf[i++] ^= m0;
  if (i < length) buf[i++] ^= m1;
  if (i < length) buf[i] ^= m2;
}
