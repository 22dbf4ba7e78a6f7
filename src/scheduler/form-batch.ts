/** What the batcher knows of a waiting request when it forms a batch. */
export interface BatchCandidate {
  /** Requests with different keys (element types, non-batch dimensions, outputs) never share a run. */
  readonly key: string;
  /** Rows along the batch (first) dimension. */
  readonly rows: number;
}

export interface BatchLimits {
  /** Most rows in one run; 0 or 1 runs every request alone. */
  readonly maxBatchSize: number;
  /** Row counts to aim for: a batch is trimmed to the largest one it reaches. */
  readonly preferredBatchSizes: readonly number[];
}

/**
 * Picks the requests for the next run: the first waiting one, then, in order, every later one
 * with the same key that still fits within maxBatchSize. With preferred sizes, the batch is
 * trimmed from its end to the largest preferred size it can reach exactly. Returns indices
 * into `waiting`, ascending; empty when nothing waits. A request larger than maxBatchSize runs
 * alone.
 */
export function formBatch(waiting: readonly BatchCandidate[], limits: BatchLimits): number[] {
  const head = waiting[0];
  if (head === undefined) return [];
  if (limits.maxBatchSize <= 1 || head.rows >= limits.maxBatchSize) return [0];
  const picked = [0];
  let rows = head.rows;
  for (let i = 1; i < waiting.length && rows < limits.maxBatchSize; i++) {
    const w = waiting[i]!;
    if (w.key !== head.key || rows + w.rows > limits.maxBatchSize) continue;
    picked.push(i);
    rows += w.rows;
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
