import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { JobState } from '../../../generated/inferd/v1/job_service';
import { credentials } from '@grpc/grpc-js';
import { PredictionServiceClient } from '../../../generated/inferd/v1/prediction_service';
import { calibrateSlowRun } from '../../support/calibrate-slow-run';
import { jobsClient } from '../../support/jobs';
import { jsonl } from '../../support/json-lines';
import { children, serve } from '../../support/serve-process';
import { slowModel } from '../../support/slow-model';
import { predict, removeFolder, tensor, writeRepository } from '../../support/test-server';
import { until } from '../../support/until';

const ROWS = 40;

describe('batch jobs across a crash', function () {
  this.timeout(60_000);
  let repo: string;
  let data: string;

  before(() => {
    repo = writeRepository({ slow: slowModel() });
    data = mkdtempSync(path.join(tmpdir(), 'inferd-crash-'));
  });

  after(() => {
    for (const child of children) child.kill('SIGKILL');
    removeFolder(repo);
    removeFolder(data);
  });

  it('resumes a job killed with SIGKILL from its last checkpoint, and the output has every input row exactly once, in order', async () => {
    const flags = ['--data-dir', data, '--log-level', 'info'];
    const first = await serve(repo, flags);
    // Records of 100 ms or more on this machine: the job is far from done when the kill comes, 31 records after the 9th at the latest.
    const prediction = new PredictionServiceClient(`127.0.0.1:${first.port}`, credentials.createInsecure());
    const slowInputs = (side: number) => ({
      x: tensor({ shape: [1n, 1n], floatData: [1] }),
      side: tensor({ shape: [1n, 1n], int64Data: [BigInt(side)] }),
    });
    const { side } = await calibrateSlowRun(
      (n) => predict(prediction, { modelName: 'slow', inputs: slowInputs(n) }),
      100,
    );
    prediction.close();
    writeFileSync(
      path.join(data, 'in.jsonl'),
      jsonl(Array.from({ length: ROWS }, (_, i) => ({ key: `r${i + 1}`, x: [1], side: [side] }))),
    );
    const jobs = jobsClient(`127.0.0.1:${first.port}`);
    const submitted = await jobs.submitBatch({
      modelName: 'slow',
      inputUri: 'in.jsonl',
      outputUri: 'out.jsonl',
      batchSize: 3,
    });
    await until(async () => (await jobs.get(submitted.id)).processed >= 9n, 'the job to pass row 9');
    jobs.close();
    first.child.kill('SIGKILL');
    expect(await first.exited).to.equal(null);
    const left = readdirSync(data).sort();
    const tag = submitted.id.slice(0, 8);
    expect(left.filter((f) => f.startsWith('out.jsonl'))).to.deep.equal(
      [`out.jsonl.${tag}.part`, `out.jsonl.errors.jsonl.${tag}.part`].sort(),
    );

    const second = await serve(repo, flags);
    const resumed = await second.logged('batch job resumed');
    expect(resumed['job']).to.equal(submitted.id);
    expect(resumed['row'] as number).to.be.greaterThan(9);
    const again = jobsClient(`127.0.0.1:${second.port}`);
    try {
      const job = await again.finished(submitted.id);
      expect(job).to.deep.include({
        state: JobState.JOB_STATE_SUCCEEDED,
        total: BigInt(ROWS),
        processed: BigInt(ROWS),
        failed: 0n,
      });
    } finally {
      again.close();
      second.child.kill('SIGTERM');
      await second.exited;
    }
    const expected = jsonl(
      Array.from({ length: ROWS }, (_, i) => ({ row: i + 1, key: `r${i + 1}`, outputs: { y: [side] } })),
    );
    expect(readFileSync(path.join(data, 'out.jsonl'), 'utf8')).to.equal(expected);
    expect(readdirSync(data).filter((f) => f.endsWith('.part'))).to.deep.equal([]);
  });

  it('resumes a job with bad records killed with SIGKILL: each bad line is in the errors file once, and counted once', async () => {
    const flags = ['--data-dir', data, '--log-level', 'info'];
    const first = await serve(repo, flags);
    const prediction = new PredictionServiceClient(`127.0.0.1:${first.port}`, credentials.createInsecure());
    const slowInputs = (side: number) => ({
      x: tensor({ shape: [1n, 1n], floatData: [1] }),
      side: tensor({ shape: [1n, 1n], int64Data: [BigInt(side)] }),
    });
    const { side } = await calibrateSlowRun(
      (n) => predict(prediction, { modelName: 'slow', inputs: slowInputs(n) }),
      100,
    );
    prediction.close();
    // Every fourth line is not a record.
    const record = (i: number): string => `${JSON.stringify({ key: `r${i + 1}`, x: [1], side: [side] })}\n`;
    writeFileSync(
      path.join(data, 'bad-in.jsonl'),
      Array.from({ length: ROWS }, (_, i) => ((i + 1) % 4 === 0 ? '{"key":\n' : record(i))).join(''),
    );
    const jobs = jobsClient(`127.0.0.1:${first.port}`);
    const submitted = await jobs.submitBatch({
      modelName: 'slow',
      inputUri: 'bad-in.jsonl',
      outputUri: 'bad-out.jsonl',
      batchSize: 3,
    });
    await until(async () => (await jobs.get(submitted.id)).processed >= 9n, 'the job to pass row 9');
    jobs.close();
    first.child.kill('SIGKILL');
    expect(await first.exited).to.equal(null);

    const second = await serve(repo, flags);
    const resumed = await second.logged('batch job resumed');
    expect(resumed['job']).to.equal(submitted.id);
    const again = jobsClient(`127.0.0.1:${second.port}`);
    try {
      const job = await again.finished(submitted.id);
      expect(job).to.deep.include({
        state: JobState.JOB_STATE_SUCCEEDED,
        total: BigInt(ROWS),
        processed: BigInt(ROWS),
        failed: BigInt(ROWS / 4),
      });
    } finally {
      again.close();
      second.child.kill('SIGTERM');
      await second.exited;
    }
    const rows = Array.from({ length: ROWS }, (_, i) => i + 1);
    const good = rows.filter((row) => row % 4 !== 0).map((row) => ({ row, key: `r${row}`, outputs: { y: [side] } }));
    expect(readFileSync(path.join(data, 'bad-out.jsonl'), 'utf8')).to.equal(jsonl(good));
    const reason = (() => {
      try {
        JSON.parse('{"key":');
      } catch (err) {
        return `not valid JSON (${(err as Error).message})`;
      }
      throw new Error('parsed');
    })();
    const bad = rows
      .filter((row) => row % 4 === 0)
      .map((row) => ({ row, key: null, where: `bad-in.jsonl line ${row}`, error: reason }));
    expect(readFileSync(path.join(data, 'bad-out.jsonl.errors.jsonl'), 'utf8')).to.equal(jsonl(bad));
    expect(readdirSync(data).filter((f) => f.endsWith('.part'))).to.deep.equal([]);
  });
});
