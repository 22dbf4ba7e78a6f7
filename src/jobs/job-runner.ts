import type { Logger } from 'pino';
import { InferdError } from '../inferd-error';
import type { Inference } from '../inference';
import { BatchJobRun } from './batch/batch-job-run';
import type { DataPaths } from './batch/data-paths';
import type { Job, JobSpec, JobState } from './job';
import { LeaseLostError, type JobOutcome, type JobStore, type Lease } from './job-store';
import { runPredictionJob } from './run-prediction-job';
import { untilStored } from './until-stored';
import type { WallClock } from './wall-clock';
import type { WebhookSender } from './webhooks/webhook-sender';

export interface JobRunnerOptions {
  /** Batch jobs this replica runs at once. */
  readonly maxBatchJobs: number;
  /** Asynchronous predictions this replica runs at once. */
  readonly maxPredictionJobs: number;
  /** true (the standalone command line): run only the job runOnly() names; false: every job in the store. */
  readonly alone: boolean;
  /** This replica's name in the store (a job's owner). */
  readonly replicaId: string;
  /** A claimed job's lease; renewed every third of it while the job runs. */
  readonly leaseMs: number;
  /**
   * How often to look for jobs no notification announced (a lease that expired on a replica that
   * died); undefined: never (one process per store: every job is announced in process).
   */
  readonly pollMs: number | undefined;
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

/** The reason a running job's signal fires when CancelJob stops it (on this replica or another). */
const CANCELLED = (): InferdError => new InferdError('CANCELLED', 'the job was cancelled');

/**
 * Runs jobs in the background: batch jobs and asynchronous predictions each up to their own
 * limit, so that a long batch never holds up a prediction. Every model run is submitted at
 * background priority, behind real-time requests. Jobs are claimed from the store under a lease
 * renewed while they run: a RUNNING job no replica holds (its replica stopped, or froze past its
 * lease) is resumed first, then the QUEUED ones, oldest first. A run whose lease was lost stops at
 * once and writes nothing more; the replica logs that it gave the job up.
 */
export class JobRunner {
  private readonly running = new Map<string, Running>();
  private closed: Promise<void> | undefined;
  private started = false;
  private pumping = false;
  private again = false;
  private pollTimer: unknown;
  /** The store could not be reached at the last claim (logged once until it can). */
  private storeDown = false;
  /** When running alone, the one job to run (undefined until runOnly()). */
  private only: string | undefined;
  private onlyTaken = false;
  private readonly onState = (id: string, state: JobState): void => {
    if (state === 'CANCELLED') this.cancel(id);
    else if (state === 'QUEUED') this.pump();
  };
  private readonly onResync = (): void => this.pump();

  constructor(
    private readonly parts: JobRunnerParts,
    private readonly options: JobRunnerOptions,
  ) {}

  /** Starts taking jobs (when running alone: nothing until runOnly()). */
  start(): void {
    this.started = true;
    this.parts.store.on('state', this.onState);
    this.parts.store.on('resync', this.onResync);
    this.poll();
    this.pump();
  }

  /** Running alone: runs (or resumes) this job, and no other. */
  runOnly(id: string): void {
    this.only = id;
    this.pump();
  }

  /** A job was queued: run it when there is room. */
  kick(): void {
    this.pump();
  }

  /** Stops a job that runs here now (it has been marked CANCELLED); a batch removes its partial output. */
  cancel(id: string): void {
    this.running.get(id)?.controller.abort(CANCELLED());
  }

  /**
   * Takes no more jobs and stops those running: a batch job stops after the batch in progress
   * (which is checkpointed) and stays RUNNING, its lease let go for another replica or the next
   * start to resume it; a prediction waiting in its model's queue is dropped and run again then.
   * Settles when every job has stopped. Safe to call twice.
   */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.parts.clock.clearTimeout(this.pollTimer);
      this.parts.store.off('state', this.onState);
      this.parts.store.off('resync', this.onResync);
      const reason = new InferdError('UNAVAILABLE', 'server is shutting down');
      for (const r of this.running.values()) r.controller.abort(reason);
      await Promise.allSettled([...this.running.values()].map((r) => r.done));
    })();
    return this.closed;
  }

  private poll(): void {
    const { pollMs } = this.options;
    if (pollMs === undefined || this.closed !== undefined) return;
    this.pollTimer = this.parts.clock.setTimeout(() => {
      this.pump();
      this.poll();
    }, pollMs);
  }

  /** Claims jobs while there is room; one pass at a time (a call meanwhile makes another pass follow). */
  private pump(): void {
    if (this.closed !== undefined || !this.started) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    this.fill()
      .then(
        () => {
          if (this.storeDown) this.options.log.info({}, 'job store reachable again: taking jobs');
          this.storeDown = false;
        },
        (err: unknown) => {
          if (!(err instanceof InferdError && err.code === 'UNAVAILABLE')) this.options.log.error({ err }, 'claiming a job failed');
          else if (!this.storeDown) this.options.log.warn({ reason: err.message }, 'job store unreachable: no job is taken until it is back');
          this.storeDown = true;
        },
      )
      .finally(() => {
        this.pumping = false;
        if (this.again) {
          this.again = false;
          this.pump();
        }
      });
  }

  private async fill(): Promise<void> {
    const { store } = this.parts;
    const { replicaId, leaseMs } = this.options;
    if (this.options.alone) {
      const id = this.only;
      if (id === undefined || this.onlyTaken) return;
      const claimed = await store.claimJob(id, replicaId, leaseMs);
      if (claimed === undefined) return;
      this.onlyTaken = true;
      this.launch(claimed.job, claimed.lease);
      return;
    }
    for (const kind of ['batch', 'prediction'] as const) {
      const limit = kind === 'batch' ? this.options.maxBatchJobs : this.options.maxPredictionJobs;
      while (this.countRunning(kind) < limit && this.closed === undefined) {
        const claimed = await store.claim(kind, replicaId, leaseMs);
        if (claimed === undefined) break;
        if (this.closed !== undefined) {
          await store.release(claimed.lease);
          break;
        }
        this.launch(claimed.job, claimed.lease);
      }
    }
  }

  private countRunning(kind: JobSpec['kind']): number {
    let n = 0;
    for (const r of this.running.values()) if (r.kind === kind) n++;
    return n;
  }

  private launch(job: Job, lease: Lease): void {
    const { clock } = this.parts;
    const controller = new AbortController();
    let renewTimer: unknown;
    const renew = (): void => {
      renewTimer = clock.setTimeout(() => {
        this.parts.store.renew(lease, this.options.leaseMs).then(
          renew,
          (err: unknown) => {
            if (err instanceof LeaseLostError) controller.abort(err.cancelled ? CANCELLED() : err);
            else renew(); // unreachable for now: the lease may still hold when it is back
          },
        );
      }, Math.max(1, Math.floor(this.options.leaseMs / 3)));
    };
    renew();
    const done = this.execute(job, lease, controller.signal)
      .finally(() => {
        clock.clearTimeout(renewTimer);
        renewTimer = undefined;
        this.running.delete(job.id);
        this.pump();
      })
      // A store failure must not take the process down.
      .catch((err: unknown) => this.options.log.error({ err, job: job.id }, 'job bookkeeping failed'));
    this.running.set(job.id, { kind: job.spec.kind, controller, done });
  }

  private async execute(job: Job, lease: Lease, signal: AbortSignal): Promise<void> {
    const { store, webhooks, clock } = this.parts;
    const { log } = this.options;
    const started = performance.now();
    log.info({ job: job.id, kind: job.spec.kind, owner: lease.owner, epoch: lease.epoch }, 'job started');
    const stored = <T>(what: string, f: () => Promise<T>): Promise<T> => untilStored(f, { what, job: job.id, signal, clock, log });
    const finish = async (state: 'SUCCEEDED' | 'FAILED', outcome: JobOutcome): Promise<void> => {
      const ended = await stored('finish', () => store.finish(job.id, state, outcome, (j) => webhooks.deliveryFor(j), lease));
      if (ended === undefined) {
        const now = await store.get(job.id).catch(() => undefined);
        if (now?.state === 'RUNNING') log.warn({ job: job.id, owner: now.owner }, 'job given up: another replica took it over, and its end is not written here');
        return; // cancelled meanwhile
      }
      log.info({ job: job.id, state, processed: ended.processed, failed: ended.failed, runMs: Math.round(performance.now() - started), error: ended.error?.message }, 'job ended');
      webhooks.kick();
    };
    try {
      if (job.spec.kind === 'prediction') {
        const result = await runPredictionJob(this.parts.inference, job.spec.request, signal);
        await stored('progress', () => store.progress(lease, { processed: 1, failed: 0 }));
        await finish('SUCCEEDED', { result });
        return;
      }
      const end = await new BatchJobRun(job, { ...this.parts, lease, leaseMs: this.options.leaseMs, log }).run(signal);
      if (end === 'finished') await finish('SUCCEEDED', {});
      else await this.stopped(job, lease, signal);
    } catch (err) {
      if (signal.aborted || err instanceof LeaseLostError) {
        await this.stopped(job, lease, signal, err instanceof LeaseLostError ? err : undefined);
        return;
      }
      if (job.spec.kind === 'prediction') await stored('progress', () => store.progress(lease, { processed: 1, failed: 1 })).catch(() => undefined);
      if (err instanceof InferdError) {
        await finish('FAILED', { error: { code: err.code, message: err.message } });
      } else {
        log.error({ err, job: job.id }, 'unexpected error while running a job');
        await finish('FAILED', { error: { code: 'INTERNAL', message: 'internal error' } });
      }
    }
  }

  /** A run that stopped before the job ended: says why, and lets a job this replica still holds go, for another to resume at once. */
  private async stopped(job: Job, lease: Lease, signal: AbortSignal, lost?: LeaseLostError): Promise<void> {
    const reason = lost ?? (signal.reason as Error);
    if (reason instanceof LeaseLostError && !reason.cancelled) {
      this.options.log.warn({ job: job.id, epoch: lease.epoch, reason: reason.message }, 'job given up: its lease was lost (another replica took it over); nothing more is written here');
      return;
    }
    this.options.log.info({ job: job.id, reason: reason.message }, 'job stopped');
    if (!(reason instanceof InferdError && reason.code === 'CANCELLED') && !(reason instanceof LeaseLostError)) {
      await this.parts.store.release(lease).catch(() => undefined); // else left for its lease to expire
    }
  }
}
