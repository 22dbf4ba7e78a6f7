import { expect } from 'chai';
import { effectiveConfig, modelSettings, type ModelDefaults } from '../../../src/repository/effective-config';
import { WORKER_ONLY } from '../../../src/scheduler/main-thread-lane';

const session = { intraOpThreads: 2, interOpThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' } as const;
const defaults: ModelDefaults = { instances: 3, placement: 'auto', session, maxQueueSize: 4096 };

describe('modelSettings', () => {
  it('completes a model without a config file from the server\'s defaults: newest version, batching decided at load, no delay', () => {
    expect(modelSettings({}, defaults)).to.deep.equal({
      file: undefined,
      versionPolicy: { latest: 1 },
      instances: 3,
      placement: 'auto',
      session,
      maxBatchSize: 'auto',
      dynamicBatching: { maxQueueDelayUs: 0, preferredBatchSizes: [], maxQueueSize: 4096 },
      warmup: [],
      overrides: { inputs: [], outputs: [] },
    });
  });

  it('takes every field the config file gives over the default, and the session options one by one', () => {
    const settings = modelSettings(
      {
        file: 'm/config.yaml',
        versionPolicy: { all: true },
        instances: 1,
        placement: 'worker',
        session: { interOpThreads: 4, intraOpThreads: undefined },
        maxBatchSize: 0,
        dynamicBatching: { maxQueueDelayUs: 500, maxQueueSize: 8 },
        inputs: [{ name: 'x', dims: [-1, 4] }],
      },
      defaults,
    );
    expect(settings).to.deep.include({ file: 'm/config.yaml', versionPolicy: { all: true }, instances: 1, placement: 'worker', maxBatchSize: 0 });
    // A field the file leaves out (or writes as nothing) keeps the server's value.
    expect(settings.session).to.deep.equal({ ...session, interOpThreads: 4 });
    expect(settings.dynamicBatching).to.deep.equal({ maxQueueDelayUs: 500, preferredBatchSizes: [], maxQueueSize: 8 });
    expect(settings.overrides).to.deep.equal({ inputs: [{ name: 'x', dims: [-1, 4] }], outputs: [] });
  });
});

describe('effectiveConfig', () => {
  it('is the settings with what the version decided at load: rows per run, main-thread use, the narrowed shapes', () => {
    const settings = modelSettings({ file: 'm/config.yaml', dynamicBatching: { preferredBatchSizes: [4] } }, defaults);
    const inputs = [{ name: 'x', type: 'float32' as const, dims: [-1, 4] }];
    const outputs = [{ name: 'y', type: 'float32' as const, dims: [-1, 3] }];
    expect(effectiveConfig('m', '2', settings, { mainThread: WORKER_ONLY, maxBatchSize: 32, inputs, outputs })).to.deep.equal({
      name: 'm',
      version: '2',
      platform: 'onnxruntime',
      file: 'm/config.yaml',
      versionPolicy: { latest: 1 },
      instances: 3,
      placement: 'auto',
      mainThread: WORKER_ONLY,
      session,
      maxBatchSize: 32,
      dynamicBatching: { maxQueueDelayUs: 0, preferredBatchSizes: [4], maxQueueSize: 4096 },
      warmup: [],
      inputs,
      outputs,
    });
  });
});
