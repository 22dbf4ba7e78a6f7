/**
 * The PostgreSQL job store's schema, one migration per version, applied in order at start under
 * an advisory lock (so replicas starting at once on an empty database apply each exactly once).
 * Never edit a migration that has shipped: add the next one. Every table is named inferd_*, and
 * no `postgres:TABLE` output may take such a name.
 */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  // 1: jobs with their leases, webhook deliveries with their claims, schedule ticks, the retention sweep.
  `
CREATE TABLE inferd_jobs (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  state TEXT NOT NULL,
  spec TEXT NOT NULL,
  total BIGINT NOT NULL DEFAULT 0,
  processed BIGINT NOT NULL DEFAULT 0,
  failed BIGINT NOT NULL DEFAULT 0,
  result TEXT,
  error_code TEXT,
  error_message TEXT,
  callback_url TEXT NOT NULL DEFAULT '',
  schedule TEXT NOT NULL DEFAULT '',
  checkpoint TEXT,
  created_ms BIGINT NOT NULL,
  started_ms BIGINT,
  finished_ms BIGINT,
  owner TEXT NOT NULL DEFAULT '',
  lease_epoch BIGINT NOT NULL DEFAULT 0,
  lease_until_ms BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX inferd_jobs_to_claim ON inferd_jobs (kind, seq) WHERE state IN ('QUEUED', 'RUNNING');
CREATE INDEX inferd_jobs_by_state ON inferd_jobs (state, seq);
CREATE INDEX inferd_jobs_by_finish ON inferd_jobs (finished_ms);
CREATE INDEX inferd_jobs_by_schedule ON inferd_jobs (schedule) WHERE state IN ('QUEUED', 'RUNNING');
CREATE TABLE inferd_deliveries (
  id TEXT PRIMARY KEY,
  job_id TEXT NOT NULL,
  url TEXT NOT NULL,
  body TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  due_ms BIGINT NOT NULL,
  last_error TEXT NOT NULL DEFAULT '',
  created_ms BIGINT NOT NULL,
  claimed_by TEXT NOT NULL DEFAULT '',
  claimed_until_ms BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX inferd_deliveries_by_due ON inferd_deliveries (due_ms);
CREATE TABLE inferd_schedule_ticks (
  schedule TEXT NOT NULL,
  due_ms BIGINT NOT NULL,
  PRIMARY KEY (schedule, due_ms)
);
CREATE TABLE inferd_sweeps (
  name TEXT PRIMARY KEY,
  last_ms BIGINT NOT NULL
);
INSERT INTO inferd_sweeps (name, last_ms) VALUES ('retention', 0);
CREATE FUNCTION inferd_job_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('inferd_jobs', NEW.id || ' ' || NEW.state);
  RETURN NULL;
END
$$;
-- A lease renewal (lease_until_ms alone) is no change anyone watches.
CREATE TRIGGER inferd_jobs_changed AFTER INSERT OR UPDATE OF state, total, processed, failed, result, owner ON inferd_jobs
  FOR EACH ROW EXECUTE FUNCTION inferd_job_changed();
`,
];
