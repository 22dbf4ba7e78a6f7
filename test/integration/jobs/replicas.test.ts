import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { expect } from 'chai';
import pg from 'pg';
import { JobState, type Job } from '../../../generated/inferd/v1/job_service';
import { PredictionServiceClient } from '../../../generated/inferd/v1/prediction_service';
import { encodeOnnxModel } from '../../../src/example-models/encode-onnx-model';
import { calibrateSlowRun } from '../../support/calibrate-slow-run';
import { jobsClient, type Jobs } from '../../support/jobs';
import { PG_PASSWORD, TestPostgres } from '../../support/postgres';
import { runInferd } from '../../support/run-inferd';
import { children, serve, type ServeProcess } from '../../support/serve-process';
import { slowModel } from '../../support/slow-model';
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

const BIG_ROWS = 300_000;
const LEASE_MS = 2000;
const value = (row: number): number => row % 1000;
const bigInput = (): string => {
  const lines: string[] = [];
  for (let row = 1; row <= BIG_ROWS; row++) lines.push(`{"key":"r${row}","x":[${value(row)}]}\n`);
  return lines.join('');
};
const bigOutput = (): string => {
  const lines: string[] = [];
  for (let row = 1; row <= BIG_ROWS; row++) lines.push(`{"row":${row},"key":"r${row}","outputs":{"y":[${value(row)}]}}\n`);
  return lines.join('');
};

/** Where two texts first differ, by line, or undefined when they are the same (so a failure does not print megabytes). */
function firstDifference(actual: string, expected: string): string | undefined {
  if (actual === expected) return undefined;
  const a = actual.split('\n');
  const e = expected.split('\n');
  for (let i = 0; i < Math.max(a.length, e.length); i++) {
    if (a[i] !== e[i]) return `line ${i + 1}: ${JSON.stringify(a[i])}, expected ${JSON.stringify(e[i])} (${a.length - 1} lines, expected ${e.length - 1})`;
  }
  return 'same lines, different text';
}

const ENDED = 'job ended';

describe('many replicas sharing one PostgreSQL job store and one data directory', function () {
  this.timeout(180_000);
  let server: TestPostgres;
  let repo: string;
  let data: string;
  let url: string;
  let replicas: ServeProcess[] = [];
  let clients: Jobs[] = [];
  const input = { written: false };

  /** Starts `n` replicas r0, r1, ... at the same moment on the test's database and data directory, the store URL in the environment. */
  async function startReplicas(n: number, flags: readonly string[] = []): Promise<void> {
    replicas = await Promise.all(
      Array.from({ length: n }, (_, i) => serve(repo, ['--data-dir', data, '--replica-id', `r${i}`, '--job-lease-ms', String(LEASE_MS), '--log-level', 'info', ...flags], { INFERD_JOB_STORE: url })),
    );
    clients = replicas.map((r) => jobsClient(`127.0.0.1:${r.port}`));
  }

  const replicaOf = (owner: string): ServeProcess => replicas[Number(owner.slice(1))]!;
  const allLogs = (): Record<string, unknown>[] => replicas.flatMap((r) => r.logs);
  const ended = (id: string): Record<string, unknown>[] => allLogs().filter((r) => r.msg === ENDED && r['job'] === id);

  async function submitBig(outputUri: string): Promise<Job> {
    if (!input.written) writeFileSync(path.join(data, 'big.jsonl'), bigInput());
    input.written = true;
    return clients[0]!.submitBatch({ modelName: 'identity', inputUri: 'big.jsonl', outputUri, batchSize: 1000 });
  }

  /** The job once a replica runs it and has checkpointed some rows (but not all). */
  async function runningWithOwner(id: string): Promise<Job> {
    let job: Job | undefined;
    await until(async () => {
      job = await clients[1]!.get(id);
      return job.state === JobState.JOB_STATE_RUNNING && job.owner !== '' && job.processed >= 1000n;
    }, `job ${id} to be running with rows done`, 60_000);
    expect(job!.processed < BigInt(BIG_ROWS), `job ${id} already done`).to.equal(true);
    return job!;
  }

  before(async () => {
    server = await TestPostgres.start();
    repo = writeRepository({ identity: identityModel(), slow: slowModel() });
  });

  beforeEach(async () => {
    url = await server.createDatabase();
    data = mkdtempSync(path.join(tmpdir(), 'inferd-replicas-'));
    input.written = false;
  });

  afterEach(async () => {
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
    expect(replicas.map((r) => r.logs.find((l) => l.msg === 'serving')!['replicaId'])).to.deep.equal(['r0', 'r1', 'r2']);
    expect(allLogs().filter((l) => l.msg === 'job store migrated').map((l) => l['version'])).to.deep.equal([1]);
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      expect((await db.query('SELECT version FROM inferd_migrations')).rows).to.deep.equal([{ version: 1 }]);
    } finally {
      await db.end();
    }
    const serving = replicas.map((r) => r.logs.find((l) => l.msg === 'serving')!);
    expect(JSON.stringify(serving)).to.include('"jobStore":"postgres://inferd:***@127.0.0.1:');
  });

  it('a batch job whose replica is SIGKILLed is resumed by another: every row exactly once, SUCCEEDED', async () => {
    await startReplicas(3);
    const submitted = await submitBig('big-out.jsonl');
    const job = await runningWithOwner(submitted.id);
    const victim = replicaOf(job.owner);
    victim.child.kill('SIGKILL');
    expect(await victim.exited).to.equal(null);
    const others = replicas.filter((r) => r !== victim);
    const client = clients[replicas.indexOf(others[0]!)]!;
    const done = await client.finished(submitted.id, 120_000);
    expect(done).to.deep.include({ state: JobState.JOB_STATE_SUCCEEDED, total: BigInt(BIG_ROWS), processed: BigInt(BIG_ROWS), failed: 0n, owner: '' });
    const resumed = others.flatMap((r) => r.logs).filter((l) => l.msg === 'batch job resumed' && l['job'] === submitted.id);
    expect(resumed.length).to.be.greaterThanOrEqual(1);
    expect(ended(submitted.id).map((l) => l['state'])).to.deep.equal(['SUCCEEDED']);
    expect(firstDifference(readFileSync(path.join(data, 'big-out.jsonl'), 'utf8'), bigOutput())).to.equal(undefined);
    expect(readdirSync(data).filter((f) => f.endsWith('.part'))).to.deep.equal([]);
  });

  it('a replica frozen (SIGSTOP) past its lease writes nothing after another took its job over, and gives the job up when it wakes', async () => {
    await startReplicas(3);
    const submitted = await submitBig('frozen-out.jsonl');
    const job = await runningWithOwner(submitted.id);
    const frozen = replicaOf(job.owner);
    frozen.child.kill('SIGSTOP');
    try {
      const client = clients.find((_, i) => replicas[i] !== frozen)!;
      await until(async () => {
        const now = await client.get(submitted.id);
        return now.owner !== '' && now.owner !== job.owner;
      }, 'another replica to take the job over', 60_000);
    } finally {
      frozen.child.kill('SIGCONT');
    }
    const gaveUp = await frozen.logged('job given up: its lease was lost (another replica took it over); nothing more is written here');
    expect(gaveUp['job']).to.equal(submitted.id);
    const client = clients.find((_, i) => replicas[i] !== frozen)!;
    const done = await client.finished(submitted.id, 120_000);
    expect(done).to.deep.include({ state: JobState.JOB_STATE_SUCCEEDED, processed: BigInt(BIG_ROWS), failed: 0n });
    expect(ended(submitted.id).map((l) => l['state'])).to.deep.equal(['SUCCEEDED']);
    expect(frozen.logs.filter((l) => l.msg === ENDED && l['job'] === submitted.id)).to.deep.equal([]);
    expect(firstDifference(readFileSync(path.join(data, 'frozen-out.jsonl'), 'utf8'), bigOutput())).to.equal(undefined);
    expect(readdirSync(data).filter((f) => f.endsWith('.part'))).to.deep.equal([]);
  });

  it('a postgres:TABLE output whose replica is SIGKILLed: rows committed with each checkpoint, the table swapped in whole on success, every row once', async () => {
    await startReplicas(3);
    const rows = 60_000;
    writeFileSync(path.join(data, 'table-in.jsonl'), Array.from({ length: rows }, (_, i) => `{"key":"r${i + 1}","x":[${value(i + 1)}]}\n`).join(''));
    const refused = await clients[0]!.submitBatch({ modelName: 'identity', inputUri: 'table-in.jsonl', outputUri: 'postgres:inferd_jobs' }).catch((err: ServiceError) => err);
    expect((refused as ServiceError).code).to.equal(status.INVALID_ARGUMENT);
    const submitted = await clients[0]!.submitBatch({ modelName: 'identity', inputUri: 'table-in.jsonl', outputUri: 'postgres:scores', batchSize: 500 });
    const job = await runningWithOwner(submitted.id);
    const victim = replicaOf(job.owner);
    victim.child.kill('SIGKILL');
    await victim.exited;
    const client = clients[replicas.indexOf(replicas.find((r) => r !== victim)!)]!;
    const done = await client.finished(submitted.id, 120_000);
    expect(done).to.deep.include({ state: JobState.JOB_STATE_SUCCEEDED, processed: BigInt(rows), failed: 0n });
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      const got = (await db.query<{ row: string; key: string; y: unknown }>('SELECT row, key, y FROM scores ORDER BY row')).rows;
      expect(got.length).to.equal(rows);
      const wrong = got.findIndex((r, i) => Number(r.row) !== i + 1 || r.key !== `r${i + 1}` || JSON.stringify(r.y) !== `[${value(i + 1)}]`);
      expect(wrong, `row ${wrong + 1}: ${JSON.stringify(got[wrong])}`).to.equal(-1);
      const staging = (await db.query("SELECT tablename FROM pg_tables WHERE tablename LIKE 'scores\\_\\_%'")).rows;
      expect(staging).to.deep.equal([]);
    } finally {
      await db.end();
    }
  });

  it('100 asynchronous predictions submitted round-robin are each answered once, and readable from any replica', async () => {
    await startReplicas(3);
    const x = (i: number) => ({ x: tensor({ shape: [1n, 1n], floatData: [i] }) });
    const submitted = await Promise.all(Array.from({ length: 100 }, (_, i) => clients[i % 3]!.submitPrediction({ modelName: 'identity', inputs: x(i), id: `p${i}` })));
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
    writeFileSync(config, JSON.stringify({ schedules: [{ name: 'every-second', cron: '* * * * * *', modelName: 'identity', inputUri: 'tick.jsonl', outputUri: 'ticks/{time}.jsonl' }] }));
    await startReplicas(3, ['--config', config]);
    const TICKS = 10;
    await until(() => new Set(allLogs().filter((l) => l.msg === 'schedule due').map((l) => l['dueMs'])).size >= TICKS + 3, `${TICKS + 3} ticks to come due`, 60_000, 100);
    for (const r of replicas) r.child.kill('SIGTERM');
    await Promise.all(replicas.map((r) => r.exited));
    const due = allLogs().filter((l) => l.msg === 'schedule due');
    const ticks = [...new Set(due.map((l) => l['dueMs'] as number))].sort();
    const queued = allLogs().filter((l) => l.msg === 'scheduled job queued');
    const skipped = allLogs().filter((l) => l.msg === 'scheduled run skipped: the last one has not ended');
    // Every tick that came due on all three replicas was taken by exactly one of them: queued or skipped, once.
    const everywhere = ticks.filter((t) => due.filter((l) => l['dueMs'] === t).length === 3);
    expect(everywhere.length).to.be.greaterThanOrEqual(TICKS);
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      const jobs = (await db.query<{ spec: string }>("SELECT spec FROM inferd_jobs WHERE schedule = 'every-second'")).rows.map((r) => JSON.parse(r.spec).outputUri as string);
      expect(new Set(jobs).size, 'one job per tick').to.equal(jobs.length);
      expect(jobs.length).to.equal(queued.length);
      const taken = (await db.query<{ due_ms: number }>("SELECT due_ms FROM inferd_schedule_ticks WHERE schedule = 'every-second'")).rows.map((r) => Number(r.due_ms));
      for (const t of everywhere) expect(taken, `tick ${t}`).to.include(t);
      expect(queued.length + skipped.length).to.equal(taken.length);
    } finally {
      await db.end();
    }
  });

  it('WatchJob and CancelJob on replicas that do not run the job: the watch sees it end CANCELLED, the owner stops it and removes its partial output', async () => {
    await startReplicas(3);
    const prediction = new PredictionServiceClient(`127.0.0.1:${replicas[0]!.port}`, credentials.createInsecure());
    const slowInputs = (side: number) => ({ x: tensor({ shape: [1n, 1n], floatData: [1] }), side: tensor({ shape: [1n, 1n], int64Data: [BigInt(side)] }) });
    const { side } = await calibrateSlowRun((n) => predict(prediction, { modelName: 'slow', inputs: slowInputs(n) }), 100);
    prediction.close();
    writeFileSync(path.join(data, 'slow.jsonl'), Array.from({ length: 40 }, (_, i) => `${JSON.stringify({ key: `r${i + 1}`, x: [1], side: [side] })}\n`).join(''));
    const submitted = await clients[0]!.submitBatch({ modelName: 'slow', inputUri: 'slow.jsonl', outputUri: 'slow-out.jsonl', batchSize: 1 });
    let owner = '';
    await until(async () => {
      const job = await clients[0]!.get(submitted.id);
      owner = job.owner;
      return job.processed >= 2n;
    }, 'the slow job to pass row 2', 60_000);
    const others = [0, 1, 2].filter((i) => `r${i}` !== owner);
    const watching = clients[others[0]!]!.watch(submitted.id);
    await until(() => replicas[others[0]!]!.logs.length > 0, 'the watch to start', 1000).catch(() => undefined);
    const cancelled = await clients[others[1]!]!.cancel(submitted.id);
    expect(cancelled.state).to.equal(JobState.JOB_STATE_CANCELLED);
    const seen = await watching;
    expect(seen[seen.length - 1]!.state).to.equal(JobState.JOB_STATE_CANCELLED);
    expect(seen.filter((j) => j.state === JobState.JOB_STATE_CANCELLED)).to.have.length(1);
    const stopped = await replicaOf(owner).logged('job stopped');
    expect([stopped['job'], stopped['reason']]).to.deep.equal([submitted.id, 'the job was cancelled']);
    await until(() => readdirSync(data).filter((f) => f.startsWith('slow-out')).length === 0, 'the partial output to be removed', 10_000);
    const final = await clients[owner === 'r0' ? 1 : 0]!.get(submitted.id);
    expect(final.processed < 40n).to.equal(true);
  });

  it('PostgreSQL stopped and started again under a running job: Predict goes on, job calls answer UNAVAILABLE, and the job finishes exactly once', async () => {
    await startReplicas(2);
    const submitted = await submitBig('restart-out.jsonl');
    const job = await runningWithOwner(submitted.id);
    const owner = replicaOf(job.owner);
    server.stopServer();
    try {
      await owner.logged('job paused: the job store cannot be reached');
      const unavailable = await clients[0]!.get(submitted.id).catch((err: ServiceError) => err);
      expect((unavailable as ServiceError).code).to.equal(status.UNAVAILABLE);
      expect((unavailable as ServiceError).details).to.match(/^the job store \(127\.0\.0\.1:\d+\) cannot be reached: /);
      const prediction = new PredictionServiceClient(`127.0.0.1:${replicas[0]!.port}`, credentials.createInsecure());
      const answer = await predict(prediction, { modelName: 'identity', inputs: { x: tensor({ shape: [1n, 1n], floatData: [7] }) } });
      prediction.close();
      expect(answer.outputs['y']!.floatData).to.deep.equal([7]);
    } finally {
      server.startServer();
    }
    const done = await clients[0]!.finished(submitted.id, 120_000);
    expect(done).to.deep.include({ state: JobState.JOB_STATE_SUCCEEDED, processed: BigInt(BIG_ROWS), failed: 0n });
    expect(ended(submitted.id).map((l) => l['state'])).to.deep.equal(['SUCCEEDED']);
    expect(firstDifference(readFileSync(path.join(data, 'restart-out.jsonl'), 'utf8'), bigOutput())).to.equal(undefined);
    const metrics = await (await fetch(`http://127.0.0.1:${replicas[0]!.httpPort}/metrics`)).text();
    expect(metrics.includes(PG_PASSWORD)).to.equal(false);
  });

  it('refuses to start when PostgreSQL cannot be reached: a clear error naming host and port, never the password, and exit 1', async () => {
    const closed = server.url('nowhere').replace(`:${server.port}/`, ':1/');
    const run = await runInferd(['serve', '--models', repo, '--port', '0', '--http-port', '0', '--data-dir', data], { env: { INFERD_JOB_STORE: closed }, timeoutMs: 60_000 });
    expect(run.code).to.equal(1);
    const fatal = run.stdout.split('\n').filter((l) => l.includes('cannot start'))[0]!;
    expect(fatal).to.include('cannot open the job store at 127.0.0.1:1 (postgres://inferd:***@127.0.0.1:1/nowhere)');
    expect(run.stdout + run.stderr).to.not.include(PG_PASSWORD);
    const help = await runInferd(['serve', '--help'], { env: { INFERD_JOB_STORE: closed } });
    expect(help.stdout).to.include('--job-store SECRET');
    expect(help.stdout + help.stderr).to.not.include(PG_PASSWORD);
  });
});
