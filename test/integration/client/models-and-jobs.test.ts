import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { InferdClient, type Job } from '../../../src/client';
import { tinyMlpModel, tinyMlpReference } from '../../../src/example-models/example-models';
import { slowModel } from '../../support/slow-model';
import { clientFailure } from '../../support/failure';
import { jsonl } from '../../support/json-lines';
import { startServerAndClient, type ServerAndClient } from '../../support/server-and-client';
import { loadModel, unloadModel } from '../../support/test-server';

const mlpRow = (i: number): number[] => [i, 1 - i, 2 * i, 3];

describe('inferd/client models and jobs', function () {
  this.timeout(60_000);
  let t: ServerAndClient<InferdClient>;
  /** The server's data folder. */
  let data: string;

  before(async () => {
    t = await startServerAndClient(
      { tiny_mlp: tinyMlpModel(), slow: slowModel() },
      (address) => new InferdClient(address),
      { modelControl: 'explicit' },
    );
    data = t.dataDir;
  });
  after(() => t?.close());

  it("lists the models with each version's state, and describes a model's inputs and outputs", async () => {
    expect(await t.client.listModels()).to.deep.equal([
      { name: 'slow', versions: [{ version: '1', state: 'READY', reason: '' }] },
      { name: 'tiny_mlp', versions: [{ version: '1', state: 'READY', reason: '' }] },
    ]);
    expect(await t.client.modelMetadata('tiny_mlp')).to.deep.equal({
      name: 'tiny_mlp',
      version: '1',
      versions: ['1'],
      platform: 'onnxruntime',
      inputs: [{ name: 'x', datatype: 'FLOAT32', shape: [-1, 4] }],
      outputs: [{ name: 'y', datatype: 'FLOAT32', shape: [-1, 3] }],
    });
    const err = await clientFailure(t.client.modelMetadata('nope'));
    expect([err.code, err.message]).to.deep.equal(['NOT_FOUND', 'unknown model "nope"']);
  });

  it('waitForReady settles only once a model being loaded is SERVING, and fails DEADLINE_EXCEEDED naming the last status when it is not', async () => {
    await unloadModel(t, 'tiny_mlp');
    const timedOut = await clientFailure(t.client.waitForReady('tiny_mlp', { timeoutMs: 300 }));
    expect([timedOut.code, timedOut.message]).to.deep.equal([
      'DEADLINE_EXCEEDED',
      'model "tiny_mlp" was not SERVING within 300 ms (last: NOT_SERVING)',
    ]);
    const unknown = await clientFailure(t.client.waitForReady('nope', { timeoutMs: 100 }));
    expect(unknown.message).to.equal('model "nope" was not SERVING within 100 ms (last: SERVICE_UNKNOWN)');

    let loadAsked = false;
    let readyBeforeLoad = false;
    const ready = t.client.waitForReady('tiny_mlp', { timeoutMs: 30_000 }).then(() => {
      readyBeforeLoad = !loadAsked;
    });
    // The watch opens while the load runs (loading and warming up take far longer than a watch takes to open).
    loadAsked = true;
    await loadModel(t, 'tiny_mlp');
    await ready;
    expect(readyBeforeLoad).to.equal(false);
    const r = await t.client.predict('tiny_mlp', { x: { data: Float32Array.from(mlpRow(2)), shape: [1, 4] } });
    expect(Array.from(r.outputs['y']!.data as Float32Array)).to.deep.equal(tinyMlpReference(mlpRow(2)));
    await t.client.waitForReady(); // the server as a whole
  });

  it('runs a batch job end to end: submitted QUEUED, watched to SUCCEEDED with its progress, its output exact', async () => {
    writeFileSync(path.join(data, 'in.jsonl'), jsonl([0, 1, 2, 3, 4].map((i) => ({ key: `k${i}`, x: mlpRow(i) }))));
    const job = await t.client.submitBatchJob({
      model: 'tiny_mlp',
      input: 'in.jsonl',
      output: 'out.jsonl',
      batchSize: 2,
    });
    expect(job).to.deep.include({
      kind: 'BATCH',
      state: 'QUEUED',
      modelName: 'tiny_mlp',
      inputUri: 'in.jsonl',
      outputUri: 'out.jsonl',
      errorsUri: 'out.jsonl.errors.jsonl',
      batchSize: 2,
      failed: 0,
    });
    expect(job.createTime).to.be.instanceOf(Date);
    const seen: Job[] = [];
    for await (const j of t.client.watchJob(job.id)) seen.push(j);
    const last = seen[seen.length - 1]!;
    expect(last).to.deep.include({
      id: job.id,
      state: 'SUCCEEDED',
      total: 5,
      processed: 5,
      failed: 0,
      error: undefined,
    });
    expect(seen.every((j, i) => i === 0 || j.processed >= seen[i - 1]!.processed)).to.equal(true);
    expect(readFileSync(path.join(data, 'out.jsonl'), 'utf8')).to.equal(
      jsonl([0, 1, 2, 3, 4].map((i) => ({ row: i + 1, key: `k${i}`, outputs: { y: tinyMlpReference(mlpRow(i)) } }))),
    );
    expect((await t.client.getJob(job.id)).state).to.equal('SUCCEEDED');
    const listed = await t.client.listJobs({ states: ['SUCCEEDED'] });
    expect(listed.jobs.map((j) => j.id)).to.include(job.id);
  });

  it('runs a prediction job: its result decoded like a Predict answer', async () => {
    const job = await t.client.submitPrediction('tiny_mlp', {
      x: { data: Float32Array.from(mlpRow(7)), shape: [1, 4] },
    });
    expect(job).to.deep.include({ kind: 'PREDICTION', state: 'QUEUED', total: 1 });
    let last: Job | undefined;
    for await (const j of t.client.watchJob(job.id)) last = j;
    expect(last!.state).to.equal('SUCCEEDED');
    expect(last!.result!.modelVersion).to.equal('1');
    expect(Array.from(last!.result!.outputs['y']!.data as Float32Array)).to.deep.equal(tinyMlpReference(mlpRow(7)));
  });

  it("cancels a running job, and fails with the server's codes for an unknown job and a job that cannot be submitted", async () => {
    // Records of a chain of 32 products of 256×256 matrices each: the cancel comes long before the last.
    writeFileSync(path.join(data, 'slow.jsonl'), jsonl(Array.from({ length: 400 }, () => ({ x: [1], side: [256] }))));
    const job = await t.client.submitBatchJob({
      model: 'slow',
      input: 'slow.jsonl',
      output: 'slow-out.jsonl',
      batchSize: 1,
    });
    const cancelled = await t.client.cancelJob(job.id);
    expect([cancelled.state, cancelled.error]).to.deep.equal([
      'CANCELLED',
      { code: 'CANCELLED', message: 'cancelled by CancelJob' },
    ]);
    const states: string[] = [];
    for await (const j of t.client.watchJob(job.id)) states.push(j.state);
    expect(states).to.deep.equal(['CANCELLED']);
    for (const p of [
      t.client.getJob('no-such-job'),
      t.client.cancelJob('no-such-job'),
      t.client.watchJob('no-such-job').next(),
    ]) {
      expect((await clientFailure(p)).code).to.equal('NOT_FOUND');
    }
    const outside = await clientFailure(
      t.client.submitBatchJob({ model: 'tiny_mlp', input: '../in.jsonl', output: 'x.jsonl' }),
    );
    expect([outside.code, outside.message, outside.retryable]).to.deep.equal([
      'INVALID_ARGUMENT',
      'input "../in.jsonl" is outside the data directory',
      false,
    ]);
  });
});
