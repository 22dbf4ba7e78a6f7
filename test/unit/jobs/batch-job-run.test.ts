import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import pino from 'pino';
import { tinyMlpModel, tinyMlpReference } from '../../../src/example-models/example-models';
import { InferdError } from '../../../src/inferd-error';
import { Inference } from '../../../src/inference';
import { BatchJobRun } from '../../../src/jobs/batch/batch-job-run';
import { DataPaths } from '../../../src/jobs/batch/data-paths';
import type { BatchSpec, Job } from '../../../src/jobs/job';
import { LeaseLostError, type JobStore, type Lease } from '../../../src/jobs/job-store';
import { openJobStore } from '../../../src/jobs/store/open-job-store';
import { ModelRepository } from '../../../src/repository/model-repository';
import { FakeWallClock } from '../../support/fake-wall-clock';
import { jsonError, jsonl } from '../../support/json-lines';

const LEASE_MS = 30_000;
/** Five records of tiny_mlp (x [4] → y [3]); with batch_size 2, three batches: rows 1–2, 3–4, 5. */
const XS = [
  [1, 2, 3, 4],
  [4, 3, 2, 1],
  [0, 0, 0, 0],
  [-1, 0.5, 2, -3],
  [0.25, 0.25, 0.25, 0.25],
];
const INPUT = jsonl(XS.map((x, i) => ({ key: `k${i + 1}`, x })));
/** The whole output of INPUT, every row once and in row order. */
const OUTPUT_ROWS = XS.map((x, i) => ({ row: i + 1, key: `k${i + 1}`, outputs: { y: tinyMlpReference(x) } }));
const OUTPUT = jsonl(OUTPUT_ROWS);

/**
 * BatchJobRun over its real neighbours: a SQLite job store file, files in a data folder, and
 * the core (Inference) over a repository that serves tiny_mlp in-process. Runs are stopped and
 * leases lost at exact checkpoints, from the store's change events, never by time.
 */
describe('BatchJobRun', function () {
  this.timeout(60_000);
  let dir: string;
  let repository: ModelRepository;
  let inference: Inference;
  /** Per test: the data folder jobs read and write, and the store beside it (not in it). */
  let data: string;
  let store: JobStore;
  let clock: FakeWallClock;
  /** What the runs logged, parsed. */
  let logged: Record<string, unknown>[];

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'inferd-batch-job-run-'));
    mkdirSync(path.join(dir, 'models', 'tiny_mlp', '1'), { recursive: true });
    writeFileSync(path.join(dir, 'models', 'tiny_mlp', '1', 'model.onnx'), tinyMlpModel());
    repository = await ModelRepository.create({
      root: path.join(dir, 'models'),
      defaults: {
        instances: 1,
        placement: 'auto',
        maxQueueSize: 64,
        session: { intraOpThreads: 1, interOpThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' },
      },
      control: 'explicit',
      pollMs: 0,
      log: pino({ level: 'silent' }),
    });
    await repository.load('tiny_mlp');
    inference = new Inference(repository);
  });

  after(async () => {
    await repository?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  let testNo = 0;
  beforeEach(async () => {
    const folder = path.join(dir, `test-${++testNo}`);
    data = path.join(folder, 'data');
    mkdirSync(data, { recursive: true });
    clock = new FakeWallClock(1_000_000);
    store = await openJobStore(
      { kind: 'sqlite', file: path.join(folder, 'store', 'jobs.sqlite') },
      { replicaId: 'test', clock, log: pino({ level: 'silent' }) },
    );
    logged = [];
  });

  afterEach(async () => {
    await store.close();
    // No run left a timer behind: nothing here waits on time.
    expect(clock.pending).to.equal(0);
  });

  /** A batch job of tiny_mlp on `in.jsonl`, stored and claimed by replica "a". */
  const submit = async (spec: Partial<BatchSpec> = {}): Promise<{ job: Job; lease: Lease }> => {
    const inserted = await store.insert({
      spec: {
        kind: 'batch',
        modelName: 'tiny_mlp',
        modelVersion: '',
        inputUri: 'in.jsonl',
        outputUri: 'out.jsonl',
        batchSize: 2,
        inputColumns: [],
        outputNames: [],
        ...spec,
      },
    });
    return (await store.claimJob(inserted.id, 'a', LEASE_MS))!;
  };
  const runOf = (claimed: { job: Job; lease: Lease }): BatchJobRun =>
    new BatchJobRun(claimed.job, {
      store,
      lease: claimed.lease,
      inference,
      paths: new DataPaths({ root: data, confine: true }),
      clock,
      log: pino(
        { level: 'info' },
        { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) },
      ),
      leaseMs: LEASE_MS,
    });
  /** What a run with a signal that never fires rejects with; fails the test when it resolves. */
  const failureOf = async (run: BatchJobRun): Promise<unknown> => {
    try {
      await run.run(new AbortController().signal);
    } catch (err) {
      return err;
    }
    return expect.fail('the run ended without an error');
  };
  /** Calls `f` once, right after the store commits the job's progress with `processed` rows. */
  const whenProcessed = (id: string, processed: number, f: () => void): void => {
    const onChange = (job: Job): void => {
      if (job.id !== id || job.processed !== processed) return;
      store.off('change', onChange);
      f();
    };
    store.on('change', onChange);
  };
  const write = (name: string, content: string): void => writeFileSync(path.join(data, name), content);
  const read = (name: string): string => readFileSync(path.join(data, name), 'utf8');
  const files = (): string[] => readdirSync(data).sort();
  const progressOf = async (id: string): Promise<Pick<Job, 'state' | 'total' | 'processed' | 'failed' | 'owner'>> => {
    const { state, total, processed, failed, owner } = (await store.get(id))!;
    return { state, total, processed, failed, owner };
  };
  const nextRowOf = async (id: string): Promise<number> =>
    ((await store.checkpoint(id)) as { nextRow: number }).nextRow;

  it('writes every row once, in row order, publishes the output with no errors file, and ends finished with every row counted', async () => {
    write('in.jsonl', INPUT);
    const claimed = await submit();
    expect(await runOf(claimed).run(new AbortController().signal)).to.equal('finished');
    expect(read('out.jsonl')).to.equal(OUTPUT);
    expect(files()).to.deep.equal(['in.jsonl', 'out.jsonl']);
    // The run records progress; ending the job is its runner's.
    expect(await progressOf(claimed.job.id)).to.deep.equal({
      state: 'RUNNING',
      total: 5,
      processed: 5,
      failed: 0,
      owner: 'a',
    });
    expect(await nextRowOf(claimed.job.id)).to.equal(6);
  });

  it('stopped with a reason other than CANCELLED, keeps its checkpoint and part files; a second run resumes there and the output has every row once', async () => {
    write('in.jsonl', INPUT);
    const first = await submit();
    const stop = new AbortController();
    whenProcessed(first.job.id, 2, () => stop.abort(new InferdError('UNAVAILABLE', 'server is shutting down')));
    expect(await runOf(first).run(stop.signal)).to.equal('stopped');
    expect(await progressOf(first.job.id)).to.deep.equal({
      state: 'RUNNING',
      total: 5,
      processed: 2,
      failed: 0,
      owner: 'a',
    });
    expect(await nextRowOf(first.job.id)).to.equal(3);
    const tag = first.job.id.slice(0, 8);
    expect(files()).to.deep.equal(['in.jsonl', `out.jsonl.${tag}.part`, `out.jsonl.errors.jsonl.${tag}.part`].sort());
    expect(read(`out.jsonl.${tag}.part`)).to.equal(jsonl(OUTPUT_ROWS.slice(0, 2)));

    await store.release(first.lease);
    const second = (await store.claimJob(first.job.id, 'a', LEASE_MS))!;
    expect(second.lease.epoch).to.equal(first.lease.epoch + 1);
    expect(await runOf(second).run(new AbortController().signal)).to.equal('finished');
    expect(logged.filter((l) => l['msg'] === 'batch job resumed').map((l) => [l['job'], l['row']])).to.deep.equal([
      [first.job.id, 3],
    ]);
    expect(read('out.jsonl')).to.equal(OUTPUT);
    expect(files()).to.deep.equal(['in.jsonl', 'out.jsonl']);
    expect(await progressOf(first.job.id)).to.deep.include({ processed: 5, failed: 0 });
  });

  it('stopped with CANCELLED, removes its partial output and errors file and publishes nothing', async () => {
    write('in.jsonl', INPUT);
    const claimed = await submit();
    const stop = new AbortController();
    whenProcessed(claimed.job.id, 2, () => stop.abort(new InferdError('CANCELLED', 'the job was cancelled')));
    expect(await runOf(claimed).run(stop.signal)).to.equal('stopped');
    expect(files()).to.deep.equal(['in.jsonl']);
    expect(await progressOf(claimed.job.id)).to.deep.include({ total: 5, processed: 2 });
  });

  it('counts records that fail (malformed, or not fitting the model) without failing the job, and writes them to the errors file in row order', async () => {
    write('in.jsonl', `{"key":"a","x":[1,2,3,4]}\nnot json\n{"key":"b","x":[1,2,3]}\n{"key":"c","x":[4,3,2,1]}\n`);
    const claimed = await submit();
    expect(await runOf(claimed).run(new AbortController().signal)).to.equal('finished');
    expect(read('out.jsonl')).to.equal(
      jsonl([
        { row: 1, key: 'a', outputs: { y: tinyMlpReference([1, 2, 3, 4]) } },
        { row: 4, key: 'c', outputs: { y: tinyMlpReference([4, 3, 2, 1]) } },
      ]),
    );
    expect(read('out.jsonl.errors.jsonl')).to.equal(
      jsonl([
        { row: 2, key: null, where: 'in.jsonl line 2', error: `not valid JSON (${jsonError('not json')})` },
        { row: 3, key: 'b', where: 'in.jsonl line 3', error: 'input "x": expected shape [4] for one record, got [3]' },
      ]),
    );
    expect(await progressOf(claimed.job.id)).to.deep.include({ total: 4, processed: 4, failed: 2 });
  });

  it('fails once more records failed than max_bad_records allows, naming the count and the row, dropping the output and keeping the errors file', async () => {
    // Rows 2 and 4 do not fit the model: the second batch (rows 3–4) brings the count to 2.
    write(
      'in.jsonl',
      `{"key":"a","x":[1,2,3,4]}\n{"key":"b","x":[1]}\n{"key":"c","x":[0,0,0,0]}\n{"key":"d","x":[1,2]}\n{"key":"e","x":[1,1,1,1]}\n`,
    );
    const claimed = await submit({ maxBadRecords: 1 });
    const err = await failureOf(runOf(claimed));
    expect(err).to.be.instanceOf(InferdError);
    expect(err).to.deep.include({
      code: 'INVALID_ARGUMENT',
      message: '2 records failed by row 4, more than max_bad_records (1) allows; they are in "out.jsonl.errors.jsonl"',
    });
    expect(files()).to.deep.equal(['in.jsonl', 'out.jsonl.errors.jsonl']);
    expect(read('out.jsonl.errors.jsonl')).to.equal(
      jsonl([
        { row: 2, key: 'b', where: 'in.jsonl line 2', error: 'input "x": expected shape [4] for one record, got [1]' },
        { row: 4, key: 'd', where: 'in.jsonl line 4', error: 'input "x": expected shape [4] for one record, got [2]' },
      ]),
    );
    expect(await progressOf(claimed.job.id)).to.deep.include({ processed: 4, failed: 2 });
  });

  it('fails before writing anything when more lines are malformed than max_bad_records allows, naming the count and the first', async () => {
    write('in.jsonl', `{"key":"a","x":[1,2,3,4]}\n[1]\n42\n`);
    const claimed = await submit({ maxBadRecords: 1 });
    const err = await failureOf(runOf(claimed));
    expect(err).to.be.instanceOf(InferdError);
    expect(err).to.deep.include({
      code: 'INVALID_ARGUMENT',
      message:
        '2 records of input "in.jsonl" are malformed, more than max_bad_records (1) allows; the first: in.jsonl line 2: expected a JSON object, got an array',
    });
    expect(files()).to.deep.equal(['in.jsonl']);
    expect(await progressOf(claimed.job.id)).to.deep.include({ total: 0, processed: 0, failed: 0 });
  });

  it("stops with LeaseLostError, committing nothing more, once another replica holds the job under a newer epoch; that holder's resume has every row once", async () => {
    write('in.jsonl', INPUT);
    const first = await submit();
    let taken: { job: Job; lease: Lease } | undefined;
    // After the first batch's checkpoint, replica "a" is taken for dead: its lease let go, "b" claims the job.
    whenProcessed(first.job.id, 2, () => {
      void store.release(first.lease);
      void store.claimJob(first.job.id, 'b', LEASE_MS).then((claimed) => (taken = claimed));
    });
    const err = await failureOf(runOf(first));
    expect(err).to.be.instanceOf(LeaseLostError);
    expect((err as LeaseLostError).message).to.equal(`job ${first.job.id} is held by b now`);
    expect(taken?.lease).to.deep.equal({ jobId: first.job.id, owner: 'b', epoch: first.lease.epoch + 1 });
    // The second batch's checkpoint was refused: the store still says what the first committed.
    expect(await progressOf(first.job.id)).to.deep.equal({
      state: 'RUNNING',
      total: 5,
      processed: 2,
      failed: 0,
      owner: 'b',
    });
    expect(await nextRowOf(first.job.id)).to.equal(3);
    expect(existsSync(path.join(data, 'out.jsonl'))).to.equal(false);
    const part = read(`out.jsonl.${first.job.id.slice(0, 8)}.part`);
    expect(part.includes('"key":"k5"'), 'row 5, read after the loss, was written').to.equal(false);

    expect(await runOf(taken!).run(new AbortController().signal)).to.equal('finished');
    expect(read('out.jsonl')).to.equal(OUTPUT);
    expect(await progressOf(first.job.id)).to.deep.equal({
      state: 'RUNNING',
      total: 5,
      processed: 5,
      failed: 0,
      owner: 'b',
    });
  });
});
