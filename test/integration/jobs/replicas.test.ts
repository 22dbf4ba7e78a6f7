import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { expect } from 'chai';
import pg from 'pg';
import { JobState, type Job } from '../../../generated/inferd/v1/job_service';
import { PredictionServiceClient } from '../../../generated/inferd/v1/prediction_service';
import { encodeOnnxModel } from '../../../src/example-models/encode-onnx-model';
import { CheckpointGate } from '../../support/checkpoint-gate';
import { jobsClient, type Jobs } from '../../support/jobs';
import { PG_PASSWORD, TestPostgres } from '../../support/postgres';
import { runInferd } from '../../support/run-inferd';
import { children, serve, type ServeProcess } from '../../support/serve-process';
import { predict, removeFolder, tensor, writeRepository } from '../../support/test-server';
import { until } from '../../support/until';

/** x [n, 1] → y = x: every row's output is its input, so the output file is known exactly. */
function identityModel(): Uint8Array {
  return encodeOnnxModel({
    graphName: 'identity',
    inputs: [{ name: 'x', elemType: 'FLOAT', dims: ['n', 1] }],
    outputs: [{ name: 'y', elemType: 'FLOAT', dims: ['n', 1] }],
    nodes: [{ opType: 'Identity', inputs: ['x'], outputs: ['y'] }],
  });
}

/** The job the issue asks for, whose replica is SIGKILLed mid-job. */
const BIG_ROWS = 300_000;
/** The other jobs caught running: held at the checkpoint gate, their size changes only how long they take. */
const ROWS = 20_000;
const LEASE_MS = 2000;
const value = (row: number): number => row % 1000;
const inputOf = (rows: number): string => {
  const lines: string[] = [];
  for (let row = 1; row <= rows; row++) lines.push(`{"key":"r${row}","x":[${value(row)}]}\n`);
  return lines.join('');
};
const outputOf = (rows: number): string => {
  const lines: string[] = [];
  for (let row = 1; row <= rows; row++) lines.push(`{"row":${row},"key":"r${row}","outputs":{"y":[${value(row)}]}}\n`);
  return lines.join('');
};

/** Where two texts first differ, by line, or undefined when they are the same (so a failure does not print megabytes). */
function firstDifference(actual: string, expected: string): string | undefined {
  if (actual === expected) return undefined;
  const a = actual.split('\n');
  const e = expected.split('\n');
  for (let i = 0; i < Math.max(a.length, e.length); i++) {
    if (a[i] !== e[i])
      return `line ${i + 1}: ${JSON.stringify(a[i])}, expected ${JSON.stringify(e[i])} (${a.length - 1} lines, expected ${e.length - 1})`;
  }
  return 'same lines, different text';
}

const ENDED = 'job ended';
const GAVE_UP = 'job given up: its lease was lost (another replica took it over); nothing more is written here';

describe('many replicas sharing one PostgreSQL job store and one data directory', function () {
  this.timeout(180_000);
  let server: TestPostgres;
  let repo: string;
  let data: string;
  let url: string;
  let replicas: ServeProcess[] = [];
  let clients: Jobs[] = [];
  /** A test that must act while a job runs shuts this gate on the job's checkpoints (see CheckpointGate). */
  let gate: CheckpointGate | undefined;
  const inputs = new Set<number>();

  /** Starts `n` replicas r0, r1, ... at the same moment on the test's database and data directory, the store URL in the environment. */
  async function startReplicas(n: number, flags: readonly string[] = []): Promise<void> {
    replicas = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        serve(
          repo,
          [
            '--data-dir',
            data,
            '--replica-id',
            `r${i}`,
            '--job-lease-ms',
            String(LEASE_MS),
            '--log-level',
            'info',
            ...flags,
          ],
          { INFERD_JOB_STORE: url },
        ),
      ),
    );
    clients = replicas.map((r) => jobsClient(`127.0.0.1:${r.port}`));
  }

  const replicaOf = (owner: string): ServeProcess => replicas[Number(owner.slice(1))]!;
  const clientBesides = (replica: ServeProcess): Jobs => clients[replicas.findIndex((r) => r !== replica)]!;
  const allLogs = (): Record<string, unknown>[] => replicas.flatMap((r) => r.logs);
  const ended = (id: string): Record<string, unknown>[] => allLogs().filter((r) => r.msg === ENDED && r['job'] === id);

  /** A batch job of the identity model over `rows` rows (in-<rows>.jsonl), 1000 rows a checkpoint. */
  async function submitRows(rows: number, outputUri: string): Promise<Job> {
    if (!inputs.has(rows)) writeFileSync(path.join(data, `in-${rows}.jsonl`), inputOf(rows));
    inputs.add(rows);
    return clients[0]!.submitBatch({ modelName: 'identity', inputUri: `in-${rows}.jsonl`, outputUri, batchSize: 1000 });
  }

  async function withDb<T>(f: (db: pg.Client) => Promise<T>): Promise<T> {
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      return await f(db);
    } finally {
      await db.end();
    }
  }

  /** What the replicas have written for a job: its row in the store, and every file of the data directory with a hash of its bytes. */
  async function written(id: string): Promise<{ row: unknown; files: Record<string, string> }> {
    const row = await withDb(
      async (db) =>
        (
          await db.query(
            'SELECT state, processed, failed, owner, lease_epoch, finished_ms, checkpoint, result FROM inferd_jobs WHERE id = $1',
            [id],
          )
        ).rows[0],
    );
    const files: Record<string, string> = {};
    for (const entry of readdirSync(data, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const file = path.join(entry.parentPath, entry.name);
      files[path.relative(data, file)] = createHash('sha256').update(readFileSync(file)).digest('hex');
    }
    return { row, files };
  }

  before(async () => {
    server = await TestPostgres.start();
    repo = writeRepository({ identity: identityModel() });
  });

  beforeEach(async () => {
    url = await server.createDatabase();
    data = mkdtempSync(path.join(tmpdir(), 'inferd-replicas-'));
    inputs.clear();
  });

  afterEach(async () => {
    await gate?.end();
    gate = undefined;
    for (const c of clients) c.close();
    clients = [];
    const logs = JSON.stringify(allLogs());
    for (const r of replicas) r.child.kill('SIGKILL');
    await Promise.all(replicas.map((r) => r.exited));
    replicas = [];
    removeFolder(data);
    expect(logs.includes(PG_PASSWORD), 'the password is in a log line').to.equal(false);
  });

  after(() => {
    for (const child of children) child.kill('SIGKILL');
    server.close();
    removeFolder(repo);
  });

  it('three replicas started at the same moment on an empty database all come up, the schema made once', async () => {
    await startReplicas(3);
    expect(replicas.map((r) => r.logs.find((l) => l.msg === 'serving')!['replicaId'])).to.deep.equal([
      'r0',
      'r1',
      'r2',
    ]);
    expect(
      allLogs()
        .filter((l) => l.msg === 'job store migrated')
        .map((l) => l['version']),
    ).to.deep.equal([1]);
    expect(await withDb(async (db) => (await db.query('SELECT version FROM inferd_migrations')).rows)).to.deep.equal([
      { version: 1 },
    ]);
    // Each replica's connections carry its name, for an operator reading pg_stat_activity.
    const names = await withDb(
      async (db) =>
        (
          await db.query<{ name: string }>(
            "SELECT DISTINCT application_name AS name FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'inferd %' ORDER BY 1",
          )
        ).rows,
    );
    expect(names.map((r) => r.name)).to.deep.equal(['inferd r0', 'inferd r1', 'inferd r2']);
    const serving = replicas.map((r) => r.logs.find((l) => l.msg === 'serving')!);
    expect(JSON.stringify(serving)).to.include('"jobStore":"postgres://inferd:***@127.0.0.1:');
  });

  it('a batch job whose replica is SIGKILLed is resumed by another: every row exactly once, SUCCEEDED', async () => {
    await startReplicas(3);
    gate = await CheckpointGate.shut(url);
    const submitted = await submitRows(BIG_ROWS, 'big-out.jsonl');
    // Rows 1-1000 are checkpointed; the checkpoint of rows 1001-2000 (already appended to the part file) waits at the gate.
    const at = await gate.waiting();
    expect(await clients[1]!.get(submitted.id)).to.deep.include({
      state: JobState.JOB_STATE_RUNNING,
      owner: at.replicaId,
      total: BigInt(BIG_ROWS),
      processed: 1000n,
    });
    const victim = replicaOf(at.replicaId);
    victim.child.kill('SIGKILL');
    expect(await victim.exited).to.equal(null);
    // Its waiting checkpoint can never commit now (the COMMIT would come from the killed process).
    await gate.open();
    const done = await clientBesides(victim).finished(submitted.id, 120_000);
    expect(done).to.deep.include({
      state: JobState.JOB_STATE_SUCCEEDED,
      total: BigInt(BIG_ROWS),
      processed: BigInt(BIG_ROWS),
      failed: 0n,
      owner: '',
    });
    const others = replicas.filter((r) => r !== victim);
    const resumed = others
      .flatMap((r) => r.logs)
      .filter((l) => l.msg === 'batch job resumed' && l['job'] === submitted.id);
    expect(resumed.map((l) => l['row'])).to.include(1001);
    expect(ended(submitted.id).map((l) => l['state'])).to.deep.equal(['SUCCEEDED']);
    expect(firstDifference(readFileSync(path.join(data, 'big-out.jsonl'), 'utf8'), outputOf(BIG_ROWS))).to.equal(
      undefined,
    );
    expect(readdirSync(data).filter((f) => f.endsWith('.part'))).to.deep.equal([]);
  });

  it('a replica frozen (SIGSTOP) past its lease writes nothing after another took its job over, and gives the job up when it wakes', async () => {
    await startReplicas(3);
    gate = await CheckpointGate.shut(url);
    const submitted = await submitRows(ROWS, 'frozen-out.jsonl');
    const at = await gate.waiting();
    const frozen = replicaOf(at.replicaId);
    frozen.child.kill('SIGSTOP');
    let before: Awaited<ReturnType<typeof written>>;
    try {
      // The frozen replica's connection is cut, as a frozen pod's would be: its waiting checkpoint rolls back.
      await gate.terminate(at.pid);
      await gate.open();
      const done = await clientBesides(frozen).finished(submitted.id, 120_000);
      expect(done).to.deep.include({
        state: JobState.JOB_STATE_SUCCEEDED,
        processed: BigInt(ROWS),
        failed: 0n,
        owner: '',
      });
      before = await written(submitted.id);
    } finally {
      frozen.child.kill('SIGCONT');
    }
    const gaveUp = await frozen.logged(GAVE_UP);
    expect(gaveUp['job']).to.equal(submitted.id);
    expect(await written(submitted.id)).to.deep.equal(before);
    const resumed = replicas
      .filter((r) => r !== frozen)
      .flatMap((r) => r.logs)
      .filter((l) => l.msg === 'batch job resumed' && l['job'] === submitted.id);
    expect(resumed.map((l) => l['row'])).to.include(1001);
    expect(ended(submitted.id).map((l) => l['state'])).to.deep.equal(['SUCCEEDED']);
    expect(frozen.logs.filter((l) => l.msg === ENDED && l['job'] === submitted.id)).to.deep.equal([]);
    expect(firstDifference(readFileSync(path.join(data, 'frozen-out.jsonl'), 'utf8'), outputOf(ROWS))).to.equal(
      undefined,
    );
    expect(readdirSync(data).filter((f) => f.endsWith('.part'))).to.deep.equal([]);
  });

  it('a postgres:TABLE output whose replica is SIGKILLed: rows committed with each checkpoint, the table swapped in whole on success, every row once', async () => {
    await startReplicas(3);
    const rows = 5000;
    writeFileSync(path.join(data, 'table-in.jsonl'), inputOf(rows));
    const refused = await clients[0]!
      .submitBatch({ modelName: 'identity', inputUri: 'table-in.jsonl', outputUri: 'postgres:inferd_jobs' })
      .catch((err: ServiceError) => err);
    expect((refused as ServiceError).code).to.equal(status.INVALID_ARGUMENT);
    gate = await CheckpointGate.shut(url);
    const submitted = await clients[0]!.submitBatch({
      modelName: 'identity',
      inputUri: 'table-in.jsonl',
      outputUri: 'postgres:scores',
      batchSize: 500,
    });
    const at = await gate.waiting();
    expect(await clients[1]!.get(submitted.id)).to.deep.include({
      state: JobState.JOB_STATE_RUNNING,
      owner: at.replicaId,
      processed: 500n,
    });
    // The staging table holds exactly the rows checkpointed: the next 500 wait with their checkpoint.
    const staged = await withDb(async (db) => {
      const tables = (
        await db.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE tablename LIKE 'scores\\_\\_%'")
      ).rows.map((r) => r.tablename);
      expect(tables).to.have.length(1);
      return (
        await db.query<{ n: number; last: number }>(
          `SELECT count(*)::int AS n, max(row)::int AS last FROM "${tables[0]!}"`,
        )
      ).rows[0];
    });
    expect(staged).to.deep.equal({ n: 500, last: 500 });
    const victim = replicaOf(at.replicaId);
    victim.child.kill('SIGKILL');
    await victim.exited;
    await gate.open();
    const done = await clientBesides(victim).finished(submitted.id, 120_000);
    expect(done).to.deep.include({ state: JobState.JOB_STATE_SUCCEEDED, processed: BigInt(rows), failed: 0n });
    await withDb(async (db) => {
      const got = (
        await db.query<{ row: string; key: string; y: unknown }>('SELECT row, key, y FROM scores ORDER BY row')
      ).rows;
      expect(got.length).to.equal(rows);
      const wrong = got.findIndex(
        (r, i) => Number(r.row) !== i + 1 || r.key !== `r${i + 1}` || JSON.stringify(r.y) !== `[${value(i + 1)}]`,
      );
      expect(wrong, `row ${wrong + 1}: ${JSON.stringify(got[wrong])}`).to.equal(-1);
      const staging = (await db.query("SELECT tablename FROM pg_tables WHERE tablename LIKE 'scores\\_\\_%'")).rows;
      expect(staging).to.deep.equal([]);
    });
  });

  it('100 asynchronous predictions submitted round-robin are each answered once, and readable from any replica', async () => {
    await startReplicas(3);
    const x = (i: number) => ({ x: tensor({ shape: [1n, 1n], floatData: [i] }) });
    const submitted = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        clients[i % 3]!.submitPrediction({ modelName: 'identity', inputs: x(i), id: `p${i}` }),
      ),
    );
    const done = await Promise.all(submitted.map((job, i) => clients[(i + 1) % 3]!.finished(job.id, 60_000)));
    for (const [i, job] of done.entries()) {
      expect(job.state, `prediction ${i}`).to.equal(JobState.JOB_STATE_SUCCEEDED);
      expect(job.result!.id).to.equal(`p${i}`);
      expect(job.result!.outputs['y']!.floatData).to.deep.equal([i]);
    }
    for (const job of submitted) expect(ended(job.id).length, `job ${job.id} ended on one replica, once`).to.equal(1);
    const third = await clients[2]!.get(submitted[0]!.id);
    expect(third.result!.outputs['y']!.floatData).to.deep.equal([0]);
  });

  it('a schedule firing every second runs once per tick across three replicas', async () => {
    writeFileSync(path.join(data, 'tick.jsonl'), '{"x":[1]}\n{"x":[2]}\n');
    const config = path.join(data, 'schedules.json');
    writeFileSync(
      config,
      JSON.stringify({
        schedules: [
          {
            name: 'every-second',
            cron: '* * * * * *',
            modelName: 'identity',
            inputUri: 'tick.jsonl',
            outputUri: 'ticks/{time}.jsonl',
          },
        ],
      }),
    );
    await startReplicas(3, ['--config', config]);
    const TICKS = 10;
    const outcomes = ['scheduled job queued', 'scheduled run skipped: the last one has not ended'];
    await withDb(async (db) => {
      // Ten ticks (ten seconds) that came due on all three replicas, each taken by exactly one of them: queued or skipped, once.
      await until(
        async () => {
          const due = allLogs()
            .filter((l) => l.msg === 'schedule due')
            .map((l) => l['dueMs'] as number);
          const everywhere = [...new Set(due)].filter((t) => due.filter((d) => d === t).length === 3);
          if (everywhere.length < TICKS) return false;
          const taken = (
            await db.query<{ due_ms: number }>(
              "SELECT due_ms FROM inferd_schedule_ticks WHERE schedule = 'every-second'",
            )
          ).rows.map((r) => Number(r.due_ms));
          const settled = allLogs().filter((l) => outcomes.includes(l.msg as string)).length;
          return everywhere.every((t) => taken.includes(t)) && settled === taken.length;
        },
        `${TICKS} ticks due on every replica, each taken once and run or skipped`,
        60_000,
        100,
      );
    });
    for (const r of replicas) r.child.kill('SIGTERM');
    await Promise.all(replicas.map((r) => r.exited));
    await withDb(async (db) => {
      const jobs = (
        await db.query<{ spec: string }>("SELECT spec FROM inferd_jobs WHERE schedule = 'every-second'")
      ).rows.map((r) => JSON.parse(r.spec).outputUri as string);
      expect(new Set(jobs).size, 'one job per tick').to.equal(jobs.length);
      expect(jobs.length).to.be.greaterThanOrEqual(1);
      const taken = (
        await db.query<{ due_ms: number }>("SELECT due_ms FROM inferd_schedule_ticks WHERE schedule = 'every-second'")
      ).rows.map((r) => Number(r.due_ms));
      const takenTimes = taken.map(
        (t) =>
          `ticks/${new Date(t)
            .toISOString()
            .replace(/[-:]/g, '')
            .replace(/\.\d+Z$/, 'Z')}.jsonl`,
      );
      for (const job of jobs) expect(takenTimes, 'the job of a taken tick').to.include(job);
    });
  });

  it('WatchJob and CancelJob on replicas that do not run the job: the watch sees it end CANCELLED, the owner stops it and removes its partial output', async () => {
    await startReplicas(3);
    gate = await CheckpointGate.shut(url);
    writeFileSync(path.join(data, 'four.jsonl'), inputOf(4));
    const submitted = await clients[0]!.submitBatch({
      modelName: 'identity',
      inputUri: 'four.jsonl',
      outputUri: 'cancel-out.jsonl',
      batchSize: 1,
    });
    // Row 1 is checkpointed; the checkpoint of row 2 waits at the gate.
    const at = await gate.waiting();
    const others = [0, 1, 2].filter((i) => `r${i}` !== at.replicaId);
    let first: (job: Job) => void = () => undefined;
    const watched = new Promise<Job>((resolve) => (first = resolve));
    const watching = clients[others[0]!]!.watch(submitted.id, (job) => first(job));
    expect(await watched).to.deep.include({ state: JobState.JOB_STATE_RUNNING, owner: at.replicaId, processed: 1n });
    const cancelled = await clients[others[1]!]!.cancel(submitted.id);
    expect(cancelled).to.deep.include({ state: JobState.JOB_STATE_CANCELLED, processed: 1n, owner: '' });
    // The owner's waiting checkpoint goes on, and is refused: the job is no longer running under its lease.
    await gate.open();
    const seen = await watching;
    expect(seen.map((j) => [j.state, j.processed])).to.deep.equal([
      [JobState.JOB_STATE_RUNNING, 1n],
      [JobState.JOB_STATE_CANCELLED, 1n],
    ]);
    const stopped = await replicaOf(at.replicaId).logged('job stopped');
    expect([stopped['job'], stopped['reason']]).to.deep.equal([submitted.id, 'the job was cancelled']);
    expect(readdirSync(data).filter((f) => f.startsWith('cancel-out'))).to.deep.equal([]);
    expect(await clients[others[0]!]!.get(submitted.id)).to.deep.include({
      state: JobState.JOB_STATE_CANCELLED,
      processed: 1n,
      owner: '',
    });
  });

  it('PostgreSQL stopped and started again under a running job: Predict goes on, job calls answer UNAVAILABLE, and the job finishes exactly once', async () => {
    await startReplicas(2);
    gate = await CheckpointGate.shut(url);
    const submitted = await submitRows(ROWS, 'restart-out.jsonl');
    const at = await gate.waiting();
    const owner = replicaOf(at.replicaId);
    server.stopServer();
    try {
      await owner.logged('job paused: the job store cannot be reached');
      const unavailable = await clients[0]!.get(submitted.id).catch((err: ServiceError) => err);
      expect((unavailable as ServiceError).code).to.equal(status.UNAVAILABLE);
      expect((unavailable as ServiceError).details).to.match(/^the job store \(127\.0\.0\.1:\d+\) cannot be reached: /);
      const prediction = new PredictionServiceClient(`127.0.0.1:${replicas[0]!.port}`, credentials.createInsecure());
      const answer = await predict(prediction, {
        modelName: 'identity',
        inputs: { x: tensor({ shape: [1n, 1n], floatData: [7] }) },
      });
      prediction.close();
      expect(answer.outputs['y']!.floatData).to.deep.equal([7]);
    } finally {
      server.startServer();
    }
    // The gate's lock went with its connection when the server stopped; its trigger is still there.
    await gate.open();
    const done = await clients[0]!.finished(submitted.id, 120_000);
    expect(done).to.deep.include({ state: JobState.JOB_STATE_SUCCEEDED, processed: BigInt(ROWS), failed: 0n });
    expect(ended(submitted.id).map((l) => l['state'])).to.deep.equal(['SUCCEEDED']);
    expect(firstDifference(readFileSync(path.join(data, 'restart-out.jsonl'), 'utf8'), outputOf(ROWS))).to.equal(
      undefined,
    );
    const metrics = await (await fetch(`http://127.0.0.1:${replicas[0]!.httpPort}/metrics`)).text();
    expect(metrics.includes(PG_PASSWORD)).to.equal(false);
  });

  it('refuses to start when PostgreSQL cannot be reached: a clear error naming host and port, never the password, and exit 1', async () => {
    const closed = server.url('nowhere').replace(`:${server.port}/`, ':1/');
    const run = await runInferd(['serve', '--models', repo, '--port', '0', '--http-port', '0', '--data-dir', data], {
      env: { INFERD_JOB_STORE: closed },
      timeoutMs: 60_000,
    });
    expect(run.code).to.equal(1);
    const fatal = run.stdout.split('\n').filter((l) => l.includes('cannot start'))[0]!;
    expect(fatal).to.include('cannot open the job store at 127.0.0.1:1 (postgres://inferd:***@127.0.0.1:1/nowhere)');
    expect(run.stdout + run.stderr).to.not.include(PG_PASSWORD);
    const help = await runInferd(['serve', '--help'], { env: { INFERD_JOB_STORE: closed } });
    expect(help.stdout).to.include('--job-store SECRET');
    expect(help.stdout + help.stderr).to.not.include(PG_PASSWORD);
  });
});
