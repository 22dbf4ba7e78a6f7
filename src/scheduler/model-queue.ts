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

interface Work {
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

  /**
   * Queues one run. Settles with the outputs, or rejects with: RESOURCE_EXHAUSTED when the queue
   * is full, the signal's reason when it fires before the run starts, the runner's error.
   */
  submit(feeds: Record<string, HostTensor>, outputNames: readonly string[], signal: AbortSignal): Promise<Record<string, HostTensor>> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.waiting.length >= this.options.maxQueueSize) {
      return Promise.reject(
        new InferdError('RESOURCE_EXHAUSTED', `${this.options.label}: queue is full (${this.options.maxQueueSize} requests waiting)`),
      );
    }
    return new Promise((resolve, reject) => {
      const work: Work = {
        feeds,
        outputNames,
        signal,
        resolve,
        reject,
        onAbort: () => {
          const i = this.waiting.indexOf(work);
          if (i < 0) return;
          this.waiting.splice(i, 1);
          reject(signal.reason);
          this.notifyIfIdle();
        },
      };
      signal.addEventListener('abort', work.onAbort, { once: true });
      this.waiting.push(work);
      this.dispatch();
    });
  }

  /** Rejects every waiting request with `reason`; running ones are left to their runner. */
  failWaiting(reason: unknown): void {
    for (const work of this.waiting.splice(0)) {
      work.signal.removeEventListener('abort', work.onAbort);
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
      runner.run(work.feeds, work.outputNames).then(work.resolve, work.reject).finally(() => {
        this.running--;
        this.idleRunners.push(runner);
        this.dispatch();
        this.notifyIfIdle();
      });
    }
  }

  private notifyIfIdle(): void {
    if (this.waiting.length > 0 || this.running > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
