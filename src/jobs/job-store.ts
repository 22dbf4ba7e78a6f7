import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import Database from 'better-sqlite3';
import type { ErrorCode } from '../inferd-error';
import type { PredictInput, PredictOutput } from '../inference';
import type { Job, JobError, JobSpec, JobState } from './job';
import type { WallClock } from './wall-clock';
import { wireTensorJson, type WireTensorJson } from './batch/wire-tensor-json';

/** The schema this code writes; a file with a newer one was made by a newer inferd. */
const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  state TEXT NOT NULL,
  spec TEXT NOT NULL,
  total INTEGER NOT NULL DEFAULT 0,
  processed INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  result TEXT,
  error_code TEXT,
  error_message TEXT,
  callback_url TEXT NOT NULL DEFAULT '',
  schedule TEXT NOT NULL DEFAULT '',
  checkpoint TEXT,
  created_ms INTEGER NOT NULL,
  started_ms INTEGER,
  finished_ms INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, seq);
CREATE INDEX IF NOT EXISTS jobs_by_finish ON jobs (finished_ms);
CREATE TABLE IF NOT EXISTS deliveries (
  id TEXT PRIMARY KEY,
  job_id TEXT NOT NULL,
  url TEXT NOT NULL,
  body TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  due_ms INTEGER NOT NULL,
  last_error TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_by_due ON deliveries (due_ms);
`;

interface JobRow {
  seq: number;
  id: string;
  kind: string;
  state: string;
  spec: string;
  total: number;
  processed: number;
  failed: number;
  result: string | null;
  error_code: string | null;
  error_message: string | null;
  callback_url: string;
  schedule: string;
  checkpoint: string | null;
  created_ms: number;
  started_ms: number | null;
  finished_ms: number | null;
}

interface DeliveryRow {
  id: string;
  job_id: string;
  url: string;
  body: string;
  attempts: number;
  due_ms: number;
  last_error: string;
  created_ms: number;
}

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

export interface JobStoreOptions {
  /** The SQLite file; created with its tables when missing. */
  readonly file: string;
  readonly clock: WallClock;
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
 * Jobs and pending webhook deliveries in one SQLite file (WAL mode: readers never wait for the
 * writer, and each commit is one append). Every method is synchronous and each change is one
 * transaction. Emits `change` with the job after every change to it.
 *
 * Progress and checkpoints are written with synchronous=NORMAL: a commit survives the process
 * being killed at any instant; after a power loss the last commits may be lost, which only moves
 * a batch job back to an earlier checkpoint.
 */
export class JobStore extends EventEmitter<{ change: [job: Job] }> {
  private closed = false;

  private constructor(
    private readonly db: Database.Database,
    private readonly clock: WallClock,
  ) {
    super();
    this.setMaxListeners(0); // one per WatchJob call
  }

  /** Opens (or creates) the file. Throws when it cannot be opened or was written by a newer inferd. */
  static open(options: JobStoreOptions): JobStore {
    const db = new Database(options.file);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) throw new Error(`${options.file} was written by a newer inferd (schema ${version}; this one knows ${SCHEMA_VERSION})`);
      db.exec(SCHEMA);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    } catch (err) {
      db.close();
      throw err;
    }
    return new JobStore(db, options.clock);
  }

  /** Stores a new job, QUEUED (or FAILED when `refused`), and returns it. */
  insert(job: NewJob): Job {
    const now = this.clock.now();
    const id = randomUUID();
    this.db
      .prepare(
        `INSERT INTO jobs (id, kind, state, spec, total, callback_url, schedule, created_ms, error_code, error_message, finished_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        id,
        job.spec.kind,
        job.refused ? 'FAILED' : 'QUEUED',
        encodeSpec(job.spec),
        job.spec.kind === 'prediction' ? 1 : 0,
        job.callbackUrl ?? '',
        job.schedule ?? '',
        now,
        job.refused?.code ?? null,
        job.refused?.message ?? null,
        job.refused ? now : null,
      );
    return this.changed(id);
  }

  get(id: string): Job | undefined {
    const row = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    return row && toJob(row);
  }

  /** Jobs newest first, only those in `states` when given, `pageSize` at most, after the position `afterSeq` of the page before. */
  list(options: { states: readonly JobState[]; pageSize: number; afterSeq?: number }): JobPage {
    const where: string[] = [];
    const params: unknown[] = [];
    if (options.states.length > 0) {
      where.push(`state IN (${options.states.map(() => '?').join(', ')})`);
      params.push(...options.states);
    }
    if (options.afterSeq !== undefined) {
      where.push('seq < ?');
      params.push(options.afterSeq);
    }
    const sql = `SELECT * FROM jobs ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`;
    const rows = this.db.prepare(sql).all(...params, options.pageSize + 1) as JobRow[];
    const more = rows.length > options.pageSize;
    const page = rows.slice(0, options.pageSize);
    return { jobs: page.map(toJob), next: more ? page[page.length - 1]!.seq : undefined };
  }

  /** Jobs in a state, oldest first. */
  inState(state: JobState, kind: JobSpec['kind'], limit: number): Job[] {
    const rows = this.db.prepare('SELECT * FROM jobs WHERE state = ? AND kind = ? ORDER BY seq LIMIT ?').all(state, kind, limit) as JobRow[];
    return rows.map(toJob);
  }

  /** The ids and states of the QUEUED and RUNNING jobs of a kind, RUNNING first, then oldest first; no more is read. */
  unfinished(kind: JobSpec['kind']): { id: string; state: JobState }[] {
    return this.db.prepare("SELECT id, state FROM jobs WHERE state IN ('RUNNING', 'QUEUED') AND kind = ? ORDER BY state = 'RUNNING' DESC, seq").all(kind) as { id: string; state: JobState }[];
  }

  /** True when a job of the schedule is QUEUED or RUNNING. */
  scheduleActive(schedule: string): boolean {
    return this.db.prepare("SELECT 1 FROM jobs WHERE schedule = ? AND state IN ('QUEUED', 'RUNNING') LIMIT 1").get(schedule) !== undefined;
  }

  /** QUEUED → RUNNING; returns the job, or undefined when it was not QUEUED (cancelled meanwhile). */
  start(id: string): Job | undefined {
    const info = this.db.prepare("UPDATE jobs SET state = 'RUNNING', started_ms = ? WHERE id = ? AND state = 'QUEUED'").run(this.clock.now(), id);
    return info.changes === 0 ? undefined : this.changed(id);
  }

  /**
   * Records a RUNNING job's progress, and its checkpoint when given (one transaction, so the
   * counts and the checkpoint always agree). Does nothing to a job that is no longer RUNNING.
   */
  progress(id: string, progress: { total?: number; processed: number; failed: number; checkpoint?: unknown }): void {
    const info = this.db
      .prepare(
        `UPDATE jobs SET total = coalesce(?, total), processed = ?, failed = ?, checkpoint = coalesce(?, checkpoint)
         WHERE id = ? AND state = 'RUNNING'`,
      )
      .run(progress.total ?? null, progress.processed, progress.failed, progress.checkpoint === undefined ? null : JSON.stringify(progress.checkpoint), id);
    if (info.changes > 0) this.changed(id);
  }

  /** The last checkpoint of a job, parsed; undefined when none was written. */
  checkpoint(id: string): unknown {
    const row = this.db.prepare('SELECT checkpoint FROM jobs WHERE id = ?').get(id) as { checkpoint: string | null } | undefined;
    return row?.checkpoint == null ? undefined : JSON.parse(row.checkpoint);
  }

  /**
   * Ends a QUEUED or RUNNING job in `state` with its result or error, and, in the same
   * transaction, queues the webhook delivery `delivery` makes for it (if any). Returns the
   * ended job, or undefined when it had already ended (then nothing changes).
   */
  finish(id: string, state: 'SUCCEEDED' | 'FAILED' | 'CANCELLED', outcome: JobOutcome, delivery?: (job: Job) => Omit<Delivery, 'attempts' | 'lastError'> | undefined): Job | undefined {
    const ended = this.db.transaction((): Job | undefined => {
      const info = this.db
        .prepare(
          `UPDATE jobs SET state = ?, result = ?, error_code = ?, error_message = ?, finished_ms = ?, checkpoint = NULL
           WHERE id = ? AND state IN ('QUEUED', 'RUNNING')`,
        )
        .run(state, outcome.result ? encodeOutput(outcome.result) : null, outcome.error?.code ?? null, outcome.error?.message ?? null, this.clock.now(), id);
      if (info.changes === 0) return undefined;
      const job = this.get(id)!;
      const d = delivery?.(job);
      if (d !== undefined) {
        this.db.prepare('INSERT INTO deliveries (id, job_id, url, body, due_ms, created_ms) VALUES (?, ?, ?, ?, ?, ?)').run(d.id, d.jobId, d.url, d.body, d.dueMs, this.clock.now());
      }
      return job;
    })();
    if (ended !== undefined) this.emit('change', ended);
    return ended;
  }

  /** Deletes jobs that ended before `beforeMs`; returns how many. */
  deleteFinishedBefore(beforeMs: number): number {
    return this.db.prepare('DELETE FROM jobs WHERE finished_ms IS NOT NULL AND finished_ms < ?').run(beforeMs).changes;
  }

  /** Deliveries due at `nowMs`, oldest due first. */
  dueDeliveries(nowMs: number, limit: number): Delivery[] {
    const rows = this.db.prepare('SELECT * FROM deliveries WHERE due_ms <= ? ORDER BY due_ms LIMIT ?').all(nowMs, limit) as DeliveryRow[];
    return rows.map(toDelivery);
  }

  /** When the next delivery is due, or undefined when none waits. */
  nextDeliveryDueMs(): number | undefined {
    const row = this.db.prepare('SELECT min(due_ms) AS due FROM deliveries').get() as { due: number | null };
    return row.due ?? undefined;
  }

  /** Records a failed attempt and when to try again. */
  deliveryFailed(id: string, attempts: number, dueMs: number, lastError: string): void {
    this.db.prepare('UPDATE deliveries SET attempts = ?, due_ms = ?, last_error = ? WHERE id = ?').run(attempts, dueMs, lastError, id);
  }

  /** Forgets a delivery (made, or given up). */
  deleteDelivery(id: string): void {
    this.db.prepare('DELETE FROM deliveries WHERE id = ?').run(id);
  }

  /** Closes the file. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  private changed(id: string): Job {
    const job = this.get(id)!;
    this.emit('change', job);
    return job;
  }
}

function encodeSpec(spec: JobSpec): string {
  if (spec.kind === 'batch') return JSON.stringify(spec);
  const r = spec.request;
  return JSON.stringify({ kind: 'prediction', request: { ...r, inputs: wireTensorJson.encodeMap(r.inputs) } });
}

function decodeSpec(text: string): JobSpec {
  const spec = JSON.parse(text) as JobSpec;
  if (spec.kind === 'batch') return spec;
  const r = spec.request as PredictInput & { inputs: Record<string, WireTensorJson> };
  return { kind: 'prediction', request: { ...r, inputs: wireTensorJson.decodeMap(r.inputs) } };
}

function encodeOutput(output: PredictOutput): string {
  return JSON.stringify({ ...output, outputs: wireTensorJson.encodeMap(output.outputs) });
}

function decodeOutput(text: string): PredictOutput {
  const o = JSON.parse(text) as PredictOutput & { outputs: Record<string, WireTensorJson> };
  return { ...o, outputs: wireTensorJson.decodeMap(o.outputs) };
}

function toJob(row: JobRow): Job {
  return {
    id: row.id,
    spec: decodeSpec(row.spec),
    state: row.state as JobState,
    total: row.total,
    processed: row.processed,
    failed: row.failed,
    result: row.result === null ? undefined : decodeOutput(row.result),
    error: row.error_code === null ? undefined : { code: row.error_code as ErrorCode, message: row.error_message ?? '' },
    callbackUrl: row.callback_url,
    schedule: row.schedule,
    createdMs: row.created_ms,
    startedMs: row.started_ms ?? undefined,
    finishedMs: row.finished_ms ?? undefined,
  };
}

function toDelivery(row: DeliveryRow): Delivery {
  return { id: row.id, jobId: row.job_id, url: row.url, body: row.body, attempts: row.attempts, dueMs: row.due_ms, lastError: row.last_error };
}
