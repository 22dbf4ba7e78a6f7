import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { ServiceError } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { ModelConfig } from '../../generated/inferd/v1/model_service';
import { tinyMlpModel, tinyMlpReference } from '../../src/example-models/example-models';
import { PACKAGE_ROOT } from '../../src/package-root';
import { MAIN_THREAD_MAX_RUN_US, MAIN_THREAD_PROBE_ROWS } from '../../src/repository/model-version';
import { httpGet } from '../support/telemetry';
import { predict, removeFolder, startServer, tensor, writeRepository, type TestServer } from '../support/test-server';

const OCR_CLS = path.join(PACKAGE_ROOT, 'node_modules', '@gutenye', 'ocr-models', 'assets', 'ch_ppocr_mobile_v2.0_cls_infer.onnx');
const rawOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function modelConfig(t: TestServer, modelName: string): Promise<ModelConfig> {
  return new Promise((resolve, reject) => {
    t.models.getModelConfig({ modelName, modelVersion: '' }, (err: ServiceError | null, r) => (err ? reject(err) : resolve(r.config!)));
  });
}

/** Seconds each instance of a model version spent running, from /metrics, by instance label. */
async function busySeconds(t: TestServer, model: string): Promise<Record<string, number>> {
  const { body } = await httpGet(t.server.httpPort, '/metrics');
  const busy: Record<string, number> = {};
  const line = new RegExp(`^inferd_instance_busy_seconds_total\\{model="${model}",version="1",instance="([^"]+)"\\} (\\S+)$`, 'gm');
  for (const m of body.matchAll(line)) busy[m[1]!] = Number(m[2]);
  return busy;
}

/** `rows` rows of small integers (exact in float32 through the MLP), different for each seed. */
function mlpRows(rows: number, seed: number): number[][] {
  return Array.from({ length: rows }, (_, r) => Array.from({ length: 4 }, (_, c) => ((seed * 7 + r * 5 + c * 3) % 19) - 9));
}

function mlpRequest(rows: number[][]): Parameters<typeof predict>[1] {
  return { modelName: 'tiny_mlp', inputs: { x: tensor({ shape: [BigInt(rows.length), 4n], rawData: rawOf(Float32Array.from(rows.flat())) }) } };
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
    repo = writeRepository({ tiny_mlp: tinyMlpModel() });
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

  it('times each model at load and says in its config what runs on the main thread', async () => {
    const tiny = await modelConfig(auto, 'tiny_mlp');
    expect(tiny.placement).to.equal('auto');
    // 64 rows of 4 float32: requests of at most 1,024 bytes of input run on the main thread.
    expect(tiny.mainThread!.maxRequestBytes).to.equal(BigInt(MAIN_THREAD_PROBE_ROWS * 4 * 4));
    expect(tiny.mainThread!.measuredRunUs).to.be.above(0).and.at.most(MAIN_THREAD_MAX_RUN_US);
    // The classifier takes milliseconds a run: it stays on its worker.
    const cls = await modelConfig(auto, 'ocr_cls');
    expect(cls.mainThread!.measuredRunUs).to.be.above(MAIN_THREAD_MAX_RUN_US);
    expect(cls.mainThread!.maxRequestBytes).to.equal(0n);
    // --placement worker: nothing timed, nothing on the main thread.
    const off = await modelConfig(worker, 'tiny_mlp');
    expect([off.placement, off.mainThread!.measuredRunUs, off.mainThread!.maxRequestBytes]).to.deep.equal(['worker', 0, 0n]);
  });

  it('runs a small request on the main thread and a larger one on the worker, both exact', async () => {
    const small = mlpRows(1, 1);
    const large = mlpRows(MAIN_THREAD_PROBE_ROWS + 1, 2); // 1,040 bytes: one row past the main thread's share
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
    const [onMain, onWorker] = await Promise.all([answers(auto), answers(worker)]);
    expect(onMain).to.deep.equal(onWorker);
    expect(onMain[7]).to.deep.equal(mlpRows(4, 7).flatMap(tinyMlpReference));
  });

  it('takes placement from the model config over the server default', async () => {
    const own = writeRepository({ tiny_mlp: tinyMlpModel() });
    writeFileSync(path.join(own, 'tiny_mlp', 'config.yaml'), 'placement: worker\n');
    const t = await startServer(own);
    try {
      const c = await modelConfig(t, 'tiny_mlp');
      expect([c.placement, c.mainThread!.maxRequestBytes]).to.deep.equal(['worker', 0n]);
      const r = await predict(t.prediction, mlpRequest(mlpRows(1, 3)));
      expect(floatsOf(r.outputs['y']!.rawData)).to.deep.equal(mlpRows(1, 3).flatMap(tinyMlpReference));
      expect(Object.keys(await busySeconds(t, 'tiny_mlp'))).to.deep.equal(['0']);
    } finally {
      await t.close();
      removeFolder(own);
    }
  });
});
