import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { ServiceError } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { ModelConfig } from '../../../generated/inferd/v1/model_service';
import { status } from '@grpc/grpc-js';
import { encodeOnnxModel } from '../../../src/example-models/encode-onnx-model';
import { tinyMlpModel, tinyMlpReference } from '../../../src/example-models/example-models';
import { PACKAGE_ROOT } from '../../../src/package-root';
import {
  MAIN_THREAD_DEEP_QUEUE_ROWS,
  MAIN_THREAD_MAX_RUN_US,
  MAIN_THREAD_PROBE_ROWS,
} from '../../../src/scheduler/main-thread-lane';
import { httpGet } from '../../support/telemetry';
import {
  predict,
  rejection,
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

function modelConfig(t: TestServer, modelName: string): Promise<ModelConfig> {
  return new Promise((resolve, reject) => {
    t.models.getModelConfig({ modelName, modelVersion: '' }, (err: ServiceError | null, r) =>
      err ? reject(err) : resolve(r.config!),
    );
  });
}

/** One sample of /metrics for a model version of tiny_mlp-like labels, e.g. inferd_batch_size_count. */
async function metric(t: TestServer, name: string, model: string, extra = ''): Promise<number> {
  const { body } = await httpGet(t.server.httpPort, '/metrics');
  const labels = extra === '' ? `model="${model}",version="1"` : `${extra},model="${model}",version="1"`;
  const line = body.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

/** Seconds each instance of a model version spent running, from /metrics, by instance label. */
async function busySeconds(t: TestServer, model: string): Promise<Record<string, number>> {
  const { body } = await httpGet(t.server.httpPort, '/metrics');
  const busy: Record<string, number> = {};
  const line = new RegExp(
    `^inferd_instance_busy_seconds_total\\{model="${model}",version="1",instance="([^"]+)"\\} (\\S+)$`,
    'gm',
  );
  for (const m of body.matchAll(line)) busy[m[1]!] = Number(m[2]);
  return busy;
}

/** `rows` rows of small integers (exact in float32 through the MLP), different for each seed. */
function mlpRows(rows: number, seed: number): number[][] {
  return Array.from({ length: rows }, (_, r) =>
    Array.from({ length: 4 }, (_, c) => ((seed * 7 + r * 5 + c * 3) % 19) - 9),
  );
}

function mlpRequest(rows: number[][]): Parameters<typeof predict>[1] {
  return {
    modelName: 'tiny_mlp',
    inputs: { x: tensor({ shape: [BigInt(rows.length), 4n], rawData: rawOf(Float32Array.from(rows.flat())) }) },
  };
}

/** `y[i] = table[idx[i]]` over a 10×2 table: fast, every operator shape-bound, and an index past 9 fails the run. */
function gatherModel(): Uint8Array {
  return encodeOnnxModel({
    graphName: 'gather',
    inputs: [{ name: 'idx', elemType: 'INT64', dims: ['batch'] }],
    outputs: [{ name: 'y', elemType: 'FLOAT', dims: ['batch', 2] }],
    initializers: [{ name: 'table', dims: [10, 2], data: Float32Array.from({ length: 20 }, (_, i) => i) }],
    nodes: [{ opType: 'Gather', inputs: ['table', 'idx'], outputs: ['y'] }],
  });
}

/** y = x repeated by a `repeats` input: Tile's work grows with the values it is given. */
function tileModel(): Uint8Array {
  return encodeOnnxModel({
    graphName: 'tile',
    inputs: [
      { name: 'x', elemType: 'FLOAT', dims: ['batch', 4] },
      { name: 'repeats', elemType: 'INT64', dims: [2] },
    ],
    outputs: [{ name: 'y', elemType: 'FLOAT', dims: ['rows', 'cols'] }],
    nodes: [{ opType: 'Tile', inputs: ['x', 'repeats'], outputs: ['y'] }],
  });
}

/** Relu over images of 3×512×512: one row is 3 MiB, too large for a probe. */
function bigRowModel(): Uint8Array {
  const io = (name: string) => ({ name, elemType: 'FLOAT' as const, dims: ['batch', 3, 512, 512] });
  return encodeOnnxModel({
    graphName: 'big_rows',
    inputs: [io('x')],
    outputs: [io('y')],
    nodes: [{ opType: 'Relu', inputs: ['x'], outputs: ['y'] }],
  });
}

function floatsOf(raw: Uint8Array): number[] {
  return Array.from(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)));
}

describe('placement: small requests of fast models on the main thread', function () {
  this.timeout(120_000);
  let repo: string;
  let auto: TestServer;
  let worker: TestServer;

  before(async () => {
    repo = writeRepository({
      tiny_mlp: tinyMlpModel(),
      gather: gatherModel(),
      tile: tileModel(),
      big_rows: bigRowModel(),
    });
    mkdirSync(path.join(repo, 'ocr_cls', '1'), { recursive: true });
    copyFileSync(OCR_CLS, path.join(repo, 'ocr_cls', '1', 'model.onnx'));
    auto = await startServer(repo);
    worker = await startServer(repo, { placement: 'worker' });
  });

  after(async () => {
    await auto.close();
    await worker.close();
    removeFolder(repo);
  });

  it('times each model at load and says in its config what runs on the main thread, and why not', async () => {
    const tiny = await modelConfig(auto, 'tiny_mlp');
    expect(tiny.placement).to.equal('auto');
    expect(tiny.mainThread!.maxRows).to.equal(MAIN_THREAD_PROBE_ROWS);
    expect(tiny.mainThread!.measuredRunUs).to.be.above(0).and.at.most(MAIN_THREAD_MAX_RUN_US);
    expect(tiny.mainThread!.note).to.equal('');
    // The classifier takes milliseconds even on 64 images of 1×1 (its height and width are free).
    const cls = await modelConfig(auto, 'ocr_cls');
    expect(cls.mainThread!.maxRows).to.equal(0);
    expect(cls.mainThread!.measuredRunUs).to.be.above(MAIN_THREAD_MAX_RUN_US);
    expect(cls.mainThread!.note).to.match(/^a run of 64 row\(s\) took \d+ µs, over 200$/);
    // A row of 3 MiB is never timed, nor made 64 times over.
    const big = await modelConfig(auto, 'big_rows');
    expect([big.mainThread!.maxRows, big.mainThread!.measuredRunUs, big.mainThread!.note]).to.deep.equal([
      0,
      0,
      'a request is larger than 65536 bytes',
    ]);
    // Tile's output grows with the values of "repeats": zeros would time it as fast.
    const tile = await modelConfig(auto, 'tile');
    expect([tile.mainThread!.maxRows, tile.mainThread!.note]).to.deep.equal([
      0,
      'its operators Tile may take time that depends on input values',
    ]);
    // --placement worker: nothing timed, nothing on the main thread.
    const off = await modelConfig(worker, 'tiny_mlp');
    expect([off.placement, off.mainThread!.measuredRunUs, off.mainThread!.maxRows, off.mainThread!.note]).to.deep.equal(
      ['worker', 0, 0, 'placement: worker'],
    );
  });

  it('runs a small request on the main thread and a larger one on the worker, both exact', async () => {
    const small = mlpRows(1, 1);
    const large = mlpRows(MAIN_THREAD_PROBE_ROWS + 1, 2); // one row more than the probe had
    const before = await busySeconds(auto, 'tiny_mlp');
    const a = await predict(auto.prediction, mlpRequest(small));
    const mid = await busySeconds(auto, 'tiny_mlp');
    expect(mid['main'], 'the small request ran on the main thread').to.be.above(before['main'] ?? 0);
    expect(mid['0'] ?? 0, 'and not on the worker').to.equal(before['0'] ?? 0);
    const b = await predict(auto.prediction, mlpRequest(large));
    const end = await busySeconds(auto, 'tiny_mlp');
    expect(end['0'], 'the large request ran on the worker').to.be.above(mid['0'] ?? 0);
    expect(end['main']).to.equal(mid['main']);
    expect(floatsOf(a.outputs['y']!.rawData)).to.deep.equal(small.flatMap(tinyMlpReference));
    expect(floatsOf(b.outputs['y']!.rawData)).to.deep.equal(large.flatMap(tinyMlpReference));
  });

  it('answers 200 concurrent small requests on the main thread bit for bit as the worker does', async () => {
    const requests = Array.from({ length: 200 }, (_, i) => mlpRequest(mlpRows(1 + (i % 4), i)));
    const answers = async (t: TestServer): Promise<number[][]> =>
      (await Promise.all(requests.map((r) => predict(t.prediction, r)))).map((r) => floatsOf(r.outputs['y']!.rawData));
    const runsOf = async (): Promise<number[]> =>
      Promise.all([
        metric(auto, 'inferd_batch_size_count', 'tiny_mlp'),
        metric(auto, 'inferd_batch_size_bucket', 'tiny_mlp', `le="${MAIN_THREAD_DEEP_QUEUE_ROWS}"`),
        metric(auto, 'inferd_batch_size_bucket', 'tiny_mlp', 'le="4"'),
      ]);
    const before = await busySeconds(auto, 'tiny_mlp');
    const [runs0, upToDeepRows0, upTo4Rows0] = await runsOf();
    const [onMain, onWorker] = await Promise.all([answers(auto), answers(worker)]);
    const after = await busySeconds(auto, 'tiny_mlp');
    const [runs1, upToDeepRows1, upTo4Rows1] = await runsOf();
    expect(after['main'], 'the main thread ran them').to.be.above(before['main'] ?? 0);
    expect(after['0'] ?? 0, 'the worker ran none of them').to.equal(before['0'] ?? 0);
    // Runs on the main thread hold at most 8 rows, or up to 32 while more than 32 requests wait (requests here
    // have 1–4 rows), and some hold more than one request.
    expect(MAIN_THREAD_DEEP_QUEUE_ROWS).to.equal(32);
    expect(upToDeepRows1 - upToDeepRows0, 'runs of at most 32 rows').to.equal(runs1 - runs0);
    expect(upTo4Rows1 - upTo4Rows0, 'runs of at most 4 rows').to.be.below(runs1 - runs0);
    expect(onMain).to.deep.equal(onWorker);
    expect(onMain[7]).to.deep.equal(mlpRows(4, 7).flatMap(tinyMlpReference));
  });

  it("answers a run that fails on the main thread as the worker does: INTERNAL with the runtime's reason", async () => {
    const request = (idx: bigint): Parameters<typeof predict>[1] => ({
      modelName: 'gather',
      inputs: { idx: tensor({ shape: [1n], rawData: rawOf(BigInt64Array.of(idx)) }) },
    });
    expect((await modelConfig(auto, 'gather')).mainThread!.maxRows).to.equal(MAIN_THREAD_PROBE_ROWS);
    const ok = await predict(auto.prediction, request(3n));
    expect(floatsOf(ok.outputs['y']!.rawData)).to.deep.equal([6, 7]);
    const onMain = await rejection(predict(auto.prediction, request(42n)));
    const onWorker = await rejection(predict(worker.prediction, request(42n)));
    expect(onMain.code).to.equal(status.INTERNAL);
    expect(onMain.details).to.match(/^model run failed: .*indices/);
    expect([onMain.code, onMain.details]).to.deep.equal([onWorker.code, onWorker.details]);
    expect(Object.keys(await busySeconds(auto, 'gather'))).to.deep.equal(['main']);
    // The main thread goes on serving.
    expect(floatsOf((await predict(auto.prediction, request(9n))).outputs['y']!.rawData)).to.deep.equal([18, 19]);
  });

  it('takes placement from the model config over the server default', async () => {
    const own = writeRepository({ tiny_mlp: tinyMlpModel() });
    writeFileSync(path.join(own, 'tiny_mlp', 'config.yaml'), 'placement: worker\n');
    const t = await startServer(own);
    try {
      const c = await modelConfig(t, 'tiny_mlp');
      expect([c.placement, c.mainThread!.maxRows]).to.deep.equal(['worker', 0]);
      const r = await predict(t.prediction, mlpRequest(mlpRows(1, 3)));
      expect(floatsOf(r.outputs['y']!.rawData)).to.deep.equal(mlpRows(1, 3).flatMap(tinyMlpReference));
      expect(Object.keys(await busySeconds(t, 'tiny_mlp'))).to.deep.equal(['0']);
    } finally {
      await t.close();
      removeFolder(own);
    }
  });
});
