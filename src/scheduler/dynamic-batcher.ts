import { InferdError } from '../inferd-error';
import type { HostTensor } from '../tensor/tensor-types';
import { batchRows, formBatch, type BatchLimits } from './form-batch';
import { splitOutputs, stackFeeds } from './stack-feeds';

/** A model instance as the batcher sees it: something that runs one batch at a time. */
export interface Runner {
  /**
   * Runs one batch; batches handed over while one runs wait their turn in order. When `signal`
   * fires before the batch's run has begun, the run is skipped and the promise rejects with the
   * signal's reason; once begun, a run goes on to its end.
   */
  run(feeds: Record<string, HostTensor>, outputNames: readonly string[], signal?: AbortSignal): Promise<Record<string, HostTensor>>;
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
   * The count held against maxQueueSize, when this queue shares the limit with others (a model
   * version's queues); default: the requests waiting in this one.
   */
  readonly queueDepth?: () => number;
  /**
   * How long the oldest request may wait for a fuller batch while an instance is free; 0 runs
   * whatever waits as soon as an instance is free (greedy).
   */
  readonly maxQueueDelayUs: number;
  /** Names the model version in messages. */
  readonly label: string;
  /**
   * Hand a busy instance its next batch, when that batch is full (maxBatchSize rows or
   * maxBatchBytes of input), so that it starts as soon as the run before it ends instead of
   * after a round trip through the main thread. A partial batch still waits for a free instance.
   */
  readonly pipeline?: boolean;
  /** How runs name each instance to the observer, in the order of the runners; default 0, 1, … */
  readonly instanceIds?: readonly (number | string)[];
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
  /** Which of the version's instances runs it: 0, 1, … for workers, "main" for the main thread. */
  readonly instance: number | string;
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

/** A batch handed to an instance: running, or waiting in the instance for the one before it. */
interface Batch {
  readonly runner: Runner;
  readonly works: readonly Work[];
  readonly rows: number;
  /**
   * Fires when every request of a batch that has not begun is dropped: the instance skips it.
   * Made only for a batch handed to a busy instance (one that begins at once cannot be skipped):
   * an AbortController costs ~10 µs, a measurable share of a tiny model's request.
   */
  readonly skip: AbortController | undefined;
  /** Requests dropped while the batch waited in the instance (answered already). */
  readonly dropped: Set<Work>;
  /** Per request: its listener while the batch waits in the instance. */
  readonly onAbort: Map<Work, () => void>;
  /** When its run began (hrtime ns); undefined while it waits behind another. */
  startedNs: bigint | undefined;
  /** The observer's end of the run, once it began. */
  ended: ((err: unknown) => void) | undefined;
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
 * free, so no time is spent waiting while all are busy; with `pipeline`, a busy instance is also
 * handed one full batch to run next. A request whose signal fires while it waits, in the queue or
 * in a batch handed to an instance that has not begun it, is rejected at once with the signal's
 * reason; a batch whose requests are all dropped so is skipped by the instance, never run.
 */
export class DynamicBatcher {
  private readonly waiting: Work[] = [];
  /** Per instance, the batches handed to it, in order; the first one runs. */
  private readonly handed = new Map<Runner, Batch[]>();
  /** Instances with nothing handed to them; the one freed last is used first. */
  private readonly idleRunners: Runner[];
  private readonly clock: Clock;
  private running = 0;
  private idleWaiters: (() => void)[] = [];
  private delayTimer: unknown;
  private counts = emptyStats();
  private readonly instanceOf = new Map<Runner, number | string>();
  private observer: BatcherObserver | undefined;

  constructor(
    runners: readonly Runner[],
    private readonly options: DynamicBatcherOptions,
  ) {
    this.idleRunners = [...runners];
    runners.forEach((r, i) => {
      this.instanceOf.set(r, options.instanceIds?.[i] ?? i);
      this.handed.set(r, []);
    });
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

  /** Batches handed to instances: running, or waiting in an instance behind one that runs. */
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
    if ((this.options.queueDepth?.() ?? this.waiting.length) >= this.options.maxQueueSize) {
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
    while (this.waiting.length > 0) {
      const idle = this.idleRunners.at(-1);
      const busy = idle === undefined && this.options.pipeline === true ? this.runnerWithOne() : undefined;
      if (idle === undefined && busy === undefined) return;
      const picked = formBatch(this.waiting, this.options);
      const rows = batchRows(this.waiting, picked);
      if (idle === undefined && !this.isFull(picked, rows)) return;
      const waitMs = idle === undefined ? 0 : this.holdFor(rows);
      if (waitMs > 0) {
        this.delayTimer = this.clock.setTimeout(() => this.dispatch(), waitMs);
        return;
      }
      const works = picked.map((i) => this.waiting[i]!);
      for (let k = picked.length - 1; k >= 0; k--) this.waiting.splice(picked[k]!, 1);
      if (idle !== undefined) this.idleRunners.pop();
      this.start((idle ?? busy)!, works, rows);
    }
  }

  /** An instance running a batch with none waiting behind it (the first such, in instance order). */
  private runnerWithOne(): Runner | undefined {
    for (const [runner, batches] of this.handed) if (batches.length === 1) return runner;
    return undefined;
  }

  /** Whether a batch can take no further request: its rows or its bytes are at their limit. */
  private isFull(picked: readonly number[], rows: number): boolean {
    const { maxBatchSize, maxBatchBytes } = this.options;
    if (maxBatchSize <= 1 || rows >= maxBatchSize) return true;
    if (maxBatchBytes === undefined || maxBatchBytes <= 0) return false;
    const bytes = picked.reduce((sum, i) => sum + this.waiting[i]!.bytes, 0);
    // Full when the smallest request of its kind would not fit any more.
    const head = this.waiting[picked[0]!]!;
    return bytes + head.bytes / head.rows > maxBatchBytes;
  }

  /** How much longer to wait for a fuller batch of `rows` rows; 0 to run now. */
  private holdFor(rows: number): number {
    const { maxQueueDelayUs, maxBatchSize, preferredBatchSizes } = this.options;
    if (maxQueueDelayUs <= 0 || rows >= maxBatchSize || preferredBatchSizes.includes(rows)) return 0;
    return Math.max(0, this.waiting[0]!.enqueuedMs + maxQueueDelayUs / 1000 - this.clock.now());
  }

  private start(runner: Runner, works: Work[], rows: number): void {
    this.running++;
    const queue = this.handed.get(runner)!;
    const batch: Batch = { runner, works, rows, skip: queue.length > 0 ? new AbortController() : undefined, dropped: new Set(), onAbort: new Map(), startedNs: undefined, ended: undefined };
    for (const w of works) w.signal.removeEventListener('abort', w.onAbort);
    queue.push(batch);
    if (queue.length > 1) {
      // It waits in the instance behind the run in progress: its requests stay droppable.
      for (const w of works) {
        const onAbort = (): void => this.dropHanded(batch, w);
        batch.onAbort.set(w, onAbort);
        w.signal.addEventListener('abort', onAbort, { once: true });
      }
    }
    let run: Promise<Record<string, HostTensor>>;
    try {
      run = runner.run(stackFeeds(works.map((w) => w.feeds)), works[0]!.outputNames, batch.skip?.signal);
    } catch (err) {
      run = Promise.reject(err);
    }
    if (queue.length === 1) this.begin(batch);
    const ended = (err: unknown): void => {
      batch.ended?.(err);
      batch.ended = undefined;
    };
    // The instance is handed its next batch before this batch's answers are split, encoded and
    // sent, so that it runs while the main thread does that work instead of waiting for it.
    const release = (): void => {
      if (batch.startedNs !== undefined && batch.skip?.signal.aborted !== true) {
        const tookNs = process.hrtime.bigint() - batch.startedNs;
        this.counts.computeNs += tookNs;
        this.counts.batchComputeNs[rows] = (this.counts.batchComputeNs[rows] ?? 0n) + tookNs;
        this.counts.lastInferenceMs = Date.now();
      }
      this.running--;
      queue.splice(queue.indexOf(batch), 1);
      if (queue.length === 0) this.idleRunners.push(runner);
      else if (queue[0]!.startedNs === undefined) this.begin(queue[0]!);
      this.dispatch();
    };
    run.then(
      (outputs) => {
        ended(undefined);
        release();
        try {
          const shares = splitOutputs(outputs, works.map((w) => w.rows));
          works.forEach((w, i) => {
            if (batch.dropped.has(w)) return;
            this.counts.success++;
            w.resolve(shares[i]!);
          });
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

  /**
   * A batch's run begins: it is first in its instance (the one before it ended). Its requests
   * can no longer be dropped; it counts as a run from here, and the observer is told.
   */
  private begin(batch: Batch): void {
    const startedNs = process.hrtime.bigint();
    batch.startedNs = startedNs;
    for (const [w, onAbort] of batch.onAbort) w.signal.removeEventListener('abort', onAbort);
    batch.onAbort.clear();
    if (batch.skip?.signal.aborted === true) return; // every request was dropped: the instance skips it
    const live = batch.works.filter((w) => !batch.dropped.has(w));
    for (const w of live) this.counts.queueNs += startedNs - w.enqueuedNs;
    this.counts.executions++;
    this.counts.inferences += batch.rows;
    this.counts.batchSizes[batch.rows] = (this.counts.batchSizes[batch.rows] ?? 0) + 1;
    batch.ended = this.observer?.runStarting({
      instance: this.instanceOf.get(batch.runner) ?? 0,
      rows: batch.rows,
      requests: live.map((w) => ({ waitedMs: Number(startedNs - w.enqueuedNs) / 1e6, trace: w.trace })),
    });
  }

  /** A request's signal fired while its batch waited in the instance: answer it now. */
  private dropHanded(batch: Batch, w: Work): void {
    if (batch.startedNs !== undefined || batch.dropped.has(w)) return;
    batch.dropped.add(w);
    batch.onAbort.delete(w);
    this.counts.fail++;
    w.reject(w.signal.reason);
    if (batch.dropped.size === batch.works.length) batch.skip?.abort(w.signal.reason);
  }

  private failBatch(batch: Batch, err: unknown, ended: (err: unknown) => void): void {
    ended(err);
    for (const w of batch.works) {
      if (batch.dropped.has(w)) continue;
      this.counts.fail++;
      w.reject(err);
    }
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

/** The counts of two batchers as one. */
export function addStats(a: BatcherStats, b: BatcherStats): BatcherStats {
  const batchSizes: Record<number, number> = { ...a.batchSizes };
  for (const [k, n] of Object.entries(b.batchSizes)) batchSizes[Number(k)] = (batchSizes[Number(k)] ?? 0) + n;
  const batchComputeNs: Record<number, bigint> = { ...a.batchComputeNs };
  for (const [k, ns] of Object.entries(b.batchComputeNs)) batchComputeNs[Number(k)] = (batchComputeNs[Number(k)] ?? 0n) + ns;
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
