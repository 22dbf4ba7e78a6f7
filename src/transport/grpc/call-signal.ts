import type { Deadline } from '@grpc/grpc-js';
import { InferdError } from '../../inferd-error';
import type { CancelSignal } from '../../scheduler/cancel-signal';

/** Longer than this, Node's timers fire at once; such a deadline is as good as none. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What a call offers for cancellation: grpc-js server calls of every kind. */
export interface CancellableCall {
  getDeadline(): Deadline;
  on(event: 'cancelled', listener: () => void): unknown;
  off(event: 'cancelled', listener: () => void): unknown;
}

export interface CallSignal<S = AbortSignal> {
  readonly signal: S;
  /** Removes the listener and clears the deadline timer; call when the call is answered. */
  dispose(): void;
}

/**
 * One AbortSignal for a call: it fires with CANCELLED when the client cancels and with
 * DEADLINE_EXCEEDED when the call's deadline passes.
 */
export function callSignal(call: CancellableCall): CallSignal {
  const controller = new AbortController();
  const dispose = watchCall(call, (reason) => controller.abort(reason));
  return { signal: controller.signal, dispose };
}

/**
 * As callSignal, with a CancelSignal instead of an AbortSignal, for a unary inference call, whose
 * signal goes only to the core: an AbortController a call showed in the profile of a tiny
 * model's unary calls (docs/benchmarks.md).
 */
export function callCancellation(call: CancellableCall): CallSignal<CancelSignal> {
  const signal = new CallCancellation();
  const dispose = watchCall(call, (reason) => signal.abort(reason));
  return { signal, dispose };
}

/**
 * Has `abort` called with CANCELLED when the client cancels the call and with DEADLINE_EXCEEDED
 * when its deadline passes (at once when it has passed). Returns what stops watching.
 */
function watchCall(call: CancellableCall, abort: (reason: InferdError) => void): () => void {
  const onCancel = (): void => abort(new InferdError('CANCELLED', 'the client cancelled the call'));
  call.on('cancelled', onCancel);
  let timer: NodeJS.Timeout | undefined;
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  if (Number.isFinite(at)) {
    const expire = (): void =>
      abort(new InferdError('DEADLINE_EXCEEDED', 'the deadline passed before the model ran the request'));
    const ms = at - Date.now();
    if (ms <= 0) expire();
    else if (ms <= MAX_TIMER_MS) timer = setTimeout(expire, ms);
  }
  return () => {
    call.off('cancelled', onCancel);
    if (timer !== undefined) clearTimeout(timer);
  };
}

/**
 * A CancelSignal that fires once, when abort() is called: listeners in an array (a unary call
 * has one or two), each called once, in the order added, as an AbortSignal's are.
 */
export class CallCancellation implements CancelSignal {
  aborted = false;
  reason: unknown = undefined;
  private listeners: (() => void)[] = [];

  addEventListener(_type: 'abort', listener: () => void): void {
    if (!this.aborted && !this.listeners.includes(listener)) this.listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const i = this.listeners.indexOf(listener);
    if (i >= 0) this.listeners.splice(i, 1);
  }

  /** Fires with `reason`, unless it has fired already. */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    // Taken out one at a time: one removed meanwhile (by the listener before it) is not called.
    for (let listener = this.listeners.shift(); listener !== undefined; listener = this.listeners.shift()) {
      try {
        listener();
      } catch (err) {
        // As an EventTarget does: the others are still called, and the error is thrown on its own.
        process.nextTick(() => {
          throw err;
        });
      }
    }
  }
}
