import { mkdirSync } from 'node:fs';
import { statSync } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { InferdError } from '../inferd-error';
import { decodeInputs, selectOutputs, type Inference, type PredictInput } from '../inference';
import { decodeTensor } from '../tensor/decode-tensor';
import { BatchFiles } from './batch/batch-files';
import { BatchInput } from './batch/batch-input';
import { BATCH_SIZE } from './batch/batch-size';
import { CallbackPolicy } from './webhooks/callback-policy';
import { CronSchedules, type Schedule } from './schedules/cron-schedules';
import { DataPaths } from './batch/data-paths';
import { isFinished, type BatchSpec, type Job, type JobState } from './job';
import { JobRunner } from './job-runner';
import { JobStore } from './job-store';
import { parseOutputUri } from './batch/parse-output-uri';
import type { WallClock } from './wall-clock';
import { WebhookSender } from './webhooks/webhook-sender';

export interface JobManagerOptions {
  /** The job store's SQLite file (its folder is created when missing). */
  readonly storeFile: string;
  /** Where input_uri and output_uri resolve, and whether they must stay inside (see DataPaths). */
  readonly paths: { readonly root: string; readonly confine: boolean };
  /** Finished jobs are deleted this long after they end. */
  readonly retentionMs: number;
  readonly maxBatchJobs: number;
  readonly maxPredictionJobs: number;
  readonly webhook: {
    /** host[:port] entries callbacks may go to; [] allows none. */
    readonly allow: readonly string[];
    readonly secret: string;
    readonly retryMs: number;
    readonly maxAttempts: number;
    readonly timeoutMs: number;
  };
  readonly schedules: readonly Schedule[];
  /** true (the standalone command line): run no job but the one runAlone() names. */
  readonly alone: boolean;
  readonly clock: WallClock;
  readonly log: Logger;
}

const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;
/** How often finished jobs past their retention are deleted, at most. */
const SWEEP_MS = 3_600_000;

/** A batch job as a client submits it: the spec with batch_size possibly 0 (the default). */
export type BatchRequest = Omit<BatchSpec, 'batchSize'> & { readonly batchSize: number };

/**
 * The jobs core, transport-free, as Inference is for real-time requests: submits (checking
 * everything a client can get wrong before a job is queued), reads, watches, cancels and pages
 * through jobs, and owns the store, the runner, the webhook sender and the schedules.
 */
export class JobManager {
  private sweepTimer: unknown;
  private stopped: Promise<void> | undefined;
  /** Batch submissions, one at a time, so that two cannot both pass the check against each other's files. */
  private submitting: Promise<unknown> = Promise.resolve();
  /**
   * The files of QUEUED and RUNNING batch jobs as they were resolved when each was submitted (or
   * first needed after a restart), so that a submission compares against many jobs without
   * resolving their paths again. A job's own files are checked again when it starts.
   */
  private readonly filesOfJobs = new Map<string, BatchFiles>();
  private closed: Promise<void> | undefined;

  private constructor(
    private readonly options: JobManagerOptions,
    private readonly inference: Inference,
    private readonly store: JobStore,
    private readonly paths: DataPaths,
    private readonly policy: CallbackPolicy,
    private readonly webhooks: WebhookSender,
    private readonly runner: JobRunner,
    private readonly schedules: CronSchedules,
  ) {}

  /**
   * Opens the store (creating the data folder and the file when missing), then starts the
   * runner (resuming jobs a stopped process left RUNNING), the webhook sender, the schedules and
   * the retention sweep. Throws when the store cannot be opened.
   */
  static create(options: JobManagerOptions, inference: Inference): JobManager {
    mkdirSync(path.dirname(options.storeFile), { recursive: true });
    mkdirSync(options.paths.root, { recursive: true });
    const store = JobStore.open({ file: options.storeFile, clock: options.clock });
    const paths = new DataPaths(options.paths);
    const policy = new CallbackPolicy(options.webhook.allow);
    const webhooks = new WebhookSender(store, { ...options.webhook, policy, clock: options.clock, log: options.log });
    const runner = new JobRunner({ store, inference, paths, webhooks, clock: options.clock }, { maxBatchJobs: options.maxBatchJobs, maxPredictionJobs: options.maxPredictionJobs, alone: options.alone, log: options.log });
    let manager: JobManager | undefined;
    const schedules = new CronSchedules({ schedules: options.schedules, clock: options.clock, log: options.log, run: (s, dueMs) => manager!.runSchedule(s, dueMs) });
    manager = new JobManager(options, inference, store, paths, policy, webhooks, runner, schedules);
    manager.sweep();
    runner.start();
    webhooks.start();
    schedules.start();
    return manager;
  }

  /**
   * Queues an asynchronous prediction after checking it as Predict would: NOT_FOUND for an
   * unknown model, UNAVAILABLE for one not ready, INVALID_ARGUMENT for inputs or outputs that do
   * not fit it or a callback URL the server may not call.
   */
  submitPrediction(request: PredictInput, callbackUrl: string): Job {
    this.checkCallback(callbackUrl);
    const model = this.inference.resolve(request.modelName, request.modelVersion);
    decodeInputs(model, request.inputs, decodeTensor);
    selectOutputs(model, request.outputNames);
    const job = this.store.insert({ spec: { kind: 'prediction', request }, callbackUrl });
    this.runner.kick();
    return job;
  }

  /**
   * Queues a batch job after checking what can be checked before reading the input:
   * INVALID_ARGUMENT for a path outside the data directory, an input or output format it does
   * not know, a batch size out of range, output names the model lacks, a callback URL the server
   * may not call, an output (or errors file) that is the input or lies inside the input folder,
   * or one that is what another QUEUED or RUNNING job reads or writes, or an input that another
   * such job writes; NOT_FOUND for a missing input or an unknown model; UNAVAILABLE for a model
   * not ready. A fault of an input file (a CSV header missing) fails the job once it runs.
   */
  submitBatch(request: BatchRequest, callbackUrl: string, schedule = ''): Promise<Job> {
    const turn = this.submitting.then(async () => {
      const { spec, files } = await this.checkBatch(request, callbackUrl);
      await this.checkOthers(files);
      const job = this.store.insert({ spec, callbackUrl, schedule });
      this.filesOfJobs.set(job.id, files);
      this.runner.kick();
      return job;
    });
    this.submitting = turn.catch(() => undefined);
    return turn;
  }

  /**
   * Running alone (the standalone command line): resumes the unfinished job with the same request
   * if the store has one (a run that was killed or interrupted), else submits it; then runs it.
   * Rejects as submitBatch does, but for the check against other jobs: the store of a standalone
   * run holds only runs that were stopped, which nothing runs until their command is given again
   * (and which no CancelJob can end).
   */
  async runAlone(request: BatchRequest): Promise<Job> {
    const { spec } = await this.checkBatch(request, '');
    const same = JSON.stringify(spec);
    const unfinished = this.store.list({ states: ['QUEUED', 'RUNNING'], pageSize: MAX_PAGE_SIZE }).jobs;
    const job = unfinished.find((j) => JSON.stringify(j.spec) === same) ?? this.store.insert({ spec });
    this.runner.runOnly(job.id);
    return job;
  }

  /** The job; NOT_FOUND for an unknown id. */
  get(id: string): Job {
    const job = this.store.get(id);
    if (job === undefined) throw new InferdError('NOT_FOUND', `unknown job "${id}"`);
    return job;
  }

  /**
   * A page of jobs, newest first, only those in `states` when given. `pageToken` is the
   * `nextPageToken` of the page before ("" for the first); INVALID_ARGUMENT for one that is not.
   */
  list(options: { states: readonly JobState[]; pageSize: number; pageToken: string }): { jobs: Job[]; nextPageToken: string } {
    const pageSize = options.pageSize === 0 ? DEFAULT_PAGE_SIZE : Math.min(options.pageSize, MAX_PAGE_SIZE);
    let afterSeq: number | undefined;
    if (options.pageToken !== '') {
      const m = /^p(\d{1,15})$/.exec(Buffer.from(options.pageToken, 'base64url').toString('utf8'));
      if (m === null) throw new InferdError('INVALID_ARGUMENT', `page_token "${options.pageToken}" is not one ListJobs gave`);
      afterSeq = Number(m[1]);
    }
    const page = this.store.list({ states: options.states, pageSize, afterSeq });
    return { jobs: page.jobs, nextPageToken: page.next === undefined ? '' : Buffer.from(`p${page.next}`).toString('base64url') };
  }

  /**
   * Cancels a QUEUED or RUNNING job and returns it, CANCELLED (a running batch stops after the
   * batch in progress and its partial output is removed). NOT_FOUND for an unknown id;
   * INVALID_ARGUMENT, naming its state, for a job that has already ended.
   */
  cancel(id: string): Job {
    const before = this.get(id);
    if (isFinished(before.state)) {
      throw new InferdError('INVALID_ARGUMENT', `job "${id}" has already ended (${before.state}): only a QUEUED or RUNNING job can be cancelled`);
    }
    const ended = this.store.finish(id, 'CANCELLED', { error: { code: 'CANCELLED', message: 'cancelled by CancelJob' } }, (j) => this.webhooks.deliveryFor(j));
    if (ended === undefined) return this.cancel(id); // it ended just now: say how
    this.runner.cancel(id);
    this.webhooks.kick();
    this.options.log.info({ job: id }, 'job cancelled');
    return ended;
  }

  /**
   * Calls `listener` with the job now, then with every change to it, until it ends (the last call
   * has it in its final state) or `signal` fires. NOT_FOUND for an unknown id (then `listener` is
   * never called). Returns a promise that settles when watching stops.
   */
  watch(id: string, listener: (job: Job) => void, signal: AbortSignal): Promise<void> {
    const now = this.get(id);
    return new Promise((resolve) => {
      const stop = (): void => {
        this.store.off('change', onChange);
        signal.removeEventListener('abort', stop);
        resolve();
      };
      const onChange = (job: Job): void => {
        if (job.id !== id) return;
        listener(job);
        if (isFinished(job.state)) stop();
      };
      listener(now);
      if (isFinished(now.state) || signal.aborted) return stop();
      this.store.on('change', onChange);
      signal.addEventListener('abort', stop, { once: true });
    });
  }

  /**
   * Stops the schedules and the retention sweep, stops the runner (running batches checkpoint and
   * stay RUNNING for the next start) and the webhook sender. The store stays open for reads until
   * close(). Safe to call twice.
   */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.schedules.close();
      this.options.clock.clearTimeout(this.sweepTimer);
      await this.runner.close();
      await this.webhooks.close();
    })();
    return this.stopped;
  }

  /** stop(), then closes the store. Safe to call twice. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.stop();
      this.store.close();
    })();
    return this.closed;
  }

  private checkCallback(callbackUrl: string): void {
    if (callbackUrl !== '') this.policy.check(callbackUrl);
  }

  private async checkBatch(request: BatchRequest, callbackUrl: string): Promise<{ spec: BatchSpec & { readonly kind: 'batch' }; files: BatchFiles }> {
    this.checkCallback(callbackUrl);
    const batchSize = request.batchSize === 0 ? BATCH_SIZE.default : request.batchSize;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > BATCH_SIZE.max) {
      throw new InferdError('INVALID_ARGUMENT', `batch_size ${request.batchSize} is out of range: 1 to ${BATCH_SIZE.max}, or 0 for ${BATCH_SIZE.default}`);
    }
    const max = request.maxBadRecords;
    if (max !== undefined && (!Number.isInteger(max) || max < 0)) throw new InferdError('INVALID_ARGUMENT', `max_bad_records ${max}: expected a whole number, 0 or more`);
    const target = parseOutputUri(request.outputUri);
    const output = this.paths.resolve(target.path, 'output');
    this.paths.resolve(target.errorsPath, 'errors file');
    if (isStoreFile(output, this.options.storeFile)) throw new InferdError('INVALID_ARGUMENT', `output "${request.outputUri}" is the job store itself`);
    const input = await BatchInput.open(this.paths.resolve(request.inputUri, 'input'), request.inputUri, this.paths);
    const files = BatchFiles.of(request, this.paths, input);
    files.checkOwn();
    const model = this.inference.resolve(request.modelName, request.modelVersion);
    selectOutputs(model, request.outputNames);
    const spec = { kind: 'batch' as const, ...request, batchSize, inputColumns: [...request.inputColumns], outputNames: [...request.outputNames] };
    return { spec, files };
  }

  /** Throws INVALID_ARGUMENT when `files` clash with those of a QUEUED or RUNNING batch job (see BatchFiles.checkAgainst). */
  private async checkOthers(files: BatchFiles): Promise<void> {
    const unfinished = this.store.unfinished('batch');
    const ids = new Set(unfinished.map((j) => j.id));
    for (const id of this.filesOfJobs.keys()) if (!ids.has(id)) this.filesOfJobs.delete(id);
    for (const job of unfinished) {
      let theirs = this.filesOfJobs.get(job.id);
      if (theirs === undefined) {
        const spec = this.store.get(job.id)?.spec;
        if (spec?.kind !== 'batch') continue;
        try {
          const input = await BatchInput.open(this.paths.resolve(spec.inputUri, 'input'), spec.inputUri, this.paths).catch(() => undefined);
          theirs = BatchFiles.of(spec, this.paths, input);
        } catch {
          continue; // its paths no longer resolve: it fails on its own when it runs
        }
        this.filesOfJobs.set(job.id, theirs);
      }
      files.checkAgainst(theirs, job);
    }
  }

  /** One run of a schedule: an ordinary batch job, or a FAILED one saying why it could not be queued. Skipped while the last run is still going. */
  private async runSchedule(s: Schedule, dueMs: number): Promise<void> {
    if (this.stopped !== undefined) return;
    if (this.store.scheduleActive(s.name)) {
      this.options.log.warn({ schedule: s.name }, 'scheduled run skipped: the last one has not ended');
      return;
    }
    const time = new Date(dueMs).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    const request: BatchRequest = {
      modelName: s.modelName,
      modelVersion: s.modelVersion,
      inputUri: s.inputUri,
      outputUri: s.outputUri.replaceAll('{time}', time),
      batchSize: s.batchSize,
      inputColumns: s.inputColumns,
      outputNames: s.outputNames,
      maxBadRecords: s.maxBadRecords,
    };
    try {
      const job = await this.submitBatch(request, s.callbackUrl, s.name);
      this.options.log.info({ schedule: s.name, job: job.id }, 'scheduled job queued');
    } catch (err) {
      if (!(err instanceof InferdError)) throw err;
      const spec = { kind: 'batch' as const, ...request, batchSize: request.batchSize || BATCH_SIZE.default };
      const job = this.store.insert({ spec, callbackUrl: s.callbackUrl, schedule: s.name, refused: { code: err.code, message: err.message } });
      this.options.log.warn({ schedule: s.name, job: job.id, reason: err.message }, 'scheduled job could not be queued');
    }
  }

  private sweep(): void {
    const { clock, retentionMs, log } = this.options;
    const deleted = this.store.deleteFinishedBefore(clock.now() - retentionMs);
    if (deleted > 0) log.info({ deleted, retentionMs }, 'finished jobs past retention deleted');
    this.sweepTimer = clock.setTimeout(() => this.sweep(), Math.min(SWEEP_MS, Math.max(1000, retentionMs / 10)));
  }
}

/**
 * Whether `file` is the job store or one of its companion files (-wal, -shm), by identity: the
 * same device and inode, so that links and case-insensitive file systems cannot hide it.
 */
function isStoreFile(file: string, storeFile: string): boolean {
  const identity = (f: string): string | undefined => {
    try {
      const s = statSync(f);
      return `${s.dev}:${s.ino}`;
    } catch {
      return undefined;
    }
  };
  const target = identity(file);
  if (target === undefined) return [storeFile, `${storeFile}-wal`, `${storeFile}-shm`].some((f) => path.resolve(f) === path.resolve(file));
  return [storeFile, `${storeFile}-wal`, `${storeFile}-shm`].some((f) => identity(f) === target);
}
