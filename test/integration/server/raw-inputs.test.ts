import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import type { PredictRequest } from '../../../generated/inferd/v1/prediction_service';
import { DataType } from '../../../generated/inferd/v1/tensor';
import { encodeOnnxModel, type OnnxElemType } from '../../../src/example-models/encode-onnx-model';
import type { ModelRepository } from '../../../src/repository/model-repository';
import { GRPC_FRAME_HEADER_BYTES, rawDataAt } from '../../support/raw-data-at';
import {
  predict,
  removeFolder,
  startServer,
  tensor,
  writeRepository,
  type TestServer,
} from '../../support/test-server';

/**
 * Elements a request carries, in one row, so that the requests of a model share a run when
 * batched: 4 KiB and more, so that grpc-js reads each message into an ArrayBuffer of its own
 * (smaller ones share Node's Buffer pool, which a worker hand-over could not take anyway).
 */
const ELEMENTS = 1024;

/** The element types these tests send, each to an identity model of its own. */
interface Type {
  readonly onnx: OnnxElemType;
  readonly label: string;
  readonly datatype: DataType;
  readonly bytes: number;
}
const TYPES: readonly Type[] = [
  { onnx: 'FLOAT', label: 'FLOAT32', datatype: DataType.DATA_TYPE_FLOAT32, bytes: 4 },
  { onnx: 'INT64', label: 'INT64', datatype: DataType.DATA_TYPE_INT64, bytes: 8 },
];

/** y = x, both [batch, ELEMENTS]. */
function identityModel(type: Type): Uint8Array {
  const io = (name: string) => ({ name, elemType: type.onnx, dims: ['batch', ELEMENTS] });
  return encodeOnnxModel({
    graphName: 'identity',
    inputs: [io('x')],
    outputs: [io('y')],
    nodes: [{ opType: 'Identity', inputs: ['x'], outputs: ['y'] }],
  });
}

/** Deterministic bytes, different for each request (`seed`), every bit pattern allowed. */
function bytesOf(n: number, seed: number): Uint8Array {
  let s = seed >>> 0;
  return Uint8Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s >>> 24;
  });
}

/**
 * A Predict of `model` sending `raw` as the one input of `type`. Its version ('' or '1', the
 * same one) and whether it names its datatype move its raw_data by 3 and 2 bytes: the only
 * differences between the requests of a model, so that they still share a run.
 */
function request(
  model: string,
  type: Type,
  raw: Uint8Array,
  variant: { version: boolean; datatype: boolean },
): PredictRequest {
  return {
    modelName: model,
    modelVersion: variant.version ? '1' : '',
    inputs: {
      x: tensor({
        datatype: variant.datatype ? type.datatype : DataType.DATA_TYPE_UNSPECIFIED,
        shape: [1n, BigInt(ELEMENTS)],
        rawData: raw,
      }),
    },
    outputNames: [],
    id: '',
  };
}

const VARIANTS = [
  { version: false, datatype: false },
  { version: false, datatype: true },
  { version: true, datatype: false },
  { version: true, datatype: true },
];

/** Where a request's raw_data lands, modulo 8, in the buffer the server decodes it from. */
const landsAt = (r: PredictRequest): number => (GRPC_FRAME_HEADER_BYTES + rawDataAt(r, 'x')) % 8;

/**
 * The name, `<prefix>` then underscores, that puts the raw_data of a request of the first
 * variant at a multiple of 8 in the server's buffer: the other variants then land at 2, 3 and 5.
 */
function alignedName(prefix: string, type: Type): string {
  const raw = new Uint8Array(ELEMENTS * 8);
  for (let pad = 0; pad < 8; pad++) {
    const name = prefix + '_'.repeat(pad);
    if (landsAt(request(name, type, raw, VARIANTS[0]!)) === 0) return name;
  }
  throw new Error(`no name for ${prefix} aligns its raw_data`);
}

/**
 * Rows of a batch: the batched server holds each batch until it is full, so 48 requests make 3
 * runs (its warm-up is a full batch, so that it does not wait).
 */
const BATCH_ROWS = 16;
const REQUESTS_PER_MODEL = 48;

const SERVERS = [
  {
    what: 'batched on worker threads',
    placement: 'worker',
    config: [
      `max_batch_size: ${BATCH_ROWS}`,
      'dynamic_batching: { max_queue_delay_us: 60000000 }',
      `warmup: [{ name: full, count: 1, inputs: { x: { shape: [${BATCH_ROWS}, ${ELEMENTS}], zero: true } } }]`,
      '',
    ].join('\n'),
    runs: REQUESTS_PER_MODEL / BATCH_ROWS,
  },
  {
    what: 'each request alone on a worker thread',
    placement: 'worker',
    config: 'max_batch_size: 0\n',
    runs: REQUESTS_PER_MODEL,
  },
  {
    what: 'each request alone, placement auto (the main thread, for runs this short)',
    placement: 'auto',
    config: 'max_batch_size: 0\n',
    runs: undefined,
  },
] as const;

describe('raw inputs read in place or copied, by their alignment in the request', function () {
  this.timeout(120_000);
  const models = TYPES.map((type) => ({ type, name: alignedName(`identity_${type.label.toLowerCase()}`, type) }));

  for (const setup of SERVERS) {
    describe(setup.what, () => {
      let repo: string;
      let t: TestServer;

      before(async () => {
        repo = writeRepository(Object.fromEntries(models.map((m) => [m.name, identityModel(m.type)])));
        for (const m of models) writeFileSync(path.join(repo, m.name, 'config.yaml'), setup.config);
        t = await startServer(repo, { placement: setup.placement });
      });

      after(async () => {
        await t.close();
        removeFolder(repo);
      });

      it('answers every request its own elements bit for bit, whether its raw_data is aligned or not', async () => {
        const sent: { request: PredictRequest; raw: Uint8Array; type: Type }[] = [];
        for (const { type, name } of models) {
          for (let i = 0; i < REQUESTS_PER_MODEL; i++) {
            const raw = bytesOf(ELEMENTS * type.bytes, sent.length + 1);
            sent.push({ request: request(name, type, raw, VARIANTS[i % VARIANTS.length]!), raw, type });
          }
        }
        // What the requests cover: aligned (0) and, for both types, not aligned (2, 3 and 5).
        expect([...new Set(sent.map((s) => landsAt(s.request)))].sort()).to.deep.equal([0, 2, 3, 5]);

        const repository = (t.server as unknown as { repository: ModelRepository }).repository;
        const before = models.map((m) => repository.resolve(m.name, '').stats().executions);
        const answers = await Promise.all(sent.map((s) => predict(t.prediction, s.request)));
        answers.forEach((answer, i) => {
          const { raw, type } = sent[i]!;
          const y = answer.outputs['y']!;
          expect([y.datatype, y.shape]).to.deep.equal([type.datatype, [1n, BigInt(ELEMENTS)]]);
          expect(Buffer.from(y.rawData).equals(Buffer.from(raw)), `request ${i} (${type.label})`).to.equal(true);
        });
        const runs = models.map((m, i) => repository.resolve(m.name, '').stats().executions - before[i]!);
        // Batched: each run stacked views and copies together.
        if (setup.runs !== undefined) expect(runs).to.deep.equal([setup.runs, setup.runs]);
      });
    });
  }
});
