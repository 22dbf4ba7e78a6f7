/** What the batcher knows of a waiting request when it forms a batch. */
export interface BatchCandidate {
  /**
   * Requests with different keys (element types, non-batch dimensions, outputs) never share a
   * run; a request without one never shares a run at all.
   */
  readonly key: string | undefined;
  /** Rows along the batch (first) dimension. */
  readonly rows: number;
  /** Bytes of its input tensors' elements. */
  readonly bytes: number;
}

export interface BatchLimits {
  /** Most rows in one run; 0 or 1 runs every request alone. */
  readonly maxBatchSize: number;
  /** Row counts to aim for: a batch is trimmed to the largest one it reaches. */
  readonly preferredBatchSizes: readonly number[];
  /**
   * Most input bytes in one run; 0 or absent: no limit. A run's length grows with its inputs, and
   * a long run makes every request that arrives meanwhile wait for all of it (see
   * docs/benchmarks.md); the first request of a batch always runs, however large.
   */
  readonly maxBatchBytes?: number;
}

/**
 * Picks the requests for the next run: the first waiting one, then, in order, every later one
 * with the same key that still fits within maxBatchSize and maxBatchBytes. With preferred sizes, the batch is
 * trimmed from its end to the largest preferred size it can reach exactly. Returns indices
 * into `waiting`, ascending; empty when nothing waits. A request larger than maxBatchSize, or
 * without a key, runs by itself.
 */
export function formBatch(waiting: readonly BatchCandidate[], limits: BatchLimits): number[] {
  const head = waiting[0];
  if (head === undefined) return [];
  if (head.key === undefined || limits.maxBatchSize <= 1 || head.rows >= limits.maxBatchSize) return [0];
  const maxBytes = limits.maxBatchBytes !== undefined && limits.maxBatchBytes > 0 ? limits.maxBatchBytes : Infinity;
  const picked = [0];
  let rows = head.rows;
  let bytes = head.bytes;
  for (let i = 1; i < waiting.length && rows < limits.maxBatchSize && bytes < maxBytes; i++) {
    const w = waiting[i]!;
    if (w.key !== head.key || rows + w.rows > limits.maxBatchSize || bytes + w.bytes > maxBytes) continue;
    picked.push(i);
    rows += w.rows;
    bytes += w.bytes;
  }
  const target = Math.max(0, ...limits.preferredBatchSizes.filter((p) => p <= rows));
  if (target > 0 && target < rows) {
    // Drop from the end while that gets no further from the target than it is.
    while (picked.length > 1 && rows - waiting[picked.at(-1)!]!.rows >= target) {
      rows -= waiting[picked.pop()!]!.rows;
    }
  }
  return picked;
}

/** Rows a batch of these picks holds. */
export function batchRows(waiting: readonly BatchCandidate[], picked: readonly number[]): number {
  return picked.reduce((sum, i) => sum + waiting[i]!.rows, 0);
}
