import { expect } from 'chai';
import { ModelConfigError, parseModelConfig } from '../src/repository/model-config';
import { selectVersions } from '../src/repository/version-policy';

describe('parseModelConfig', () => {
  it('reads every field of a full config', () => {
    const c = parseModelConfig(
      {
        version_policy: { specific: [1, 3] },
        instances: 2,
        placement: 'worker',
        session: { intra_op_threads: 2, inter_op_threads: 1, graph_optimization_level: 'basic', execution_mode: 'parallel' },
        max_batch_size: 8,
        dynamic_batching: { max_queue_delay_us: 500, preferred_batch_sizes: [4, 8], max_queue_size: 64 },
        warmup: [{ name: 'ones', count: 2, inputs: { x: { shape: [1, 2], values: [1, 1] } } }],
        inputs: [{ name: 'x', dims: [-1, 2] }],
      },
      'm/config.yaml',
    );
    expect(c).to.deep.equal({
      file: 'm/config.yaml',
      versionPolicy: { specific: ['1', '3'] },
      instances: 2,
      placement: 'worker',
      session: { intraOpThreads: 2, interOpThreads: 1, graphOptimizationLevel: 'basic', executionMode: 'parallel' },
      maxBatchSize: 8,
      dynamicBatching: { maxQueueDelayUs: 500, preferredBatchSizes: [4, 8], maxQueueSize: 64 },
      warmup: [{ name: 'ones', count: 2, inputs: { x: { shape: [1, 2], fill: { values: [1, 1] } } } }],
      inputs: [{ name: 'x', dims: [-1, 2] }],
      outputs: undefined,
    });
  });

  const bad: [string, unknown, string][] = [
    ['a list for the document', [1], 'm/config.yaml: the document: expected a mapping, got [1]'],
    ['an empty specific list', { version_policy: { specific: [] } }, 'm/config.yaml: version_policy.specific: expected at least one version'],
    ['all: false', { version_policy: { all: false } }, 'm/config.yaml: version_policy.all: expected true, got false'],
    ['a negative preferred batch size', { dynamic_batching: { preferred_batch_sizes: [4, -1] } }, 'm/config.yaml: dynamic_batching.preferred_batch_sizes[1]: expected a whole number from 1 to 1048576, got -1'],
    ['warm-up values that do not fill the shape', { warmup: [{ inputs: { x: { shape: [2, 2], values: [1, 2, 3] } } }] }, 'm/config.yaml: warmup[0].inputs.x.values: shape [2,2] needs 4 values, got 3'],
    ['a warm-up input with two fills', { warmup: [{ inputs: { x: { shape: [1], zero: true, random: true } } }] }, 'm/config.yaml: warmup[0].inputs.x: expected exactly one of zero, random, values, got zero, random'],
    ['an unknown placement', { placement: 'main' }, 'm/config.yaml: placement: expected one of auto, worker, got "main"'],
    ['an override without dims', { inputs: [{ name: 'x' }] }, 'm/config.yaml: inputs[0].dims: expected a list, got undefined'],
  ];
  for (const [what, doc, message] of bad) {
    it(`refuses ${what}, naming the file, the field and the reason`, () => {
      expect(() => parseModelConfig(doc, 'm/config.yaml')).to.throw(ModelConfigError, message);
    });
  }

  it('names an unnamed warm-up request after its place in the list', () => {
    expect(parseModelConfig({ warmup: [{ inputs: { x: { shape: [1], zero: true } } }] }, 'f').warmup![0]!.name).to.equal('warmup[0]');
  });
});

describe('selectVersions', () => {
  const onDisk = ['5', '3', '2', '1'];
  it('picks the newest N under latest', () => expect(selectVersions({ latest: 2 }, onDisk)).to.deep.equal(['5', '3']));
  it('picks every version under all', () => expect(selectVersions({ all: true }, onDisk)).to.deep.equal(onDisk));
  it('picks the named versions that exist under specific', () => expect(selectVersions({ specific: ['1', '4', '5'] }, onDisk)).to.deep.equal(['5', '1']));
});
