/**
 * A request's abort listener while it waits for its run, first in the queue and then, when its
 * batch is handed to a busy instance, in that batch: one listener on its signal for the whole
 * wait (adding and removing one costs a measurable share of a tiny model's request), whose
 * `drop` the holder of the moment sets.
 */
export interface WaitingRequest {
  /** Fires when the request is no longer wanted (client cancel, deadline, shutdown). */
  readonly signal: AbortSignal;
  /** The listener on `signal`, while one is on it. */
  onAbort: (() => void) | undefined;
  /** What the listener does: the holder of the moment drops the request. */
  drop: (() => void) | undefined;
}

/** Has `drop` called when the request's signal fires, adding the listener unless it is on already. */
export function listenWhileWaiting(request: WaitingRequest, drop: () => void): void {
  request.drop = drop;
  if (request.onAbort !== undefined) return;
  const onAbort = (): void => {
    request.onAbort = undefined; // `once`: the listener is gone
    const dropIt = request.drop;
    request.drop = undefined;
    dropIt?.();
  };
  request.onAbort = onAbort;
  request.signal.addEventListener('abort', onAbort, { once: true });
}

/** The wait is over: the listener comes off the signal. Safe to call when none is on. */
export function stopListening(request: WaitingRequest): void {
  request.drop = undefined;
  if (request.onAbort === undefined) return;
  request.signal.removeEventListener('abort', request.onAbort);
  request.onAbort = undefined;
}
