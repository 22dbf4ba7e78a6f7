import { InferdClientError } from './inferd-client-error';

/** When and how often a call is tried again. */
export interface RetryPolicy {
  /** Attempts after the first, at most. */
  readonly retries: number;
  /** The backoff before the first retry; it doubles for each next one, up to `maxRetryDelayMs`. */
  readonly retryDelayMs: number;
  readonly maxRetryDelayMs: number;
}

/**
 * The wait before retry number `n` (0 for the first): a random time between half and all of
 * `retryDelayMs · 2^n` (capped at `maxRetryDelayMs`), so that clients that failed together do not
 * come back together.
 */
export function backoffMs(policy: RetryPolicy, n: number, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxRetryDelayMs, policy.retryDelayMs * 2 ** n);
  return cap / 2 + random() * (cap / 2);
}

/** Settles after `ms`, or rejects CANCELLED at once when `signal` fires; leaves no timer or listener behind. */
export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(cancelled(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(cancelled(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The error of a call its caller's signal cancelled. */
export function cancelled(signal: AbortSignal): InferdClientError {
  return new InferdClientError('CANCELLED', 'cancelled by the caller', false, { cause: signal.reason });
}

/**
 * Runs `attempt` until it succeeds, it fails with an error that is not `retryable`, `retries`
 * retries have failed, or the next backoff would end after `deadline` (epoch ms): the deadline
 * covers every attempt and every wait. Rejects with the last attempt's error (CANCELLED when
 * `signal` fires during a wait).
 */
export function withRetries<T>(policy: RetryPolicy, deadline: number, signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
  // The first attempt goes out at once, with no wrapping promise: most calls need no retry.
  return attempt().catch((err: unknown) => retry(policy, deadline, signal, attempt, err));
}

async function retry<T>(policy: RetryPolicy, deadline: number, signal: AbortSignal | undefined, attempt: () => Promise<T>, first: unknown): Promise<T> {
  let err = first;
  for (let n = 0; ; n++) {
    if (signal?.aborted) throw cancelled(signal);
    if (!(err instanceof InferdClientError) || !err.retryable || n >= policy.retries) throw err;
    const wait = backoffMs(policy, n);
    if (Date.now() + wait >= deadline) throw err;
    await sleep(wait, signal);
    try {
      return await attempt();
    } catch (e) {
      err = e;
    }
  }
}
