import * as path from 'node:path';
import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import { DataType, type Tensor } from '../../../generated/inferd/v1/tensor';
import type { OnnxElemType } from '../../../src/example-models/encode-onnx-model';
import {
  identityModel,
  simpleModel,
  tinyMlpReference,
  writeExampleRepository,
} from '../../../src/example-models/example-models';
import type { ModelRepository } from '../../../src/repository/model-repository';
import { calibrateSlowRun } from '../../support/calibrate-slow-run';
import { slowModel } from '../../support/slow-model';
import {
  predict,
  rejection,
  removeFolder,
  startServer,
  tensor,
  writeRepository,
  type TestServer,
} from '../../support/test-server';
import { until } from '../../support/until';
import { reshapeModel } from '../../support/test-models';

const range = (n: number, f: (i: number) => number): number[] => Array.from({ length: n }, (_, i) => f(i));
const rawOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
/** A copy of received bytes in a buffer of their own (the decoded bytes are a view into the whole message). */
const own = (bytes: Uint8Array): ArrayBuffer => new Uint8Array(bytes).buffer;
describe('Predict', function () {
  this.timeout(60_000);
  let repo: string;
  let t: TestServer;

  const identities: Record<string, OnnxElemType> = {
    id_float32: 'FLOAT',
    id_float64: 'DOUBLE',
    id_float16: 'FLOAT16',
    id_int8: 'INT8',
    id_int16: 'INT16',
    id_int32: 'INT32',
    id_int64: 'INT64',
    id_uint8: 'UINT8',
    id_uint16: 'UINT16',
    id_uint32: 'UINT32',
    id_uint64: 'UINT64',
    id_bool: 'BOOL',
    id_string: 'STRING',
  };

  before(async () => {
    const models: Record<string, Uint8Array | Record<string, Uint8Array>> = {
      fixed: identityModel('FLOAT', { dims: [2, 'n'] }),
      reshape: reshapeModel(),
      versioned: { '1': simpleModel(), '2': simpleModel() },
      broken: new TextEncoder().encode('this is not an onnx model'),
    };
    for (const [name, type] of Object.entries(identities)) models[name] = identityModel(type);
    repo = writeRepository(models);
    await writeExampleRepository(repo);
    t = await startServer(repo);
  });

  after(async () => {
    await t.close();
    removeFolder(repo);
  });

  describe('exact results', () => {
    it('adds and subtracts INT32 tensors given as typed values, answering in typed values', async () => {
      const a = range(32, (i) => i * 3 - 40);
      const b = range(32, (i) => 1000 - i);
      const r = await predict(t.prediction, {
        modelName: 'simple',
        id: 'req-1',
        inputs: {
          INPUT0: tensor({ shape: [2n, 16n], int32Data: a }),
          INPUT1: tensor({ shape: [2n, 16n], int32Data: b }),
        },
      });
      expect(r.id).to.equal('req-1');
      expect(r.modelName).to.equal('simple');
      expect(r.modelVersion).to.equal('1');
      expect(r.outputs['OUTPUT0']).to.deep.include({
        datatype: DataType.DATA_TYPE_INT32,
        shape: [2n, 16n],
        int32Data: a.map((x, i) => x + b[i]!),
      });
      expect(r.outputs['OUTPUT1']!.int32Data).to.deep.equal(a.map((x, i) => x - b[i]!));
      expect(r.outputs['OUTPUT0']!.rawData.length).to.equal(0);
    });

    it('answers raw_data bytes when every input came as raw_data', async () => {
      const a = Int32Array.from(range(16, (i) => 2 ** 30 - i));
      const b = Int32Array.from(range(16, (i) => -i * 7));
      const r = await predict(t.prediction, {
        modelName: 'simple',
        inputs: {
          INPUT0: tensor({ datatype: DataType.DATA_TYPE_INT32, shape: [1n, 16n], rawData: rawOf(a) }),
          INPUT1: tensor({ shape: [1n, 16n], rawData: rawOf(b) }),
        },
      });
      const out = r.outputs['OUTPUT0']!;
      expect(out.int32Data).to.deep.equal([]);
      const sum = new Int32Array(own(out.rawData));
      expect(Array.from(sum)).to.deep.equal(Array.from(a, (x, i) => x + b[i]!));
    });

    it('answers typed values when any input came typed', async () => {
      const r = await predict(t.prediction, {
        modelName: 'simple',
        inputs: {
          INPUT0: tensor({ shape: [1n, 16n], rawData: rawOf(new Int32Array(16).fill(5)) }),
          INPUT1: tensor({ shape: [1n, 16n], int32Data: range(16, () => 2) }),
        },
      });
      expect(r.outputs['OUTPUT1']!.int32Data).to.deep.equal(range(16, () => 3));
    });

    it('returns only the outputs named in output_names', async () => {
      const r = await predict(t.prediction, {
        modelName: 'simple',
        outputNames: ['OUTPUT1'],
        inputs: {
          INPUT0: tensor({ shape: [1n, 16n], int32Data: range(16, (i) => i) }),
          INPUT1: tensor({ shape: [1n, 16n], int32Data: range(16, () => 1) }),
        },
      });
      expect(Object.keys(r.outputs)).to.deep.equal(['OUTPUT1']);
    });

    it('computes the tiny MLP exactly as its reference does, for a batch of two', async () => {
      const rows = [
        [1, 2, 3, 4],
        [-3, 0, 5, -1],
      ];
      const r = await predict(t.prediction, {
        modelName: 'tiny_mlp',
        inputs: { x: tensor({ shape: [2n, 4n], floatData: rows.flat() }) },
      });
      expect(r.outputs['y']!.shape).to.deep.equal([2n, 3n]);
      expect(r.outputs['y']!.floatData).to.deep.equal(rows.flatMap((row) => tinyMlpReference(row)));
    });

    it('runs the real PaddleOCR direction classifier: two probabilities that sum to 1', async () => {
      const pixels = new Float32Array(3 * 48 * 192).map((_, i) => ((i % 97) - 48) / 48);
      const r = await predict(t.prediction, {
        modelName: 'ocr_cls',
        inputs: { x: tensor({ shape: [1n, 3n, 48n, 192n], rawData: rawOf(pixels) }) },
      });
      const [name] = Object.keys(r.outputs);
      const out = r.outputs[name!]!;
      expect(out.shape).to.deep.equal([1n, 2n]);
      const p = new Float32Array(own(out.rawData));
      expect(p[0]! + p[1]!).to.be.closeTo(1, 1e-5);
    });
  });

  describe('every element type, raw and typed', () => {
    const cases: {
      model: string;
      datatype: DataType;
      typed: Partial<Tensor>;
      raw: ArrayBufferView | undefined;
      count: number;
    }[] = [
      {
        model: 'id_float32',
        datatype: DataType.DATA_TYPE_FLOAT32,
        typed: { floatData: [1.5, -0, 3.4028234663852886e38, Math.fround(1e-45)] },
        raw: Float32Array.of(1.5, -2.25, Infinity, NaN),
        count: 4,
      },
      {
        model: 'id_float64',
        datatype: DataType.DATA_TYPE_FLOAT64,
        typed: { doubleData: [Math.PI, -1e308, 5e-324] },
        raw: Float64Array.of(Math.E, 1 / 3, -0),
        count: 3,
      },
      {
        model: 'id_int8',
        datatype: DataType.DATA_TYPE_INT8,
        typed: { int32Data: [-128, 0, 127] },
        raw: Int8Array.of(-128, 1, 127),
        count: 3,
      },
      {
        model: 'id_int16',
        datatype: DataType.DATA_TYPE_INT16,
        typed: { int32Data: [-32768, 32767] },
        raw: Int16Array.of(-32768, 32767),
        count: 2,
      },
      {
        model: 'id_int32',
        datatype: DataType.DATA_TYPE_INT32,
        typed: { int32Data: [-2147483648, 2147483647] },
        raw: Int32Array.of(-2147483648, 2147483647),
        count: 2,
      },
      {
        model: 'id_int64',
        datatype: DataType.DATA_TYPE_INT64,
        typed: { int64Data: [-(2n ** 63n), 2n ** 53n + 1n, 2n ** 63n - 1n] },
        raw: BigInt64Array.of(-(2n ** 63n), 2n ** 53n + 1n, 9007199254740993n),
        count: 3,
      },
      {
        model: 'id_uint8',
        datatype: DataType.DATA_TYPE_UINT8,
        typed: { int32Data: [0, 255] },
        raw: Uint8Array.of(0, 200, 255),
        count: 3,
      },
      {
        model: 'id_uint16',
        datatype: DataType.DATA_TYPE_UINT16,
        typed: { int32Data: [0, 65535] },
        raw: Uint16Array.of(1, 65535),
        count: 2,
      },
      {
        model: 'id_uint32',
        datatype: DataType.DATA_TYPE_UINT32,
        typed: { int64Data: [0n, 4294967295n] },
        raw: Uint32Array.of(7, 4294967295),
        count: 2,
      },
      {
        model: 'id_uint64',
        datatype: DataType.DATA_TYPE_UINT64,
        typed: { uint64Data: [0n, 2n ** 53n + 1n, 2n ** 64n - 1n] },
        raw: BigUint64Array.of(2n ** 64n - 1n, 2n ** 53n + 3n),
        count: 2,
      },
      {
        model: 'id_bool',
        datatype: DataType.DATA_TYPE_BOOL,
        typed: { boolData: [true, false, true] },
        raw: Uint8Array.of(1, 0, 0, 1),
        count: 4,
      },
      {
        model: 'id_float16',
        datatype: DataType.DATA_TYPE_FLOAT16,
        typed: { floatData: [1, -2.5, 65504, 0.000060975551605224609375] },
        raw: Uint16Array.of(0x3c00, 0xc100, 0x7bff, 0x0001),
        count: 4,
      },
      {
        model: 'id_string',
        datatype: DataType.DATA_TYPE_STRING,
        typed: { stringData: ['héllo', '', '数据 ✓'].map((s) => Buffer.from(s)) },
        raw: undefined,
        count: 3,
      },
    ];

    for (const c of cases) {
      it(`round-trips ${DataType[c.datatype]} in its typed field exactly`, async () => {
        const r = await predict(t.prediction, {
          modelName: c.model,
          inputs: {
            x: tensor({
              datatype: c.datatype,
              shape: [BigInt((Object.values(c.typed)[0] as unknown[]).length)],
              ...c.typed,
            }),
          },
        });
        const y = r.outputs['y']!;
        expect(y.datatype).to.equal(c.datatype);
        for (const [field, values] of Object.entries(c.typed))
          expect((y as unknown as Record<string, unknown>)[field]).to.deep.equal(values);
      });
      if (c.raw !== undefined) {
        const raw = c.raw;
        it(`round-trips ${DataType[c.datatype]} in raw_data byte for byte`, async () => {
          const r = await predict(t.prediction, {
            modelName: c.model,
            inputs: { x: tensor({ shape: [BigInt(c.count)], rawData: rawOf(raw) }) },
          });
          expect(Buffer.from(r.outputs['y']!.rawData).equals(Buffer.from(rawOf(raw)))).to.equal(true);
          expect(r.outputs['y']!.datatype).to.equal(c.datatype);
        });
      }
    }

    it('rounds typed FLOAT16 values to the nearest half', async () => {
      const r = await predict(t.prediction, {
        modelName: 'id_float16',
        inputs: { x: tensor({ shape: [3n], floatData: [0.1, 1e6, 1.0009765625] }) },
      });
      expect(r.outputs['y']!.floatData).to.deep.equal([0.0999755859375, Infinity, 1.0009765625]);
    });

    it('accepts an empty tensor (a zero in its shape) with no content', async () => {
      const r = await predict(t.prediction, { modelName: 'id_float32', inputs: { x: tensor({ shape: [0n] }) } });
      expect(r.outputs['y']!.shape).to.deep.equal([0n]);
    });
  });

  describe('faults and their statuses', () => {
    const simpleInputs = (): Record<string, Tensor> => ({
      INPUT0: tensor({ shape: [1n, 16n], int32Data: range(16, (i) => i) }),
      INPUT1: tensor({ shape: [1n, 16n], int32Data: range(16, () => 1) }),
    });

    const cases: { what: string; request: () => Parameters<typeof predict>[1]; code: status; message: string }[] = [
      {
        what: 'an unknown model',
        request: () => ({ modelName: 'nope', inputs: simpleInputs() }),
        code: status.NOT_FOUND,
        message: 'unknown model "nope"',
      },
      {
        what: 'an unknown version',
        request: () => ({ modelName: 'versioned', modelVersion: '7', inputs: simpleInputs() }),
        code: status.NOT_FOUND,
        message: 'unknown version "7" of model "versioned"',
      },
      {
        what: 'a version on disk that is not served',
        request: () => ({ modelName: 'versioned', modelVersion: '1', inputs: simpleInputs() }),
        code: status.UNAVAILABLE,
        message: 'model "versioned" version 1 is UNAVAILABLE',
      },
      {
        what: 'a model that failed to load',
        request: () => ({ modelName: 'broken', inputs: {} }),
        code: status.UNAVAILABLE,
        message: 'model "broken" has no ready version: version 1 is FAILED',
      },
      {
        what: 'a missing input',
        request: () => ({ modelName: 'simple', inputs: { INPUT0: simpleInputs()['INPUT0']! } }),
        code: status.INVALID_ARGUMENT,
        message: 'missing input "INPUT1": model "simple" version 1 takes "INPUT0", "INPUT1"',
      },
      {
        what: 'an unknown input',
        request: () => ({
          modelName: 'simple',
          inputs: { ...simpleInputs(), INPUT9: tensor({ shape: [1n], int32Data: [1] }) },
        }),
        code: status.INVALID_ARGUMENT,
        message: 'unknown input "INPUT9"',
      },
      {
        what: 'a wrong datatype',
        request: () => ({
          modelName: 'simple',
          inputs: {
            ...simpleInputs(),
            INPUT1: tensor({ datatype: DataType.DATA_TYPE_FLOAT32, shape: [1n, 16n], floatData: range(16, () => 1) }),
          },
        }),
        code: status.INVALID_ARGUMENT,
        message: 'input "INPUT1": expected datatype INT32, got FLOAT32',
      },
      {
        what: 'a shape the model cannot take',
        request: () => ({
          modelName: 'simple',
          inputs: { ...simpleInputs(), INPUT0: tensor({ shape: [1n, 15n], int32Data: range(15, (i) => i) }) },
        }),
        code: status.INVALID_ARGUMENT,
        message: 'input "INPUT0": expected shape [-1,16], got [1,15]',
      },
      {
        what: 'a wrong rank',
        request: () => ({
          modelName: 'simple',
          inputs: { ...simpleInputs(), INPUT0: tensor({ shape: [16n], int32Data: range(16, (i) => i) }) },
        }),
        code: status.INVALID_ARGUMENT,
        message: 'input "INPUT0": expected shape [-1,16], got [16]',
      },
      {
        what: 'a fixed dimension of another size',
        request: () => ({ modelName: 'fixed', inputs: { x: tensor({ shape: [3n, 1n], floatData: [1, 2, 3] }) } }),
        code: status.INVALID_ARGUMENT,
        message: 'input "x": expected shape [2,-1], got [3,1]',
      },
      {
        what: 'an element count that does not match the shape',
        request: () => ({
          modelName: 'simple',
          inputs: { ...simpleInputs(), INPUT1: tensor({ shape: [2n, 16n], int32Data: range(16, () => 1) }) },
        }),
        code: status.INVALID_ARGUMENT,
        message: 'input "INPUT1": shape [2,16] needs 32 elements, int32_data has 16',
      },
      {
        what: 'a raw byte length that does not match the shape',
        request: () => ({
          modelName: 'simple',
          inputs: { ...simpleInputs(), INPUT1: tensor({ shape: [1n, 16n], rawData: new Uint8Array(63) }) },
        }),
        code: status.INVALID_ARGUMENT,
        message: 'input "INPUT1": shape [1,16] of INT32 needs 64 bytes of raw_data, got 63',
      },
      {
        what: 'more than one content field',
        request: () => ({
          modelName: 'simple',
          inputs: {
            ...simpleInputs(),
            INPUT1: tensor({ shape: [1n, 16n], rawData: new Uint8Array(64), int32Data: range(16, () => 1) }),
          },
        }),
        code: status.INVALID_ARGUMENT,
        message: 'input "INPUT1": more than one content field set (raw_data, int32_data)',
      },
      {
        what: 'a typed field of another type',
        request: () => ({
          modelName: 'simple',
          inputs: { ...simpleInputs(), INPUT1: tensor({ shape: [1n, 16n], floatData: range(16, () => 1) }) },
        }),
        code: status.INVALID_ARGUMENT,
        message: 'input "INPUT1": INT32 values go in raw_data or int32_data, got float_data',
      },
      {
        what: 'a value out of range for its type',
        request: () => ({ modelName: 'id_uint8', inputs: { x: tensor({ shape: [2n], int32Data: [1, 256] }) } }),
        code: status.INVALID_ARGUMENT,
        message: 'input "x": element 1 is 256, out of range for UINT8 [0, 255]',
      },
      {
        what: 'an unknown output name',
        request: () => ({ modelName: 'simple', outputNames: ['OUTPUT7'], inputs: simpleInputs() }),
        code: status.INVALID_ARGUMENT,
        message: 'unknown output "OUTPUT7": model "simple" version 1 has "OUTPUT0", "OUTPUT1"',
      },
      {
        what: 'a valid request the runtime fails on',
        request: () => ({ modelName: 'reshape', inputs: { x: tensor({ shape: [3n], floatData: [1, 2, 3] }) } }),
        code: status.INTERNAL,
        message: 'model run failed: ',
      },
    ];

    for (const c of cases) {
      it(`answers ${status[c.code]} for ${c.what}, naming the culprit`, async () => {
        const err = await rejection(predict(t.prediction, c.request()));
        expect(err.code).to.equal(c.code);
        expect(err.details).to.contain(c.message);
      });
    }

    it('names a corrupt model file and its reason in ListModels', async () => {
      const list = await new Promise<{
        models: { name: string; versions: { version: string; state: number; reason: string }[] }[];
      }>((resolve, reject) => t.models.listModels({}, (err, r) => (err ? reject(err) : resolve(r))));
      const broken = list.models.find((m) => m.name === 'broken')!;
      expect(broken.versions[0]!.reason).to.contain('cannot load broken/1/model.onnx: ');
      expect(list.models.find((m) => m.name === 'simple')!.versions).to.deep.equal([
        { version: '1', state: 2, reason: '' },
      ]);
    });

    it('keeps serving the same model after the runtime failed on a request', async () => {
      const r = await predict(t.prediction, {
        modelName: 'reshape',
        inputs: { x: tensor({ shape: [4n], floatData: [1, 2, 3, 4] }) },
      });
      expect(r.outputs['y']!.floatData).to.deep.equal([1, 2, 3, 4]);
    });
  });

  describe('limits', () => {
    let small: TestServer;
    let slowRepo: string;
    /** A request for slowModel of side `side`: x = 1, so y = side. */
    const slowInputs = (side: number): Record<string, Tensor> => ({
      x: tensor({ shape: [1n, 1n], floatData: [1] }),
      side: tensor({ shape: [1n, 1n], int64Data: [BigInt(side)] }),
    });

    before(async () => {
      slowRepo = writeRepository({ slow: slowModel(), simple: simpleModel() });
      small = await startServer(slowRepo, { maxMessageBytes: 64 * 1024, maxQueueSize: 2 });
    });

    after(async () => {
      await small.close();
      removeFolder(slowRepo);
    });

    it('answers RESOURCE_EXHAUSTED for a message over the size limit, and serves the next call', async () => {
      const big = new Int32Array(16 * 2000);
      const err = await rejection(
        predict(small.prediction, {
          modelName: 'simple',
          inputs: {
            INPUT0: tensor({ shape: [2000n, 16n], rawData: rawOf(big) }),
            INPUT1: tensor({ shape: [2000n, 16n], rawData: rawOf(big) }),
          },
        }),
      );
      expect(err.code).to.equal(status.RESOURCE_EXHAUSTED);
      const ok = await predict(small.prediction, {
        modelName: 'simple',
        inputs: {
          INPUT0: tensor({ shape: [1n, 16n], int32Data: range(16, () => 1) }),
          INPUT1: tensor({ shape: [1n, 16n], int32Data: range(16, () => 1) }),
        },
      });
      expect(ok.outputs['OUTPUT0']!.int32Data).to.deep.equal(range(16, () => 2));
    });

    it('answers RESOURCE_EXHAUSTED when the model queue is full, and DEADLINE_EXCEEDED for work whose deadline passed while queued', async () => {
      // Runs of a second or more on this machine: the queue below fills while two of them go on.
      const { side, runMs } = await calibrateSlowRun(
        (s) => predict(small.prediction, { modelName: 'slow', inputs: slowInputs(s) }),
        1_000,
      );
      const slow = (deadlineMs?: number) =>
        predict(small.prediction, { modelName: 'slow', inputs: slowInputs(side) }, { deadlineMs });
      const model = (small.server as unknown as { repository: ModelRepository }).repository.resolve('slow', '');
      const before = model.stats();
      const running = slow();
      // Wait until the first request has reached the worker and a second is handed to it to run
      // next (the instance's pipeline), so the next ones queue behind them.
      await until(() => model.inFlight === 1, 'the first request running');
      const next = slow();
      await until(() => model.inFlight === 2, 'the second request handed to the instance');
      const queued = slow();
      await until(() => model.depth === 1, 'a request queued');
      // Half a run: it passes while the request waits behind at least two whole runs.
      const expiring = rejection(slow(Math.round(runMs / 2)));
      await until(() => model.depth === 2, 'two requests queued');
      const full = await rejection(slow());
      expect(full.code).to.equal(status.RESOURCE_EXHAUSTED);
      expect(full.details).to.equal('model "slow" version 1: queue is full (2 requests waiting)');
      expect((await expiring).code).to.equal(status.DEADLINE_EXCEEDED);
      for (const done of await Promise.all([running, next, queued]))
        expect(done.outputs['y']!.floatData).to.deep.equal([side]);
      // Dropped from the queue without running: three runs for the three answered requests.
      const after = model.stats();
      expect(
        [after.executions - before.executions, after.success - before.success, after.fail - before.fail],
        'runs, successes, failures',
      ).to.deep.equal([3, 3, 2]);
    });
  });
});

describe('a repository folder that is not there', () => {
  it('refuses to start, naming the folder', async () => {
    const missing = path.join(writeRepository({}), 'missing');
    try {
      const err = await startServer(missing).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).to.contain(`cannot read the model repository ${missing}`);
    } finally {
      removeFolder(path.dirname(missing));
    }
  });
});
