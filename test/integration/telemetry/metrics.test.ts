import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { expect } from 'chai';
import * as ort from 'onnxruntime-node';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import {
  GRPCInferenceServiceClient,
  InferTensorContents,
  ModelInferRequest,
  ModelInferRequest_InferInputTensor as InputTensor,
  type ModelInferResponse,
} from '../../../generated/inference/grpc_service';
import type { GetModelConfigResponse } from '../../../generated/inferd/v1/model_service';
import { PredictRequest, type PredictStreamResponse } from '../../../generated/inferd/v1/prediction_service';
import { simpleModel } from '../../../src/example-models/example-models';
import { calibrateSlowRun } from '../../support/calibrate-slow-run';
import { slowModel } from '../../support/slow-model';
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

/** The samples of a Prometheus text exposition: `name{labels}` → value, labels as written. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+?(?:\{.*\})?) (\S+)$/.exec(line);
    if (m !== null) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

function simpleRequest(id: string, rows: number): Partial<PredictRequest> {
  const shape = [BigInt(rows), 16n];
  return {
    modelName: 'simple',
    id,
    inputs: {
      INPUT0: tensor({ shape, int32Data: new Array(16 * rows).fill(1) }),
      INPUT1: tensor({ shape, int32Data: new Array(16 * rows).fill(2) }),
    },
  };
}

describe('metrics and HTTP health', function () {
  this.timeout(120_000);
  let repo: string;
  let t: TestServer;
  let oip: GRPCInferenceServiceClient;

  before(async () => {
    repo = writeRepository({ simple: simpleModel() });
    t = await startServer(repo);
    oip = new GRPCInferenceServiceClient(t.address, credentials.createInsecure());
  });

  after(async () => {
    oip.close();
    await t.close();
    removeFolder(repo);
  });

  it('counts known traffic exactly on /metrics, inferd.v1 and Triton requests alike', async () => {
    // One at a time, so that each request runs alone: 5 runs.
    await predict(t.prediction, simpleRequest('a', 1));
    await predict(t.prediction, simpleRequest('b', 1));
    await predict(t.prediction, simpleRequest('c', 2));
    expect((await rejection(predict(t.prediction, { modelName: 'simple', inputs: {} }))).code).to.equal(
      status.INVALID_ARGUMENT,
    );
    expect((await rejection(predict(t.prediction, { modelName: 'no_such_model' }))).code).to.equal(status.NOT_FOUND);
    const ints = InferTensorContents.fromPartial({ intContents: new Array(16).fill(3) });
    await new Promise<ModelInferResponse>((resolve, reject) =>
      oip.modelInfer(
        ModelInferRequest.fromPartial({
          modelName: 'simple',
          inputs: ['INPUT0', 'INPUT1'].map((name) =>
            InputTensor.fromPartial({ name, datatype: 'INT32', shape: [1n, 16n], contents: ints }),
          ),
        }),
        new Metadata(),
        (err: ServiceError | null, r: ModelInferResponse) => (err ? reject(err) : resolve(r)),
      ),
    );
    const call = t.prediction.predictStream();
    const ended = new Promise<void>((resolve, reject) => {
      call.on('data', (_r: PredictStreamResponse) => undefined);
      call.on('end', resolve);
      call.on('error', reject);
    });
    call.write(PredictRequest.fromPartial(simpleRequest('s1', 1)));
    call.end();
    await ended;
    const call2 = t.prediction.predictStream();
    const ended2 = new Promise<void>((resolve, reject) => {
      call2.on('data', (_r: PredictStreamResponse) => undefined);
      call2.on('end', resolve);
      call2.on('error', reject);
    });
    call2.write(PredictRequest.fromPartial({ modelName: 'simple', id: 'bad', inputs: {} }));
    call2.end();
    await ended2;

    const scrape = await httpGet(t.server.httpPort, '/metrics');
    expect(scrape.status).to.equal(200);
    const m = samples(scrape.body);
    const mv = 'model="simple",version="1"';
    expect(m.get(`inferd_requests_total{${mv},code="OK"}`)).to.equal(5);
    expect(m.get(`inferd_requests_total{${mv},code="INVALID_ARGUMENT"}`)).to.equal(2);
    expect(m.get('inferd_requests_total{model="",version="",code="NOT_FOUND"}')).to.equal(1);
    expect(m.get(`inferd_request_duration_seconds_count{${mv}}`)).to.equal(7);
    expect(m.get(`inferd_inferences_total{${mv}}`)).to.equal(6);
    expect(m.get(`inferd_executions_total{${mv}}`)).to.equal(5);
    expect(m.get(`inferd_batch_size_bucket{le="1",${mv}}`)).to.equal(4);
    expect(m.get(`inferd_batch_size_bucket{le="2",${mv}}`)).to.equal(5);
    expect(m.get(`inferd_batch_size_count{${mv}}`)).to.equal(5);
    expect(m.get(`inferd_batch_size_sum{${mv}}`)).to.equal(6);
    expect(m.get(`inferd_queue_duration_seconds_count{${mv}}`)).to.equal(5);
    expect(m.get(`inferd_compute_duration_seconds_count{${mv}}`)).to.equal(5);
    expect(m.get(`inferd_queue_depth{${mv}}`)).to.equal(0);
    expect(m.get(`inferd_runs_in_flight{${mv}}`)).to.equal(0);
    expect(m.get(`inferd_requests_in_flight{${mv}}`)).to.equal(0);
    expect(m.get(`inferd_model_version_state{${mv},state="READY"}`)).to.equal(1);
    expect(m.get(`inferd_model_version_state{${mv},state="LOADING"}`)).to.equal(0);
    // Requests this small of a model this fast run on the main thread, when the model was timed
    // fast enough at load (see placement.test.ts); a busy machine can time it slower, and then
    // they run on the worker. Either way the busy time is that of the instance that ran them.
    const config = await new Promise<GetModelConfigResponse>((resolve, reject) =>
      t.models.getModelConfig(
        { modelName: 'simple', modelVersion: '' },
        (err: ServiceError | null, r: GetModelConfigResponse) => (err ? reject(err) : resolve(r)),
      ),
    );
    const [ran, idle] = config.config!.mainThread!.maxRows > 0 ? ['main', '0'] : ['0', 'main'];
    expect(
      m.get(`inferd_instance_busy_seconds_total{${mv},instance="${ran}"}`),
      `busy seconds of instance ${ran}`,
    ).to.be.above(0);
    expect(
      m.has(`inferd_instance_busy_seconds_total{${mv},instance="${idle}"}`),
      `busy seconds of instance ${idle}`,
    ).to.equal(false);
    expect(m.get('inferd_process_resident_memory_bytes')).to.be.above(0);
    expect(m.has('inferd_nodejs_eventloop_lag_p99_seconds')).to.equal(true);
    expect(scrape.body).to.include('# TYPE inferd_request_duration_seconds histogram');
  });

  it('answers /healthz 200, /readyz 200 while serving, and 404 for other paths', async () => {
    expect((await httpGet(t.server.httpPort, '/healthz')).status).to.equal(200);
    expect((await httpGet(t.server.httpPort, '/readyz')).status).to.equal(200);
    expect((await httpGet(t.server.httpPort, '/nope')).status).to.equal(404);
  });
});

/** A port free a moment ago (so that a test can know the HTTP port before the server says). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

describe('HTTP health while starting', function () {
  this.timeout(120_000);

  it('answers /healthz 200 and /readyz 503 while models load, then /readyz 200', async () => {
    // A warm-up of a second or more, timed on a session of this process first: the model loads long after the HTTP port is bound.
    const model = slowModel();
    const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    const feeds = (side: number) => ({
      x: new ort.Tensor('float32', Float32Array.of(1), [1, 1]),
      side: new ort.Tensor('int64', BigInt64Array.of(BigInt(side)), [1, 1]),
    });
    const { side } = await calibrateSlowRun((n) => session.run(feeds(n)), 1_000).finally(() => session.release());
    const repo = writeRepository({ slow: model });
    writeFileSync(
      path.join(repo, 'slow', 'config.yaml'),
      `warmup:\n  - name: long\n    inputs:\n      x: { shape: [1, 1], values: [1] }\n      side: { shape: [1, 1], values: [${side}] }\n`,
    );
    const httpPort = await freePort();
    const starting = startServer(repo, { httpPort });
    try {
      let first: { status: number } | undefined;
      while (first === undefined) {
        first = await httpGet(httpPort, '/readyz').catch(() => undefined); // refused until the port is bound
        if (first === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(first.status, '/readyz while loading').to.equal(503);
      expect((await httpGet(httpPort, '/healthz')).status).to.equal(200);
    } finally {
      const t = await starting;
      expect((await httpGet(httpPort, '/readyz')).status).to.equal(200);
      await t.close();
      removeFolder(repo);
    }
  });
});

describe('HTTP health during shutdown', function () {
  this.timeout(120_000);
  let repo: string;

  before(() => {
    repo = writeRepository({ slow: slowModel() });
  });
  after(() => removeFolder(repo));

  it('answers /readyz 503 and /healthz 200 while draining, then stops listening', async () => {
    const t = await startServer(repo, { drainTimeoutMs: 60_000 });
    const port = t.server.httpPort;
    const slowInputs = (side: number) => ({
      x: tensor({ shape: [1n, 1n], floatData: [1] }),
      side: tensor({ shape: [1n, 1n], int64Data: [BigInt(side)] }),
    });
    // A run of a second or more on this machine: it is still going when both answers come.
    const { side } = await calibrateSlowRun(
      (n) => predict(t.prediction, { modelName: 'slow', inputs: slowInputs(n) }),
      1_000,
    );
    let runEnded = false;
    const running = predict(t.prediction, { modelName: 'slow', inputs: slowInputs(side) }).finally(
      () => (runEnded = true),
    );
    const repository = (
      t.server as unknown as { repository: import('../../../src/repository/model-repository').ModelRepository }
    ).repository;
    while (repository.resolve('slow', '').inFlight === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    const closed = t.close();
    expect((await httpGet(port, '/readyz')).status).to.equal(503);
    expect((await httpGet(port, '/healthz')).status).to.equal(200);
    expect(runEnded, 'the run still going').to.equal(false);
    expect((await running).outputs['y']!.floatData).to.deep.equal([side]);
    await closed;
    const err = await httpGet(port, '/healthz').then(
      () => undefined,
      (e: NodeJS.ErrnoException) => e,
    );
    expect(err?.code).to.equal('ECONNREFUSED');
  });
});
