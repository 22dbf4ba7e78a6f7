import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import type { PredictResponse } from '../../../generated/inferd/v1/prediction_service';
import { simpleModel, tinyMlpModel } from '../../../src/example-models/example-models';
import { PACKAGE_ROOT } from '../../../src/package-root';
import type { ModelRepository } from '../../../src/repository/model-repository';
import {
  predict,
  removeFolder,
  startServer,
  tensor,
  writeRepository,
  type TestServer,
} from '../../support/test-server';

const OCR_CLS = path.join(
  PACKAGE_ROOT,
  'node_modules',
  '@gutenye',
  'ocr-models',
  'assets',
  'ch_ppocr_mobile_v2.0_cls_infer.onnx',
);
const rawOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Deterministic pseudo-random floats in [-1, 1). */
function floats(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

function repositoryWith(maxBatchSize: number | undefined): string {
  const repo = writeRepository({ tiny_mlp: tinyMlpModel(), simple: simpleModel() });
  mkdirSync(path.join(repo, 'ocr_cls', '1'), { recursive: true });
  copyFileSync(OCR_CLS, path.join(repo, 'ocr_cls', '1', 'model.onnx'));
  if (maxBatchSize !== undefined) {
    for (const m of ['tiny_mlp', 'simple', 'ocr_cls'])
      writeFileSync(path.join(repo, m, 'config.yaml'), `max_batch_size: ${maxBatchSize}\n`);
  }
  return repo;
}

function executions(t: TestServer, model: string): { executions: number; inferences: number } {
  const stats = (t.server as unknown as { repository: ModelRepository }).repository.resolve(model, '').stats();
  return { executions: stats.executions, inferences: stats.inferences };
}

describe('dynamic batching', function () {
  this.timeout(120_000);
  let batchedRepo: string;
  let aloneRepo: string;
  let batched: TestServer;
  let alone: TestServer;

  before(async () => {
    batchedRepo = repositoryWith(undefined); // batching on by default: every first dimension is dynamic
    aloneRepo = repositoryWith(0);
    // These are tests of the workers' batcher: with placement auto, the tiny model's small
    // requests would run on the main thread, one at a time (see test/integration/server/placement.test.ts).
    batched = await startServer(batchedRepo, { placement: 'worker' });
    alone = await startServer(aloneRepo, { placement: 'worker' });
  });

  after(async () => {
    await batched.close();
    await alone.close();
    removeFolder(batchedRepo);
    removeFolder(aloneRepo);
  });

  /** The same requests, all at once, to a server; the raw outputs of each in request order. */
  async function outputsOf(t: TestServer, requests: Parameters<typeof predict>[1][]): Promise<Buffer[][]> {
    const responses: PredictResponse[] = await Promise.all(requests.map((r) => predict(t.prediction, r)));
    return responses.map((r) =>
      Object.keys(r.outputs)
        .sort()
        .map((k) => Buffer.from(r.outputs[k]!.rawData)),
    );
  }

  for (const [model, shape] of [
    ['tiny_mlp', [4]],
    ['ocr_cls', [3, 48, 192]],
  ] as const) {
    it(`answers ${model} requests run in batches bit for bit as when each runs alone`, async () => {
      const per = shape.reduce((a, b) => a * b, 1);
      const requests = Array.from({ length: 48 }, (_, i) => {
        const rows = 1 + (i % 3);
        return {
          modelName: model,
          id: `r${i}`,
          inputs: {
            x: tensor({ shape: [BigInt(rows), ...shape.map(BigInt)], rawData: rawOf(floats(rows * per, i + 1)) }),
          },
        };
      });
      const before = executions(batched, model);
      const together = await outputsOf(batched, requests);
      const separately = await outputsOf(alone, requests);
      expect(together).to.deep.equal(separately);
      const after = executions(batched, model);
      // 96 rows in 48 requests: batches formed, so fewer runs than requests.
      expect(after.inferences - before.inferences).to.equal(96);
      expect(after.executions - before.executions).to.be.below(48);
      expect(executions(alone, model).executions).to.be.at.least(48);
      if (model === 'ocr_cls') {
        // 110,592 bytes a row: the default 1 MiB of input a run holds at most 9 rows.
        const sizes = Object.keys(
          (batched.server as unknown as { repository: ModelRepository }).repository.resolve(model, '').stats()
            .batchSizes,
        ).map(Number);
        expect(Math.max(...sizes)).to.be.at.most(9);
      }
    });
  }

  it('reports the batch size it uses in the effective config', async () => {
    const r = (batched.server as unknown as { repository: ModelRepository }).repository;
    expect(r.config('tiny_mlp', '').maxBatchSize).to.equal(32);
    expect(
      (alone.server as unknown as { repository: ModelRepository }).repository.config('tiny_mlp', '').maxBatchSize,
    ).to.equal(0);
  });

  it('answers each of many concurrent requests its own rows exactly', async () => {
    const a = Array.from({ length: 20 }, (_, i) =>
      predict(batched.prediction, {
        modelName: 'simple',
        inputs: {
          INPUT0: tensor({ shape: [1n, 16n], int32Data: new Array(16).fill(i) }),
          INPUT1: tensor({ shape: [1n, 16n], int32Data: new Array(16).fill(1) }),
        },
      }),
    );
    const answers = await Promise.all(a);
    answers.forEach((r, i) => expect(r.outputs['OUTPUT0']!.int32Data).to.deep.equal(new Array(16).fill(i + 1)));
  });
});
