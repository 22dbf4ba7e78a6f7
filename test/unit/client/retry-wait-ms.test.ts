import { expect } from 'chai';
import { InferdClientError } from '../../../src/client';
import { backoffMs, retryWaitMs, sleep } from '../../../src/client/retry-wait-ms';

const policy = { retries: 3, retryDelayMs: 100, maxRetryDelayMs: 1_000 };
const unavailable = new InferdClientError('UNAVAILABLE', 'down', true);
const FAR = Date.now() + 3_600_000;

describe("retryWaitMs (the client's retry policy)", () => {
  it('retries a retryable failure `retries` times, each after a backoff', () => {
    const waits = [0, 1, 2, 3].map((n) => retryWaitMs(policy, n, FAR, unavailable));
    expect(waits.slice(0, 3).every((w, n) => w !== undefined && w >= 50 * 2 ** n && w <= 100 * 2 ** n)).to.equal(true);
    expect(waits[3]).to.equal(undefined);
  });

  it('never retries what is not retryable: INVALID_ARGUMENT, DEADLINE_EXCEEDED, a non-idempotent call that may have been sent, or a stray error', () => {
    for (const err of [
      new InferdClientError('INVALID_ARGUMENT', 'no'),
      new InferdClientError('DEADLINE_EXCEEDED', 'late'),
      new InferdClientError('UNAVAILABLE', 'Connection dropped', false),
      new Error('bug'),
    ]) {
      expect(retryWaitMs(policy, 0, FAR, err)).to.equal(undefined);
    }
  });

  it('does not retry when the backoff would end past the deadline: the deadline covers every attempt', () => {
    expect(retryWaitMs(policy, 0, Date.now() + 40, unavailable)).to.equal(undefined);
    expect(retryWaitMs(policy, 0, Date.now() + 10_000, unavailable)).to.be.a('number');
  });

  it('backs off between half and all of retryDelayMs · 2^n, capped at maxRetryDelayMs (jitter)', () => {
    expect([0, 1, 2, 3, 4].map((n) => [backoffMs(policy, n, () => 0), backoffMs(policy, n, () => 1)])).to.deep.equal([
      [50, 100],
      [100, 200],
      [200, 400],
      [400, 800],
      [500, 1_000],
    ]);
  });

  it('a backoff ends CANCELLED as soon as the signal fires, and at once for a signal that already fired', async () => {
    const controller = new AbortController();
    const waiting = sleep(3_600_000, controller.signal);
    controller.abort();
    const err = (await waiting.catch((e: unknown) => e)) as InferdClientError;
    expect([err.code, err.message]).to.deep.equal(['CANCELLED', 'cancelled by the caller']);
    expect(((await sleep(1, controller.signal).catch((e: unknown) => e)) as InferdClientError).code).to.equal(
      'CANCELLED',
    );
  });
});
