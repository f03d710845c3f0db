/**
 * Token buckets per caller (API key id, or client address before authentication). In memory:
 * the API is one process. Bounded: when it tracks too many callers, the fullest buckets (idle
 * callers) are the ones forgotten first, which only ever errs toward allowing a request.
 */
export interface RateLimiter {
  /** Takes one token; returns 0 when allowed, else the seconds until one is available. */
  take(caller: string): number;
}

export function createRateLimiter(options: {
  perSecond: number;
  burst: number;
  maxCallers?: number;
  nowMs?: () => number;
}): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const nowMs = options.nowMs ?? Date.now;
  const maxCallers = options.maxCallers ?? 10_000;
  return {
    take(caller) {
      const now = nowMs();
      let bucket = buckets.get(caller);
      if (!bucket) {
        if (buckets.size >= maxCallers) {
          for (const [key, b] of buckets) {
            if (b.tokens + ((now - b.at) / 1000) * options.perSecond >= options.burst) buckets.delete(key);
          }
          if (buckets.size >= maxCallers) buckets.delete(buckets.keys().next().value as string);
        }
        bucket = { tokens: options.burst, at: now };
        buckets.set(caller, bucket);
      }
      bucket.tokens = Math.min(options.burst, bucket.tokens + ((now - bucket.at) / 1000) * options.perSecond);
      bucket.at = now;
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return 0;
      }
      return Math.ceil((1 - bucket.tokens) / options.perSecond);
    },
  };
}
