/**
 * Failed-authentication limiter per client address (`limits.failedAuthPerMinute`): a token bucket
 * per address holding `perMinute` attempts, refilled continuously at perMinute per minute. Each
 * failure takes one; an address with less than one left is blocked (429) until it refills, so a
 * steady guesser gets perMinute tries a minute and an honest typo costs nothing lasting.
 *
 *   createFailedAuthLimiter({ perMinute, maxAddresses?, now? })
 *     → { blocked(address) → retryAfterSeconds | 0, recordFailure(address), size }
 *
 * At most maxAddresses (default 10 000) are tracked; when full, the least recently failing address
 * is forgotten first (Map order, refreshed on every failure), so memory stays bounded under a
 * spray of addresses. Addresses whose bucket is full again carry no state and are dropped on sight.
 */
export interface FailedAuthLimiterOptions {
  perMinute: number;
  maxAddresses?: number;
  now?: () => number;
}

export interface FailedAuthLimiter {
  /** 0 when the address may try; otherwise the seconds until it may (for Retry-After). */
  blocked(address: string): number;
  recordFailure(address: string): void;
  readonly size: number;
}

export function createFailedAuthLimiter(options: FailedAuthLimiterOptions): FailedAuthLimiter {
  const capacity = options.perMinute;
  if (!(capacity >= 1)) throw new Error(`failed-authentication limit must be at least 1 per minute, got ${capacity}`);
  const maxAddresses = options.maxAddresses ?? 10_000;
  const now = options.now ?? Date.now;
  const refillPerMs = capacity / 60_000;
  const buckets = new Map<string, { tokens: number; at: number }>();

  function current(address: string): number {
    const bucket = buckets.get(address);
    if (!bucket) return capacity;
    const tokens = Math.min(capacity, bucket.tokens + (now() - bucket.at) * refillPerMs);
    if (tokens >= capacity) buckets.delete(address);
    return tokens;
  }

  return {
    blocked(address) {
      const tokens = current(address);
      return tokens >= 1 ? 0 : Math.max(1, Math.ceil((1 - tokens) / refillPerMs / 1000));
    },
    recordFailure(address) {
      const tokens = Math.max(0, current(address) - 1);
      buckets.delete(address);
      if (buckets.size >= maxAddresses) buckets.delete(buckets.keys().next().value!);
      buckets.set(address, { tokens, at: now() });
    },
    get size() {
      return buckets.size;
    },
  };
}
