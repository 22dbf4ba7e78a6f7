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
 * The wait before retry number `n` (0 for the first) of a call that failed with `err`, or
 * undefined when it is not to be retried: `err` is not a retryable InferdClientError, `retries`
 * retries are spent, or the wait would end after `deadline` (epoch ms), which covers every
 * attempt and every wait.
 */
export function retryWaitMs(policy: RetryPolicy, n: number, deadline: number, err: unknown): number | undefined {
  if (!(err instanceof InferdClientError) || !err.retryable || n >= policy.retries) return undefined;
  const wait = backoffMs(policy, n);
  return Date.now() + wait >= deadline ? undefined : wait;
}
