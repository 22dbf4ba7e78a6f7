import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { parseModelConfig, readModelConfig } from '../../../src/repository/model-config';
import { configError, configProblems, configRejection } from '../../support/config-problems';

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
    ['a list for the document', [1], 'm/config.yaml: expected a mapping, got [1]'],
    ['an empty specific list', { version_policy: { specific: [] } }, 'm/config.yaml: version_policy.specific: expected at least one version, got []'],
    ['all: false', { version_policy: { all: false } }, 'm/config.yaml: version_policy.all: expected true, got false'],
    ['a negative preferred batch size', { dynamic_batching: { preferred_batch_sizes: [4, -1] } }, 'm/config.yaml: dynamic_batching.preferred_batch_sizes[1]: expected a whole number from 1 to 1048576, got -1'],
    ['warm-up values that do not fill the shape', { warmup: [{ inputs: { x: { shape: [2, 2], values: [1, 2, 3] } } }] }, 'm/config.yaml: warmup[0].inputs.x.values: expected 4 values for shape [2,2], got 3'],
    ['a warm-up input with two fills', { warmup: [{ inputs: { x: { shape: [1], zero: true, random: true } } }] }, 'm/config.yaml: warmup[0].inputs.x: expected exactly one of zero, random, values, got zero, random'],
    ['an unknown placement', { placement: 'main' }, 'm/config.yaml: placement: expected one of auto, worker, got "main"'],
    ['an override without dims', { inputs: [{ name: 'x' }] }, 'm/config.yaml: inputs[0].dims: expected a list, got none'],
    ['a warm-up dimension past what ONNX Runtime takes', { warmup: [{ inputs: { x: { shape: [0, 1e15], zero: true } } }] }, 'm/config.yaml: warmup[0].inputs.x.shape[1]: expected a whole number from 0 to 4294967295, got 1000000000000000'],
    ['an override dimension past what ONNX Runtime takes', { inputs: [{ name: 'x', dims: [-1, 2 ** 32] }] }, 'm/config.yaml: inputs[0].dims[1]: expected a whole number from -1 to 4294967295, got 4294967296'],
    ['a list where a number belongs, cut short', { instances: new Array(100).fill(1) }, `m/config.yaml: instances: expected a whole number from 1 to 256, got [${'1,'.repeat(49)}1…`],
  ];
  for (const [what, doc, message] of bad) {
    it(`refuses ${what}, naming the file, the field, what was expected and what came`, () => {
      expect(configProblems(() => parseModelConfig(doc, 'm/config.yaml'))).to.deep.equal([message]);
    });
  }

  it('reports every problem of a file at once, each with the file, the field, what was expected and what came', () => {
    const err = configError(() =>
      parseModelConfig(
        {
          instance: 2,
          version_policy: { latest: 0 },
          instances: 0,
          session: { intra_op_threads: 'many', execution_mode: 'serial' },
          dynamic_batching: { preferred_batch_sizes: [4, -1, 0] },
          warmup: [{ count: 0, inputs: { x: { shape: [2], values: [1] } } }],
          inputs: [{ name: '', dims: [-2] }],
        },
        'm/config.yaml',
      ),
    );
    const file = 'm/config.yaml';
    expect(err.problems).to.deep.equal([
      { file, field: 'instance', expected: 'a known field (version_policy, instances, placement, session, max_batch_size, dynamic_batching, warmup, inputs, outputs)', got: 'an unknown field' },
      { file, field: 'version_policy.latest', expected: 'a whole number from 1 to 1000000', got: '0' },
      { file, field: 'instances', expected: 'a whole number from 1 to 256', got: '0' },
      { file, field: 'session.intra_op_threads', expected: 'a whole number from 1 to 1024', got: '"many"' },
      { file, field: 'session.execution_mode', expected: 'one of sequential, parallel', got: '"serial"' },
      { file, field: 'dynamic_batching.preferred_batch_sizes[1]', expected: 'a whole number from 1 to 1048576', got: '-1' },
      { file, field: 'dynamic_batching.preferred_batch_sizes[2]', expected: 'a whole number from 1 to 1048576', got: '0' },
      { file, field: 'warmup[0].count', expected: 'a whole number from 1 to 1000', got: '0' },
      { file, field: 'warmup[0].inputs.x.values', expected: '2 values for shape [2]', got: '1' },
      { file, field: 'inputs[0].name', expected: 'a non-empty string', got: '""' },
      { file, field: 'inputs[0].dims[0]', expected: 'a whole number from -1 to 4294967295', got: '-2' },
    ]);
    expect(err.message).to.equal(err.lines.join('\n'));
    expect(err.lines[0]).to.equal('m/config.yaml: instance: expected a known field (version_policy, instances, placement, session, max_batch_size, dynamic_batching, warmup, inputs, outputs), got an unknown field');
  });

  it('names an unnamed warm-up request after its place in the list', () => {
    expect(parseModelConfig({ warmup: [{ inputs: { x: { shape: [1], zero: true } } }] }, 'f').warmup![0]!.name).to.equal('warmup[0]');
  });
});

describe('readModelConfig', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'inferd-config-'));
    mkdirSync(path.join(root, 'm'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('reads a file of exactly the bound, naming it relative to the repository', async () => {
    const text = 'instances: 2\n';
    writeFileSync(path.join(root, 'm', 'config.yaml'), text + '#'.repeat(1024 - text.length - 1) + '\n');
    expect(await readModelConfig(root, 'm', { maxFileBytes: 1024 })).to.deep.include({ file: 'm/config.yaml', instances: 2 });
  });

  it('refuses a file one byte past the bound without parsing it, naming the file and the flag', async () => {
    // Parsing YAML takes ~500 bytes of heap per byte: a few MB of it would end the process.
    writeFileSync(path.join(root, 'm', 'config.yaml'), 'warmup: [' + '1,'.repeat(512) + ']\n');
    expect(await configRejection(readModelConfig(root, 'm', { maxFileBytes: 1024 }))).to.deep.equal([
      { file: 'm/config.yaml', field: '', expected: 'at most 1024 bytes (--max-model-config-bytes)', got: 'a larger file' },
    ]);
  });

  it('refuses a YAML document whose aliases multiply (a "billion laughs"), naming the file', async () => {
    let text = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
    for (let i = 1; i < 12; i++) text += `a${i}: &a${i} [${new Array(10).fill(`*a${i - 1}`).join(', ')}]\n`;
    writeFileSync(path.join(root, 'm', 'config.yaml'), text);
    const [problem] = await configRejection(readModelConfig(root, 'm', { maxFileBytes: 64 * 1024 }));
    expect(problem).to.deep.include({ file: 'm/config.yaml', field: '', expected: 'YAML' });
    expect(problem!.got).to.match(/^text that does not parse \(Excessive alias count/);
  });

  it('refuses two config files of one model, naming both', async () => {
    writeFileSync(path.join(root, 'm', 'config.yaml'), 'instances: 1\n');
    writeFileSync(path.join(root, 'm', 'config.json'), '{}');
    expect(await configRejection(readModelConfig(root, 'm', { maxFileBytes: 1024 }))).to.deep.equal([
      { file: 'm', field: '', expected: 'one config file (config.yaml, config.yml, config.json)', got: 'm/config.yaml and m/config.json' },
    ]);
  });
});
