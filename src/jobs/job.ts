import type { ErrorCode } from '../inferd-error';
import type { PredictInput, PredictOutput } from '../inference';

/**
 * A job's states. QUEUED → RUNNING → one of SUCCEEDED, FAILED, CANCELLED (the three it ends in);
 * QUEUED may go straight to CANCELLED. A RUNNING job found at start (the process stopped while it
 * ran) is resumed from its last checkpoint.
 */
export const JOB_STATES = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** The states a job ends in. */
export function isFinished(state: JobState): boolean {
  return state === 'SUCCEEDED' || state === 'FAILED' || state === 'CANCELLED';
}

/** What a batch job was asked to do, as submitted (paths as the client gave them). */
export interface BatchSpec {
  readonly modelName: string;
  /** "" = the newest ready version when each batch runs. */
  readonly modelVersion: string;
  readonly inputUri: string;
  readonly outputUri: string;
  /** Records per model run. */
  readonly batchSize: number;
  /** CSV input: the columns that form the input; [] = every column but "key". */
  readonly inputColumns: readonly string[];
  /** [] = every output of the model. */
  readonly outputNames: readonly string[];
  /**
   * The most records that may fail (malformed lines included) before the job fails; undefined
   * (absent from specs stored before it existed) = no limit.
   */
  readonly maxBadRecords?: number | undefined;
}

export type JobSpec = { readonly kind: 'prediction'; readonly request: PredictInput } | ({ readonly kind: 'batch' } & BatchSpec);

export interface JobError {
  readonly code: ErrorCode;
  readonly message: string;
}

/** A job as the store keeps it and clients see it. Times in ms since the epoch. */
export interface Job {
  readonly id: string;
  readonly spec: JobSpec;
  readonly state: JobState;
  /** Rows to handle (1 for a prediction; 0 for a batch until its input has been read through). */
  readonly total: number;
  /** Rows handled, failed ones included. */
  readonly processed: number;
  readonly failed: number;
  /** A prediction's response, once SUCCEEDED. */
  readonly result: PredictOutput | undefined;
  readonly error: JobError | undefined;
  /** "" when the job has none. */
  readonly callbackUrl: string;
  /** The schedule that made the job, "" for a submitted one. */
  readonly schedule: string;
  /** The --replica-id of the replica holding its lease while it is RUNNING; "" when none does (not RUNNING, or released by a replica that stopped). */
  readonly owner: string;
  readonly createdMs: number;
  readonly startedMs: number | undefined;
  readonly finishedMs: number | undefined;
}
