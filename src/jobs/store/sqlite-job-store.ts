import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import Database from 'better-sqlite3';
import type { Job, JobSpec, JobState } from '../job';
import { LeaseLostError, type Delivery, type JobOutcome, type JobPage, type JobStore, type JobStoreEvents, type Lease, type NewJob, type StagedRows } from '../job-store';
import type { WallClock } from '../wall-clock';
import { jobRow, type DeliveryRow, type JobRow } from './job-row';

/**
 * The schema, one migration per version (PRAGMA user_version is the last applied). A file with
 * a newer version was written by a newer inferd and is refused.
 */
const MIGRATIONS: readonly string[] = [
  // 1: jobs and webhook deliveries.
  `
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
`,
  // 2: leases (the owner and the epoch that fences its writes) and schedule ticks, as the PostgreSQL store has them.
  `
ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0;
CREATE TABLE schedule_ticks (
  schedule TEXT NOT NULL,
  due_ms INTEGER NOT NULL,
  PRIMARY KEY (schedule, due_ms)
);
`,
];

export interface SqliteJobStoreOptions {
  /** The SQLite file; created with its tables when missing. */
  readonly file: string;
  readonly clock: WallClock;
}

/**
 * Jobs and pending webhook deliveries in one SQLite file (WAL mode: readers never wait for the
 * writer, and each commit is one append), for one process: a lease never expires while the
 * process runs, and the jobs a stopped process left RUNNING are held by no one once the file is
 * opened again (so they are resumed at once). Each change is one transaction; `change` is emitted
 * with the job after every change to it.
 *
 * Progress and checkpoints are written with synchronous=NORMAL: a commit survives the process
 * being killed at any instant; after a power loss the last commits may be lost, which only moves
 * a batch job back to an earlier checkpoint.
 */
export class SqliteJobStore extends EventEmitter<JobStoreEvents> implements JobStore {
  readonly kind = 'sqlite';
  private closed = false;
  /** Deliveries claimed, and until when (clock ms). */
  private readonly claims = new Map<string, number>();

  private constructor(
    private readonly db: Database.Database,
    private readonly clock: WallClock,
    readonly where: string,
  ) {
    super();
    this.setMaxListeners(0); // one per WatchJob call
  }

  /** Opens (or creates) the file and migrates it. Throws when it cannot be opened or was written by a newer inferd. */
  static open(options: SqliteJobStoreOptions): SqliteJobStore {
    const db = new Database(options.file);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > MIGRATIONS.length) throw new Error(`${options.file} was written by a newer inferd (schema ${version}; this one knows ${MIGRATIONS.length})`);
      for (let v = version; v < MIGRATIONS.length; v++) {
        db.transaction(() => {
          db.exec(MIGRATIONS[v]!);
          db.pragma(`user_version = ${v + 1}`);
        })();
      }
      // One process per file: what a stopped process held, nobody holds now.
      db.prepare("UPDATE jobs SET owner = '' WHERE state = 'RUNNING' AND owner <> ''").run();
    } catch (err) {
      db.close();
      throw err;
    }
    return new SqliteJobStore(db, options.clock, `sqlite:${options.file}`);
  }

  async insert(job: NewJob): Promise<Job> {
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
        jobRow.encodeSpec(job.spec),
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

  async get(id: string): Promise<Job | undefined> {
    return this.read(id);
  }

  async list(options: { states: readonly JobState[]; pageSize: number; afterSeq?: number }): Promise<JobPage> {
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
    return { jobs: page.map(jobRow.toJob), next: more ? page[page.length - 1]!.seq : undefined };
  }

  async unfinished(kind: JobSpec['kind']): Promise<{ id: string; state: JobState }[]> {
    return this.db.prepare("SELECT id, state FROM jobs WHERE state IN ('RUNNING', 'QUEUED') AND kind = ? ORDER BY state = 'RUNNING' DESC, seq").all(kind) as { id: string; state: JobState }[];
  }

  async scheduleActive(schedule: string): Promise<boolean> {
    return this.db.prepare("SELECT 1 FROM jobs WHERE schedule = ? AND state IN ('QUEUED', 'RUNNING') LIMIT 1").get(schedule) !== undefined;
  }

  async claimTick(schedule: string, dueMs: number): Promise<boolean> {
    return this.db.prepare('INSERT OR IGNORE INTO schedule_ticks (schedule, due_ms) VALUES (?, ?)').run(schedule, dueMs).changes > 0;
  }

  async claim(kind: JobSpec['kind'], owner: string): Promise<{ job: Job; lease: Lease } | undefined> {
    const row = this.db.prepare("SELECT id FROM jobs WHERE kind = ? AND (state = 'QUEUED' OR (state = 'RUNNING' AND owner = '')) ORDER BY state = 'RUNNING' DESC, seq LIMIT 1").get(kind) as { id: string } | undefined;
    return row === undefined ? undefined : this.claimJob(row.id, owner);
  }

  async claimJob(id: string, owner: string): Promise<{ job: Job; lease: Lease } | undefined> {
    const info = this.db
      .prepare("UPDATE jobs SET state = 'RUNNING', owner = ?, lease_epoch = lease_epoch + 1, started_ms = coalesce(started_ms, ?) WHERE id = ? AND (state = 'QUEUED' OR (state = 'RUNNING' AND owner = ''))")
      .run(owner, this.clock.now(), id);
    if (info.changes === 0) return undefined;
    const job = this.changed(id);
    const { lease_epoch: epoch } = this.db.prepare('SELECT lease_epoch FROM jobs WHERE id = ?').get(id) as { lease_epoch: number };
    return { job, lease: { jobId: id, owner, epoch } };
  }

  async renew(lease: Lease): Promise<void> {
    if (this.db.prepare(`SELECT 1 FROM jobs WHERE ${FENCE}`).get(lease.jobId, lease.owner, lease.epoch) === undefined) throw this.lost(lease.jobId);
  }

  async release(lease: Lease): Promise<void> {
    const info = this.db.prepare(`UPDATE jobs SET owner = '' WHERE ${FENCE}`).run(lease.jobId, lease.owner, lease.epoch);
    if (info.changes > 0) this.changed(lease.jobId);
  }

  async progress(lease: Lease, progress: { total?: number; processed: number; failed: number; checkpoint?: unknown }, staged?: StagedRows): Promise<void> {
    if (staged !== undefined) throw new Error('a SQLite job store keeps no postgres: output rows');
    const info = this.db
      .prepare(`UPDATE jobs SET total = coalesce(?, total), processed = ?, failed = ?, checkpoint = coalesce(?, checkpoint) WHERE ${FENCE}`)
      .run(progress.total ?? null, progress.processed, progress.failed, progress.checkpoint === undefined ? null : JSON.stringify(progress.checkpoint), lease.jobId, lease.owner, lease.epoch);
    if (info.changes === 0) throw this.lost(lease.jobId);
    this.changed(lease.jobId);
  }

  async checkpoint(id: string): Promise<unknown> {
    const row = this.db.prepare('SELECT checkpoint FROM jobs WHERE id = ?').get(id) as { checkpoint: string | null } | undefined;
    return row?.checkpoint == null ? undefined : JSON.parse(row.checkpoint);
  }

  async finish(id: string, state: 'SUCCEEDED' | 'FAILED' | 'CANCELLED', outcome: JobOutcome, delivery?: (job: Job) => Omit<Delivery, 'attempts' | 'lastError'> | undefined, lease?: Lease): Promise<Job | undefined> {
    const ended = this.db.transaction((): Job | undefined => {
      const fence = lease === undefined ? "id = ? AND state IN ('QUEUED', 'RUNNING')" : FENCE;
      const info = this.db
        .prepare(`UPDATE jobs SET state = ?, result = ?, error_code = ?, error_message = ?, finished_ms = ?, checkpoint = NULL, owner = '' WHERE ${fence}`)
        .run(state, outcome.result ? jobRow.encodeOutput(outcome.result) : null, outcome.error?.code ?? null, outcome.error?.message ?? null, this.clock.now(), id, ...(lease === undefined ? [] : [lease.owner, lease.epoch]));
      if (info.changes === 0) return undefined;
      const job = this.read(id)!;
      const d = delivery?.(job);
      if (d !== undefined) {
        this.db.prepare('INSERT INTO deliveries (id, job_id, url, body, due_ms, created_ms) VALUES (?, ?, ?, ?, ?, ?)').run(d.id, d.jobId, d.url, d.body, d.dueMs, this.clock.now());
      }
      return job;
    })();
    if (ended !== undefined) this.announce(ended);
    return ended;
  }

  async sweep(beforeMs: number): Promise<number> {
    this.db.prepare('DELETE FROM schedule_ticks WHERE due_ms < ?').run(beforeMs);
    return this.db.prepare('DELETE FROM jobs WHERE finished_ms IS NOT NULL AND finished_ms < ?').run(beforeMs).changes;
  }

  /** One process per file: claims are kept in memory (a restart forgets them, and sends again what was in flight). */
  async claimDeliveries(nowMs: number, limit: number, _owner: string, leaseMs: number): Promise<Delivery[]> {
    const claimed: Delivery[] = [];
    for (const row of this.db.prepare('SELECT * FROM deliveries WHERE due_ms <= ? ORDER BY due_ms').iterate(nowMs) as IterableIterator<DeliveryRow>) {
      if (claimed.length >= limit) break;
      if ((this.claims.get(row.id) ?? -Infinity) > nowMs) continue;
      this.claims.set(row.id, nowMs + leaseMs);
      claimed.push(jobRow.toDelivery(row));
    }
    return claimed;
  }

  async nextDeliveryDueMs(): Promise<number | undefined> {
    const row = this.db.prepare('SELECT min(due_ms) AS due FROM deliveries').get() as { due: number | null };
    return row.due ?? undefined;
  }

  async deliveryFailed(id: string, attempts: number, dueMs: number, lastError: string): Promise<void> {
    this.db.prepare('UPDATE deliveries SET attempts = ?, due_ms = ?, last_error = ? WHERE id = ?').run(attempts, dueMs, lastError, id);
    this.claims.delete(id);
  }

  async deleteDelivery(id: string): Promise<void> {
    this.db.prepare('DELETE FROM deliveries WHERE id = ?').run(id);
    this.claims.delete(id);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  private read(id: string): Job | undefined {
    const row = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    return row && jobRow.toJob(row);
  }

  private lost(id: string): LeaseLostError {
    const row = this.db.prepare('SELECT state, owner FROM jobs WHERE id = ?').get(id) as { state: JobState; owner: string } | undefined;
    return new LeaseLostError(id, row);
  }

  private changed(id: string): Job {
    const job = this.read(id)!;
    this.announce(job);
    return job;
  }

  private announce(job: Job): void {
    this.emit('change', job);
    this.emit('state', job.id, job.state);
  }
}

/** A write under a lease: the job is RUNNING, and the lease (owner and epoch) is still its own. Parameters: id, owner, epoch. */
const FENCE = "id = ? AND state = 'RUNNING' AND owner = ? AND lease_epoch = ?";
