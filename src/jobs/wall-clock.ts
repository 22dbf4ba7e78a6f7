/**
 * Calendar time and timers, injected so that tests move time instead of sleeping. Jobs need the
 * wall clock (not a monotonic one): their times are shown to people and cron expressions name
 * hours of the day.
 */
export interface WallClock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(f: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Longer than this, Node's timers fire at once; longer waits are taken in steps. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export const SYSTEM_WALL_CLOCK: WallClock = {
  now: () => Date.now(),
  setTimeout: (f, ms) => setTimeout(f, Math.min(ms, MAX_TIMER_MS)),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Resolves after `ms` on `clock`, or rejects with the signal's reason as soon as it fires. */
export function sleep(clock: WallClock, ms: number, signal: AbortSignal): Promise<void> {
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
