import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { status } from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { JobKind, JobState } from '../../../generated/inferd/v1/job_service';
import { simpleModel, tinyMlpModel, tinyMlpReference } from '../../../src/example-models/example-models';
import { calibrateSlowRun } from '../../support/calibrate-slow-run';
import { jobsClient, type Jobs } from '../../support/jobs';
import { slowModel } from '../../support/slow-model';
import { predict, rejection, removeFolder, startServer, tensor, writeRepository, type TestServer } from '../../support/test-server';
import { until } from '../../support/until';

const range = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));
const jsonl = (records: unknown[]): string => records.map((r) => `${JSON.stringify(r)}\n`).join('');
/** Rows of tiny_mlp input: 4 small integers each, so every output is exact in float32. */
const mlpRow = (i: number): number[] => [i, -2 * i, 3 - i, (i * 7) % 5];

describe('JobService', function () {
  this.timeout(60_000);
  let repo: string;
  let data: string;
  let outside: string;
  let t: TestServer;
  let jobs: Jobs;
  /** The side of a `slow` record whose run takes half a second or more on this machine: long next to a watch or a cancel getting there. */
  let side: number;
  /** One `slow` record: x = 1, so y = side. */
  const slowRecord = (): { x: number[]; side: number[] } => ({ x: [1], side: [side] });

  before(async () => {
    repo = writeRepository({ simple: simpleModel(), tiny_mlp: tinyMlpModel(), slow: slowModel() });
    data = mkdtempSync(path.join(tmpdir(), 'inferd-jobs-'));
    outside = mkdtempSync(path.join(tmpdir(), 'inferd-outside-'));
    t = await startServer(repo, { dataDir: data });
    jobs = jobsClient(t.address);
    const slowInputs = (n: number) => ({ x: tensor({ shape: [1n, 1n], floatData: [1] }), side: tensor({ shape: [1n, 1n], int64Data: [BigInt(n)] }) });
    side = (await calibrateSlowRun((n) => predict(t.prediction, { modelName: 'slow', inputs: slowInputs(n) }), 500)).side;
  });

  after(async () => {
    jobs?.close();
    await t?.close();
    removeFolder(repo);
    removeFolder(data);
    removeFolder(outside);
  });

  const write = (name: string, text: string): void => {
    mkdirSync(path.dirname(path.join(data, name)), { recursive: true });
    writeFileSync(path.join(data, name), text);
  };
  const read = (name: string): string => readFileSync(path.join(data, name), 'utf8');

  describe('asynchronous predictions', () => {
    it('SubmitPrediction answers at once with a QUEUED job; once it SUCCEEDED, GetJob holds the exact PredictResponse', async () => {
      const a = range(16, (i) => i * 3 - 7);
      const b = range(16, (i) => 100 - i);
      const submitted = await jobs.submitPrediction({
        modelName: 'simple',
        id: 'async-1',
        inputs: { INPUT0: tensor({ shape: [1n, 16n], int32Data: a }), INPUT1: tensor({ shape: [1n, 16n], int32Data: b }) },
      });
      expect(submitted).to.deep.include({ kind: JobKind.JOB_KIND_PREDICTION, state: JobState.JOB_STATE_QUEUED, total: 1n, processed: 0n, failed: 0n, modelName: 'simple' });
      expect(submitted.result).to.equal(undefined);
      const job = await jobs.finished(submitted.id);
      expect(job).to.deep.include({ id: submitted.id, state: JobState.JOB_STATE_SUCCEEDED, total: 1n, processed: 1n, failed: 0n });
      expect(job.result).to.deep.include({ modelName: 'simple', modelVersion: '1', id: 'async-1' });
      expect(job.result!.outputs['OUTPUT0']!.int32Data).to.deep.equal(a.map((x, i) => x + b[i]!));
      expect(job.result!.outputs['OUTPUT1']!.int32Data).to.deep.equal(a.map((x, i) => x - b[i]!));
      expect(job.result!.outputs['OUTPUT0']!.shape).to.deep.equal([1n, 16n]);
      expect(job.createTime!.seconds > 0n && job.startTime !== undefined && job.endTime !== undefined).to.equal(true);
    });

    it('answers raw_data when the request was all raw_data, as Predict does', async () => {
      const x = Float32Array.from([1, 2, 3, 4]);
      const submitted = await jobs.submitPrediction({ modelName: 'tiny_mlp', inputs: { x: tensor({ shape: [1n, 4n], rawData: new Uint8Array(x.buffer) }) } });
      const job = await jobs.finished(submitted.id);
      const y = job.result!.outputs['y']!;
      expect(Array.from(new Float32Array(new Uint8Array(y.rawData).buffer))).to.deep.equal(tinyMlpReference([1, 2, 3, 4]));
    });

    it('refuses an unknown model with NOT_FOUND and an input that does not fit with INVALID_ARGUMENT, queuing nothing', async () => {
      const before = (await jobs.list({ pageSize: 1000 })).jobs.length;
      const unknown = await rejection(jobs.submitPrediction({ modelName: 'nope', inputs: {} }));
      expect(unknown.code).to.equal(status.NOT_FOUND);
      expect(unknown.details).to.equal('unknown model "nope"');
      const wrong = await rejection(jobs.submitPrediction({ modelName: 'tiny_mlp', inputs: { x: tensor({ shape: [1n, 3n], floatData: [1, 2, 3] }) } }));
      expect(wrong.code).to.equal(status.INVALID_ARGUMENT);
      expect(wrong.details).to.equal('input "x": expected shape [-1,4], got [1,3]');
      expect((await jobs.list({ pageSize: 1000 })).jobs.length).to.equal(before);
    });

    it('WatchJob streams the job from QUEUED or RUNNING until SUCCEEDED, then ends the stream', async () => {
      const submitted = await jobs.submitPrediction({ modelName: 'slow', inputs: { x: tensor({ shape: [1n, 1n], floatData: [1] }), side: tensor({ shape: [1n, 1n], int64Data: [BigInt(side)] }) } });
      const seen = await jobs.watch(submitted.id);
      expect(seen.length).to.be.greaterThan(1);
      expect(seen.slice(0, -1).every((j) => j.state === JobState.JOB_STATE_QUEUED || j.state === JobState.JOB_STATE_RUNNING)).to.equal(true);
      const last = seen[seen.length - 1]!;
      expect(last.state).to.equal(JobState.JOB_STATE_SUCCEEDED);
      expect(last.result!.outputs['y']!.floatData).to.deep.equal([side]);
    });
  });

  describe('batch jobs', () => {
    it('scores JSON Lines into JSON Lines: one line per record, in input order, with its row number, key and exact outputs', async () => {
      const records = range(7, (i) => (i % 2 === 0 ? { key: `k${i}`, x: mlpRow(i) } : { x: mlpRow(i) }));
      write('mlp/in.jsonl', jsonl(records));
      const submitted = await jobs.submitBatch({ modelName: 'tiny_mlp', inputUri: 'mlp/in.jsonl', outputUri: 'mlp/out.jsonl', batchSize: 3 });
      expect(submitted).to.deep.include({ kind: JobKind.JOB_KIND_BATCH, state: JobState.JOB_STATE_QUEUED, inputUri: 'mlp/in.jsonl', outputUri: 'mlp/out.jsonl', errorsUri: 'mlp/out.jsonl.errors.jsonl', batchSize: 3 });
      const job = await jobs.finished(submitted.id);
      expect(job).to.deep.include({ state: JobState.JOB_STATE_SUCCEEDED, total: 7n, processed: 7n, failed: 0n });
      expect(read('mlp/out.jsonl')).to.equal(jsonl(range(7, (i) => ({ row: i + 1, key: i % 2 === 0 ? `k${i}` : null, outputs: { y: tinyMlpReference(mlpRow(i)) } }))));
      expect(existsSync(path.join(data, 'mlp/out.jsonl.errors.jsonl'))).to.equal(false);
      expect(readdirSync(path.join(data, 'mlp')).filter((f) => f.endsWith('.part'))).to.deep.equal([]);
    });

    it('scores CSV with a header into CSV: the columns but "key" form the input, the key is carried, each output element gets a column', async () => {
      write('csv/in.csv', `key,a,b,c,d\n${range(5, (i) => `id-${i},${mlpRow(i).join(',')}`).join('\n')}\n`);
      const job = await jobs.finished((await jobs.submitBatch({ modelName: 'tiny_mlp', inputUri: 'csv/in.csv', outputUri: 'csv/out.csv', batchSize: 2 })).id);
      expect(job).to.deep.include({ state: JobState.JOB_STATE_SUCCEEDED, total: 5n, processed: 5n, failed: 0n });
      const expected = ['row,key,y_0,y_1,y_2', ...range(5, (i) => `${i + 1},id-${i},${tinyMlpReference(mlpRow(i)).join(',')}`)];
      expect(read('csv/out.csv')).to.equal(`${expected.join('\n')}\n`);
    });

    it('takes the CSV columns named by input_columns, in that order', async () => {
      write('cols/in.csv', 'd,ignored,c,b,a\n4,x,3,2,1\n');
      const job = await jobs.finished((await jobs.submitBatch({ modelName: 'tiny_mlp', inputUri: 'cols/in.csv', outputUri: 'cols/out.jsonl', inputColumns: ['a', 'b', 'c', 'd'] })).id);
      expect(job.state).to.equal(JobState.JOB_STATE_SUCCEEDED);
      expect(read('cols/out.jsonl')).to.equal(jsonl([{ row: 1, key: null, outputs: { y: tinyMlpReference([1, 2, 3, 4]) } }]));
    });

    it('writes rows into a SQLite table (sqlite:PATH#TABLE), replacing the table of an earlier run whole', async () => {
      const records = range(5, (i) => ({ key: i * 10, INPUT0: range(16, (k) => k + i), INPUT1: range(16, () => i) }));
      write('db/in.jsonl', jsonl(records));
      for (let run = 0; run < 2; run++) {
        const job = await jobs.finished((await jobs.submitBatch({ modelName: 'simple', inputUri: 'db/in.jsonl', outputUri: 'sqlite:db/results.db#scores', batchSize: 2, outputNames: ['OUTPUT0'] })).id);
        expect(job).to.deep.include({ state: JobState.JOB_STATE_SUCCEEDED, processed: 5n, failed: 0n, errorsUri: 'db/results.db.scores.errors.jsonl' });
      }
      const db = new Database(path.join(data, 'db/results.db'), { readonly: true });
      try {
        const rows = db.prepare('SELECT row, key, OUTPUT0 FROM scores ORDER BY row').all();
        expect(rows).to.deep.equal(range(5, (i) => ({ row: i + 1, key: i * 10, OUTPUT0: JSON.stringify(range(16, (k) => k + 2 * i)) })));
        const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all();
        expect(tables).to.deep.equal([{ name: 'scores' }]);
      } finally {
        db.close();
      }
    });

    it('reads a folder of files in name order, numbering rows across them', async () => {
      write('folder/in/b.jsonl', jsonl([{ x: mlpRow(3) }]));
      write('folder/in/a.csv', `a,b,c,d\n${mlpRow(1).join(',')}\n${mlpRow(2).join(',')}\n`);
      write('folder/in/notes.txt', 'not an input\n');
      const job = await jobs.finished((await jobs.submitBatch({ modelName: 'tiny_mlp', inputUri: 'folder/in', outputUri: 'folder/out.jsonl' })).id);
      expect(job).to.deep.include({ state: JobState.JOB_STATE_SUCCEEDED, total: 3n, processed: 3n });
      expect(read('folder/out.jsonl')).to.equal(jsonl([1, 2, 3].map((i) => ({ row: i, key: null, outputs: { y: tinyMlpReference(mlpRow(i)) } }))));
    });

    it('fails a record that does not fit the model alone: it goes to the errors file with its row and reason, the others are written', async () => {
      write(
        'bad-rows/in.jsonl',
        jsonl([
          { key: 'ok-1', x: [1, 2, 3, 4] },
          { key: 'short', x: [1, 2, 3] },
          { key: 'extra', x: [1, 2, 3, 4], z: [1] },
          { key: 'text', x: [1, 'two', 3, 4] },
          { key: 'missing' },
          { key: 'ok-2', x: [4, 3, 2, 1] },
        ]),
      );
      const job = await jobs.finished((await jobs.submitBatch({ modelName: 'tiny_mlp', inputUri: 'bad-rows/in.jsonl', outputUri: 'bad-rows/out.jsonl', batchSize: 4 })).id);
      expect(job).to.deep.include({ state: JobState.JOB_STATE_SUCCEEDED, total: 6n, processed: 6n, failed: 4n });
      expect(read('bad-rows/out.jsonl')).to.equal(
        jsonl([
          { row: 1, key: 'ok-1', outputs: { y: tinyMlpReference([1, 2, 3, 4]) } },
          { row: 6, key: 'ok-2', outputs: { y: tinyMlpReference([4, 3, 2, 1]) } },
        ]),
      );
      const where = (line: number): string => `bad-rows/in.jsonl line ${line}`;
      expect(read('bad-rows/out.jsonl.errors.jsonl')).to.equal(
        jsonl([
          { row: 2, key: 'short', where: where(2), error: 'input "x": expected shape [4] for one record, got [3]' },
          { row: 3, key: 'extra', where: where(3), error: 'unknown input "z": model "tiny_mlp" version 1 takes "x"' },
          { row: 4, key: 'text', where: where(4), error: 'input "x": element [1] is "two", expected a FLOAT32' },
          { row: 5, key: 'missing', where: where(5), error: 'missing input "x": model "tiny_mlp" version 1 takes "x"' },
        ]),
      );
    });

    it('fails a CSV row whose cells do not fit alone, naming the column', async () => {
      write('bad-csv/in.csv', 'key,a,b,c,d\nr1,1,2,3,4\nr2,1,x,3,4\nr3,1,2,3\n');
      const job = await jobs.finished((await jobs.submitBatch({ modelName: 'tiny_mlp', inputUri: 'bad-csv/in.csv', outputUri: 'bad-csv/out.jsonl' })).id);
      expect(job).to.deep.include({ state: JobState.JOB_STATE_SUCCEEDED, processed: 3n, failed: 2n });
      expect(read('bad-csv/out.jsonl.errors.jsonl')).to.equal(
        jsonl([
          { row: 2, key: 'r2', where: 'bad-csv/in.csv line 3', error: 'column "b": "x", expected a FLOAT32' },
          { row: 3, key: 'r3', where: 'bad-csv/in.csv line 4', error: 'expected 5 cells (one per column of the header), got 4' },
        ]),
      );
    });

    it('refuses an input or output outside the data directory with INVALID_ARGUMENT naming the path: "..", absolute elsewhere, a symbolic link out', async () => {
      write('in.jsonl', jsonl([{ x: [1, 2, 3, 4] }]));
      writeFileSync(path.join(outside, 'secret.jsonl'), jsonl([{ x: [1, 2, 3, 4] }]));
      symlinkSync(outside, path.join(data, 'link-out'));
      const cases: [Partial<{ inputUri: string; outputUri: string }>, string][] = [
        [{ inputUri: '../secret.jsonl' }, 'input "../secret.jsonl" is outside the data directory'],
        [{ inputUri: path.join(outside, 'secret.jsonl') }, `input "${path.join(outside, 'secret.jsonl')}" is outside the data directory`],
        [{ inputUri: 'link-out/secret.jsonl' }, 'input "link-out/secret.jsonl" is outside the data directory'],
        [{ outputUri: 'sub/../../out.jsonl' }, 'output "sub/../../out.jsonl" is outside the data directory'],
        [{ outputUri: 'link-out/new/out.jsonl' }, 'output "link-out/new/out.jsonl" is outside the data directory'],
        [{ outputUri: `sqlite:${path.join(outside, 'x.db')}#t` }, `output "${path.join(outside, 'x.db')}" is outside the data directory`],
      ];
      for (const [uris, message] of cases) {
        const err = await rejection(jobs.submitBatch({ modelName: 'tiny_mlp', inputUri: 'in.jsonl', outputUri: 'out.jsonl', ...uris }));
        expect([err.code, err.details], JSON.stringify(uris)).to.deep.equal([status.INVALID_ARGUMENT, message]);
      }
      expect(readdirSync(outside)).to.deep.equal(['secret.jsonl']);
      const absoluteInside = await jobs.finished((await jobs.submitBatch({ modelName: 'tiny_mlp', inputUri: path.join(data, 'in.jsonl'), outputUri: 'abs.jsonl' })).id);
      expect(absoluteInside.state).to.equal(JobState.JOB_STATE_SUCCEEDED);
    });

    it('refuses to write into the job store itself, however the path names it', async () => {
      write('in.jsonl', jsonl([{ x: [1, 2, 3, 4] }]));
      symlinkSync(path.join(data, 'jobs.sqlite'), path.join(data, 'alias.sqlite'));
      for (const outputUri of ['sqlite:jobs.sqlite#jobs', 'sqlite:alias.sqlite#jobs', 'sqlite:./sub/../jobs.sqlite#deliveries']) {
        const err = await rejection(jobs.submitBatch({ modelName: 'tiny_mlp', inputUri: 'in.jsonl', outputUri }));
        expect([err.code, err.details], outputUri).to.deep.equal([status.INVALID_ARGUMENT, `output "${outputUri}" is the job store itself`]);
      }
    });

    it('refuses what it can tell is wrong before queuing: unknown model or input NOT_FOUND, unknown formats and outputs INVALID_ARGUMENT', async () => {
      write('in.jsonl', jsonl([{ x: [1, 2, 3, 4] }]));
      write('notes.txt', 'x\n');
      const cases: [Record<string, unknown>, status, string][] = [
        [{ modelName: 'nope' }, status.NOT_FOUND, 'unknown model "nope"'],
        [{ inputUri: 'missing.jsonl' }, status.NOT_FOUND, 'input "missing.jsonl" does not exist'],
        [{ inputUri: 'notes.txt' }, status.INVALID_ARGUMENT, 'input "notes.txt": expected a .jsonl, .ndjson or .csv file or a folder of them'],
        [{ outputUri: 'out.parquet' }, status.INVALID_ARGUMENT, 'output "out.parquet": expected a .jsonl, .ndjson or .csv file, sqlite:PATH#TABLE or postgres:TABLE'],
        [{ outputUri: 'sqlite:x.db#1bad' }, status.INVALID_ARGUMENT, 'output "sqlite:x.db#1bad": table name "1bad" must be letters, digits and _, not starting with a digit'],
        [{ outputNames: ['z'] }, status.INVALID_ARGUMENT, 'unknown output "z": model "tiny_mlp" version 1 has "y"'],
        [{ batchSize: 100_000 }, status.INVALID_ARGUMENT, 'batch_size 100000 is out of range: 1 to 65536, or 0 for 64'],
      ];
      for (const [fields, code, message] of cases) {
        const err = await rejection(jobs.submitBatch({ modelName: 'tiny_mlp', inputUri: 'in.jsonl', outputUri: 'out.jsonl', ...fields }));
        expect([err.code, err.details], JSON.stringify(fields)).to.deep.equal([code, message]);
      }
    });

    it('WatchJob streams a batch job\'s progress, rows done only growing, until it SUCCEEDED', async () => {
      write('watch/in.jsonl', jsonl(range(5, slowRecord)));
      const submitted = await jobs.submitBatch({ modelName: 'slow', inputUri: 'watch/in.jsonl', outputUri: 'watch/out.jsonl', batchSize: 1 });
      const seen = await jobs.watch(submitted.id);
      const processed = seen.map((j) => Number(j.processed));
      expect(processed).to.deep.equal([...processed].sort((a, b) => a - b));
      expect(seen.some((j) => j.state === JobState.JOB_STATE_RUNNING && j.processed > 0n && j.processed < 5n)).to.equal(true);
      expect(seen[seen.length - 1]).to.deep.include({ state: JobState.JOB_STATE_SUCCEEDED, total: 5n, processed: 5n });
      expect(read('watch/out.jsonl')).to.equal(jsonl(range(5, (i) => ({ row: i + 1, key: null, outputs: { y: [side] } }))));
    });

    it('CancelJob stops a running batch job: it answers CANCELLED at once, and no output or part file is left', async () => {
      write('cancel/in.jsonl', jsonl(range(400, slowRecord)));
      const submitted = await jobs.submitBatch({ modelName: 'slow', inputUri: 'cancel/in.jsonl', outputUri: 'cancel/out.jsonl', batchSize: 1 });
      await until(async () => (await jobs.get(submitted.id)).processed > 0n, 'the job to make progress');
      const cancelled = await jobs.cancel(submitted.id);
      expect(cancelled.state).to.equal(JobState.JOB_STATE_CANCELLED);
      expect(cancelled.error).to.deep.equal({ code: status.CANCELLED, message: 'cancelled by CancelJob' });
      expect(cancelled.processed < 400n).to.equal(true);
      await until(() => readdirSync(path.join(data, 'cancel')).length === 1, 'the part files to be removed');
      expect(readdirSync(path.join(data, 'cancel'))).to.deep.equal(['in.jsonl']);
      expect((await jobs.get(submitted.id)).state).to.equal(JobState.JOB_STATE_CANCELLED);
    });

    it('CancelJob of a job that has ended is INVALID_ARGUMENT naming its state, and changes nothing', async () => {
      write('in.jsonl', jsonl([{ x: [1, 2, 3, 4] }]));
      const job = await jobs.finished((await jobs.submitBatch({ modelName: 'tiny_mlp', inputUri: 'in.jsonl', outputUri: 'done.jsonl' })).id);
      const err = await rejection(jobs.cancel(job.id));
      expect(err.code).to.equal(status.INVALID_ARGUMENT);
      expect(err.details).to.equal(`job "${job.id}" has already ended (SUCCEEDED): only a QUEUED or RUNNING job can be cancelled`);
      expect((await jobs.get(job.id)).state).to.equal(JobState.JOB_STATE_SUCCEEDED);
    });
  });

  describe('GetJob, WatchJob, CancelJob and ListJobs', () => {
    it('answer NOT_FOUND naming an unknown job id', async () => {
      for (const call of [jobs.get('no-such-job'), jobs.cancel('no-such-job'), jobs.watch('no-such-job')]) {
        const err = await rejection(call);
        expect([err.code, err.details]).to.deep.equal([status.NOT_FOUND, 'unknown job "no-such-job"']);
      }
    });

    it('ListJobs pages through jobs newest first, and filters by state', async () => {
      const mine: string[] = [];
      for (let i = 0; i < 5; i++) {
        const job = await jobs.submitPrediction({ modelName: 'tiny_mlp', inputs: { x: tensor({ shape: [1n, 4n], floatData: [i, 0, 0, 0] }) } });
        mine.push(job.id);
        await jobs.finished(job.id);
      }
      const cancelledId = (await jobs.list({ states: [JobState.JOB_STATE_CANCELLED] })).jobs.map((j) => j.id);
      const all: string[] = [];
      let token = '';
      let pages = 0;
      do {
        const page = await jobs.list({ pageSize: 2, pageToken: token });
        expect(page.jobs.length).to.be.at.most(2);
        all.push(...page.jobs.map((j) => j.id));
        token = page.nextPageToken;
        pages++;
      } while (token !== '');
      expect(new Set(all).size).to.equal(all.length);
      expect(pages).to.equal(Math.ceil(all.length / 2));
      expect(all.slice(0, 5)).to.deep.equal([...mine].reverse());
      const succeeded = await jobs.list({ states: [JobState.JOB_STATE_SUCCEEDED], pageSize: 1000 });
      expect(succeeded.jobs.every((j) => j.state === JobState.JOB_STATE_SUCCEEDED)).to.equal(true);
      expect(succeeded.jobs.filter((j) => mine.includes(j.id)).length).to.equal(5);
      expect(cancelledId.every((id) => !mine.includes(id))).to.equal(true);
      const bad = await rejection(jobs.list({ pageToken: 'garbage' }));
      expect([bad.code, bad.details]).to.deep.equal([status.INVALID_ARGUMENT, 'page_token "garbage" is not one ListJobs gave']);
    });

    it('refuses a callback URL whose host is not allowed (none are, by default) with INVALID_ARGUMENT naming the host', async () => {
      const err = await rejection(jobs.submitPrediction({ modelName: 'tiny_mlp', inputs: { x: tensor({ shape: [1n, 4n], floatData: [1, 2, 3, 4] }) } }, 'http://127.0.0.1:9/hook'));
      expect(err.code).to.equal(status.INVALID_ARGUMENT);
      expect(err.details).to.equal('callback_url host "127.0.0.1:9" is not allowed: the server allows no callback hosts (--webhook-allow is empty)');
    });
  });
});

describe('JobService schedules', function () {
  this.timeout(30_000);
  let repo: string;
  let data: string;
  let t: TestServer;
  let jobs: Jobs;

  before(async () => {
    repo = writeRepository({ tiny_mlp: tinyMlpModel() });
    data = mkdtempSync(path.join(tmpdir(), 'inferd-schedules-'));
    mkdirSync(path.join(data, 'nightly'));
    writeFileSync(path.join(data, 'nightly/in.jsonl'), jsonl([{ key: 'a', x: [1, 2, 3, 4] }]));
    const schedule = { name: 'every-second', cron: '* * * * * *', timezone: '', modelName: 'tiny_mlp', modelVersion: '', inputUri: 'nightly/in.jsonl', outputUri: 'nightly/out-{time}.jsonl', batchSize: 0, inputColumns: [], outputNames: [], callbackUrl: '' };
    t = await startServer(repo, { dataDir: data, schedules: [schedule] });
    jobs = jobsClient(t.address);
  });

  after(async () => {
    jobs?.close();
    await t?.close();
    removeFolder(repo);
    removeFolder(data);
  });

  it('runs a scheduled batch job at the times of its cron expression, as an ordinary job listed with its schedule name', async () => {
    let found: string | undefined;
    await until(async () => {
      const page = await jobs.list({ states: [JobState.JOB_STATE_SUCCEEDED], pageSize: 100 });
      found = page.jobs.find((j) => j.schedule === 'every-second')?.outputUri;
      return found !== undefined;
    }, 'a scheduled job to succeed', 10_000);
    expect(found).to.match(/^nightly\/out-\d{8}T\d{6}Z\.jsonl$/);
    expect(readFileSync(path.join(data, found!), 'utf8')).to.equal(jsonl([{ row: 1, key: 'a', outputs: { y: tinyMlpReference([1, 2, 3, 4]) } }]));
  });
});
