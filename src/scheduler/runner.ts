import type { HostTensor } from '../tensor/tensor-types';

/**
 * A model instance as the scheduler sees it: it runs one batch at a time. OnnxSession (a worker
 * thread) and MainThreadSession both keep this contract; test/unit/runtime/runner-contract.test.ts
 * checks it on each.
 */
export interface Runner {
  /**
   * Runs one batch. Runs handed over while one runs wait their turn, in the order handed. When
   * `signal` fires before the run has begun, the run is skipped (never executed) and the promise
   * rejects with the signal's reason; once begun, a run goes on to its end. Once the promise
   * settles the runner neither reads `signal` nor listens to it any more: the caller may hand
   * the same signal, never fired, to a later run.
   */
  run(
    feeds: Record<string, HostTensor>,
    outputNames: readonly string[],
    signal?: AbortSignal,
  ): Promise<Record<string, HostTensor>>;
}
