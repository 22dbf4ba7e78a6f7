import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import pino from 'pino';
import { ConfigError } from '../../../src/config-problems';
import { identityModel, tinyMlpModel, tinyMlpReference } from '../../../src/example-models/example-models';
import { DEFAULT_MAX_BATCH_SIZE, ModelVersion, type ModelVersionOptions } from '../../../src/repository/model-version';
import { WORKER_ONLY } from '../../../src/scheduler/main-thread-lane';

const OPTIONS: ModelVersionOptions = {
  instances: 1,
  placement: 'worker',
  session: { intraOpThreads: 1, interOpThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' },
  maxQueueSize: 16,
  batching: { maxBatchSize: 'auto', maxQueueDelayUs: 0, preferredBatchSizes: [] },
  overrides: { inputs: [], outputs: [] },
  warmup: [],
  maxWarmupInputBytes: 1024,
  log: pino({ level: 'silent' }),
};

const never = new AbortController().signal;

describe('ModelVersion', function () {
  this.timeout(60_000);
  let dir: string;
  /** tiny_mlp: x [-1,4] FLOAT32 → y [-1,3]. */
  let mlp: string;
  /** Identity of a fixed [2,2] FLOAT32: nothing to batch along. */
  let fixed: string;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'inferd-model-version-'));
    mlp = path.join(dir, 'mlp.onnx');
    fixed = path.join(dir, 'fixed.onnx');
    writeFileSync(mlp, tinyMlpModel());
    writeFileSync(fixed, identityModel('FLOAT', { dims: [2, 2] }));
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('serves the model\'s answer, and close() waits for a request in flight (and may be called twice)', async () => {
    const version = await ModelVersion.create('mlp', '1', mlp, OPTIONS);
    const x = [1, -2, 0.5, 4];
    const answer = version.submit({ x: { type: 'float32', dims: [1, 4], data: Float32Array.from(x) } }, ['y'], never);
    const closed = version.close();
    expect(version.close()).to.equal(closed);
    const y = (await answer)['y']!;
    expect([...y.data as Float32Array].map((v) => Math.fround(v))).to.deep.equal(tinyMlpReference(x).map((v) => Math.fround(v)));
    await closed;
  });

  it('batches up to DEFAULT_MAX_BATCH_SIZE rows by default when every input and output has a first dimension of any size, and runs each request alone otherwise', async () => {
    const batchable = await ModelVersion.create('mlp', '1', mlp, OPTIONS);
    const alone = await ModelVersion.create('fixed', '1', fixed, OPTIONS);
    const configured = await ModelVersion.create('mlp', '1', mlp, { ...OPTIONS, batching: { ...OPTIONS.batching, maxBatchSize: 4 } });
    try {
      expect([batchable.maxBatchSize, alone.maxBatchSize, configured.maxBatchSize]).to.deep.equal([DEFAULT_MAX_BATCH_SIZE, 0, 4]);
    } finally {
      await Promise.all([batchable.close(), alone.close(), configured.close()]);
    }
  });

  it('narrows its inputs and outputs by the config\'s overrides', async () => {
    const version = await ModelVersion.create('mlp', '1', mlp, { ...OPTIONS, overrides: { file: 'mlp/config.yaml', inputs: [{ name: 'x', dims: [2, 4] }], outputs: [{ name: 'y', dims: [2, 3] }] } });
    try {
      expect([version.inputs, version.outputs]).to.deep.equal([[{ name: 'x', type: 'float32', dims: [2, 4] }], [{ name: 'y', type: 'float32', dims: [2, 3] }]]);
    } finally {
      await version.close();
    }
  });

  it('counts no warm-up run in its stats, and keeps every run on the workers under placement: worker', async () => {
    const version = await ModelVersion.create('mlp', '1', mlp, { ...OPTIONS, instances: 2, warmup: [{ name: 'w', count: 3, inputs: { x: { shape: [1, 4], fill: { random: true } } } }] });
    try {
      expect(version.stats()).to.deep.include({ success: 0, executions: 0, inferences: 0 });
      expect(version.mainThread).to.deep.equal(WORKER_ONLY);
      await version.submit({ x: { type: 'float32', dims: [2, 4], data: new Float32Array(8) } }, ['y'], never);
      expect(version.stats()).to.deep.include({ success: 1, executions: 1, inferences: 2 });
    } finally {
      await version.close();
    }
  });

  it('rejects with every field of the config file that does not fit the model, all at once', async () => {
    const err = await ModelVersion.create('fixed', '1', fixed, {
      ...OPTIONS,
      overrides: { file: 'fixed/config.yaml', inputs: [{ name: 'z', dims: [2, 2] }, { name: 'x', dims: [2, 3] }], outputs: [{ name: 'y', dims: [4] }] },
      batching: { ...OPTIONS.batching, maxBatchSize: 8 },
      warmup: [
        { name: 'too big', count: 1, inputs: { x: { shape: [2, 2], fill: { zero: true } } } },
        { name: 'misfit', count: 1, inputs: { x: { shape: [2], fill: { zero: true } }, q: { shape: [1], fill: { zero: true } } } },
      ],
      maxWarmupInputBytes: 8,
    }).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(ConfigError);
    const file = 'fixed/config.yaml';
    expect((err as ConfigError).problems).to.deep.equal([
      { file, field: 'inputs[0].name', expected: 'one of the model\'s inputs ("x")', got: '"z"' },
      { file, field: 'inputs[1].dims', expected: 'a shape the model\'s [2,2] takes', got: '[2,3]' },
      { file, field: 'outputs[0].dims', expected: 'a shape the model\'s [2,2] takes', got: '[4]' },
      { file, field: 'max_batch_size', expected: '0 for this model: batching needs a first dimension of any size on every input and output, and it has "x" [2,2], "y" [2,2]', got: '8' },
      { file, field: 'warmup[0].inputs.x.shape', expected: 'at most 8 bytes of input (--max-message-bytes)', got: '[2,2] of FLOAT32, 16 bytes' },
      { file, field: 'warmup[1].inputs.q', expected: 'an input of the model ("x")', got: 'an input it does not have' },
      { file, field: 'warmup[1].inputs.x.shape', expected: 'a shape the model\'s [2,2] takes', got: '[2]' },
    ]);
  });

  it('names a warm-up value its input type cannot hold', async () => {
    const err = await ModelVersion.create('fixed', '1', fixed, {
      ...OPTIONS,
      overrides: { file: 'fixed/config.yaml', inputs: [], outputs: [] },
      warmup: [{ name: 'w', count: 1, inputs: { x: { shape: [2, 2], fill: { values: [1, 'two', 3, 4] } } } }],
    }).then(() => undefined, (e: unknown) => e);
    expect((err as ConfigError).problems).to.deep.equal([{ file: 'fixed/config.yaml', field: 'warmup[0].inputs.x.values[1]', expected: 'a number for FLOAT32', got: '"two"' }]);
  });
});
