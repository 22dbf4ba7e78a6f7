import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import * as path from 'node:path';
import { expect } from 'chai';
import { simpleModel, tinyMlpModel } from '../../../src/example-models/example-models';
import { PACKAGE_ROOT } from '../../../src/package-root';
import { calibrateSlowRun } from '../../support/calibrate-slow-run';
import { errorOf, json, rest, type RestResponse } from '../../support/rest-request';
import { slowModel } from '../../support/slow-model';
import { memoryTracing, spansWhen } from '../../support/telemetry';
import { removeFolder, startServer, writeRepository, type TestServer } from '../../support/test-server';
import { until } from '../../support/until';

const PACKAGE_VERSION = (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const RANGE16 = Array.from({ length: 16 }, (_, i) => i);
const SIMPLE_BODY = {
  inputs: [
    { name: 'INPUT0', datatype: 'INT32', shape: [1, 16], data: RANGE16 },
    { name: 'INPUT1', datatype: 'INT32', shape: [1, 16], data: RANGE16 },
  ],
};

/** A request of the slow model whose run does the work of `side` (its y is exactly `side`). */
function slowBody(side: number): object {
  return {
    inputs: [
      { name: 'x', datatype: 'FP32', shape: [1, 1], data: [1] },
      { name: 'side', datatype: 'INT64', shape: [1, 1], data: [side] },
    ],
  };
}

interface ModelStats {
  name: string;
  version: string;
  inference_count: number;
  execution_count: number;
  inference_stats: { success: { count: number; ns: number }; fail: { count: number } };
  batch_stats: { batch_size: number; compute_infer: { count: number } }[];
}

describe('REST binding: health, models and the repository', function () {
  this.timeout(120_000);

  describe('on a server following its folder', () => {
    let repo: string;
    let t: TestServer;
    let port: number;
    const traced = memoryTracing();
    const get = (p: string): Promise<RestResponse> => rest(port, 'GET', p);

    before(async () => {
      repo = writeRepository({ simple: simpleModel(), tiny_mlp: tinyMlpModel() });
      t = await startServer(repo, {}, { tracing: traced.tracing });
      port = t.server.httpPort;
    });

    after(async () => {
      await t.close();
      await traced.provider.shutdown();
      removeFolder(repo);
    });

    it('answers live and ready 200 with empty bodies', async () => {
      for (const p of ['/v2/health/live', '/v2/health/ready']) {
        const r = await get(p);
        expect([r.status, r.body.length], p).to.deep.equal([200, 0]);
      }
    });

    it('describes the server: name inferd, its version and the extensions served', async () => {
      const r = await get('/v2');
      expect(r.status).to.equal(200);
      expect(json(r)).to.deep.equal({ name: 'inferd', version: PACKAGE_VERSION, extensions: ['binary_tensor_data', 'model_repository', 'model_configuration', 'statistics'] });
    });

    it("describes a model as Triton does, by name or by version, and an unknown one 404 in Triton's words", async () => {
      const expected = {
        name: 'simple',
        versions: ['1'],
        platform: 'onnxruntime_onnx',
        inputs: [
          { name: 'INPUT0', datatype: 'INT32', shape: [-1, 16] },
          { name: 'INPUT1', datatype: 'INT32', shape: [-1, 16] },
        ],
        outputs: [
          { name: 'OUTPUT0', datatype: 'INT32', shape: [-1, 16] },
          { name: 'OUTPUT1', datatype: 'INT32', shape: [-1, 16] },
        ],
      };
      expect(json(await get('/v2/models/simple'))).to.deep.equal(expected);
      expect(json(await get('/v2/models/simple/versions/1'))).to.deep.equal(expected);
      const unknown = await get('/v2/models/wrong_model_name');
      expect([unknown.status, errorOf(unknown)]).to.deep.equal([404, "Request for unknown model: 'wrong_model_name' is not found"]);
      const percent = await get('/v2/models/%E2%9C%93');
      expect([percent.status, errorOf(percent)]).to.deep.equal([404, "Request for unknown model: '✓' is not found"]);
    });

    it('answers a ready model 200, and an unknown one 400 as Triton does, saying why', async () => {
      expect((await get('/v2/models/simple/ready')).status).to.equal(200);
      expect((await get('/v2/models/simple/versions/1/ready')).status).to.equal(200);
      const unknown = await get('/v2/models/nope/ready');
      expect([unknown.status, errorOf(unknown)]).to.deep.equal([400, "Model version not ready: Request for unknown model: 'nope' is not found"]);
    });

    it("gives the effective configuration in Triton's JSON: dims without the batch dimension when batching", async () => {
      const r = await get('/v2/models/simple/config');
      expect(r.status).to.equal(200);
      expect(json(r)).to.deep.equal({
        name: 'simple',
        platform: 'onnxruntime_onnx',
        backend: 'onnxruntime',
        version_policy: { latest: { num_versions: 1 } },
        max_batch_size: 32,
        input: [
          { name: 'INPUT0', data_type: 'TYPE_INT32', dims: [16] },
          { name: 'INPUT1', data_type: 'TYPE_INT32', dims: [16] },
        ],
        output: [
          { name: 'OUTPUT0', data_type: 'TYPE_INT32', dims: [16] },
          { name: 'OUTPUT1', data_type: 'TYPE_INT32', dims: [16] },
        ],
        instance_group: [{ name: 'simple', count: 1, kind: 'KIND_CPU' }],
        default_model_filename: 'model.onnx',
      });
    });

    it('counts inferences in the statistics of the model, and of every model', async () => {
      const before = json<{ model_stats: ModelStats[] }>(await get('/v2/models/tiny_mlp/stats')).model_stats[0]!;
      for (let i = 0; i < 3; i++) {
        const r = await rest(port, 'POST', '/v2/models/tiny_mlp/infer', { body: { inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 4], data: new Array(8).fill(1) }] } });
        expect(r.status).to.equal(200);
      }
      const after = json<{ model_stats: ModelStats[] }>(await get('/v2/models/tiny_mlp/stats')).model_stats;
      expect(after.map((s) => [s.name, s.version])).to.deep.equal([['tiny_mlp', '1']]);
      expect(after[0]!.inference_count - before.inference_count).to.equal(6);
      expect(after[0]!.inference_stats.success.count - before.inference_stats.success.count).to.equal(3);
      const all = json<{ model_stats: ModelStats[] }>(await get('/v2/models/stats')).model_stats;
      expect(all.map((s) => s.name)).to.deep.equal(['simple', 'tiny_mlp']);
      const unknown = await get('/v2/models/nope/stats');
      expect([unknown.status, errorOf(unknown)]).to.deep.equal([404, "Request for unknown model: 'nope' is not found"]);
    });

    it('lists the repository index, all or only the ready versions', async () => {
      const index = await rest(port, 'POST', '/v2/repository/index');
      expect(index.status).to.equal(200);
      expect(json(index)).to.deep.equal([
        { name: 'simple', version: '1', state: 'READY' },
        { name: 'tiny_mlp', version: '1', state: 'READY' },
      ]);
      expect(json(await rest(port, 'POST', '/v2/repository/index', { body: { ready: true } }))).to.have.length(2);
      const bad = await rest(port, 'POST', '/v2/repository/index', { body: { ready: 'yes' } });
      expect([bad.status, errorOf(bad)]).to.deep.equal([400, '"ready" must be true or false']);
    });

    it('counts each inference in the metrics like a ModelInfer call, by its outcome', async () => {
      await rest(port, 'POST', '/v2/models/simple/infer', { body: SIMPLE_BODY });
      await rest(port, 'POST', '/v2/models/simple/infer', { body: { inputs: [] } });
      await rest(port, 'POST', '/v2/models/nope/infer', { body: SIMPLE_BODY });
      const metrics = (await get('/metrics')).body.toString();
      expect(metrics).to.match(/^inferd_requests_total\{model="simple",version="1",code="OK"\} [1-9]/m);
      expect(metrics).to.match(/^inferd_requests_total\{model="simple",version="1",code="INVALID_ARGUMENT"\} 1$/m);
      expect(metrics).to.match(/^inferd_requests_total\{model="",version="",code="NOT_FOUND"\} 1$/m);
    });

    it("traces an inference in a server span named by its route, continuing the caller's trace, with decode, queue wait, model run and encode under it", async () => {
      traced.exporter.reset();
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const r = await rest(port, 'POST', '/v2/models/simple/infer', { body: SIMPLE_BODY, headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
      expect(r.status).to.equal(200);
      const spans = await spansWhen(traced.exporter, (s) => s.some((x) => x.name === 'POST /v2/models/{model}/infer'));
      const server = spans.find((s) => s.name === 'POST /v2/models/{model}/infer')!;
      expect(server.spanContext().traceId).to.equal(traceId);
      expect(server.attributes).to.include({ 'http.request.method': 'POST', 'http.route': '/v2/models/{model}/infer', 'http.response.status_code': 200, 'inferd.model.name': 'simple', 'inferd.model.version': '1' });
      const children = spans.filter((s) => s.parentSpanContext?.spanId === server.spanContext().spanId).map((s) => s.name);
      expect(children).to.include.members(['parse', 'decode', 'queue wait', 'model run', 'encode']);
    });
  });

  describe('with --model-control explicit', () => {
    let repo: string;
    let t: TestServer;

    before(async () => {
      repo = writeRepository({ simple: simpleModel() });
      t = await startServer(repo, { modelControl: 'explicit' });
    });

    after(async () => {
      await t.close();
      removeFolder(repo);
    });

    it('unloads and loads a model: not ready and refused in between, ready and answering after', async () => {
      const port = t.server.httpPort;
      const unload = await rest(port, 'POST', '/v2/repository/models/simple/unload');
      expect([unload.status, unload.body.length]).to.deep.equal([200, 0]);
      expect((await rest(port, 'GET', '/v2/models/simple/ready')).status).to.equal(400);
      expect(json(await rest(port, 'POST', '/v2/repository/index'))).to.deep.equal([{ name: 'simple', version: '1', state: 'UNAVAILABLE', reason: 'unloaded by request' }]);
      const refused = await rest(port, 'POST', '/v2/models/simple/infer', { body: SIMPLE_BODY });
      expect(refused.status).to.equal(503);
      const load = await rest(port, 'POST', '/v2/repository/models/simple/load', { body: {} });
      expect([load.status, load.body.length]).to.deep.equal([200, 0]);
      expect((await rest(port, 'GET', '/v2/models/simple/ready')).status).to.equal(200);
      expect((await rest(port, 'POST', '/v2/models/simple/infer', { body: SIMPLE_BODY })).status).to.equal(200);
    });

    it('refuses loading an unknown model with "failed to load", parameters inferd does not take, and unloading an unknown model', async () => {
      const port = t.server.httpPort;
      const unknown = await rest(port, 'POST', '/v2/repository/models/wrong_model_name/load');
      expect([unknown.status, errorOf(unknown)]).to.deep.equal([404, `failed to load 'wrong_model_name': unknown model "wrong_model_name": the model repository has no folder "wrong_model_name"`]);
      const config = await rest(port, 'POST', '/v2/repository/models/simple/load', { body: { parameters: { config: '{"max_batch_size":16}' } } });
      expect([config.status, errorOf(config)]).to.deep.equal([400, 'parameter "config" is not supported: inferd loads models and their config files from the repository folder']);
      const unload = await rest(port, 'POST', '/v2/repository/models/nope/unload', { body: { parameters: { unload_dependents: true } } });
      expect([unload.status, errorOf(unload)]).to.deep.equal([404, "Request for unknown model: 'nope' is not found"]);
    });
  });

  describe('with a model whose runs take a second or more', () => {
    let repo: string;
    let t: TestServer;
    let port: number;
    let side: number;

    /** Resolves once the slow model has a request in flight (the metrics count it). */
    const slowInFlight = (): Promise<void> =>
      until(async () => /^inferd_requests_in_flight\{model="slow",version="1"\} 1$/m.test((await rest(port, 'GET', '/metrics')).body.toString()), 'the slow request in flight');

    before(async () => {
      repo = writeRepository({ simple: simpleModel(), slow: slowModel() });
      t = await startServer(repo);
      port = t.server.httpPort;
      const infer = async (s: number): Promise<RestResponse> => {
        const r = await rest(port, 'POST', '/v2/models/slow/infer', { body: slowBody(s) });
        if (r.status !== 200) throw new Error(`${r.status} ${r.body.toString()}`);
        return r;
      };
      // A run of a second or more: far longer than anything the tests do while it runs.
      ({ side } = await calibrateSlowRun(infer, 1_000));
    });

    after(async () => {
      await t.close();
      removeFolder(repo);
    });

    it('answers 503 for a request whose timeout parameter passed while it waited in the queue, without running it', async () => {
      const executions = (): Promise<number> => rest(port, 'GET', '/v2/models/slow/stats').then((r) => json<{ model_stats: ModelStats[] }>(r).model_stats[0]!.execution_count);
      const before = await executions();
      const slow = rest(port, 'POST', '/v2/models/slow/infer', { body: slowBody(side) });
      await slowInFlight();
      const timedOut = await rest(port, 'POST', '/v2/models/slow/infer', { body: { ...slowBody(0), parameters: { timeout: 1000 } } });
      expect((await slow).status).to.equal(200);
      expect([timedOut.status, errorOf(timedOut)]).to.deep.equal([503, 'Request timeout expired: the timeout parameter (1000 µs) passed while the request waited in the queue of model "slow" version 1']);
      // Only the slow request ran: the timed-out one was dropped without a run.
      expect((await executions()) - before).to.equal(1);
    });

    it('drops a queued request whose client closes its connection, without running it, and counts it CANCELLED', async () => {
      const executions = (): Promise<number> => rest(port, 'GET', '/v2/models/slow/stats').then((r) => json<{ model_stats: ModelStats[] }>(r).model_stats[0]!.execution_count);
      const cancelled = (): Promise<number> =>
        rest(port, 'GET', '/metrics').then((r) => Number(/^inferd_requests_total\{model="slow",version="1",code="CANCELLED"\} (\d+)$/m.exec(r.body.toString())?.[1] ?? 0));
      const before = [await executions(), await cancelled()];
      const slow = rest(port, 'POST', '/v2/models/slow/infer', { body: slowBody(side) });
      await slowInFlight();
      // A second request queued behind it, whose client goes away once the server counts it in flight.
      const body = Buffer.from(JSON.stringify(slowBody(0)));
      const gone = request({ host: '127.0.0.1', port, method: 'POST', path: '/v2/models/slow/infer', agent: false, headers: { 'content-length': body.length } });
      gone.on('error', () => undefined);
      gone.end(body);
      await until(async () => /^inferd_requests_in_flight\{model="slow",version="1"\} 2$/m.test((await rest(port, 'GET', '/metrics')).body.toString()), 'the second request in flight');
      gone.destroy();
      await until(async () => (await cancelled()) === before[1]! + 1, 'the request counted CANCELLED');
      expect((await slow).status).to.equal(200);
      expect((await executions()) - before[0]!).to.equal(1);
    });

    it('while draining, finishes an inference in flight with its result, and answers new ones 503 and ready 400', async () => {
      let slowSettled = false;
      const slow = rest(port, 'POST', '/v2/models/slow/infer', { body: slowBody(side) }).finally(() => (slowSettled = true));
      await slowInFlight();
      const closed = t.server.close();
      const refused = await rest(port, 'POST', '/v2/models/simple/infer', { body: SIMPLE_BODY });
      const ready = await rest(port, 'GET', '/v2/health/ready');
      const slowWasInFlight = !slowSettled;
      const answered = await slow;
      await closed;
      expect(slowWasInFlight).to.equal(true);
      expect([refused.status, errorOf(refused)]).to.deep.equal([503, 'server is shutting down']);
      expect(ready.status).to.equal(400);
      expect(answered.status).to.equal(200);
      expect(json<{ outputs: { data: number[] }[] }>(answered).outputs[0]!.data).to.deep.equal([side]);
    });
  });
});
