/**
 * What the core and the scheduler read of a request's cancellation: whether and why it fired,
 * and one listener at a time for when it does. An AbortSignal is one; a front end may hand a
 * lighter object of this shape (a unary gRPC call's, see callCancellation), since making an
 * AbortSignal costs a measurable share of a tiny model's request (docs/benchmarks.md).
 */
export interface CancelSignal {
  readonly aborted: boolean;
  /** Why it fired; undefined until it has. */
  readonly reason: unknown;
  /** Calls `listener` once when it fires (never, when it has fired already). */
  addEventListener(type: 'abort', listener: () => void, options?: { readonly once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}
