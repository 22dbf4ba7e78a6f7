import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import { JobState } from '../../../generated/inferd/v1/job_service';
import { tinyMlpModel, tinyMlpReference } from '../../../src/example-models/example-models';
import { jobsClient, type Jobs } from '../../support/jobs';
import { readFileIn, writeFileIn } from '../../support/data-files';
import { jsonError, jsonl } from '../../support/json-lines';
import { startServerAndClient, type ServerAndClient } from '../../support/server-and-client';

const NOT_UTF8 = Buffer.from([0xff, 0xfe]);

describe('batch jobs: bad records', function () {
  this.timeout(60_000);
  let t: ServerAndClient<Jobs>;
  let jobs: Jobs;
  /** The server's data folder. */
  let data: string;

  before(async () => {
    t = await startServerAndClient({ tiny_mlp: tinyMlpModel() }, jobsClient);
    jobs = t.client;
    data = t.dataDir;
  });
  after(() => t?.close());

  const write = (name: string, content: string | Uint8Array): void => writeFileIn(data, name, content);
  const read = (name: string): string => readFileIn(data, name);
  const run = async (request: Parameters<Jobs['submitBatch']>[0]) =>
    jobs.finished((await jobs.submitBatch({ modelName: 'tiny_mlp', ...request })).id);

  it('fails a JSON Lines line that is not a record alone: the errors file has its row, line and reason, the job goes on and SUCCEEDS', async () => {
    write(
      'jsonl/in.jsonl',
      Buffer.concat([
        Buffer.from('{"key":"a","x":[1,2,3,4]}\n{"key":"b","x":[1,2,3,4]\n\n[1,2,3,4]\n42\n'),
        NOT_UTF8,
        Buffer.from('{"x":[1,2,3,4]}\n{"key":"c","x":[1,2,3]}\n{"key":"d","x":[4,3,2,1]}\nnull\n'),
      ]),
    );
    const job = await run({ inputUri: 'jsonl/in.jsonl', outputUri: 'jsonl/out.jsonl', batchSize: 2 });
    expect(job).to.deep.include({
      state: JobState.JOB_STATE_SUCCEEDED,
      total: 8n,
      processed: 8n,
      failed: 6n,
      error: undefined,
    });
    expect(read('jsonl/out.jsonl')).to.equal(
      jsonl([
        { row: 1, key: 'a', outputs: { y: tinyMlpReference([1, 2, 3, 4]) } },
        { row: 7, key: 'd', outputs: { y: tinyMlpReference([4, 3, 2, 1]) } },
      ]),
    );
    const where = (line: number): string => `jsonl/in.jsonl line ${line}`;
    expect(read('jsonl/out.jsonl.errors.jsonl')).to.equal(
      jsonl([
        { row: 2, key: null, where: where(2), error: `not valid JSON (${jsonError('{"key":"b","x":[1,2,3,4]')})` },
        { row: 3, key: null, where: where(4), error: 'expected a JSON object, got an array' },
        { row: 4, key: null, where: where(5), error: 'expected a JSON object, got 42' },
        { row: 5, key: null, where: where(6), error: 'not valid UTF-8' },
        { row: 6, key: 'c', where: where(7), error: 'input "x": expected shape [4] for one record, got [3]' },
        { row: 8, key: null, where: where(9), error: 'expected a JSON object, got null' },
      ]),
    );
  });

  it('fails a CSV line with a quote left open, text after a closing quote or bytes that are not UTF-8 alone, in a folder naming its file', async () => {
    write('csv/in/a.jsonl', jsonl([{ key: 'j', x: [0, 0, 0, 0] }]));
    write(
      'csv/in/b.csv',
      Buffer.concat([
        Buffer.from('key,a,b,c,d\nr1,1,2,3,4\nr2,"1,2,3,4\nr3,"1"x,2,3,4\nr4,'),
        NOT_UTF8,
        Buffer.from(',2,3,4\nr5,4,3,2,1\n'),
      ]),
    );
    const job = await run({ inputUri: 'csv/in', outputUri: 'csv/out.jsonl' });
    expect(job).to.deep.include({ state: JobState.JOB_STATE_SUCCEEDED, total: 6n, processed: 6n, failed: 3n });
    expect(read('csv/out.jsonl')).to.equal(
      jsonl([
        { row: 1, key: 'j', outputs: { y: tinyMlpReference([0, 0, 0, 0]) } },
        { row: 2, key: 'r1', outputs: { y: tinyMlpReference([1, 2, 3, 4]) } },
        { row: 6, key: 'r5', outputs: { y: tinyMlpReference([4, 3, 2, 1]) } },
      ]),
    );
    expect(read('csv/out.jsonl.errors.jsonl')).to.equal(
      jsonl([
        { row: 3, key: null, where: 'csv/in/b.csv line 3', error: 'a quoted cell (cell 2) is not closed on its line' },
        { row: 4, key: null, where: 'csv/in/b.csv line 4', error: 'text after the closing quote of cell 2' },
        { row: 5, key: null, where: 'csv/in/b.csv line 5', error: 'not valid UTF-8' },
      ]),
    );
  });

  it('still fails the job at once, writing nothing, for a fault of a whole file: a CSV header missing, repeated, or not UTF-8', async () => {
    const cases: [string, string | Buffer, string][] = [
      ['header/empty.csv', '', 'input "header/empty.csv" line 1: expected a header line, the file is empty'],
      ['header/twice.csv', 'a,b,a,d\n1,2,3,4\n', 'input "header/twice.csv" line 1: header: column "a" appears twice'],
      [
        'header/bytes.csv',
        Buffer.concat([Buffer.from('a,b,'), NOT_UTF8, Buffer.from(',d\n1,2,3,4\n')]),
        'input "header/bytes.csv" line 1: header: not valid UTF-8',
      ],
      [
        'header/quote.csv',
        'a,"b,c,d\n1,2,3,4\n',
        'input "header/quote.csv" line 1: header: a quoted cell (cell 2) is not closed on its line',
      ],
    ];
    for (const [file, content, message] of cases) {
      write(file, content);
      const job = await run({ inputUri: file, outputUri: 'header/out.jsonl' });
      expect([job.state, job.error, job.processed], file).to.deep.equal([
        JobState.JOB_STATE_FAILED,
        { code: status.INVALID_ARGUMENT, message },
        0n,
      ]);
    }
    expect(readdirSync(path.join(data, 'header')).sort()).to.deep.equal(
      cases.map(([file]) => path.basename(file)).sort(),
    );
  });

  describe('max_bad_records', () => {
    // Rows 2, 4 and 5 do not fit the model; in batches of 2 the third failure comes in the batch of rows 5 and 6.
    const misfits = jsonl(
      [[1, 2, 3, 4], [1, 2], [2, 3, 4, 5], [1], [1, 2, 3], [3, 4, 5, 6], [4, 5, 6, 7]].map((x, i) => ({
        key: `k${i + 1}`,
        x,
      })),
    );
    const misfitErrors = jsonl(
      [
        [2, '[2]'],
        [4, '[1]'],
        [5, '[3]'],
      ].map(([row, got]) => ({
        row,
        key: `k${row}`,
        where: `limit/misfits.jsonl line ${row}`,
        error: `input "x": expected shape [4] for one record, got ${got}`,
      })),
    );

    it('fails the job once more records failed than it allows, naming the count; the output is dropped, the errors file kept', async () => {
      write('limit/misfits.jsonl', misfits);
      const job = await run({
        inputUri: 'limit/misfits.jsonl',
        outputUri: 'limit/out.jsonl',
        batchSize: 2,
        maxBadRecords: 2,
      });
      expect(job).to.deep.include({
        state: JobState.JOB_STATE_FAILED,
        total: 7n,
        processed: 6n,
        failed: 3n,
        maxBadRecords: 2,
      });
      expect(job.error).to.deep.equal({
        code: status.INVALID_ARGUMENT,
        message:
          '3 records failed by row 6, more than max_bad_records (2) allows; they are in "limit/out.jsonl.errors.jsonl"',
      });
      expect(read('limit/out.jsonl.errors.jsonl')).to.equal(misfitErrors);
      expect(readdirSync(path.join(data, 'limit')).sort()).to.deep.equal(['misfits.jsonl', 'out.jsonl.errors.jsonl']);
    });

    it('lets a job with exactly as many failed records as it allows SUCCEED; unset it is no limit, 0 allows none', async () => {
      write('limit/misfits.jsonl', misfits);
      const atLimit = await run({
        inputUri: 'limit/misfits.jsonl',
        outputUri: 'limit/at.jsonl',
        batchSize: 2,
        maxBadRecords: 3,
      });
      expect(atLimit).to.deep.include({
        state: JobState.JOB_STATE_SUCCEEDED,
        processed: 7n,
        failed: 3n,
        maxBadRecords: 3,
      });
      expect(read('limit/at.jsonl.errors.jsonl')).to.equal(misfitErrors);
      const unset = await run({ inputUri: 'limit/misfits.jsonl', outputUri: 'limit/unset.jsonl', batchSize: 2 });
      expect(unset).to.deep.include({ state: JobState.JOB_STATE_SUCCEEDED, failed: 3n, maxBadRecords: undefined });
      write('limit/clean.jsonl', jsonl([{ x: [1, 2, 3, 4] }]));
      const none = await run({ inputUri: 'limit/clean.jsonl', outputUri: 'limit/none.jsonl', maxBadRecords: 0 });
      expect(none).to.deep.include({
        state: JobState.JOB_STATE_SUCCEEDED,
        processed: 1n,
        failed: 0n,
        maxBadRecords: 0,
      });
      const zero = await run({
        inputUri: 'limit/misfits.jsonl',
        outputUri: 'limit/zero.jsonl',
        batchSize: 2,
        maxBadRecords: 0,
      });
      expect(zero.error!.message).to.equal(
        '1 record failed by row 2, more than max_bad_records (0) allows; they are in "limit/zero.jsonl.errors.jsonl"',
      );
    });

    it('fails a job with more malformed lines than it allows before writing anything, naming the count and the first', async () => {
      write('early/in/a.jsonl', jsonl([{ x: [1, 2, 3, 4] }]));
      write('early/in/b.jsonl', '{"x":[1,2,3,4]}\n{"x":\n{"x":[1,2,3,4]}\n[]\n"x"\n');
      const job = await run({ inputUri: 'early/in', outputUri: 'early/out.jsonl', maxBadRecords: 2 });
      expect(job).to.deep.include({ state: JobState.JOB_STATE_FAILED, total: 0n, processed: 0n, failed: 0n });
      expect(job.error).to.deep.equal({
        code: status.INVALID_ARGUMENT,
        message: `3 records of input "early/in" are malformed, more than max_bad_records (2) allows; the first: early/in/b.jsonl line 2: not valid JSON (${jsonError('{"x":')})`,
      });
      expect(readdirSync(path.join(data, 'early'))).to.deep.equal(['in']);
    });
  });
});
