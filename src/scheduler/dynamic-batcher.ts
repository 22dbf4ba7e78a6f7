import { InferdError } from '../inferd-error';
import type { HostTensor } from '../tensor/tensor-types';
import { batchRows, formBatch, type BatchLimits } from './form-batch';
import { splitOutputs, stackFeeds } from './stack-feeds';

/** A model instance as the batcher sees it: something that runs one batch at a time. */
export interface Runner {
  run(feeds: Record<string, HostTensor>, outputNames: readonly string[]): Promise<Record<string, HostTensor>>;
}

/** The batcher's view of time, so that tests move it instead of sleeping. */
export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  setTimeout(f: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const REAL_CLOCK: Clock = {
  now: () => performance.now(),
  setTimeout: (f, ms) => setTimeout(f, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface DynamicBatcherOptions extends BatchLimits {
  /** Requests that may wait; past it, RESOURCE_EXHAUSTED. */
  readonly maxQueueSize: number;
  /**
   * How long the oldest request may wait for a fuller batch while an instance is free; 0 runs
   * whatever waits as soon as an instance is free (greedy).
   */
  readonly maxQueueDelayUs: number;
  /** Names the model version in messages. */
  readonly label: string;
  readonly clock?: Clock;
}

/** realtime: Predict and streams; background: asynchronous jobs, run only when no real-time request waits. */
export type Priority = 'realtime' | 'background';

export interface SubmitOptions {
  readonly priority?: Priority;
  /**
   * Opaque to the batcher: handed back to the observer with the run that serves the request
   * (tracing carries the request's span context this way).
   */
  readonly trace?: object;
}

/** One run as the observer sees it when it starts. */
export interface RunStart {
  /** Which of the version's instances runs it (0-based). */
  readonly instance: number;
  /** Rows in the run (its batch size). */
  readonly rows: number;
  /** Per request served, in batch order: how long it waited in the queue (ms) and its `trace`. */
  readonly requests: readonly { readonly waitedMs: number; readonly trace: object | undefined }[];
}

/**
 * Watches runs (metrics, tracing). `runStarting` is called as a run starts and returns what to
 * call once it ends, with the error when it failed. Both are called synchronously and must not throw.
 */
export interface BatcherObserver {
  runStarting(run: RunStart): (err: unknown) => void;
}

/** Cumulative counts since the batcher was made (or reset). Durations in nanoseconds. */
export interface BatcherStats {
  /** Requests that ran and succeeded. */
  readonly success: number;
  /** Requests that failed: refused, dropped while queued, or failed in the run. */
  readonly fail: number;
  /** Rows run, over all requests (items/executions is the mean batch size). */
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
  /** When the last request finished, in ms since the epoch; 0 when none has. */
  readonly lastInferenceMs: number;
}

interface Work {
  readonly priority: Priority;
  readonly key: string;
  readonly rows: number;
  readonly bytes: number;
  readonly enqueuedMs: number;
  readonly enqueuedNs: bigint;
  readonly trace: object | undefined;
  readonly feeds: Record<string, HostTensor>;
  readonly outputNames: readonly string[];
  readonly signal: AbortSignal;
  readonly resolve: (outputs: Record<string, HostTensor>) => void;
  readonly reject: (err: unknown) => void;
  readonly onAbort: () => void;
}

const emptyStats = (): Omit<{ -readonly [K in keyof BatcherStats]: BatcherStats[K] }, 'batchSizes' | 'batchComputeNs'> & {
  batchSizes: Record<number, number>;
  batchComputeNs: Record<number, bigint>;
} => ({
  success: 0, fail: 0, inferences: 0, executions: 0, queueNs: 0n, computeNs: 0n, batchSizes: {}, batchComputeNs: {}, lastInferenceMs: 0,
});

/**
 * The queue in front of one model version's instances, and its dynamic batcher. When an
 * instance is free, the requests waiting that fit together (same element types and non-batch
 * dimensions, same outputs; at most maxBatchSize rows) are stacked along the first dimension
 * into one run, and the outputs split back to each. A batch forms only when an instance is
 * free, so no time is spent waiting while all are busy. A request whose signal fires while it
 * waits is dropped without running and rejected with the signal's reason.
 */
export class DynamicBatcher {
  private readonly waiting: Work[] = [];
  private readonly idleRunners: Runner[];
  private readonly clock: Clock;
  private running = 0;
  private idleWaiters: (() => void)[] = [];
  private delayTimer: unknown;
  private counts = emptyStats();
  private readonly instanceOf = new Map<Runner, number>();
  private observer: BatcherObserver | undefined;

  constructor(
    runners: readonly Runner[],
    private readonly options: DynamicBatcherOptions,
  ) {
    this.idleRunners = [...runners];
    runners.forEach((r, i) => this.instanceOf.set(r, i));
    this.clock = options.clock ?? REAL_CLOCK;
  }

  /** Requests waiting for an instance. */
  get depth(): number {
    return this.waiting.length;
  }

  /** Most rows in one run; 0 or 1 when every request runs alone. */
  get maxBatchSize(): number {
    return this.options.maxBatchSize;
  }

  /** Runs in progress. */
  get inFlight(): number {
    return this.running;
  }

  /** A snapshot of the counts so far. */
  stats(): BatcherStats {
    return { ...this.counts, batchSizes: { ...this.counts.batchSizes }, batchComputeNs: { ...this.counts.batchComputeNs } };
  }

  /** From now on, reports every run to `observer` (set after warm-up, which is not traffic). */
  observe(observer: BatcherObserver): void {
    this.observer = observer;
  }

  /** Starts the counts again from zero (after warm-up, which is not traffic). */
  resetStats(): void {
    this.counts = emptyStats();
  }

  /**
   * Queues one request. Settles with its outputs (buffers owned by the caller, possibly views
   * over a batch's buffer), or rejects with: RESOURCE_EXHAUSTED when the queue is full, the
   * signal's reason when it fires before the run starts, the runner's error.
   */
  submit(feeds: Record<string, HostTensor>, outputNames: readonly string[], signal: AbortSignal, options: SubmitOptions = {}): Promise<Record<string, HostTensor>> {
    if (signal.aborted) return this.refuse(signal.reason);
    if (this.waiting.length >= this.options.maxQueueSize) {
      return this.refuse(new InferdError('RESOURCE_EXHAUSTED', `${this.options.label}: queue is full (${this.options.maxQueueSize} requests waiting)`));
    }
    return new Promise((resolve, reject) => {
      const work: Work = {
        priority: options.priority ?? 'realtime',
        ...batchKey(feeds, outputNames),
        enqueuedMs: this.clock.now(),
        enqueuedNs: process.hrtime.bigint(),
        trace: options.trace,
        feeds,
        outputNames,
        signal,
        resolve,
        reject,
        onAbort: () => {
          const i = this.waiting.indexOf(work);
          if (i < 0) return;
          this.waiting.splice(i, 1);
          this.counts.fail++;
          reject(signal.reason);
          this.notifyIfIdle();
        },
      };
      signal.addEventListener('abort', work.onAbort, { once: true });
      // Background work waits behind every real-time request, in arrival order within each.
      const at = work.priority === 'background' ? -1 : this.waiting.findIndex((w) => w.priority === 'background');
      this.waiting.splice(at < 0 ? this.waiting.length : at, 0, work);
      this.dispatch();
    });
  }

  /** Rejects every waiting request with `reason`; running ones are left to their runner. */
  failWaiting(reason: unknown): void {
    for (const work of this.waiting.splice(0)) {
      work.signal.removeEventListener('abort', work.onAbort);
      this.counts.fail++;
      work.reject(reason);
    }
    this.notifyIfIdle();
  }

  /** Settles once nothing waits or runs (at once when that is already so). */
  whenIdle(): Promise<void> {
    if (this.waiting.length === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private dispatch(): void {
    this.clock.clearTimeout(this.delayTimer);
    this.delayTimer = undefined;
    while (this.idleRunners.length > 0 && this.waiting.length > 0) {
      const picked = formBatch(this.waiting, this.options);
      const rows = batchRows(this.waiting, picked);
      const waitMs = this.holdFor(rows);
      if (waitMs > 0) {
        this.delayTimer = this.clock.setTimeout(() => this.dispatch(), waitMs);
        return;
      }
      const batch = picked.map((i) => this.waiting[i]!);
      for (let k = picked.length - 1; k >= 0; k--) this.waiting.splice(picked[k]!, 1);
      this.start(this.idleRunners.pop()!, batch, rows);
    }
  }

  /** How much longer to wait for a fuller batch of `rows` rows; 0 to run now. */
  private holdFor(rows: number): number {
    const { maxQueueDelayUs, maxBatchSize, preferredBatchSizes } = this.options;
    if (maxQueueDelayUs <= 0 || rows >= maxBatchSize || preferredBatchSizes.includes(rows)) return 0;
    return Math.max(0, this.waiting[0]!.enqueuedMs + maxQueueDelayUs / 1000 - this.clock.now());
  }

  private start(runner: Runner, batch: Work[], rows: number): void {
    this.running++;
    const startedNs = process.hrtime.bigint();
    for (const w of batch) {
      w.signal.removeEventListener('abort', w.onAbort);
      this.counts.queueNs += startedNs - w.enqueuedNs;
    }
    this.counts.executions++;
    this.counts.inferences += rows;
    this.counts.batchSizes[rows] = (this.counts.batchSizes[rows] ?? 0) + 1;
    let observed = this.observer?.runStarting({
      instance: this.instanceOf.get(runner) ?? 0,
      rows,
      requests: batch.map((w) => ({ waitedMs: Number(startedNs - w.enqueuedNs) / 1e6, trace: w.trace })),
    });
    const ended = (err: unknown): void => {
      observed?.(err);
      observed = undefined;
    };
    let run: Promise<Record<string, HostTensor>>;
    try {
      run = runner.run(stackFeeds(batch.map((w) => w.feeds)), batch[0]!.outputNames);
    } catch (err) {
      run = Promise.reject(err);
    }
    // The instance is handed its next batch before this batch's answers are split, encoded and
    // sent, so that it runs while the main thread does that work instead of waiting for it.
    const release = (): void => {
      const tookNs = process.hrtime.bigint() - startedNs;
      this.counts.computeNs += tookNs;
      this.counts.batchComputeNs[rows] = (this.counts.batchComputeNs[rows] ?? 0n) + tookNs;
      this.counts.lastInferenceMs = Date.now();
      this.running--;
      this.idleRunners.push(runner);
      this.dispatch();
    };
    run.then(
      (outputs) => {
        ended(undefined);
        release();
        try {
          const shares = splitOutputs(outputs, batch.map((w) => w.rows));
          this.counts.success += batch.length;
          batch.forEach((w, i) => w.resolve(shares[i]!));
        } catch (err) {
          this.failBatch(batch, err, ended);
        }
        this.notifyIfIdle();
      },
      (err: unknown) => {
        ended(err);
        release();
        this.failBatch(batch, err, ended);
        this.notifyIfIdle();
      },
    );
  }

  private failBatch(batch: readonly Work[], err: unknown, ended: (err: unknown) => void): void {
    ended(err);
    this.counts.fail += batch.length;
    for (const w of batch) w.reject(err);
  }

  private refuse(reason: unknown): Promise<never> {
    this.counts.fail++;
    return Promise.reject(reason);
  }

  private notifyIfIdle(): void {
    if (this.waiting.length > 0 || this.running > 0) return;
    this.clock.clearTimeout(this.delayTimer);
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

/**
 * What decides which requests can share a run: types and non-batch dimensions of every input,
 * and the outputs asked for. Rows: the first dimension, when every input has the same one;
 * a request whose inputs disagree on it (or that has a scalar input) gets a key of its own.
 */
function batchKey(feeds: Record<string, HostTensor>, outputNames: readonly string[]): { key: string; rows: number; bytes: number } {
  const tensors = Object.entries(feeds);
  const bytes = tensors.reduce((sum, [, t]) => sum + (Array.isArray(t.data) ? t.data.reduce((n, s) => n + s.length, 0) : t.data.byteLength), 0);
  const rows = tensors[0]?.[1].dims[0];
  if (rows === undefined || tensors.some(([, t]) => t.dims[0] !== rows)) return { key: `alone:${Math.random()}`, rows: 1, bytes };
  const parts = tensors.map(([name, t]) => `${name}:${t.type}[${t.dims.slice(1).join(',')}]`);
  return { key: `${parts.join(';')}->${outputNames.join(',')}`, rows, bytes };
}
