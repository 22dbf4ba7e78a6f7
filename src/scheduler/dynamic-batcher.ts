import { InferdError } from '../inferd-error';
import type { HostTensor } from '../tensor/tensor-types';
import { batchKey } from './batch-key';
import type { CancelSignal } from './cancel-signal';
import type { BatcherObserver, RunStart } from './batcher-observer';
import { REAL_CLOCK, type Clock } from './clock';
import { batchRows, formBatch, type BatchLimits } from './form-batch';
import { InstancePool, type AssignedBatch } from './instance-pool';
import { RequestQueue, type Priority, type QueuedRequest } from './request-queue';
import type { Runner } from './runner';
import { splitOutputs, stackFeeds } from './stack-feeds';
import { StatsObserver, type BatcherStats } from './stats-observer';

export type { BatcherObserver, RunStart } from './batcher-observer';
export type { Priority } from './request-queue';
export { addStats, type BatcherStats } from './stats-observer';

export interface DynamicBatcherOptions extends BatchLimits {
  /** Requests that may wait; past it, RESOURCE_EXHAUSTED. */
  readonly maxQueueSize: number;
  /**
   * The count held against maxQueueSize, when this batcher shares the limit with others (a model
   * version's batchers); default: the requests waiting in this one.
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
  /**
   * With many requests waiting, a run may take more than maxBatchSize rows: as many as a quarter
   * of the requests waiting, at most this many. A run that takes all that waits makes client and
   * server take turns, each idle while the other works; with hundreds in flight (a stream) a
   * quarter leaves the rest flowing, and each run's fixed cost is shared by more rows
   * (docs/benchmarks.md). Default: maxBatchSize, whatever waits.
   */
  readonly deepQueueMaxBatchSize?: number;
  /** How runs name each instance to the observer, in the order of the runners; default 0, 1, … */
  readonly instanceIds?: readonly (number | string)[];
  readonly clock?: Clock;
}

export interface SubmitOptions {
  readonly priority?: Priority;
  /**
   * Opaque to the batcher: handed back to the observer with the run that serves the request
   * (tracing carries the request's span context this way).
   */
  readonly trace?: object;
}

/** A request from submit() to its answer. */
interface Request extends QueuedRequest<CancelSignal> {
  /** When it was queued: by the clock (ms), for the queue delay; by performance.now() (ms), for its wait in the counts. */
  readonly enqueuedMs: number;
  readonly queuedAtMs: number;
  readonly trace: object | undefined;
  readonly feeds: Record<string, HostTensor>;
  readonly outputNames: readonly string[];
  readonly resolve: (outputs: Record<string, HostTensor>) => void;
}

/**
 * The dynamic batcher in front of one model version's instances: a RequestQueue of requests
 * waiting, an InstancePool of the instances and the batches handed to them, and its counts
 * (StatsObserver). When an instance is free, the requests waiting that fit together (same
 * batchKey; at most maxBatchSize rows and maxBatchBytes) are stacked along the first dimension
 * into one run, and the outputs split back to each. A batch forms only when an instance is free,
 * so no time is spent waiting while all are busy; with `pipeline`, a busy instance is also handed
 * one full batch to run next. A request whose signal fires while it waits, in the queue or in a
 * batch handed to an instance that has not begun it, is rejected at once with the signal's
 * reason; a batch whose requests are all dropped so is skipped by the instance, never run.
 */
export class DynamicBatcher {
  private readonly queue: RequestQueue<Request>;
  private readonly pool: InstancePool<Request>;
  private readonly counts = new StatsObserver();
  private observer: BatcherObserver | undefined;
  private readonly clock: Clock;
  private idleWaiters: (() => void)[] = [];
  /** Set while the oldest request is held for a fuller batch. */
  private delayTimer: unknown;

  constructor(
    runners: readonly Runner[],
    private readonly options: DynamicBatcherOptions,
  ) {
    this.clock = options.clock ?? REAL_CLOCK;
    this.queue = new RequestQueue<Request>(() => {
      this.counts.failed();
      this.notifyIfIdle();
    });
    this.pool = new InstancePool<Request>(
      runners,
      { runBegins: (batch) => this.runBegins(batch), requestDropped: () => this.counts.failed() },
      options.instanceIds,
    );
  }

  /** Requests waiting for an instance. */
  get depth(): number {
    return this.queue.length;
  }

  /** Most rows in one run; 0 or 1 when every request runs by itself. */
  get maxBatchSize(): number {
    return this.options.maxBatchSize;
  }

  /** Batches handed to instances: running, or waiting in an instance behind one that runs. */
  get inFlight(): number {
    return this.pool.inFlight;
  }

  /** A snapshot of the counts so far. */
  stats(): BatcherStats {
    return this.counts.snapshot();
  }

  /** From now on, reports every run to `observer` (set after warm-up, which is not traffic). */
  observe(observer: BatcherObserver): void {
    this.observer = observer;
  }

  /** Starts the counts again from zero (after warm-up, which is not traffic). */
  resetStats(): void {
    this.counts.reset();
  }

  /**
   * Queues one request. Settles with its outputs (buffers owned by the caller, possibly views
   * over a batch's buffer), or rejects with: RESOURCE_EXHAUSTED when the queue is full, the
   * signal's reason when it fires before the run starts, the runner's error.
   */
  submit(
    feeds: Record<string, HostTensor>,
    outputNames: readonly string[],
    signal: CancelSignal,
    options: SubmitOptions = {},
  ): Promise<Record<string, HostTensor>> {
    if (signal.aborted) return this.refuse(signal.reason);
    if ((this.options.queueDepth?.() ?? this.queue.length) >= this.options.maxQueueSize) {
      return this.refuse(
        new InferdError(
          'RESOURCE_EXHAUSTED',
          `${this.options.label}: queue is full (${this.options.maxQueueSize} requests waiting)`,
        ),
      );
    }
    const candidate = batchKey(feeds, outputNames);
    const queuedAtMs = performance.now();
    // One reading of the time a request when the clock is the real one (performance.now() too).
    const enqueuedMs = this.clock === REAL_CLOCK ? queuedAtMs : this.clock.now();
    return new Promise((resolve, reject) => {
      // Every field named (no spread): one object shape for all requests, cheaper to make and read.
      const request: Request = {
        priority: options.priority ?? 'realtime',
        key: candidate.key,
        rows: candidate.rows,
        bytes: candidate.bytes,
        enqueuedMs,
        queuedAtMs,
        trace: options.trace,
        feeds,
        outputNames,
        signal,
        resolve,
        reject,
        onAbort: undefined,
        drop: undefined,
      };
      this.queue.add(request);
      this.dispatch();
    });
  }

  /** Rejects every waiting request with `reason`; running ones are left to their runner. */
  failWaiting(reason: unknown): void {
    this.counts.failed(this.queue.failAll(reason).length);
    this.notifyIfIdle();
  }

  /** Settles once nothing waits or runs (at once when that is already so). */
  whenIdle(): Promise<void> {
    if (this.queue.length === 0 && this.pool.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Hands batches to instances while requests wait and an instance can take one. */
  private dispatch(): void {
    if (this.delayTimer !== undefined) {
      this.clock.clearTimeout(this.delayTimer);
      this.delayTimer = undefined;
    }
    const waiting = this.queue.waiting;
    while (waiting.length > 0) {
      const idle = this.pool.idleInstance();
      const instance = idle ?? (this.options.pipeline === true ? this.pool.instanceWithNothingBehind() : undefined);
      if (instance === undefined) return;
      const limits = this.limitsFor(waiting.length);
      const picked = formBatch(waiting, limits);
      const rows = batchRows(waiting, picked);
      if (idle === undefined && !this.isFull(picked, rows, limits)) return;
      const holdMs = idle === undefined ? 0 : this.holdFor(rows, limits);
      if (holdMs > 0) {
        this.delayTimer = this.clock.setTimeout(() => this.dispatch(), holdMs);
        return;
      }
      this.run(instance, this.queue.take(picked, idle === undefined), rows);
    }
  }

  /** The limits of the next run, with `waiting` requests waiting (see deepQueueMaxBatchSize). */
  private limitsFor(waiting: number): BatchLimits {
    const { maxBatchSize, deepQueueMaxBatchSize } = this.options;
    const quarter = Math.floor(waiting / 4);
    if (deepQueueMaxBatchSize === undefined || quarter <= maxBatchSize || maxBatchSize <= 1) return this.options;
    return { ...this.options, maxBatchSize: Math.min(deepQueueMaxBatchSize, quarter) };
  }

  /** Whether a batch can take no further request: its rows or its bytes are at their limit. */
  private isFull(picked: readonly number[], rows: number, limits: BatchLimits): boolean {
    const { maxBatchSize, maxBatchBytes } = limits;
    if (maxBatchSize <= 1 || rows >= maxBatchSize) return true;
    if (maxBatchBytes === undefined || maxBatchBytes <= 0) return false;
    const waiting = this.queue.waiting;
    const bytes = picked.reduce((sum, i) => sum + waiting[i]!.bytes, 0);
    // Full when the smallest request of its kind would not fit any more.
    const head = waiting[picked[0]!]!;
    return bytes + head.bytes / head.rows > maxBatchBytes;
  }

  /** How much longer to wait for a fuller batch of `rows` rows; 0 to run now. */
  private holdFor(rows: number, limits: BatchLimits): number {
    const { maxBatchSize, preferredBatchSizes } = limits;
    const { maxQueueDelayUs } = this.options;
    if (maxQueueDelayUs <= 0 || rows >= maxBatchSize || preferredBatchSizes.includes(rows)) return 0;
    return Math.max(0, this.queue.waiting[0]!.enqueuedMs + maxQueueDelayUs / 1000 - this.clock.now());
  }

  private run(instance: Runner, requests: Request[], rows: number): void {
    const n = requests.length;
    const feeds: Record<string, HostTensor>[] = new Array<Record<string, HostTensor>>(n);
    for (let i = 0; i < n; i++) feeds[i] = requests[i]!.feeds;
    const batch = this.pool.assign(instance, requests, rows, stackFeeds(feeds), requests[0]!.outputNames);
    batch.outputs.then(
      (outputs) => this.ran(batch, requests, outputs),
      (err: unknown) => {
        this.release(batch, err);
        this.fail(batch, err);
        this.notifyIfIdle();
      },
    );
  }

  /** A batch's run succeeded: each request not dropped meanwhile is answered with its rows. */
  private ran(batch: AssignedBatch<Request>, requests: readonly Request[], outputs: Record<string, HostTensor>): void {
    // The instance is handed its next batch before this batch's answers are split, encoded
    // and sent, so that it runs while the main thread does that work instead of waiting for it.
    this.release(batch, undefined);
    try {
      const n = requests.length;
      const rows: number[] = new Array<number>(n);
      for (let i = 0; i < n; i++) rows[i] = requests[i]!.rows;
      const shares = splitOutputs(outputs, rows);
      const dropped = batch.dropped;
      const noneDropped = dropped.size === 0;
      for (let i = 0; i < n; i++) {
        const r = requests[i]!;
        if (!noneDropped && dropped.has(r)) continue;
        r.resolve(shares[i]!);
      }
      this.counts.succeeded(n - dropped.size);
    } catch (err) {
      this.fail(batch, err);
    }
    this.notifyIfIdle();
  }

  private release(batch: AssignedBatch<Request>, err: unknown): void {
    this.pool.release(batch, err);
    this.dispatch();
  }

  /** A batch's run begins: the counts and the observer are told. Returns what to call when it ends. */
  private runBegins(batch: AssignedBatch<Request>): (err: unknown) => void {
    const startedMs = performance.now();
    const served = batch.dropped.size === 0 ? batch.requests : batch.requests.filter((r) => !batch.dropped.has(r));
    const run: RunStart = {
      instance: batch.instanceId,
      rows: batch.rows,
      requests: served.map((r) => ({ waitedMs: startedMs - r.queuedAtMs, trace: r.trace })),
    };
    const counted = this.counts.runStarting(run);
    const observed = this.observer?.runStarting(run);
    if (observed === undefined) return counted;
    return (err) => {
      counted(err);
      observed(err);
    };
  }

  /** Rejects every request of a batch not already answered. */
  private fail(batch: AssignedBatch<Request>, err: unknown): void {
    for (const r of batch.requests) {
      if (batch.dropped.has(r)) continue;
      this.counts.failed();
      r.reject(err);
    }
  }

  private refuse(reason: unknown): Promise<never> {
    this.counts.failed();
    return Promise.reject(reason);
  }

  private notifyIfIdle(): void {
    if (this.queue.length > 0 || this.pool.inFlight > 0) return;
    this.clock.clearTimeout(this.delayTimer);
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
