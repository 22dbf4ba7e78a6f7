import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from 'pino';
import { InferdError } from '../../inferd-error';
import type { Job, JobSpec, JobState } from '../job';
import { LeaseLostError, type Delivery, type JobOutcome, type JobPage, type JobStore, type JobStoreEvents, type Lease, type NewJob, type StagedRows } from '../job-store';
import type { WallClock } from '../wall-clock';
import { jobRow, type DeliveryRow, type JobRow } from './job-row';
import { POSTGRES_MIGRATIONS } from './postgres-migrations';

export interface PostgresJobStoreOptions {
  /** postgres://user:password@host:port/database (never logged). */
  readonly url: string;
  /** The URL without its password, for logs and errors. */
  readonly safe: string;
  readonly host: string;
  readonly port: number;
  /** Names this replica's connections (application_name). */
  readonly replicaId: string;
  readonly clock: WallClock;
  readonly log: Logger;
  /** Connections in the pool. */
  readonly maxConnections?: number;
  /** How long a connection attempt may take. */
  readonly connectTimeoutMs?: number;
}

/** The database's own clock, in ms since the epoch: leases are timed by it, so replicas' clocks need not agree. */
const DB_NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';
/** Serialises migrations between replicas starting at once (an arbitrary key, the same for every inferd). */
const MIGRATION_LOCK = 7_245_117_001;
const CHANNEL = 'inferd_jobs';
/** Wait before connecting the notification listener again after it lost its connection. */
const LISTEN_RETRY_MS = 1000;
/** Rows per INSERT of staged output rows (PostgreSQL takes at most 65535 parameters a statement). */
const ROWS_PER_INSERT = 500;

/** A write under a lease: the job is RUNNING and the lease (owner and epoch) is still its own. Parameters $1 id, $2 owner, $3 epoch. */
const FENCE = "id = $1 AND state = 'RUNNING' AND owner = $2 AND lease_epoch = $3";

const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** BIGINT and NUMERIC columns read as strings by default; counts and times here fit a double exactly. */
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser,
};

/**
 * The job store in a PostgreSQL database shared by many replicas. Replicas claim jobs with
 * `FOR UPDATE SKIP LOCKED` under a lease timed by the database's clock; every write a runner
 * makes is fenced by its lease (owner and epoch), so a replica that froze past its lease cannot
 * write after another took its job over. Changes are announced with NOTIFY (a trigger on the
 * jobs table) and every replica LISTENs, so `change` and `state` come for changes made by any
 * replica within a few milliseconds of their commit. When the database cannot be reached,
 * methods reject with InferdError UNAVAILABLE, and the listener reconnects every second (then
 * `resync`).
 */
export class PostgresJobStore extends EventEmitter<JobStoreEvents> implements JobStore {
  readonly kind = 'postgres';
  readonly where: string;
  private listener: pg.Client | undefined;
  private listenTimer: unknown;
  private listenerDown = false;
  /** Jobs being read for a `change`, and whether another notification came meanwhile. */
  private readonly reading = new Map<string, boolean>();
  private closed: Promise<void> | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly options: PostgresJobStoreOptions,
  ) {
    super();
    this.setMaxListeners(0); // one per WatchJob call
    this.where = options.safe;
  }

  /**
   * Connects, migrates the schema (under an advisory lock) and starts listening. Throws an Error
   * naming host and port (never the password) when the database cannot be reached, refuses the
   * login, or holds a schema newer than this inferd knows.
   */
  static async open(options: PostgresJobStoreOptions): Promise<PostgresJobStore> {
    const pool = new pg.Pool({ ...clientConfig(options), max: options.maxConnections ?? 10 });
    // An idle connection that breaks (the server restarted) is dropped; the next query opens another.
    pool.on('error', (err) => options.log.warn({ reason: err.message }, 'job store connection lost'));
    // The pool listens for errors only on idle connections: one that breaks while checked out
    // (between the statements of a transaction) would otherwise emit an 'error' nobody hears and
    // end the process. Its next statement fails, and the connection is dropped on release.
    pool.on('connect', (client) => client.on('error', (err) => options.log.warn({ reason: err.message }, 'job store connection lost')));
    const store = new PostgresJobStore(pool, options);
    try {
      await store.migrate();
      await store.listen();
    } catch (err) {
      await store.close();
      throw new Error(`cannot open the job store at ${options.host}:${options.port} (${options.safe}): ${(err as Error).message}`, { cause: err });
    }
    return store;
  }

  async insert(job: NewJob): Promise<Job> {
    const now = this.options.clock.now();
    const rows = await this.query<JobRow>(
      `INSERT INTO inferd_jobs (id, kind, state, spec, total, callback_url, schedule, created_ms, error_code, error_message, finished_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *`,
      [randomUUID(), job.spec.kind, job.refused ? 'FAILED' : 'QUEUED', jobRow.encodeSpec(job.spec), job.spec.kind === 'prediction' ? 1 : 0, job.callbackUrl ?? '', job.schedule ?? '', now, job.refused?.code ?? null, job.refused?.message ?? null, job.refused ? now : null],
    );
    return jobRow.toJob(rows[0]!);
  }

  async get(id: string): Promise<Job | undefined> {
    const rows = await this.query<JobRow>('SELECT * FROM inferd_jobs WHERE id = $1', [id]);
    return rows[0] && jobRow.toJob(rows[0]);
  }

  async list(options: { states: readonly JobState[]; pageSize: number; afterSeq?: number }): Promise<JobPage> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (options.states.length > 0) {
      params.push([...options.states]);
      where.push(`state = ANY($${params.length})`);
    }
    if (options.afterSeq !== undefined) {
      params.push(options.afterSeq);
      where.push(`seq < $${params.length}`);
    }
    params.push(options.pageSize + 1);
    const rows = await this.query<JobRow>(`SELECT * FROM inferd_jobs ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT $${params.length}`, params);
    const more = rows.length > options.pageSize;
    const page = rows.slice(0, options.pageSize);
    return { jobs: page.map(jobRow.toJob), next: more ? Number(page[page.length - 1]!.seq) : undefined };
  }

  async unfinished(kind: JobSpec['kind']): Promise<{ id: string; state: JobState }[]> {
    return this.query("SELECT id, state FROM inferd_jobs WHERE state IN ('RUNNING', 'QUEUED') AND kind = $1 ORDER BY state = 'RUNNING' DESC, seq", [kind]);
  }

  async scheduleActive(schedule: string): Promise<boolean> {
    return (await this.query("SELECT 1 FROM inferd_jobs WHERE schedule = $1 AND state IN ('QUEUED', 'RUNNING') LIMIT 1", [schedule])).length > 0;
  }

  async claimTick(schedule: string, dueMs: number): Promise<boolean> {
    return (await this.query('INSERT INTO inferd_schedule_ticks (schedule, due_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1', [schedule, dueMs])).length > 0;
  }

  async claim(kind: JobSpec['kind'], owner: string, leaseMs: number): Promise<{ job: Job; lease: Lease } | undefined> {
    return this.claimWhere('kind = $4', kind, owner, leaseMs);
  }

  async claimJob(id: string, owner: string, leaseMs: number): Promise<{ job: Job; lease: Lease } | undefined> {
    return this.claimWhere('id = $4', id, owner, leaseMs);
  }

  async renew(lease: Lease, leaseMs: number): Promise<void> {
    const rows = await this.query(`UPDATE inferd_jobs SET lease_until_ms = ${DB_NOW_MS} + $4 WHERE ${FENCE} RETURNING 1`, [lease.jobId, lease.owner, lease.epoch, leaseMs]);
    if (rows.length === 0) throw await this.lost(lease.jobId);
  }

  async release(lease: Lease): Promise<void> {
    await this.query(`UPDATE inferd_jobs SET owner = '', lease_until_ms = 0 WHERE ${FENCE}`, [lease.jobId, lease.owner, lease.epoch]);
  }

  async progress(lease: Lease, progress: { total?: number; processed: number; failed: number; checkpoint?: unknown }, staged?: StagedRows): Promise<void> {
    await this.transaction(async (client) => {
      const updated = await client.query(
        `UPDATE inferd_jobs SET total = coalesce($4, total), processed = $5, failed = $6, checkpoint = coalesce($7, checkpoint) WHERE ${FENCE}`,
        [lease.jobId, lease.owner, lease.epoch, progress.total ?? null, progress.processed, progress.failed, progress.checkpoint === undefined ? null : JSON.stringify(progress.checkpoint)],
      );
      if (updated.rowCount === 0) throw await this.lost(lease.jobId, client);
      if (staged !== undefined) await insertRows(client, staged);
    });
  }

  async checkpoint(id: string): Promise<unknown> {
    const rows = await this.query<{ checkpoint: string | null }>('SELECT checkpoint FROM inferd_jobs WHERE id = $1', [id]);
    return rows[0]?.checkpoint == null ? undefined : JSON.parse(rows[0].checkpoint);
  }

  async finish(id: string, state: 'SUCCEEDED' | 'FAILED' | 'CANCELLED', outcome: JobOutcome, delivery?: (job: Job) => Omit<Delivery, 'attempts' | 'lastError'> | undefined, lease?: Lease): Promise<Job | undefined> {
    const now = this.options.clock.now();
    return this.transaction(async (client) => {
      const fence = lease === undefined ? "id = $1 AND state IN ('QUEUED', 'RUNNING')" : FENCE;
      const fenceParams = lease === undefined ? [id] : [id, lease.owner, lease.epoch];
      const n = fenceParams.length;
      const updated = await client.query<JobRow>(
        `UPDATE inferd_jobs SET state = $${n + 1}, result = $${n + 2}, error_code = $${n + 3}, error_message = $${n + 4}, finished_ms = $${n + 5}, checkpoint = NULL, owner = '', lease_until_ms = 0
         WHERE ${fence} RETURNING *`,
        [...fenceParams, state, outcome.result ? jobRow.encodeOutput(outcome.result) : null, outcome.error?.code ?? null, outcome.error?.message ?? null, now],
      );
      if (updated.rows.length === 0) return undefined;
      const job = jobRow.toJob(updated.rows[0]!);
      const d = delivery?.(job);
      if (d !== undefined) {
        await client.query('INSERT INTO inferd_deliveries (id, job_id, url, body, due_ms, created_ms) VALUES ($1, $2, $3, $4, $5, $6)', [d.id, d.jobId, d.url, d.body, d.dueMs, now]);
      }
      return job;
    });
  }

  async sweep(beforeMs: number, everyMs: number): Promise<number> {
    return this.transaction(async (client) => {
      const turn = await client.query(`UPDATE inferd_sweeps SET last_ms = ${DB_NOW_MS} WHERE name = 'retention' AND last_ms <= ${DB_NOW_MS} - $1 RETURNING 1`, [everyMs]);
      if (turn.rowCount === 0) return 0; // another replica swept within everyMs
      await client.query('DELETE FROM inferd_schedule_ticks WHERE due_ms < $1', [beforeMs]);
      return (await client.query('DELETE FROM inferd_jobs WHERE finished_ms IS NOT NULL AND finished_ms < $1', [beforeMs])).rowCount ?? 0;
    });
  }

  async claimDeliveries(nowMs: number, limit: number, owner: string, leaseMs: number): Promise<Delivery[]> {
    const rows = await this.query<DeliveryRow>(
      `UPDATE inferd_deliveries d SET claimed_by = $3, claimed_until_ms = ${DB_NOW_MS} + $4
       FROM (SELECT id FROM inferd_deliveries WHERE due_ms <= $1 AND claimed_until_ms < ${DB_NOW_MS} ORDER BY due_ms LIMIT $2 FOR UPDATE SKIP LOCKED) c
       WHERE d.id = c.id RETURNING d.*`,
      [nowMs, limit, owner, leaseMs],
    );
    return rows.map(jobRow.toDelivery).sort((a, b) => a.dueMs - b.dueMs);
  }

  async nextDeliveryDueMs(): Promise<number | undefined> {
    // A delivery another replica holds comes due (here) when its claim runs out.
    const now = this.options.clock.now();
    const rows = await this.query<{ due: number | null }>(`SELECT min(CASE WHEN claimed_until_ms >= ${DB_NOW_MS} THEN greatest(due_ms, $1 + claimed_until_ms - ${DB_NOW_MS} + 1) ELSE due_ms END) AS due FROM inferd_deliveries`, [now]);
    return rows[0]?.due ?? undefined;
  }

  async deliveryFailed(id: string, attempts: number, dueMs: number, lastError: string): Promise<void> {
    await this.query("UPDATE inferd_deliveries SET attempts = $2, due_ms = $3, last_error = $4, claimed_by = '', claimed_until_ms = 0 WHERE id = $1", [id, attempts, dueMs, lastError]);
  }

  async deleteDelivery(id: string): Promise<void> {
    await this.query('DELETE FROM inferd_deliveries WHERE id = $1', [id]);
  }

  /** Whether a table exists (for `postgres:TABLE` outputs). */
  async tableExists(name: string): Promise<boolean> {
    return (await this.query('SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = $1', [name])).length > 0;
  }

  /** Runs statements of a `postgres:TABLE` output (creating or dropping its staging table) in one transaction. */
  async execute(statements: readonly string[]): Promise<void> {
    await this.transaction(async (client) => {
      for (const sql of statements) await client.query(sql);
    });
  }

  /**
   * Replaces `table` with `staging` in one transaction, only while `lease` is the job's (else
   * rejects with LeaseLostError and changes nothing).
   */
  async publishTable(lease: Lease, staging: string, table: string): Promise<void> {
    await this.transaction(async (client) => {
      const held = await client.query(`SELECT 1 FROM inferd_jobs WHERE ${FENCE} FOR UPDATE`, [lease.jobId, lease.owner, lease.epoch]);
      if (held.rowCount === 0) throw await this.lost(lease.jobId, client);
      await client.query(`DROP TABLE IF EXISTS ${ident(table)}`);
      await client.query(`ALTER TABLE ${ident(staging)} RENAME TO ${ident(table)}`);
    });
  }

  async close(): Promise<void> {
    this.closed ??= (async () => {
      this.options.clock.clearTimeout(this.listenTimer);
      const listener = this.listener;
      this.listener = undefined;
      await listener?.end().catch(() => undefined);
      await this.pool.end().catch(() => undefined);
    })();
    return this.closed;
  }

  private async claimWhere(which: string, value: string, owner: string, leaseMs: number): Promise<{ job: Job; lease: Lease } | undefined> {
    const rows = await this.query<JobRow>(
      `UPDATE inferd_jobs j SET state = 'RUNNING', owner = $1, lease_epoch = j.lease_epoch + 1, lease_until_ms = ${DB_NOW_MS} + $2, started_ms = coalesce(j.started_ms, $3)
       FROM (SELECT id FROM inferd_jobs
             WHERE ${which} AND (state = 'QUEUED' OR (state = 'RUNNING' AND (owner = '' OR lease_until_ms < ${DB_NOW_MS})))
             ORDER BY state = 'RUNNING' DESC, seq LIMIT 1 FOR UPDATE SKIP LOCKED) next
       WHERE j.id = next.id RETURNING j.*`,
      [owner, leaseMs, this.options.clock.now(), value],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    return { job: jobRow.toJob(row), lease: { jobId: row.id, owner, epoch: Number(row.lease_epoch) } };
  }

  private async lost(id: string, client?: pg.PoolClient): Promise<LeaseLostError> {
    const sql = 'SELECT state, owner FROM inferd_jobs WHERE id = $1';
    const rows = client === undefined ? await this.query<{ state: JobState; owner: string }>(sql, [id]) : (await client.query<{ state: JobState; owner: string }>(sql, [id])).rows;
    return new LeaseLostError(id, rows[0]);
  }

  private async migrate(): Promise<void> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
      try {
        await client.query('CREATE TABLE IF NOT EXISTS inferd_migrations (version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)');
        const { rows } = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM inferd_migrations');
        const version = rows[0]?.version ?? 0;
        if (version > POSTGRES_MIGRATIONS.length) throw new Error(`the database holds schema ${version}, written by a newer inferd (this one knows ${POSTGRES_MIGRATIONS.length})`);
        for (let v = version; v < POSTGRES_MIGRATIONS.length; v++) {
          await client.query('BEGIN');
          try {
            await client.query(POSTGRES_MIGRATIONS[v]!);
            await client.query('INSERT INTO inferd_migrations (version, applied_ms) VALUES ($1, $2)', [v + 1, this.options.clock.now()]);
            await client.query('COMMIT');
          } catch (err) {
            await client.query('ROLLBACK').catch(() => undefined);
            throw err;
          }
          this.options.log.info({ store: this.where, version: v + 1 }, 'job store migrated');
        }
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
      }
    } catch (err) {
      broken = err as Error;
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /** Connects the listener; on losing it, tries again every LISTEN_RETRY_MS until it is back (then `resync`), or close(). */
  private async listen(): Promise<void> {
    const client = new pg.Client(clientConfig(this.options));
    const down = (): void => {
      if (this.listener !== client) return;
      this.listener = undefined;
      client.end().catch(() => undefined);
      if (this.closed !== undefined) return;
      if (!this.listenerDown) this.options.log.warn({ store: this.where }, 'job store notifications lost: reconnecting');
      this.listenerDown = true;
      this.retryListen();
    };
    client.on('error', down);
    client.on('end', down);
    client.on('notification', (n) => this.notified(n.payload ?? ''));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (err) {
      client.removeAllListeners('end');
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
      throw err;
    }
    this.listener = client;
    if (this.listenerDown) {
      this.listenerDown = false;
      this.options.log.info({ store: this.where }, 'job store notifications back');
      this.emit('resync');
    }
  }

  private retryListen(): void {
    this.listenTimer = this.options.clock.setTimeout(() => {
      if (this.closed !== undefined) return;
      this.listen().catch(() => this.retryListen());
    }, LISTEN_RETRY_MS);
  }

  private notified(payload: string): void {
    const [id, state] = payload.split(' ') as [string, JobState];
    this.emit('state', id, state);
    if (this.listenerCount('change') === 0) return;
    if (this.reading.has(id)) {
      this.reading.set(id, true); // read again once the read in flight is done
      return;
    }
    this.reading.set(id, false);
    const read = (): void => {
      this.get(id)
        .then((job) => {
          if (job !== undefined) this.emit('change', job);
        })
        .catch(() => undefined) // the database went away: `resync` follows its return
        .finally(() => {
          if (this.reading.get(id) === true && this.closed === undefined) {
            this.reading.set(id, false);
            read();
          } else {
            this.reading.delete(id);
          }
        });
    };
    read();
  }

  private async query<R extends object>(sql: string, params: readonly unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(sql, params as unknown[])).rows;
    } catch (err) {
      throw this.translate(err);
    }
  }

  private async transaction<T>(f: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw this.translate(err);
    }
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await f(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: unknown) => (broken = e as Error));
      throw this.translate(err);
    } finally {
      client.release(broken);
    }
  }

  /** A fault of the connection (the server is down, restarting, or out of connections) becomes UNAVAILABLE; anything else is left as it is. */
  private translate(err: unknown): unknown {
    if (err instanceof LeaseLostError || err instanceof InferdError || !(err instanceof Error)) return err;
    const code = (err as { code?: unknown }).code;
    const fromServer = 'severity' in err;
    const connection = !fromServer || (typeof code === 'string' && (code.startsWith('08') || code.startsWith('57P') || code === '53300'));
    if (!connection) return err;
    return new InferdError('UNAVAILABLE', `the job store (${this.options.host}:${this.options.port}) cannot be reached: ${err.message}`, { cause: err });
  }
}

function clientConfig(options: PostgresJobStoreOptions): pg.ClientConfig {
  return {
    connectionString: options.url,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    application_name: `inferd ${options.replicaId}`.slice(0, 63),
    types: TYPES,
    keepAlive: true,
  };
}

async function insertRows(client: pg.PoolClient, staged: StagedRows): Promise<void> {
  const cols = staged.columns.map(ident).join(', ');
  const updates = staged.columns.slice(1).map((c) => `${ident(c)} = excluded.${ident(c)}`).join(', ');
  for (let i = 0; i < staged.rows.length; i += ROWS_PER_INSERT) {
    const chunk = staged.rows.slice(i, i + ROWS_PER_INSERT);
    const params: unknown[] = [];
    const tuples = chunk.map((row) => `(${row.map((v) => `$${params.push(v)}`).join(', ')})`);
    await client.query(`INSERT INTO ${ident(staged.table)} (${cols}) VALUES ${tuples.join(', ')} ON CONFLICT (${ident(staged.columns[0]!)}) DO UPDATE SET ${updates}`, params);
  }
}
