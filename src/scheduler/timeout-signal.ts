import type { CancelSignal } from './cancel-signal';

/** Longer than this, Node's timers fire at once; such a timeout is as good as none. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface TimeoutSignal {
  readonly signal: AbortSignal;
  /** Removes the listener on the parent and clears the timer; call once the wait is over. */
  dispose(): void;
}

/**
 * A signal that fires with the parent's reason when the parent fires, or with `reason()` once
 * `timeoutMs` has passed, whichever comes first. A `timeoutMs` of undefined (or beyond what a
 * timer can wait) adds no timer.
 */
export function timeoutSignal(
  parent: CancelSignal,
  timeoutMs: number | undefined,
  reason: () => unknown,
): TimeoutSignal {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(parent.reason);
  let timer: NodeJS.Timeout | undefined;
  if (parent.aborted) onAbort();
  else {
    parent.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs !== undefined && timeoutMs <= MAX_TIMER_MS)
      timer = setTimeout(() => controller.abort(reason()), timeoutMs);
  }
  return {
    signal: controller.signal,
    dispose: () => {
      parent.removeEventListener('abort', onAbort);
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
