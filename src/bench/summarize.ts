/** One load level's result. Latencies in milliseconds. */
export interface LevelResult {
  readonly concurrency: number;
  readonly seconds: number;
  readonly requests: number;
  readonly rows: number;
  readonly errors: number;
  readonly requestsPerSecond: number;
  readonly inferencesPerSecond: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  /** The first error's message, when there were errors. */
  readonly firstError?: string;
  /** CPU time (user + system, every thread) of the bench process per request (answered or failed), in ms: what the client costs. */
  readonly clientCpuMsPerRequest?: number;
  /**
   * The same for the server's process, from its own counters (/proc/<pid>/stat): known for a
   * server the bench started, or one named by --server-pid.
   */
  readonly serverCpuMsPerRequest?: number;
  /** Bytes of request 0's message and of the smallest answer (that to a one-digit id), as they cross the transport (gRPC framing left out). */
  readonly requestBytes?: number;
  readonly answerBytes?: number;
  /** With several rounds (--rounds): each round's requests/s. */
  readonly rounds?: readonly number[];
}

/** Summarises what a load level measured. `latenciesMs` is sorted in place. */
export function summarize(
  concurrency: number,
  seconds: number,
  latenciesMs: number[],
  rowsPerRequest: number,
  errors: number,
  firstError?: string,
): LevelResult {
  latenciesMs.sort((a, b) => a - b);
  const at = (q: number): number =>
    latenciesMs.length === 0 ? NaN : latenciesMs[Math.min(latenciesMs.length - 1, Math.floor(q * latenciesMs.length))]!;
  const requests = latenciesMs.length;
  return {
    concurrency,
    seconds,
    requests,
    rows: requests * rowsPerRequest,
    errors,
    requestsPerSecond: requests / seconds,
    inferencesPerSecond: (requests * rowsPerRequest) / seconds,
    p50Ms: at(0.5),
    p90Ms: at(0.9),
    p99Ms: at(0.99),
    ...(firstError === undefined ? {} : { firstError }),
  };
}
