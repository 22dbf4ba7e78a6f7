import { expect } from 'chai';
import { InferdClientError } from '../../src/client';
import { backoffMs, withRetries } from '../../src/client/with-retries';

const policy = { retries: 3, retryDelayMs: 1, maxRetryDelayMs: 2 };

/** An attempt that fails with each of `errors` in turn, then resolves 'ok'; counts its calls. */
function attempts(...errors: InferdClientError[]): { run: () => Promise<string>; count: () => number } {
  let n = 0;
  return {
    run: () => {
      const err = errors[n++];
      return err === undefined ? Promise.resolve('ok') : Promise.reject(err);
    },
    count: () => n,
  };
}

const unavailable = (): InferdClientError => new InferdClientError('UNAVAILABLE', 'down', true);

describe('withRetries (the client\'s retry policy)', () => {
  it('tries a retryable failure again until the call succeeds', async () => {
    const a = attempts(unavailable(), unavailable());
    expect(await withRetries(policy, Date.now() + 10_000, undefined, a.run)).to.equal('ok');
    expect(a.count()).to.equal(3);
  });

  it('gives up after `retries` retries with the last error', async () => {
    const last = unavailable();
    const a = attempts(unavailable(), unavailable(), unavailable(), last, unavailable());
    expect(await withRetries(policy, Date.now() + 10_000, undefined, a.run).catch((e: unknown) => e)).to.equal(last);
    expect(a.count()).to.equal(4);
  });

  it('never retries what is not retryable: INVALID_ARGUMENT, DEADLINE_EXCEEDED', async () => {
    for (const code of ['INVALID_ARGUMENT', 'DEADLINE_EXCEEDED'] as const) {
      const a = attempts(new InferdClientError(code, 'no'), unavailable());
      const err = (await withRetries(policy, Date.now() + 10_000, undefined, a.run).catch((e: unknown) => e)) as InferdClientError;
      expect([err.code, a.count()]).to.deep.equal([code, 1]);
    }
  });

  it('does not retry when the backoff would end past the deadline: the deadline covers every attempt', async () => {
    const a = attempts(unavailable(), unavailable());
    const err = (await withRetries({ retries: 5, retryDelayMs: 60_000, maxRetryDelayMs: 60_000 }, Date.now() + 1_000, undefined, a.run).catch((e: unknown) => e)) as InferdClientError;
    expect([err.code, a.count()]).to.deep.equal(['UNAVAILABLE', 1]);
  });

  it('fails CANCELLED when the signal fires during a backoff', async () => {
    const controller = new AbortController();
    const a = attempts(unavailable(), unavailable());
    const pending = withRetries({ retries: 5, retryDelayMs: 60_000, maxRetryDelayMs: 60_000 }, Date.now() + 600_000, controller.signal, a.run);
    controller.abort();
    const err = (await pending.catch((e: unknown) => e)) as InferdClientError;
    expect([err.code, a.count()]).to.deep.equal(['CANCELLED', 1]);
  });

  it('backs off between half and all of retryDelayMs · 2^n, capped at maxRetryDelayMs (jitter)', () => {
    const p = { retries: 9, retryDelayMs: 100, maxRetryDelayMs: 1_000 };
    expect([0, 1, 2, 3, 4].map((n) => [backoffMs(p, n, () => 0), backoffMs(p, n, () => 1)])).to.deep.equal([[50, 100], [100, 200], [200, 400], [400, 800], [500, 1_000]]);
  });
});
