import type { CancelSignal } from './cancel-signal';
import type { BatchCandidate } from './form-batch';
import { listenWhileWaiting, stopListening, type WaitingRequest } from './waiting-request';

/** realtime: Predict and streams; background: asynchronous jobs, run only when no real-time request waits. */
export type Priority = 'realtime' | 'background';

/** What the queue needs of a request (S: its signal's type). */
export interface QueuedRequest<S extends CancelSignal = AbortSignal> extends BatchCandidate, WaitingRequest<S> {
  readonly priority: Priority;
  reject(reason: unknown): void;
}

/**
 * The requests waiting for an instance, in the order they are to run: every real-time request
 * before any background one, in arrival order within each. A request whose signal fires while it
 * waits is taken out at once and rejected with the signal's reason; `onDropped` is then told.
 * While a request waits the queue holds an abort listener on its signal, removed when it leaves
 * (or handed over with it, see take()).
 */
export class RequestQueue<R extends QueuedRequest<CancelSignal>> {
  private readonly requests: R[] = [];
  /** Index of the first background request; the length when there is none. */
  private backgroundFrom = 0;

  constructor(private readonly onDropped: (request: R) => void) {}

  get length(): number {
    return this.requests.length;
  }

  /** The waiting requests in order; a view that changes as the queue does. */
  get waiting(): readonly R[] {
    return this.requests;
  }

  /** Queues a request (whose signal has not fired) behind those of its priority. */
  add(request: R): void {
    listenWhileWaiting(request, () => this.drop(request));
    if (request.priority === 'background') {
      this.requests.push(request);
    } else {
      if (this.backgroundFrom === this.requests.length) this.requests.push(request);
      else this.requests.splice(this.backgroundFrom, 0, request);
      this.backgroundFrom++;
    }
  }

  /**
   * Takes out the requests at these indices (ascending, as formBatch gives them), in that order.
   * Their abort listeners come off, unless `stillWaiting` (their batch waits behind another run:
   * its holder takes the listeners over, see waiting-request.ts).
   */
  take(indices: readonly number[], stillWaiting = false): R[] {
    const n = indices.length;
    let taken: R[];
    if (n > 0 && indices[n - 1] === n - 1) {
      // The usual batch: the first n waiting, taken out in one splice instead of n.
      taken = this.requests.splice(0, n);
      this.backgroundFrom = Math.max(0, this.backgroundFrom - n);
    } else {
      taken = indices.map((i) => this.requests[i]!);
      for (let k = n - 1; k >= 0; k--) this.removeAt(indices[k]!);
    }
    for (const r of taken) {
      if (stillWaiting) r.drop = undefined;
      else stopListening(r);
    }
    return taken;
  }

  /** Takes out every waiting request and rejects each with `reason`; returns them. */
  failAll(reason: unknown): R[] {
    const all = this.requests.splice(0);
    this.backgroundFrom = 0;
    for (const r of all) {
      stopListening(r);
      r.reject(reason);
    }
    return all;
  }

  private drop(request: R): void {
    const i = this.requests.indexOf(request);
    if (i < 0) return;
    this.removeAt(i);
    request.reject(request.signal.reason);
    this.onDropped(request);
  }

  private removeAt(i: number): void {
    this.requests.splice(i, 1);
    if (i < this.backgroundFrom) this.backgroundFrom--;
  }
}
