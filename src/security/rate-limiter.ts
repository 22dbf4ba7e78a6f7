/**
 * Requests per second per caller, as token buckets: a caller with a rate of R may make R
 * requests at once (the bucket starts full) and R per second after that. Buckets of callers not
 * seen for a minute are forgotten, so the map does not grow with every name ever seen.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private lastSweep: number;

  constructor(private readonly now: () => number = () => performance.now()) {
    this.lastSweep = now();
  }

  /** Takes one request from `key`'s bucket; false when it is empty. `ratePerSecond` > 0. */
  take(key: string, ratePerSecond: number): boolean {
    const now = this.now();
    this.sweep(now);
    const capacity = Math.max(1, ratePerSecond);
    const bucket = this.buckets.get(key) ?? { tokens: capacity, at: now };
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
    for (const [key, bucket] of this.buckets) if (now - bucket.at >= IDLE_MS) this.buckets.delete(key);
  }
}

/** A bucket idle this long is full again, so forgetting it changes nothing. (At rates ≥ 1/60 per second.) */
const IDLE_MS = 60_000;
