import type { CancelSignal } from './cancel-signal';

/**
 * A request while it waits for its run, first in the queue and then, when its batch is handed to
 * a busy instance, in that batch: it is one of its signal's waiters for the whole wait, whose
 * `drop` the holder of the moment sets.
 *
 * A signal has one abort listener however many requests wait on it (the requests of one stream
 * share their call's signal, hundreds at a time): its waiters, a set the listener drops in the
 * order they began to wait. Node's EventTarget walks its listener list on every add and remove,
 * so one listener a request on a shared signal cost a measurable share of a tiny model's message
 * (docs/benchmarks.md); the listener comes off when the last waiter leaves.
 */
export interface WaitingRequest<S extends CancelSignal = AbortSignal> {
  /** Fires when the request is no longer wanted (client cancel, deadline, shutdown). */
  readonly signal: S;
  /** Its signal's waiters (whose one listener drops them when it fires), while it is one of them. */
  onAbort: SignalWaiters | undefined;
  /** What the listener does: the holder of the moment drops the request. */
  drop: (() => void) | undefined;
}

/** The requests waiting on one signal, and the one listener on it that drops them when it fires. */
export class SignalWaiters {
  private readonly requests = new Set<WaitingRequest<CancelSignal>>();

  private constructor(private readonly signal: CancelSignal) {
    signal.addEventListener('abort', this.fire, { once: true });
  }

  /** The waiters of `signal`, made (with its listener) for its first one. */
  static of(signal: CancelSignal): SignalWaiters {
    let waiters = waitersOf.get(signal);
    if (waiters === undefined) {
      waiters = new SignalWaiters(signal);
      waitersOf.set(signal, waiters);
    }
    return waiters;
  }

  add(request: WaitingRequest<CancelSignal>): void {
    this.requests.add(request);
  }

  /** Takes a request out; the last one out takes the listener off the signal. */
  remove(request: WaitingRequest<CancelSignal>): void {
    if (!this.requests.delete(request) || this.requests.size > 0) return;
    this.signal.removeEventListener('abort', this.fire);
    waitersOf.delete(this.signal);
  }

  /** The signal fired (`once`: its listener is gone): every waiter leaves, and each is dropped. */
  private readonly fire = (): void => {
    waitersOf.delete(this.signal);
    const all = [...this.requests];
    this.requests.clear();
    // Out first, all of them: a drop that stops another waiter's wait finds it out already (as a
    // listener removed during the event's dispatch is not called).
    for (const r of all) r.onAbort = undefined;
    for (const r of all) {
      const drop = r.drop;
      r.drop = undefined;
      drop?.();
    }
  };
}

/** Each signal's waiters, while it has any. */
const waitersOf = new WeakMap<CancelSignal, SignalWaiters>();

/** Has `drop` called when the request's signal fires, making it one of the signal's waiters unless it is already. */
export function listenWhileWaiting(request: WaitingRequest<CancelSignal>, drop: () => void): void {
  request.drop = drop;
  if (request.onAbort !== undefined) return;
  const waiters = SignalWaiters.of(request.signal);
  waiters.add(request);
  request.onAbort = waiters;
}

/** The wait is over: the request leaves its signal's waiters. Safe to call when it is not one. */
export function stopListening(request: WaitingRequest<CancelSignal>): void {
  request.drop = undefined;
  const waiters = request.onAbort;
  if (waiters === undefined) return;
  request.onAbort = undefined;
  waiters.remove(request);
}
