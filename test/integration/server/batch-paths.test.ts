import { linkSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import { JobState, type SubmitBatchJobRequest } from '../../../generated/inferd/v1/job_service';
import { tinyMlpModel, tinyMlpReference } from '../../../src/example-models/example-models';
import { jobsClient, type Jobs } from '../../support/jobs';
import { slowModel } from '../../support/slow-model';
import { readFileIn, writeFileIn } from '../../support/data-files';
import { jsonl } from '../../support/json-lines';
import { startServerAndClient, type ServerAndClient } from '../../support/server-and-client';
import { rejection, removeFolder } from '../../support/test-server';
import { until } from '../../support/until';

/**
 * Records enough to keep the slow model busy far longer than any test here, however fast the
 * machine (each is a chain of 32 products of 256×256 matrices); the tests cancel the job.
 */
const LONG_ROWS = 100_000;
const LONG_SIDE = 256;

describe('batch jobs: what a job reads and writes', function () {
  this.timeout(60_000);
  let t: ServerAndClient<Jobs>;
  let jobs: Jobs;
  /** The server's data folder. */
  let data: string;
  let outside: string;

  before(async () => {
    outside = mkdtempSync(path.join(tmpdir(), 'inferd-outside-'));
    t = await startServerAndClient({ tiny_mlp: tinyMlpModel(), slow: slowModel() }, jobsClient);
    jobs = t.client;
    data = t.dataDir;
    write('long.jsonl', jsonl(Array.from({ length: LONG_ROWS }, () => ({ x: [1], side: [LONG_SIDE] }))));
  });

  afterEach(async () => {
    await cancelAll();
  });

  after(async () => {
    await t?.close();
    removeFolder(outside);
  });

  const write = (name: string, text: string): void => writeFileIn(data, name, text);
  const read = (name: string): string => readFileIn(data, name);
  const submit = (request: Partial<SubmitBatchJobRequest>) => jobs.submitBatch({ modelName: 'tiny_mlp', ...request });
  /** A slow job on LONG_ROWS records, RUNNING. */
  async function busy(request: Partial<SubmitBatchJobRequest>): Promise<string> {
    const job = await jobs.submitBatch({ modelName: 'slow', inputUri: 'long.jsonl', batchSize: 1, ...request });
    await until(async () => (await jobs.get(job.id)).state === JobState.JOB_STATE_RUNNING, `job ${job.id} to run`);
    return job.id;
  }
  /** Cancels every job that has not ended (one may end on its own meanwhile). */
  async function cancelAll(): Promise<void> {
    for (const job of (await jobs.list({ states: [JobState.JOB_STATE_QUEUED, JobState.JOB_STATE_RUNNING] })).jobs)
      await jobs.cancel(job.id).catch(() => undefined);
  }
  const jobCount = async (): Promise<number> => (await jobs.list({ pageSize: 1000 })).jobs.length;

  describe('its own input', () => {
    const INPUT = jsonl([{ x: [1, 2, 3, 4] }]);

    before(() => {
      write('in.jsonl', INPUT);
      symlinkSync(path.join(data, 'in.jsonl'), path.join(data, 'alias.jsonl'));
      linkSync(path.join(data, 'in.jsonl'), path.join(data, 'hard.jsonl'));
      write('o.jsonl.errors.jsonl', INPUT);
      write('db.t.errors.jsonl', INPUT);
      write('in-folder/a.jsonl', INPUT);
      symlinkSync(path.join(data, 'in-folder'), path.join(data, 'folder-alias'));
      write('as-dir.jsonl/a.jsonl', INPUT);
      write('elsewhere/data.jsonl', INPUT);
      mkdirSync(path.join(data, 'links-in'));
      symlinkSync(path.join(data, 'elsewhere/data.jsonl'), path.join(data, 'links-in/data.jsonl'));
    });

    it('refuses an output or errors file that is the input, however the path names it, with INVALID_ARGUMENT naming both; queues nothing and leaves the input as it was', async () => {
      const own = ': the job would write over its own input';
      const cases: [Partial<SubmitBatchJobRequest>, string][] = [
        [{ inputUri: 'in.jsonl', outputUri: 'in.jsonl' }, `output "in.jsonl" is the input "in.jsonl"${own}`],
        [
          { inputUri: 'in.jsonl', outputUri: './sub/../in.jsonl' },
          `output "./sub/../in.jsonl" is the input "in.jsonl"${own}`,
        ],
        [
          { inputUri: 'in.jsonl', outputUri: path.join(data, 'in.jsonl') },
          `output "${path.join(data, 'in.jsonl')}" is the input "in.jsonl"${own}`,
        ],
        [{ inputUri: 'in.jsonl', outputUri: 'alias.jsonl' }, `output "alias.jsonl" is the input "in.jsonl"${own}`],
        [{ inputUri: 'alias.jsonl', outputUri: 'hard.jsonl' }, `output "hard.jsonl" is the input "alias.jsonl"${own}`],
        [
          { inputUri: 'in.jsonl', outputUri: 'sqlite:in.jsonl#t' },
          `output "sqlite:in.jsonl#t" is the input "in.jsonl"${own}`,
        ],
        [
          { inputUri: 'o.jsonl.errors.jsonl', outputUri: 'o.jsonl' },
          `errors file "o.jsonl.errors.jsonl" is the input "o.jsonl.errors.jsonl"${own}`,
        ],
        [
          { inputUri: 'db.t.errors.jsonl', outputUri: 'sqlite:db#t' },
          `errors file "db.t.errors.jsonl" is the input "db.t.errors.jsonl"${own}`,
        ],
        [
          { inputUri: 'links-in', outputUri: 'elsewhere/data.jsonl' },
          `output "elsewhere/data.jsonl" is the input "links-in/data.jsonl"${own}`,
        ],
      ];
      const before = await jobCount();
      for (const [uris, message] of cases) {
        const err = await rejection(submit(uris));
        expect([err.code, err.details], JSON.stringify(uris)).to.deep.equal([status.INVALID_ARGUMENT, message]);
      }
      expect(await jobCount()).to.equal(before);
      for (const file of ['in.jsonl', 'o.jsonl.errors.jsonl', 'db.t.errors.jsonl', 'elsewhere/data.jsonl'])
        expect(read(file), file).to.equal(INPUT);
    });

    it('refuses an output that lies inside the input folder, or a folder holding the input', async () => {
      const own = ': the job would write over its own input';
      const cases: [Partial<SubmitBatchJobRequest>, string][] = [
        [
          { inputUri: 'in-folder', outputUri: 'in-folder/out.jsonl' },
          `output "in-folder/out.jsonl" lies inside the input folder "in-folder"${own}`,
        ],
        [
          { inputUri: 'in-folder/', outputUri: 'in-folder/new/deeper/out.csv' },
          `output "in-folder/new/deeper/out.csv" lies inside the input folder "in-folder/"${own}`,
        ],
        [
          { inputUri: 'in-folder', outputUri: 'folder-alias/out.jsonl' },
          `output "folder-alias/out.jsonl" lies inside the input folder "in-folder"${own}`,
        ],
        [
          { inputUri: 'in-folder', outputUri: 'sqlite:in-folder/x.db#t' },
          `output "sqlite:in-folder/x.db#t" lies inside the input folder "in-folder"${own}`,
        ],
        [
          { inputUri: 'as-dir.jsonl/a.jsonl', outputUri: 'as-dir.jsonl' },
          `output "as-dir.jsonl" holds the input "as-dir.jsonl/a.jsonl"${own}`,
        ],
      ];
      for (const [uris, message] of cases) {
        const err = await rejection(submit(uris));
        expect([err.code, err.details], JSON.stringify(uris)).to.deep.equal([status.INVALID_ARGUMENT, message]);
      }
      const beside = await jobs.finished((await submit({ inputUri: 'in-folder', outputUri: 'in-folder.jsonl' })).id);
      expect(beside.state).to.equal(JobState.JOB_STATE_SUCCEEDED);
    });
  });

  describe('other jobs', () => {
    it('refuses to write what a QUEUED or RUNNING job reads or writes, or to read what it writes, naming both and the job; takes it once that job ended', async () => {
      write('busy/out.jsonl', 'an earlier run\n');
      write('busy/in.jsonl', jsonl([{ x: [1, 2, 3, 4] }]));
      write('free-in.jsonl', jsonl([{ x: [1, 2, 3, 4] }]));
      const running = await busy({ outputUri: 'busy/out.jsonl' });
      // Jobs may share an input; this one waits behind the running one.
      const queued = (
        await jobs.submitBatch({ modelName: 'slow', inputUri: 'long.jsonl', outputUri: 'busy/queued.jsonl' })
      ).id;
      const table = (await submit({ inputUri: 'long.jsonl', outputUri: 'sqlite:busy/scores.db#daily' })).id;
      await submit({ inputUri: 'long.jsonl', outputUri: 'sqlite:busy/scores.db#weekly' }); // another table of the same database
      expect((await jobs.get(queued)).state).to.equal(JobState.JOB_STATE_QUEUED);

      const wait = ': wait for that job to end, or cancel it';
      const cases: [Partial<SubmitBatchJobRequest>, string][] = [
        [
          { outputUri: 'busy/out.jsonl' },
          `output "busy/out.jsonl" is the output "busy/out.jsonl" of job ${running} (RUNNING)${wait}`,
        ],
        [
          { outputUri: './long.jsonl' },
          `output "./long.jsonl" is the input "long.jsonl" of job ${running} (RUNNING)${wait}`,
        ],
        [
          { outputUri: 'busy/out.jsonl.errors.jsonl' },
          `output "busy/out.jsonl.errors.jsonl" is the errors file "busy/out.jsonl.errors.jsonl" of job ${running} (RUNNING)${wait}`,
        ],
        [
          { inputUri: 'busy/out.jsonl', outputUri: 'free.jsonl' },
          `input "busy/out.jsonl" is the output "busy/out.jsonl" of job ${running} (RUNNING)${wait}`,
        ],
        [
          { inputUri: 'busy', outputUri: 'free.jsonl' },
          `input folder "busy" holds the output "busy/out.jsonl" of job ${running} (RUNNING)${wait}`,
        ],
        [
          { outputUri: 'busy/queued.jsonl' },
          `output "busy/queued.jsonl" is the output "busy/queued.jsonl" of job ${queued} (QUEUED)${wait}`,
        ],
        [
          { outputUri: 'sqlite:busy/scores.db#DAILY' },
          `output "sqlite:busy/scores.db#DAILY" is the output "sqlite:busy/scores.db#daily" of job ${table} (QUEUED)${wait}`,
        ],
      ];
      const before = await jobCount();
      for (const [uris, message] of cases) {
        const err = await rejection(submit({ inputUri: 'free-in.jsonl', ...uris }));
        expect([err.code, err.details], JSON.stringify(uris)).to.deep.equal([status.INVALID_ARGUMENT, message]);
      }
      expect(await jobCount()).to.equal(before);

      await cancelAll();
      const job = await jobs.finished((await submit({ inputUri: 'busy/in.jsonl', outputUri: 'busy/out.jsonl' })).id);
      expect(job.state).to.equal(JobState.JOB_STATE_SUCCEEDED);
      expect(read('busy/out.jsonl')).to.equal(
        jsonl([{ row: 1, key: null, outputs: { y: tinyMlpReference([1, 2, 3, 4]) } }]),
      );
    });

    it('of two jobs submitted at once with one output, queues one and refuses the other, naming the first', async () => {
      await busy({ outputUri: 'race/blocker.jsonl' });
      const [a, b] = await Promise.allSettled(
        [0, 1].map(() => submit({ inputUri: 'long.jsonl', outputUri: 'race/out.jsonl' })),
      );
      const taken = [a, b].filter((r) => r.status === 'fulfilled');
      const refused = [a, b].filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect([taken.length, refused.length]).to.deep.equal([1, 1]);
      const first = (taken[0] as PromiseFulfilledResult<{ id: string }>).value.id;
      expect([refused[0]!.reason.code, refused[0]!.reason.details]).to.deep.equal([
        status.INVALID_ARGUMENT,
        `output "race/out.jsonl" is the output "race/out.jsonl" of job ${first} (QUEUED): wait for that job to end, or cancel it`,
      ]);
    });
  });

  describe('symbolic links in an input folder', () => {
    it('follows a link that stays inside the data directory, reading its target as a file of the folder; skips a link to a folder', async () => {
      write('links/a.jsonl', jsonl([{ x: [1, 1, 1, 1] }]));
      write('targets/b-data.jsonl', jsonl([{ x: [2, 2, 2, 2] }, { x: [2] }]));
      mkdirSync(path.join(data, 'targets/folder.jsonl'));
      symlinkSync('../targets/b-data.jsonl', path.join(data, 'links/b.jsonl'));
      symlinkSync(path.join(data, 'targets/folder.jsonl'), path.join(data, 'links/c.jsonl'));
      symlinkSync('../targets/b-data.jsonl', path.join(data, 'links/.hidden.jsonl'));
      const job = await jobs.finished((await submit({ inputUri: 'links', outputUri: 'links-out.jsonl' })).id);
      expect(job).to.deep.include({ state: JobState.JOB_STATE_SUCCEEDED, total: 3n, processed: 3n, failed: 1n });
      expect(read('links-out.jsonl')).to.equal(
        jsonl([
          { row: 1, key: null, outputs: { y: tinyMlpReference([1, 1, 1, 1]) } },
          { row: 2, key: null, outputs: { y: tinyMlpReference([2, 2, 2, 2]) } },
        ]),
      );
      expect(read('links-out.jsonl.errors.jsonl')).to.equal(
        jsonl([
          {
            row: 3,
            key: null,
            where: 'links/b.jsonl line 2',
            error: 'input "x": expected shape [4] for one record, got [1]',
          },
        ]),
      );
    });

    it('refuses a folder with a link that leads out of the data directory, or to nothing, naming the link', async () => {
      writeFileSync(path.join(outside, 'secret.jsonl'), jsonl([{ x: [1, 2, 3, 4] }]));
      write('out-links/a.jsonl', jsonl([{ x: [1, 2, 3, 4] }]));
      symlinkSync(path.join(outside, 'secret.jsonl'), path.join(data, 'out-links/x.jsonl'));
      write('dangling-links/a.jsonl', jsonl([{ x: [1, 2, 3, 4] }]));
      symlinkSync(path.join(data, 'nothing-here.jsonl'), path.join(data, 'dangling-links/gone.jsonl'));
      const cases: [string, string][] = [
        ['out-links', 'input "out-links/x.jsonl" is outside the data directory'],
        ['dangling-links', 'input "dangling-links/gone.jsonl" is a symbolic link to nothing'],
      ];
      for (const [inputUri, message] of cases) {
        const err = await rejection(submit({ inputUri, outputUri: 'never.jsonl' }));
        expect([err.code, err.details], inputUri).to.deep.equal([status.INVALID_ARGUMENT, message]);
      }
    });
  });
});
