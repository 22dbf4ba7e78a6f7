import { expect } from 'chai';
import { RateLimiter } from '../../../src/security/rate-limiter';

describe('RateLimiter', () => {
  it('allows a burst of the rate, then the rate per second, per key', () => {
    let now = 0;
    const limiter = new RateLimiter(() => now);
    expect([1, 2, 3, 4].map(() => limiter.take('a', 3))).to.deep.equal([true, true, true, false]);
    expect(limiter.take('b', 3)).to.equal(true);
    now += 334; // one more request's worth of time
    expect([limiter.take('a', 3), limiter.take('a', 3)]).to.deep.equal([true, false]);
    now += 10_000; // a full bucket, not more
    expect([1, 2, 3, 4].map(() => limiter.take('a', 3))).to.deep.equal([true, true, true, false]);
  });

  it('allows one request at a time for rates below one per second', () => {
    let now = 0;
    const limiter = new RateLimiter(() => now);
    expect([limiter.take('a', 0.5), limiter.take('a', 0.5)]).to.deep.equal([true, false]);
    now += 2000;
    expect(limiter.take('a', 0.5)).to.equal(true);
  });

  it("remembers a slow caller's empty bucket past the minute after which idle buckets are swept", () => {
    let now = 0;
    const limiter = new RateLimiter(() => now);
    expect(limiter.take('slow', 0.01)).to.equal(true); // one request per 100 s
    now += 61_000;
    expect(limiter.take('other', 1)).to.equal(true); // a sweep runs
    expect(limiter.take('slow', 0.01)).to.equal(false);
    now += 40_000;
    expect(limiter.take('slow', 0.01)).to.equal(true);
  });
});
