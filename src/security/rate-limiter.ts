/**
 * Requests per second per caller, as token buckets: a caller with a rate of R may make R
 * requests at once (the bucket starts full) and R per second after that. Buckets idle long
 * enough to be full again are forgotten, so the map does not grow with every name ever seen.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number; fullAfterMs: number }>();
  private lastSweep: number;

  constructor(private readonly now: () => number = () => performance.now()) {
    this.lastSweep = now();
  }

  /** Takes one request from `key`'s bucket; false when it is empty. `ratePerSecond` > 0. */
  take(key: string, ratePerSecond: number): boolean {
    const now = this.now();
    this.sweep(now);
    const capacity = Math.max(1, ratePerSecond);
    const bucket = this.buckets.get(key) ?? {
      tokens: capacity,
      at: now,
      fullAfterMs: (capacity / ratePerSecond) * 1000,
    };
    bucket.tokens = Math.min(capacity, bucket.tokens + ((now - bucket.at) / 1000) * ratePerSecond);
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < IDLE_MS) return;
    this.lastSweep = now;
    for (const [key, bucket] of this.buckets)
      if (now - bucket.at >= Math.max(IDLE_MS, bucket.fullAfterMs)) this.buckets.delete(key);
  }
}

/** How often idle buckets are looked for. A bucket is forgotten only once it would be full again, so forgetting changes nothing. */
const IDLE_MS = 60_000;
