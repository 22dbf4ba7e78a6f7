import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import * as ort from 'onnxruntime-node';
import { OnnxElemType } from '../../../src/example-models/encode-onnx-model';
import {
  identityModel,
  simpleModel,
  tinyMlpModel,
  tinyMlpReference,
  writeExampleRepository,
} from '../../../src/example-models/example-models';
import { SLOW_MODEL_MATMULS, slowModel } from '../../support/slow-model';

/** How many nodes of each operator the graph of an ONNX model holds (ModelProto.graph = 7, GraphProto.node = 1, NodeProto.op_type = 4). */
function opCounts(model: Uint8Array): Record<string, number> {
  const counts: Record<string, number> = {};
  const fields = (bytes: Uint8Array, each: (field: number, r: BinaryReader, wire: WireType) => void): void => {
    const r = new BinaryReader(bytes);
    while (r.pos < r.len) {
      const [field, wire] = r.tag();
      each(field, r, wire);
    }
  };
  fields(model, (f, r, w) => {
    if (f !== 7) return void r.skip(w, f);
    fields(r.bytes(), (f, r, w) => {
      if (f !== 1) return void r.skip(w, f);
      fields(r.bytes(), (f, r, w) => {
        if (f !== 4) return void r.skip(w, f);
        const op = r.string();
        counts[op] = (counts[op] ?? 0) + 1;
      });
    });
  });
  return counts;
}

describe('example models', () => {
  let dir: string;
  const sessions: ort.InferenceSession[] = [];

  /** Writes `bytes` to `<dir>/<name>.onnx` and loads it from there on one intra-op thread. */
  async function load(name: string, bytes: Uint8Array): Promise<ort.InferenceSession> {
    const file = path.join(dir, `${name}.onnx`);
    fs.writeFileSync(file, bytes);
    const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    sessions.push(session);
    return session;
  }

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'inferd-example-models-'));
  });

  after(async () => {
    for (const s of sessions.splice(0)) await s.release();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('simpleModel', () => {
    for (const batch of [1, 3]) {
      it(`returns the exact element-wise sum and difference of two INT32 [${batch},16] inputs`, async () => {
        const session = await load('simple', simpleModel());
        const a = Int32Array.from({ length: batch * 16 }, (_, i) => i * 1_000_003 - 7_000_000);
        const b = Int32Array.from({ length: batch * 16 }, (_, i) => (i % 5) * -123_457 + 1);
        const out = await session.run({
          INPUT0: new ort.Tensor('int32', a, [batch, 16]),
          INPUT1: new ort.Tensor('int32', b, [batch, 16]),
        });
        expect(out.OUTPUT0.type).to.equal('int32');
        expect(out.OUTPUT0.dims).to.deep.equal([batch, 16]);
        expect(out.OUTPUT1.dims).to.deep.equal([batch, 16]);
        expect(Array.from(out.OUTPUT0.data as Int32Array)).to.deep.equal(Array.from(a, (x, i) => x + b[i]));
        expect(Array.from(out.OUTPUT1.data as Int32Array)).to.deep.equal(Array.from(a, (x, i) => x - b[i]));
      });
    }

    it('declares INT32 inputs and outputs with a symbolic batch dim and 16 columns', async () => {
      const session = await load('simple', simpleModel());
      expect(session.inputNames).to.deep.equal(['INPUT0', 'INPUT1']);
      expect(session.outputNames).to.deep.equal(['OUTPUT0', 'OUTPUT1']);
      for (const m of [...session.inputMetadata, ...session.outputMetadata]) {
        expect(m).to.include({ isTensor: true, type: 'int32' });
        expect(m.isTensor && m.shape).to.deep.equal(['batch', 16]);
      }
    });
  });

  describe('tinyMlpModel', () => {
    const rows = [
      [0, 0, 0, 0],
      [1, 2, 3, 4],
      [-5, 7, -1, 2],
      [100, -50, 25, -10],
      [-3, -3, 8, 1],
    ];

    for (const row of rows) {
      it(`computes exactly tinyMlpReference for x = [${row.join(', ')}]`, async () => {
        const session = await load('tiny_mlp', tinyMlpModel());
        const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from(row), [1, 4]) });
        expect(out.y.dims).to.deep.equal([1, 3]);
        expect(Array.from(out.y.data as Float32Array)).to.deep.equal(tinyMlpReference(row));
      });
    }

    it('computes each row of a batch of 2 independently and exactly', async () => {
      const session = await load('tiny_mlp', tinyMlpModel());
      const out = await session.run({
        x: new ort.Tensor('float32', Float32Array.from([...rows[1], ...rows[2]]), [2, 4]),
      });
      expect(out.y.dims).to.deep.equal([2, 3]);
      expect(Array.from(out.y.data as Float32Array)).to.deep.equal([
        ...tinyMlpReference(rows[1]),
        ...tinyMlpReference(rows[2]),
      ]);
    });
  });

  describe('identityModel', () => {
    // For each ONNX type: the onnxruntime-node type name, and values at the edges of its range.
    const cases: [OnnxElemType, ort.Tensor.Type, ort.Tensor.DataType][] = [
      ['FLOAT', 'float32', Float32Array.of(1.5, -0, 3.4028234663852886e38, 1e-45, -Infinity)],
      ['UINT8', 'uint8', Uint8Array.of(0, 255, 7)],
      ['INT8', 'int8', Int8Array.of(-128, 127, 0)],
      ['UINT16', 'uint16', Uint16Array.of(0, 65535, 1234)],
      ['INT16', 'int16', Int16Array.of(-32768, 32767, -1)],
      ['INT32', 'int32', Int32Array.of(-2147483648, 2147483647, 0)],
      ['INT64', 'int64', BigInt64Array.of(-(2n ** 63n), 2n ** 63n - 1n, 2n ** 53n + 1n)],
      ['STRING', 'string', ['', 'héllo', '日本語 🙂', 'a,b\nc']],
      ['BOOL', 'bool', Uint8Array.of(1, 0, 1, 1)],
      // float16 travels as raw half-precision bits in a Uint16Array (Node 20 has no Float16Array):
      // 1.0, -2.0, 65504 (max), smallest subnormal, -0, +Inf.
      ['FLOAT16', 'float16', Uint16Array.of(0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x7c00)],
      ['DOUBLE', 'float64', Float64Array.of(Math.PI, -1e308, 5e-324)],
      ['UINT32', 'uint32', Uint32Array.of(0, 4294967295, 123)],
      ['UINT64', 'uint64', BigUint64Array.of(0n, 2n ** 64n - 1n, 2n ** 53n + 1n)],
    ];

    for (const [elemType, ortType, data] of cases) {
      it(`round-trips ${elemType} values exactly as ${ortType} (${data.constructor.name})`, async () => {
        const session = await load(`identity_${elemType}`, identityModel(elemType));
        expect(session.inputMetadata[0]).to.deep.equal({ name: 'x', isTensor: true, type: ortType, shape: ['n'] });
        const out = await session.run({ x: new ort.Tensor(ortType, data as never, [data.length]) });
        expect(out.y.type).to.equal(ortType);
        expect(out.y.dims).to.deep.equal([data.length]);
        expect(out.y.data.constructor).to.equal(data.constructor);
        expect(Array.from(out.y.data as ArrayLike<unknown>)).to.deep.equal(Array.from(data as ArrayLike<unknown>));
      });
    }

    it('reports fixed and symbolic dims [2, "n"] in inputMetadata and outputMetadata', async () => {
      const session = await load('identity_dims', identityModel('FLOAT', { dims: [2, 'n'] }));
      expect(session.inputMetadata[0]).to.deep.equal({ name: 'x', isTensor: true, type: 'float32', shape: [2, 'n'] });
      expect(session.outputMetadata[0]).to.deep.equal({ name: 'y', isTensor: true, type: 'float32', shape: [2, 'n'] });
    });

    it('rejects an input whose fixed dim differs from the declared one', async () => {
      const session = await load('identity_dims', identityModel('FLOAT', { dims: [2, 'n'] }));
      let error: unknown;
      try {
        await session.run({ x: new ort.Tensor('float32', new Float32Array(6), [3, 2]) });
      } catch (err) {
        error = err;
      }
      expect(error).to.be.instanceOf(Error);
      expect((error as Error).message).to.match(/dimension|shape/i);
    });
  });

  describe('slowModel (test/support)', () => {
    // What the work is, not how long it takes: that depends on the machine (tests that need a
    // run of some length size it at run time, see test/support/calibrate-slow-run.ts).
    const inputs = (x: number[], side: number[]) => ({
      x: new ort.Tensor('float32', Float32Array.from(x), [x.length, 1]),
      side: new ort.Tensor('int64', BigInt64Array.from(side.map(BigInt)), [side.length, 1]),
    });

    it(`chains ${SLOW_MODEL_MATMULS} MatMuls of side×side matrices and returns y = side exactly for x = 1, 0 for x = 0`, async () => {
      const bytes = slowModel();
      expect(opCounts(bytes)['MatMul']).to.equal(SLOW_MODEL_MATMULS);
      const session = await load('slow', bytes);
      expect(Array.from((await session.run(inputs([1], [7]))).y.data as Float32Array)).to.deep.equal([7]);
      expect(Array.from((await session.run(inputs([0], [7]))).y.data as Float32Array)).to.deep.equal([0]);
    });

    it('batchable: answers y = x row for row', async () => {
      const session = await load('slow_batchable', slowModel({ batchable: true }));
      const out = await session.run(inputs([1, 0, 3], [2, 2, 2]));
      expect(out.y.dims).to.deep.equal([3, 1]);
      expect(Array.from(out.y.data as Float32Array)).to.deep.equal([1, 0, 3]);
    });
  });

  describe('writeExampleRepository', () => {
    it('writes simple, tiny_mlp and ocr_cls as <model>/1/model.onnx that onnxruntime loads, overwriting on a rerun', async () => {
      const repo = path.join(dir, 'repo');
      await writeExampleRepository(repo);
      const written = await writeExampleRepository(repo);
      expect(written.map((m) => `${m.model}/${m.version}`)).to.deep.equal(['simple/1', 'tiny_mlp/1', 'ocr_cls/1']);
      expect(fs.readdirSync(repo).sort()).to.deep.equal(['ocr_cls', 'simple', 'tiny_mlp']);
      for (const m of written) {
        expect(m.path).to.equal(path.join(repo, m.model, '1', 'model.onnx'));
        expect(fs.statSync(m.path).size).to.equal(m.sizeBytes);
        const session = await ort.InferenceSession.create(m.path);
        sessions.push(session);
        expect(session.inputNames.length).to.be.at.least(1);
      }
      expect(fs.readFileSync(path.join(repo, 'simple', '1', 'model.onnx'))).to.deep.equal(Buffer.from(simpleModel()));
    });

    it('leaves out ocr_cls when asked to', async () => {
      const repo = path.join(dir, 'repo-without-ocr');
      const written = await writeExampleRepository(repo, { ocrCls: false });
      expect(written.map((m) => m.model)).to.deep.equal(['simple', 'tiny_mlp']);
      expect(fs.readdirSync(repo).sort()).to.deep.equal(['simple', 'tiny_mlp']);
    });
  });
});
