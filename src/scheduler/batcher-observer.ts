/** One run as an observer sees it when it begins. */
export interface RunStart {
  /** Which of the version's instances runs it: 0, 1, … for workers, "main" for the main thread. */
  readonly instance: number | string;
  /** Rows in the run (its batch size). */
  readonly rows: number;
  /** Per request served, in batch order: how long it waited in the queue (ms) and its `trace`. */
  readonly requests: readonly { readonly waitedMs: number; readonly trace: object | undefined }[];
}

/**
 * Watches runs (metrics, tracing, the batcher's own counts). `runStarting` is called as a run
 * begins and returns what to call once it ends, with the error when it failed. A run skipped
 * because every request it held was dropped is never reported. Both are called synchronously
 * and must not throw.
 */
export interface BatcherObserver {
  runStarting(run: RunStart): (err: unknown) => void;
}
