import type { EventEmitter } from 'node:events';
import type { PredictOutput } from '../inference';
import type { Job, JobError, JobSpec, JobState } from './job';

/** A webhook call waiting to be made (or retried). Its body and id never change between attempts. */
export interface Delivery {
  /** Sent as the delivery id header, for receivers to de-duplicate. */
  readonly id: string;
  readonly jobId: string;
  readonly url: string;
  /** The exact bytes signed and sent (UTF-8 JSON). */
  readonly body: string;
  /** Attempts made so far. */
  readonly attempts: number;
  readonly dueMs: number;
  readonly lastError: string;
}

export interface NewJob {
  readonly spec: JobSpec;
  readonly callbackUrl?: string;
  readonly schedule?: string;
  /** A job refused before it could be queued (a scheduled run whose model is gone) is stored FAILED with its error. */
  readonly refused?: JobError;
}

export interface JobPage {
  readonly jobs: Job[];
  /** Pass as `afterSeq` for the next page; undefined on the last page. */
  readonly next: number | undefined;
}

export interface JobOutcome {
  readonly result?: PredictOutput;
  readonly error?: JobError;
}

/**
 * A replica's hold on a RUNNING job. Every claim raises the job's epoch, so a write that carries
 * an older lease (its replica froze past the lease and another took the job over) is refused.
 */
export interface Lease {
  readonly jobId: string;
  /** The --replica-id of the holder. */
  readonly owner: string;
  readonly epoch: number;
}

/** Rows for a `postgres:TABLE` output, committed in the same transaction as the checkpoint that follows them. */
export interface StagedRows {
  /** The staging table (created by the writer). */
  readonly table: string;
  readonly columns: readonly string[];
  /** One array of values per row, in `columns` order; the first column is the row number (the key of the upsert). */
  readonly rows: readonly (readonly unknown[])[];
}

/** A write or renewal was refused: the lease is no longer the job's (it ended, or another replica holds it now). */
export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';

  constructor(
    readonly jobId: string,
    /** The job as it is now: its state and owner; undefined when it is gone. */
    readonly now: { readonly state: JobState; readonly owner: string } | undefined,
  ) {
    super(now === undefined ? `job ${jobId} is gone` : now.state !== 'RUNNING' ? `job ${jobId} is ${now.state}` : `job ${jobId} is held by ${now.owner === '' ? 'no replica' : now.owner} now`);
  }

  /** True when the job was ended (CancelJob): its partial output is to be removed. */
  get cancelled(): boolean {
    return this.now !== undefined && this.now.state === 'CANCELLED';
  }
}

export interface JobStoreEvents {
  /** A job changed (emitted after the change is committed; with PostgreSQL, for changes made by any replica). */
  change: [job: Job];
  /** A job's state is now `state` (any replica): cheap, for runners to notice a cancel or a new job. */
  state: [id: string, state: JobState];
  /** Changes may have been missed (the store's notification channel was down): read again what you follow. */
  resync: [];
}

/**
 * Jobs, their leases and checkpoints, pending webhook deliveries and schedule ticks. Two
 * implementations: SQLite (one process, the embedded default) and PostgreSQL (shared by many
 * replicas). Every change is one transaction. Methods reject with InferdError UNAVAILABLE when
 * the store cannot be reached (a database server down), so that callers can retry.
 */
export interface JobStore extends EventEmitter<JobStoreEvents> {
  /** 'sqlite' or 'postgres'; a shared store is read and written by many replicas at once. */
  readonly kind: 'sqlite' | 'postgres';
  /** Where it is, with no password (for logs and errors). */
  readonly where: string;

  /** Stores a new job, QUEUED (or FAILED when `refused`), and returns it. */
  insert(job: NewJob): Promise<Job>;
  get(id: string): Promise<Job | undefined>;
  /** Jobs newest first, only those in `states` when given, `pageSize` at most, after the position `afterSeq` of the page before. */
  list(options: { states: readonly JobState[]; pageSize: number; afterSeq?: number }): Promise<JobPage>;
  /** The ids and states of the QUEUED and RUNNING jobs of a kind, RUNNING first, then oldest first. */
  unfinished(kind: JobSpec['kind']): Promise<{ id: string; state: JobState }[]>;
  /** True when a job of the schedule is QUEUED or RUNNING. */
  scheduleActive(schedule: string): Promise<boolean>;
  /** True for the one caller (of all replicas) that takes the tick of `schedule` due at `dueMs`; false for every other. */
  claimTick(schedule: string, dueMs: number): Promise<boolean>;

  /**
   * Claims the next job of a kind to run, RUNNING under a new lease held by `owner`: a RUNNING
   * job no replica holds (its replica stopped, or its lease expired) first, else the oldest
   * QUEUED one. Undefined when there is none.
   */
  claim(kind: JobSpec['kind'], owner: string, leaseMs: number): Promise<{ job: Job; lease: Lease } | undefined>;
  /** Claims the job `id` when it is QUEUED, or RUNNING and held by no replica; undefined otherwise. */
  claimJob(id: string, owner: string, leaseMs: number): Promise<{ job: Job; lease: Lease } | undefined>;
  /** Extends the lease by `leaseMs` from now. Rejects with LeaseLostError when it is no longer the job's. */
  renew(lease: Lease, leaseMs: number): Promise<void>;
  /** Lets the job go, still RUNNING and held by no replica, for any replica to resume at once (a graceful stop). */
  release(lease: Lease): Promise<void>;
  /**
   * Records a RUNNING job's progress, its checkpoint when given and `staged` rows, in one
   * transaction, so the counts, the checkpoint and the rows always agree. Rejects with
   * LeaseLostError (and changes nothing) when the lease is no longer the job's.
   */
  progress(lease: Lease, progress: { total?: number; processed: number; failed: number; checkpoint?: unknown }, staged?: StagedRows): Promise<void>;
  /** The last checkpoint of a job, parsed; undefined when none was written. */
  checkpoint(id: string): Promise<unknown>;
  /**
   * Ends a QUEUED or RUNNING job in `state` with its result or error, and, in the same
   * transaction, queues the webhook delivery `delivery` makes for it (if any). With `lease`,
   * only while that lease is the job's. Returns the ended job, or undefined when nothing changed
   * (it had ended already, or another replica holds it).
   */
  finish(id: string, state: 'SUCCEEDED' | 'FAILED' | 'CANCELLED', outcome: JobOutcome, delivery?: (job: Job) => Omit<Delivery, 'attempts' | 'lastError'> | undefined, lease?: Lease): Promise<Job | undefined>;
  /**
   * Deletes jobs that ended before `beforeMs` (and schedule ticks as old); returns how many jobs.
   * Across replicas, only one sweep runs in any `everyMs` (the others return 0).
   */
  sweep(beforeMs: number, everyMs: number): Promise<number>;

  /** Claims up to `limit` deliveries due at `nowMs`, oldest due first, for `leaseMs` (another replica retries one not settled by then). */
  claimDeliveries(nowMs: number, limit: number, owner: string, leaseMs: number): Promise<Delivery[]>;
  /** When the next delivery is due, or undefined when none waits. */
  nextDeliveryDueMs(): Promise<number | undefined>;
  /** Records a failed attempt and when to try again (and lets the claim go). */
  deliveryFailed(id: string, attempts: number, dueMs: number, lastError: string): Promise<void>;
  /** Forgets a delivery (made, or given up). */
  deleteDelivery(id: string): Promise<void>;

  /** Closes. Safe to call twice. */
  close(): Promise<void>;
}
