import type { BatcherObserver, RunStart } from './batcher-observer';

/** Cumulative counts since the batcher was made (or reset). Durations in nanoseconds. */
export interface BatcherStats {
  /** Requests that ran and succeeded. */
  readonly success: number;
  /** Requests that failed: refused, dropped while queued, or failed in the run. */
  readonly fail: number;
  /** Rows run, over all requests (inferences/executions is the mean batch size). */
  readonly inferences: number;
  /** Runs of the model. */
  readonly executions: number;
  /** Total time requests that ran spent waiting in the queue. */
  readonly queueNs: bigint;
  /** Total time runs took, as the main thread sees them. */
  readonly computeNs: bigint;
  /** Runs by their batch size in rows. */
  readonly batchSizes: Readonly<Record<number, number>>;
  /** Time runs took, by their batch size in rows. */
  readonly batchComputeNs: Readonly<Record<number, bigint>>;
  /** When the last run ended, in ms since the epoch; 0 when none has. */
  readonly lastInferenceMs: number;
}

type Counts = { -readonly [K in keyof BatcherStats]: BatcherStats[K] } & {
  batchSizes: Record<number, number>;
  batchComputeNs: Record<number, bigint>;
};

const noCounts = (): Counts => ({
  success: 0,
  fail: 0,
  inferences: 0,
  executions: 0,
  queueNs: 0n,
  computeNs: 0n,
  batchSizes: {},
  batchComputeNs: {},
  lastInferenceMs: 0,
});

/**
 * The batcher's counts (Triton's model statistics), kept by watching its runs like any other
 * observer, and told how each request ended.
 */
export class StatsObserver implements BatcherObserver {
  private counts = noCounts();

  runStarting(run: RunStart): (err: unknown) => void {
    const startedNs = process.hrtime.bigint();
    const c = this.counts;
    const rows = run.rows;
    c.executions++;
    c.inferences += rows;
    c.batchSizes[rows] = (c.batchSizes[rows] ?? 0) + 1;
    // One BigInt a run, not one a request: the waits are added up as ms first (exact to the ns for sums under weeks).
    let waitedMs = 0;
    for (const r of run.requests) waitedMs += r.waitedMs;
    c.queueNs += BigInt(Math.round(waitedMs * 1e6));
    // The closure keeps numbers only, not `run`: what lives until a run ends costs the collector.
    return () => {
      // Counts reset meanwhile (after warm-up) leave this run out of the new ones.
      if (this.counts !== c) return;
      const tookNs = process.hrtime.bigint() - startedNs;
      c.computeNs += tookNs;
      c.batchComputeNs[rows] = (c.batchComputeNs[rows] ?? 0n) + tookNs;
      c.lastInferenceMs = Date.now();
    };
  }

  /** Requests were answered with their outputs. */
  succeeded(requests = 1): void {
    this.counts.success += requests;
  }

  /** Requests failed: refused, dropped while they waited, or their run failed. */
  failed(requests = 1): void {
    this.counts.fail += requests;
  }

  snapshot(): BatcherStats {
    const c = this.counts;
    return { ...c, batchSizes: { ...c.batchSizes }, batchComputeNs: { ...c.batchComputeNs } };
  }

  /** Starts again from zero (after warm-up, which is not traffic). */
  reset(): void {
    this.counts = noCounts();
  }
}

/** The counts of two batchers as one. */
export function addStats(a: BatcherStats, b: BatcherStats): BatcherStats {
  const batchSizes: Record<number, number> = { ...a.batchSizes };
  for (const [k, n] of Object.entries(b.batchSizes)) batchSizes[Number(k)] = (batchSizes[Number(k)] ?? 0) + n;
  const batchComputeNs: Record<number, bigint> = { ...a.batchComputeNs };
  for (const [k, ns] of Object.entries(b.batchComputeNs))
    batchComputeNs[Number(k)] = (batchComputeNs[Number(k)] ?? 0n) + ns;
  return {
    success: a.success + b.success,
    fail: a.fail + b.fail,
    inferences: a.inferences + b.inferences,
    executions: a.executions + b.executions,
    queueNs: a.queueNs + b.queueNs,
    computeNs: a.computeNs + b.computeNs,
    batchSizes,
    batchComputeNs,
    lastInferenceMs: Math.max(a.lastInferenceMs, b.lastInferenceMs),
  };
}
