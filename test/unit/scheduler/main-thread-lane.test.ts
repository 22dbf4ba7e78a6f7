import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import pino from 'pino';
import { encodeOnnxModel } from '../../../src/example-models/encode-onnx-model';
import { identityModel, tinyMlpModel, tinyMlpReference } from '../../../src/example-models/example-models';
import type { OnnxSession } from '../../../src/runtime/onnx-session';
import { MAIN_THREAD_MAX_BATCH_ROWS, MAIN_THREAD_MAX_RUN_US, MainThreadLane, type LaneOptions } from '../../../src/scheduler/main-thread-lane';
import type { HostTensor, TensorSpec } from '../../../src/tensor/tensor-types';

/**
 * The worker session the probe is timed on, answering with a run time the test chooses (so
 * that no outcome depends on this machine's speed); it records the probes it is handed.
 */
class ProbeWorker {
  readonly probes: Record<string, readonly number[]>[] = [];

  constructor(private readonly runUs: number | Error) {}

  async timeRuns(feeds: Record<string, HostTensor>): Promise<number> {
    this.probes.push(Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, t.dims])));
    if (this.runUs instanceof Error) throw this.runUs;
    return this.runUs;
  }
}

const float = (name: string, dims: number[]): TensorSpec => ({ name, type: 'float32', dims });
const never = new AbortController().signal;

describe('MainThreadLane', function () {
  this.timeout(60_000);
  let dir: string;
  const file = (name: string, model: Uint8Array): string => {
    const p = path.join(dir, name);
    writeFileSync(p, model);
    return p;
  };
  const open = (modelPath: string, io: { inputs: TensorSpec[]; outputs: TensorSpec[] }, worker: ProbeWorker): ReturnType<typeof MainThreadLane.open> => {
    const options: LaneOptions = {
      modelPath,
      ...io,
      batchable: [...io.inputs, ...io.outputs].every((s) => s.dims[0]! < 0),
      worker: worker as unknown as OnnxSession,
      session: { intraOpThreads: 1, interOpThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' },
      warmup: [],
      maxWarmupInputBytes: 1024 * 1024,
      maxQueueSize: 16,
      queueDepth: () => 0,
      label: 'test',
      log: pino({ level: 'silent' }),
    };
    return MainThreadLane.open(options);
  };

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'inferd-lane-'));
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  const mlp = { inputs: [float('x', [-1, 4])], outputs: [float('y', [-1, 3])] };

  it(`opens a lane for a model whose probe of 64 rows runs within ${MAIN_THREAD_MAX_RUN_US} µs on a worker, fitting requests shaped like the probe`, async () => {
    const worker = new ProbeWorker(MAIN_THREAD_MAX_RUN_US);
    const { lane, use } = await open(file('mlp.onnx', tinyMlpModel()), mlp, worker);
    try {
      expect(worker.probes).to.deep.equal([{ x: [64, 4] }]);
      expect(use).to.deep.equal({ measuredRunUs: MAIN_THREAD_MAX_RUN_US, maxRows: 64, note: '' });
      const x = (dims: number[]): Record<string, HostTensor> => ({ x: { type: 'float32', dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)) } });
      expect([x([1, 4]), x([64, 4]), x([65, 4]), x([1, 5]), x([4]), {}].map((feeds) => lane!.fits(feeds))).to.deep.equal([true, true, false, false, false, false]);
      expect(lane!.batcher.maxBatchSize).to.equal(MAIN_THREAD_MAX_BATCH_ROWS);
    } finally {
      await lane?.close();
    }
  });

  it('answers a request on the main thread as the model does', async () => {
    const { lane } = await open(file('mlp.onnx', tinyMlpModel()), mlp, new ProbeWorker(10));
    try {
      const x = [1, -2, 0.5, 4];
      const { y } = await lane!.batcher.submit({ x: { type: 'float32', dims: [1, 4], data: Float32Array.from(x) } }, ['y'], never);
      expect([...(y!.data as Float32Array)]).to.deep.equal(tinyMlpReference(x).map(Math.fround));
      await lane!.batcher.whenIdle();
    } finally {
      await lane?.close();
    }
  });

  it(`gives no lane to a model whose probe takes longer than ${MAIN_THREAD_MAX_RUN_US} µs, saying how long it took`, async () => {
    const { lane, use } = await open(file('mlp.onnx', tinyMlpModel()), mlp, new ProbeWorker(MAIN_THREAD_MAX_RUN_US + 1));
    expect(lane).to.equal(undefined);
    expect(use).to.deep.equal({ measuredRunUs: MAIN_THREAD_MAX_RUN_US + 1, maxRows: 0, note: `a run of 64 row(s) took ${MAIN_THREAD_MAX_RUN_US + 1} µs, over ${MAIN_THREAD_MAX_RUN_US}` });
  });

  it('probes fewer rows when 64 would pass 64 KiB, and fits no request larger than the probe', async () => {
    const wide = { inputs: [float('x', [-1, 1024])], outputs: [float('y', [-1, 1024])] };
    const worker = new ProbeWorker(10);
    const { lane, use } = await open(file('wide.onnx', identityModel('FLOAT', { dims: ['n', 1024] })), wide, worker);
    try {
      expect(worker.probes).to.deep.equal([{ x: [16, 1024] }]);
      expect(use.maxRows).to.equal(16);
      expect(lane!.fits({ x: { type: 'float32', dims: [17, 1024], data: new Float32Array(17 * 1024) } })).to.equal(false);
    } finally {
      await lane?.close();
    }
  });

  it('probes one request of a model without a dimension to batch along, and fits only that shape', async () => {
    const fixed = { inputs: [float('x', [2, 2])], outputs: [float('y', [2, 2])] };
    const worker = new ProbeWorker(10);
    const { lane, use } = await open(file('fixed.onnx', identityModel('FLOAT', { dims: [2, 2] })), fixed, worker);
    try {
      expect(worker.probes).to.deep.equal([{ x: [2, 2] }]);
      expect(use.maxRows).to.equal(1);
      expect(lane!.batcher.maxBatchSize).to.equal(0);
      const x = (dims: number[]): Record<string, HostTensor> => ({ x: { type: 'float32', dims, data: new Float32Array(4) } });
      expect([lane!.fits(x([2, 2])), lane!.fits(x([1, 2, 2]))]).to.deep.equal([true, false]);
    } finally {
      await lane?.close();
    }
  });

  describe('refusing a model without timing it', () => {
    const tile = encodeOnnxModel({
      graphName: 'tile',
      inputs: [{ name: 'x', elemType: 'FLOAT', dims: ['n', 4] }],
      outputs: [{ name: 'y', elemType: 'FLOAT', dims: ['n', 8] }],
      initializers: [{ name: 'repeats', dims: [2], data: BigInt64Array.of(1n, 2n) }],
      nodes: [{ opType: 'Tile', inputs: ['x', 'repeats'], outputs: ['y'] }],
    });
    const cases: [string, () => [string, Uint8Array], { inputs: TensorSpec[]; outputs: TensorSpec[] }, string][] = [
      ['one that takes strings', () => ['strings.onnx', identityModel('STRING')], { inputs: [{ name: 'x', type: 'string', dims: [-1] }], outputs: [{ name: 'y', type: 'string', dims: [-1] }] }, 'it takes string inputs'],
      ['one whose operators may take time that depends on input values', () => ['tile.onnx', tile], { inputs: [float('x', [-1, 4])], outputs: [float('y', [-1, 8])] }, 'its operators Tile may take time that depends on input values'],
      ['one whose requests are larger than 64 KiB', () => ['large.onnx', identityModel('FLOAT', { dims: [129, 128] })], { inputs: [float('x', [129, 128])], outputs: [float('y', [129, 128])] }, 'a request is larger than 65536 bytes'],
    ];
    for (const [what, model, io, note] of cases) {
      it(`refuses ${what}`, async () => {
        const worker = new ProbeWorker(1);
        const [name, bytes] = model();
        expect(await open(file(name, bytes), io, worker)).to.deep.equal({ lane: undefined, use: { measuredRunUs: undefined, maxRows: 0, note } });
        expect(worker.probes).to.deep.equal([]);
      });
    }
  });

  it('leaves every run on the workers when the probe fails, saying why, and does not reject', async () => {
    const { lane, use } = await open(file('mlp.onnx', tinyMlpModel()), mlp, new ProbeWorker(new Error('model instance is closed')));
    expect(lane).to.equal(undefined);
    expect(use).to.deep.equal({ measuredRunUs: undefined, maxRows: 0, note: 'not timed: model instance is closed' });
  });
});
