import { randomFillSync } from 'node:crypto';

/** Keys per refill: one call into the random source for 2,048 frames (ws does the same). */
const POOL_BYTES = 8 * 1024;

/**
 * Mask keys for the frames a WebSocket client sends (RFC 6455 §5.3: fresh and unpredictable per
 * frame), cut from a pool of random bytes refilled when used up: `randomBytes(4)` per frame costs a
 * call into the random source and a buffer for every frame of an upload.
 */
export class MaskKeys {
  private readonly pool = Buffer.allocUnsafe(POOL_BYTES);
  private used = POOL_BYTES;

  /** Four fresh bytes, valid until the next call (the frame encoder copies them in at once). */
  next(): Buffer {
    if (this.used === POOL_BYTES) {
      randomFillSync(this.pool);
      this.used = 0;
    }
    const key = this.pool.subarray(this.used, this.used + 4);
    this.used += 4;
    return key;
  }
}
