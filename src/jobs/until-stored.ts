import type { Logger } from 'pino';
import { InferdError } from '../inferd-error';
import type { WallClock } from './wall-clock';

/** After a write refused for an unreachable store, the first wait before trying again; it doubles up to the most. */
const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 2000;

export interface UntilStoredOptions {
  /** What is written, for the log ("checkpoint", "finish"). */
  readonly what: string;
  readonly job: string;
  /** Stops the retries: rejects with its reason. */
  readonly signal: AbortSignal;
  readonly clock: WallClock;
  readonly log: Logger;
}

/**
 * Runs a job's write to the store, and while the store cannot be reached (InferdError
 * UNAVAILABLE), waits and runs it again: the job pauses and goes on once the store is back.
 * Every write retried this way must be idempotent (a commit may have landed before its answer
 * was lost). Logs once when the job pauses and once when it goes on. Rejects as `f` does for
 * any other error, and with the signal's reason when `signal` fires while waiting.
 */
export async function untilStored<T>(f: () => Promise<T>, options: UntilStoredOptions): Promise<T> {
  let paused = false;
  for (let waitMs = FIRST_RETRY_MS; ; waitMs = Math.min(waitMs * 2, MAX_RETRY_MS)) {
    try {
      const result = await f();
      if (paused) options.log.info({ job: options.job }, 'job store reachable again: job goes on');
      return result;
    } catch (err) {
      if (!(err instanceof InferdError && err.code === 'UNAVAILABLE')) throw err;
      if (!paused) options.log.warn({ job: options.job, write: options.what, reason: err.message }, 'job paused: the job store cannot be reached');
      paused = true;
      options.signal.throwIfAborted();
      await wait(options.clock, waitMs, options.signal);
    }
  }
}

function wait(clock: WallClock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clock.clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
