import pg from 'pg';
import { until } from './until';

/** The advisory lock the gate's checkpoints wait for (advisory locks are per database: every test has its own). */
const LOCK = 71_717_171;

/** A checkpoint waiting at the gate: the replica that writes it (its --replica-id) and its backend's pid. */
export interface GatedCheckpoint {
  readonly replicaId: string;
  readonly pid: number;
}

/**
 * A gate a test closes on a batch job between two of its checkpoints, in the job store's own
 * database, so that the job is running (and cannot end) for as long as the test wants, however
 * fast or slow the machine: once a checkpoint with rows has committed, every later checkpoint
 * (an UPDATE of `inferd_jobs.processed`, from any replica) waits on an advisory lock that the
 * gate's own connection holds.
 *
 * The trigger is a statement-level BEFORE trigger: it fires before the UPDATE locks the job's
 * row, so a checkpoint waiting at the gate holds no lock on the row, and everything else a
 * replica does with the job goes on: lease renewals (the owner keeps its lease), GetJob,
 * CancelJob, and the claims of other replicas once the lease expires. For a store with one
 * batch job at a time (each test has its own database).
 */
export class CheckpointGate {
  private lost = false;

  private constructor(
    private readonly url: string,
    private readonly db: pg.Client,
  ) {
    // The server stopped under the gate: the lock went with the connection (the gate is open).
    db.on('error', () => (this.lost = true));
  }

  /** Shuts a gate on the job store at `url` (its schema made: a replica has started on it). */
  static async shut(url: string): Promise<CheckpointGate> {
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    const gate = new CheckpointGate(url, db);
    await db.query('SELECT pg_advisory_lock($1)', [LOCK]);
    await db.query(`
      CREATE FUNCTION test_checkpoint_gate() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF EXISTS (SELECT 1 FROM inferd_jobs WHERE kind = 'batch' AND state = 'RUNNING' AND processed > 0) THEN
          PERFORM pg_advisory_xact_lock(${LOCK});
        END IF;
        RETURN NULL;
      END
      $$;
      CREATE TRIGGER test_checkpoint_gate BEFORE UPDATE OF processed ON inferd_jobs FOR EACH STATEMENT EXECUTE FUNCTION test_checkpoint_gate();
    `);
    return gate;
  }

  /**
   * Settles once the checkpoint of the job's owner waits at the gate (seen in pg_locks: its
   * backend waits for the gate's lock), with the owner's --replica-id and the backend's pid.
   */
  async waiting(withinMs = 120_000): Promise<GatedCheckpoint> {
    let found: GatedCheckpoint | undefined;
    await until(
      async () => {
        const { rows } = await this.db.query<{ pid: number; owner: string }>(
          `SELECT l.pid, j.owner FROM pg_locks l
             JOIN pg_stat_activity a ON a.pid = l.pid
             JOIN inferd_jobs j ON j.kind = 'batch' AND j.state = 'RUNNING' AND a.application_name = 'inferd ' || j.owner
           WHERE l.locktype = 'advisory' AND NOT l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
             AND l.classid = 0 AND l.objid::bigint = $1 AND l.objsubid = 1`,
          [LOCK],
        );
        found = rows[0] === undefined ? undefined : { replicaId: rows[0].owner, pid: rows[0].pid };
        return found !== undefined;
      },
      "the job owner's checkpoint to wait at the gate",
      withinMs,
      50,
    );
    return found!;
  }

  /** Ends a backend (as a connection cut under it): its transaction rolls back, and its client sees the connection lost. Settles once it is gone. */
  async terminate(pid: number): Promise<void> {
    const { rows } = await this.db.query<{ done: boolean }>('SELECT pg_terminate_backend($1, 60000) AS done', [pid]);
    if (rows[0]!.done !== true) throw new Error(`backend ${pid} did not end`);
  }

  /**
   * Opens the gate for good: lets the waiting checkpoints go on (releasing the lock first: one
   * waiting keeps the table open, which would hold the DROP back), then removes the trigger.
   */
  async open(): Promise<void> {
    if (!this.lost) {
      try {
        await this.db.query('SELECT pg_advisory_unlock($1)', [LOCK]);
      } catch (err) {
        // Only a connection lost (the server stopped) has taken the lock with it; an error the server answered has not.
        if ('severity' in (err as object)) throw err;
      }
      await this.end();
    }
    const db = new pg.Client({ connectionString: this.url });
    await db.connect();
    try {
      await db.query('DROP TRIGGER test_checkpoint_gate ON inferd_jobs; DROP FUNCTION test_checkpoint_gate()');
    } finally {
      await db.end();
    }
  }

  /** Closes its connection (the lock goes with it, should a test have failed with the gate shut). Safe to call twice. */
  async end(): Promise<void> {
    if (this.lost) return;
    this.lost = true;
    await this.db.end().catch(() => undefined);
  }
}
