import type { BatchCandidate } from './form-batch';

/** realtime: Predict and streams; background: asynchronous jobs, run only when no real-time request waits. */
export type Priority = 'realtime' | 'background';

/** What the queue needs of a request. */
export interface QueuedRequest extends BatchCandidate {
  readonly priority: Priority;
  /** Fires when the request is no longer wanted (client cancel, deadline, shutdown). */
  readonly signal: AbortSignal;
  reject(reason: unknown): void;
  /**
   * Its abort listener while it waits, kept on the request itself (a Map beside it costs
   * measurably on a tiny model's path): set and removed by whoever holds the request, the queue
   * and then, if its batch waits behind another run, the InstancePool.
   */
  onAbort: (() => void) | undefined;
}

/**
 * The requests waiting for an instance, in the order they are to run: every real-time request
 * before any background one, in arrival order within each. A request whose signal fires while it
 * waits is taken out at once and rejected with the signal's reason; `onDropped` is then told.
 * While a request waits the queue holds an abort listener on its signal, removed when it leaves.
 */
export class RequestQueue<R extends QueuedRequest> {
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
    request.onAbort = (): void => this.drop(request);
    request.signal.addEventListener('abort', request.onAbort, { once: true });
    if (request.priority === 'background') {
      this.requests.push(request);
    } else {
      this.requests.splice(this.backgroundFrom, 0, request);
      this.backgroundFrom++;
    }
  }

  /** Takes out the requests at these indices (ascending, as formBatch gives them), in that order. */
  take(indices: readonly number[]): R[] {
    const taken = indices.map((i) => this.requests[i]!);
    for (let k = indices.length - 1; k >= 0; k--) this.removeAt(indices[k]!);
    for (const r of taken) this.unlisten(r);
    return taken;
  }

  /** Takes out every waiting request and rejects each with `reason`; returns them. */
  failAll(reason: unknown): R[] {
    const all = this.requests.splice(0);
    this.backgroundFrom = 0;
    for (const r of all) {
      this.unlisten(r);
      r.reject(reason);
    }
    return all;
  }

  private drop(request: R): void {
    const i = this.requests.indexOf(request);
    if (i < 0) return;
    this.removeAt(i);
    request.onAbort = undefined;
    request.reject(request.signal.reason);
    this.onDropped(request);
  }

  private removeAt(i: number): void {
    this.requests.splice(i, 1);
    if (i < this.backgroundFrom) this.backgroundFrom--;
  }

  private unlisten(request: R): void {
    if (request.onAbort === undefined) return;
    request.signal.removeEventListener('abort', request.onAbort);
    request.onAbort = undefined;
  }
}
