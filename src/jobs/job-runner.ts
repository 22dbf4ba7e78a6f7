import type { Logger } from 'pino';
import { InferdError } from '../inferd-error';
import type { Inference } from '../inference';
import { BatchJobRun } from './batch/batch-job-run';
import type { DataPaths } from './batch/data-paths';
import type { Job, JobSpec } from './job';
import type { JobStore } from './job-store';
import { runPredictionJob } from './run-prediction-job';
import type { WallClock } from './wall-clock';
import type { WebhookSender } from './webhooks/webhook-sender';

export interface JobRunnerOptions {
  /** Batch jobs run at once. */
  readonly maxBatchJobs: number;
  /** Asynchronous predictions run at once. */
  readonly maxPredictionJobs: number;
  /** true (the standalone command line): run only the job runOnly() names; false: every job in the store. */
  readonly alone: boolean;
  readonly log: Logger;
}

export interface JobRunnerParts {
  readonly store: JobStore;
  readonly inference: Inference;
  readonly paths: DataPaths;
  readonly webhooks: WebhookSender;
  readonly clock: WallClock;
}

interface Running {
  readonly kind: JobSpec['kind'];
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

/** The reason a running job's signal fires when CancelJob stops it. */
const CANCELLED = (): InferdError => new InferdError('CANCELLED', 'the job was cancelled');

/**
 * Runs jobs in the background, in the order they were queued: batch jobs and asynchronous
 * predictions each up to their own limit, so that a long batch never holds up a prediction. Every
 * model run is submitted at background priority, behind real-time requests. At start, the jobs
 * left RUNNING by a process that stopped (or was killed) are resumed first.
 */
export class JobRunner {
  private readonly running = new Map<string, Running>();
  /** Jobs left RUNNING by the last process, to resume before taking QUEUED ones. */
  private readonly orphans: Job[] = [];
  private closed: Promise<void> | undefined;
  /** When running alone, the one job to run (undefined until runOnly()). */
  private only: string | undefined;

  constructor(
    private readonly parts: JobRunnerParts,
    private readonly options: JobRunnerOptions,
  ) {}

  /** Takes up the jobs a stopped process left RUNNING, then the QUEUED ones (when running alone: nothing until runOnly()). */
  start(): void {
    const { store } = this.parts;
    if (!this.options.alone) this.orphans.push(...store.inState('RUNNING', 'batch', 1_000_000), ...store.inState('RUNNING', 'prediction', 1_000_000));
    this.pump();
  }

  /** Running alone: runs (or resumes, when it is RUNNING) this job, and no other. */
  runOnly(id: string): void {
    this.only = id;
    const job = this.parts.store.get(id);
    if (job?.state === 'RUNNING') this.orphans.push(job);
    this.pump();
  }

  /** A job was queued: run it when there is room. */
  kick(): void {
    this.pump();
  }

  /** Stops a job that runs now (CancelJob has already marked it CANCELLED); a batch removes its partial output. */
  cancel(id: string): void {
    this.running.get(id)?.controller.abort(CANCELLED());
  }

  /**
   * Takes no more jobs and stops those running: a batch job stops after the batch in progress
   * (which is checkpointed) and stays RUNNING, to be resumed by the next start; a prediction
   * waiting in its model's queue is dropped and run again then. Settles when every job has
   * stopped. Safe to call twice.
   */
  close(): Promise<void> {
    this.closed ??= (async () => {
      const reason = new InferdError('UNAVAILABLE', 'server is shutting down');
      for (const r of this.running.values()) r.controller.abort(reason);
      await Promise.allSettled([...this.running.values()].map((r) => r.done));
    })();
    return this.closed;
  }

  private pump(): void {
    if (this.closed !== undefined) return;
    for (const kind of ['batch', 'prediction'] as const) {
      const limit = kind === 'batch' ? this.options.maxBatchJobs : this.options.maxPredictionJobs;
      while (this.countRunning(kind) < limit) {
        const job = this.next(kind);
        if (job === undefined) break;
        this.launch(job);
      }
    }
  }

  private countRunning(kind: JobSpec['kind']): number {
    let n = 0;
    for (const r of this.running.values()) if (r.kind === kind) n++;
    return n;
  }

  /** The next job of a kind to run, marked RUNNING: an orphan first, else the oldest QUEUED. */
  private next(kind: JobSpec['kind']): Job | undefined {
    const { store } = this.parts;
    const orphan = this.orphans.findIndex((j) => j.spec.kind === kind);
    if (orphan >= 0) {
      const job = this.orphans.splice(orphan, 1)[0]!;
      const now = store.get(job.id);
      return now?.state === 'RUNNING' ? now : this.next(kind);
    }
    if (this.options.alone) {
      const job = this.only === undefined ? undefined : store.get(this.only);
      return job?.state === 'QUEUED' && job.spec.kind === kind ? store.start(job.id) : undefined;
    }
    for (;;) {
      const [queued] = store.inState('QUEUED', kind, 1);
      if (queued === undefined) return undefined;
      const started = store.start(queued.id);
      if (started !== undefined) return started;
    }
  }

  private launch(job: Job): void {
    const controller = new AbortController();
    const done = this.execute(job, controller.signal)
      .finally(() => {
        this.running.delete(job.id);
        this.pump();
      })
      // A store failure (disk full, busy) must not take the process down.
      .catch((err: unknown) => this.options.log.error({ err, job: job.id }, 'job bookkeeping failed'));
    this.running.set(job.id, { kind: job.spec.kind, controller, done });
  }

  private async execute(job: Job, signal: AbortSignal): Promise<void> {
    const { store, webhooks } = this.parts;
    const { log } = this.options;
    const started = performance.now();
    log.info({ job: job.id, kind: job.spec.kind }, 'job started');
    const finish = (state: 'SUCCEEDED' | 'FAILED', outcome: Parameters<JobStore['finish']>[2]): void => {
      const ended = store.finish(job.id, state, outcome, (j) => webhooks.deliveryFor(j));
      if (ended === undefined) return; // cancelled meanwhile
      log.info({ job: job.id, state, processed: ended.processed, failed: ended.failed, runMs: Math.round(performance.now() - started), error: ended.error?.message }, 'job ended');
      webhooks.kick();
    };
    try {
      if (job.spec.kind === 'prediction') {
        const result = await runPredictionJob(this.parts.inference, job.spec.request, signal);
        store.progress(job.id, { processed: 1, failed: 0 });
        finish('SUCCEEDED', { result });
        return;
      }
      const end = await new BatchJobRun(job, { ...this.parts, log }).run(signal);
      if (end === 'finished') finish('SUCCEEDED', {});
      else log.info({ job: job.id, reason: (signal.reason as Error).message }, 'job stopped');
    } catch (err) {
      if (signal.aborted) {
        log.info({ job: job.id, reason: (signal.reason as Error).message }, 'job stopped');
        return;
      }
      if (job.spec.kind === 'prediction') store.progress(job.id, { processed: 1, failed: 1 });
      if (err instanceof InferdError) {
        finish('FAILED', { error: { code: err.code, message: err.message } });
      } else {
        log.error({ err, job: job.id }, 'unexpected error while running a job');
        finish('FAILED', { error: { code: 'INTERNAL', message: 'internal error' } });
      }
    }
  }
}
