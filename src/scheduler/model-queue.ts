import { InferdError } from '../inferd-error';
import type { HostTensor } from '../tensor/tensor-types';

/** A model instance as the queue sees it: something that runs one request at a time. */
export interface Runner {
  run(feeds: Record<string, HostTensor>, outputNames: readonly string[]): Promise<Record<string, HostTensor>>;
}

export interface ModelQueueOptions {
  /** Requests that may wait for an instance; past it, RESOURCE_EXHAUSTED. */
  readonly maxQueueSize: number;
  /** Names the queue in messages. */
  readonly label: string;
}

/** Cumulative counts since the queue was made. Durations in nanoseconds. */
export interface QueueStats {
  /** Requests that ran and succeeded. */
  readonly success: number;
  /** Requests that failed: refused, dropped while queued, or failed in the run. */
  readonly fail: number;
  /** Runs of the model (equal to success + failed runs until requests are batched). */
  readonly executions: number;
  /** Total time requests that ran spent waiting in the queue. */
  readonly queueNs: bigint;
  /** Total time runs took, as the main thread sees them. */
  readonly computeNs: bigint;
  /** When the last request finished, in ms since the epoch; 0 when none has. */
  readonly lastInferenceMs: number;
}

/** realtime: Predict and streams; background: asynchronous jobs, run only when no real-time request waits. */
export type Priority = 'realtime' | 'background';

export interface SubmitOptions {
  readonly priority?: Priority;
}

interface Work {
  readonly priority: Priority;
  readonly enqueuedNs: bigint;
  readonly feeds: Record<string, HostTensor>;
  readonly outputNames: readonly string[];
  readonly signal: AbortSignal;
  readonly resolve: (outputs: Record<string, HostTensor>) => void;
  readonly reject: (err: unknown) => void;
  readonly onAbort: () => void;
}

/**
 * The queue in front of one model version's instances. Each instance runs one request at a
 * time; a request waits here until one is free. A request whose signal fires while it waits is
 * dropped without running and rejected with the signal's reason.
 */
export class ModelQueue {
  private readonly waiting: Work[] = [];
  private readonly idleRunners: Runner[];
  private running = 0;
  private idleWaiters: (() => void)[] = [];
  private counts = { success: 0, fail: 0, executions: 0, queueNs: 0n, computeNs: 0n, lastInferenceMs: 0 };

  constructor(
    runners: readonly Runner[],
    private readonly options: ModelQueueOptions,
  ) {
    this.idleRunners = [...runners];
  }

  /** Requests waiting for an instance. */
  get depth(): number {
    return this.waiting.length;
  }

  /** Requests running now. */
  get inFlight(): number {
    return this.running;
  }

  /** Starts the counts again from zero (after warm-up, which is not traffic). */
  resetStats(): void {
    this.counts = { success: 0, fail: 0, executions: 0, queueNs: 0n, computeNs: 0n, lastInferenceMs: 0 };
  }

  /** A snapshot of the counts so far. */
  stats(): QueueStats {
    return { ...this.counts };
  }

  /**
   * Queues one run. Settles with the outputs, or rejects with: RESOURCE_EXHAUSTED when the queue
   * is full, the signal's reason when it fires before the run starts, the runner's error.
   */
  submit(feeds: Record<string, HostTensor>, outputNames: readonly string[], signal: AbortSignal, options: SubmitOptions = {}): Promise<Record<string, HostTensor>> {
    if (signal.aborted) return this.refuse(signal.reason);
    if (this.waiting.length >= this.options.maxQueueSize) {
      return this.refuse(
        new InferdError('RESOURCE_EXHAUSTED', `${this.options.label}: queue is full (${this.options.maxQueueSize} requests waiting)`),
      );
    }
    return new Promise((resolve, reject) => {
      const work: Work = {
        priority: options.priority ?? 'realtime',
        enqueuedNs: process.hrtime.bigint(),
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
      const at = work.priority === 'background' ? this.waiting.length : this.waiting.findIndex((w) => w.priority === 'background');
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
    while (this.idleRunners.length > 0 && this.waiting.length > 0) {
      const work = this.waiting.shift()!;
      work.signal.removeEventListener('abort', work.onAbort);
      const runner = this.idleRunners.pop()!;
      this.running++;
      const startedNs = process.hrtime.bigint();
      this.counts.queueNs += startedNs - work.enqueuedNs;
      this.counts.executions++;
      runner.run(work.feeds, work.outputNames).then(
        (outputs) => {
          this.counts.success++;
          work.resolve(outputs);
        },
        (err: unknown) => {
          this.counts.fail++;
          work.reject(err);
        },
      ).finally(() => {
        this.counts.computeNs += process.hrtime.bigint() - startedNs;
        this.counts.lastInferenceMs = Date.now();
        this.running--;
        this.idleRunners.push(runner);
        this.dispatch();
        this.notifyIfIdle();
      });
    }
  }

  private refuse(reason: unknown): Promise<never> {
    this.counts.fail++;
    return Promise.reject(reason);
  }

  private notifyIfIdle(): void {
    if (this.waiting.length > 0 || this.running > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
