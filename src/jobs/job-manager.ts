import { mkdirSync } from 'node:fs';
import { statSync } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { InferdError } from '../inferd-error';
import { decodeInputs, selectOutputs, type Inference, type PredictInput } from '../inference';
import { decodeTensor } from '../tensor/inferd-v1-codec';
import { BatchFiles } from './batch/batch-files';
import { BatchInput } from './batch/batch-input';
import { BATCH_SIZE } from './batch/batch-size';
import { CallbackPolicy } from './webhooks/callback-policy';
import { CronSchedules, type Schedule } from './schedules/cron-schedules';
import { DataPaths } from './batch/data-paths';
import { isFinished, type BatchSpec, type Job, type JobState } from './job';
import { JobRunner } from './job-runner';
import type { JobStore } from './job-store';
import type { JobStoreUrl } from './store/job-store-url';
import { openJobStore } from './store/open-job-store';
import { parseOutputUri } from './batch/parse-output-uri';
import type { WallClock } from './wall-clock';
import { WebhookSender } from './webhooks/webhook-sender';

export interface JobManagerOptions {
  /** Where jobs are kept: a SQLite file (its folder is created when missing) or a PostgreSQL database shared by replicas. */
  readonly store: JobStoreUrl;
  /** A claimed job's lease (and a webhook delivery's claim), renewed every third of it while the job runs. */
  readonly leaseMs: number;
  /** Where input_uri and output_uri resolve, and whether they must stay inside (see DataPaths). */
  readonly paths: { readonly root: string; readonly confine: boolean };
  /** Finished jobs are deleted this long after they end. */
  readonly retentionMs: number;
  /** Batch jobs this replica runs at once. */
  readonly maxBatchJobs: number;
  /** Asynchronous predictions this replica runs at once. */
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
/** With a shared store, how often at most a replica looks for jobs no notification announced (a lease run out). */
const MAX_POLL_MS = 1000;

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
  /** Set by start(). */
  private runner: JobRunner | undefined;
  private webhooks: WebhookSender | undefined;
  private schedules: CronSchedules | undefined;

  private constructor(
    private readonly options: JobManagerOptions,
    private readonly inference: Inference,
    private readonly store: JobStore,
    private readonly paths: DataPaths,
    private readonly policy: CallbackPolicy,
  ) {}

  /**
   * Opens the store (creating the data folder, and a SQLite file when missing; migrating a
   * PostgreSQL schema). Jobs can be submitted and read at once; none runs until start().
   * Rejects with an Error naming the store (never its password) when it cannot be opened.
   */
  static async create(options: JobManagerOptions, inference: Inference): Promise<JobManager> {
    mkdirSync(options.paths.root, { recursive: true });
    const store = await openJobStore(options.store, { replicaId: 'inferd', clock: options.clock, log: options.log });
    return new JobManager(options, inference, store, new DataPaths(options.paths), new CallbackPolicy(options.webhook.allow));
  }

  /** Where jobs are kept, with no password. */
  get storeWhere(): string {
    return this.store.where;
  }

  /**
   * Starts, as `replicaId` (its name in the store and on the jobs it runs): the runner (resuming
   * jobs no replica holds), the webhook sender, the schedules and the retention sweep.
   */
  start(replicaId: string): void {
    const { options, store } = this;
    const webhooks = this.sender();
    const shared = store.kind === 'postgres';
    this.runner = new JobRunner(
      { store, inference: this.inference, paths: this.paths, webhooks, clock: options.clock },
      { maxBatchJobs: options.maxBatchJobs, maxPredictionJobs: options.maxPredictionJobs, alone: options.alone, replicaId, leaseMs: options.leaseMs, pollMs: shared ? Math.max(50, Math.min(MAX_POLL_MS, Math.floor(options.leaseMs / 4))) : undefined, log: options.log },
    );
    this.schedules = new CronSchedules({ schedules: options.schedules, clock: options.clock, log: options.log, run: (s, dueMs) => this.runSchedule(s, dueMs) });
    this.sweep();
    this.runner.start();
    webhooks.start(replicaId);
    this.schedules.start();
  }

  /**
   * Queues an asynchronous prediction after checking it as Predict would: NOT_FOUND for an
   * unknown model, UNAVAILABLE for one not ready, INVALID_ARGUMENT for inputs or outputs that do
   * not fit it or a callback URL the server may not call.
   */
  async submitPrediction(request: PredictInput, callbackUrl: string): Promise<Job> {
    this.checkCallback(callbackUrl);
    const model = this.inference.resolve(request.modelName, request.modelVersion);
    decodeInputs(model, request.inputs, decodeTensor);
    selectOutputs(model, request.outputNames);
    const job = await this.store.insert({ spec: { kind: 'prediction', request }, callbackUrl });
    this.runner?.kick();
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
      const job = await this.store.insert({ spec, callbackUrl, schedule });
      this.filesOfJobs.set(job.id, files);
      this.runner?.kick();
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
    const unfinished = (await this.store.list({ states: ['QUEUED', 'RUNNING'], pageSize: MAX_PAGE_SIZE })).jobs;
    const job = unfinished.find((j) => JSON.stringify(j.spec) === same) ?? (await this.store.insert({ spec }));
    this.runner?.runOnly(job.id);
    return job;
  }

  /** The job; NOT_FOUND for an unknown id. */
  async get(id: string): Promise<Job> {
    const job = await this.store.get(id);
    if (job === undefined) throw new InferdError('NOT_FOUND', `unknown job "${id}"`);
    return job;
  }

  /**
   * A page of jobs, newest first, only those in `states` when given. `pageToken` is the
   * `nextPageToken` of the page before ("" for the first); INVALID_ARGUMENT for one that is not.
   */
  async list(options: { states: readonly JobState[]; pageSize: number; pageToken: string }): Promise<{ jobs: Job[]; nextPageToken: string }> {
    const pageSize = options.pageSize === 0 ? DEFAULT_PAGE_SIZE : Math.min(options.pageSize, MAX_PAGE_SIZE);
    let afterSeq: number | undefined;
    if (options.pageToken !== '') {
      const m = /^p(\d{1,15})$/.exec(Buffer.from(options.pageToken, 'base64url').toString('utf8'));
      if (m === null) throw new InferdError('INVALID_ARGUMENT', `page_token "${options.pageToken}" is not one ListJobs gave`);
      afterSeq = Number(m[1]);
    }
    const page = await this.store.list({ states: options.states, pageSize, afterSeq });
    return { jobs: page.jobs, nextPageToken: page.next === undefined ? '' : Buffer.from(`p${page.next}`).toString('base64url') };
  }

  /**
   * Cancels a QUEUED or RUNNING job and returns it, CANCELLED (a running batch stops after the
   * batch in progress and its partial output is removed; on another replica, once that replica
   * hears of it: within milliseconds with PostgreSQL's notifications, at its next checkpoint or
   * lease renewal otherwise). NOT_FOUND for an unknown id; INVALID_ARGUMENT, naming its state,
   * for a job that has already ended.
   */
  async cancel(id: string): Promise<Job> {
    const before = await this.get(id);
    if (isFinished(before.state)) {
      throw new InferdError('INVALID_ARGUMENT', `job "${id}" has already ended (${before.state}): only a QUEUED or RUNNING job can be cancelled`);
    }
    const webhooks = this.sender();
    const ended = await this.store.finish(id, 'CANCELLED', { error: { code: 'CANCELLED', message: 'cancelled by CancelJob' } }, (j) => webhooks.deliveryFor(j));
    if (ended === undefined) return this.cancel(id); // it ended just now: say how
    this.runner?.cancel(id);
    webhooks.kick();
    this.options.log.info({ job: id }, 'job cancelled');
    return ended;
  }

  /**
   * Calls `listener` with the job now, then with every change to it (made by any replica), until
   * it ends (the last call has it in its final state) or `signal` fires. Rejects with NOT_FOUND
   * for an unknown id (then `listener` is never called), UNAVAILABLE when the store cannot be
   * reached; otherwise settles when watching stops. After the store's notifications were cut
   * (`resync`), the job is read again, so that no end is missed.
   */
  async watch(id: string, listener: (job: Job) => void, signal: AbortSignal): Promise<void> {
    let stop = (): void => undefined;
    let ended = false;
    const seen: Job[] = [];
    let deliver = (job: Job): void => void seen.push(job);
    const onChange = (job: Job): void => {
      if (job.id === id && !ended) deliver(job);
    };
    const onResync = (): void => {
      this.store.get(id).then((job) => job !== undefined && onChange(job), () => undefined);
    };
    // Subscribed before the first read, so that no change between the two is missed.
    this.store.on('change', onChange);
    this.store.on('resync', onResync);
    const unsubscribe = (): void => {
      this.store.off('change', onChange);
      this.store.off('resync', onResync);
    };
    let now: Job;
    try {
      now = await this.get(id);
    } catch (err) {
      unsubscribe();
      throw err;
    }
    return new Promise((resolve) => {
      stop = (): void => {
        ended = true;
        unsubscribe();
        signal.removeEventListener('abort', stop);
        resolve();
      };
      deliver = (job: Job): void => {
        listener(job);
        if (isFinished(job.state)) stop();
      };
      deliver(now);
      // Changes that came while the job was read: only those that are newer than what was read.
      for (const job of seen) if (!ended && (job.processed > now.processed || isFinished(job.state))) deliver(job);
      if (!ended && signal.aborted) stop();
      if (!ended) signal.addEventListener('abort', stop, { once: true });
    });
  }

  /**
   * Stops the schedules and the retention sweep, stops the runner (running batches checkpoint and
   * stay RUNNING for the next start) and the webhook sender. The store stays open for reads until
   * close(). Safe to call twice.
   */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.schedules?.close();
      this.options.clock.clearTimeout(this.sweepTimer);
      await this.runner?.close();
      await this.webhooks?.close();
    })();
    return this.stopped;
  }

  /** stop(), then closes the store. Safe to call twice. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.stop();
      await this.store.close();
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
    if (target.format === 'postgres' && this.store.kind !== 'postgres') throw new InferdError('INVALID_ARGUMENT', `output "${request.outputUri}" needs a PostgreSQL job store (--job-store postgres://…): its table is written in the store's database`);
    const output = target.format === 'postgres' ? '' : this.paths.resolve(target.path, 'output');
    this.paths.resolve(target.errorsPath, 'errors file');
    if (this.options.store.kind === 'sqlite' && output !== '' && isStoreFile(output, this.options.store.file)) throw new InferdError('INVALID_ARGUMENT', `output "${request.outputUri}" is the job store itself`);
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
    const unfinished = await this.store.unfinished('batch');
    const ids = new Set(unfinished.map((j) => j.id));
    for (const id of this.filesOfJobs.keys()) if (!ids.has(id)) this.filesOfJobs.delete(id);
    for (const job of unfinished) {
      let theirs = this.filesOfJobs.get(job.id);
      if (theirs === undefined) {
        const spec = (await this.store.get(job.id))?.spec;
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

  /**
   * One run of a schedule: an ordinary batch job, or a FAILED one saying why it could not be
   * queued. Skipped while the last run is still going. Of all replicas, only the one that claims
   * the tick runs it.
   */
  private async runSchedule(s: Schedule, dueMs: number): Promise<void> {
    if (this.stopped !== undefined) return;
    if (!(await this.store.claimTick(s.name, dueMs))) return; // another replica runs this tick
    if (await this.store.scheduleActive(s.name)) {
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
      const job = await this.store.insert({ spec, callbackUrl: s.callbackUrl, schedule: s.name, refused: { code: err.code, message: err.message } });
      this.options.log.warn({ schedule: s.name, job: job.id, reason: err.message }, 'scheduled job could not be queued');
    }
  }

  /** The webhook sender (made at the first need: a cancel may come before start()). */
  private sender(): WebhookSender {
    const { options } = this;
    this.webhooks ??= new WebhookSender(this.store, { ...options.webhook, policy: this.policy, claimMs: options.leaseMs, clock: options.clock, log: options.log });
    return this.webhooks;
  }

  /** Deletes finished jobs past retention, now and then every tenth of it (at most hourly); of many replicas, one sweeps in each such period. */
  private sweep(): void {
    const { clock, retentionMs, log } = this.options;
    const everyMs = Math.min(SWEEP_MS, Math.max(1000, retentionMs / 10));
    this.store.sweep(clock.now() - retentionMs, everyMs).then(
      (deleted) => {
        if (deleted > 0) log.info({ deleted, retentionMs }, 'finished jobs past retention deleted');
      },
      (err: unknown) => log.warn({ reason: (err as Error).message }, 'retention sweep failed; tried again later'),
    );
    if (this.stopped === undefined) this.sweepTimer = clock.setTimeout(() => this.sweep(), everyMs);
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
