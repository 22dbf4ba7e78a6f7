import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { expect } from 'chai';
import { HealthCheckResponse_ServingStatus as Serving, type HealthClient } from '../../../generated/grpc/health/v1/health';
import {
  ModelVersionState as State,
  type GetModelConfigRequest,
  type GetModelConfigResponse,
  type ListModelsRequest,
  type ListModelsResponse,
  type LoadModelRequest,
  type LoadModelResponse,
  type ModelConfig,
  type ModelServiceClient,
  type ModelStatus,
  type UnloadModelRequest,
  type UnloadModelResponse,
} from '../../../generated/inferd/v1/model_service';
import { GRPCInferenceServiceClient, ModelInferRequest, InferTensorContents, ModelInferRequest_InferInputTensor as InputTensor } from '../../../generated/inference/grpc_service';
import type { GetModelMetadataRequest, GetModelMetadataResponse } from '../../../generated/inferd/v1/model_service';
import type { PredictionServiceClient } from '../../../generated/inferd/v1/prediction_service';
import { simpleModel } from '../../../src/example-models/example-models';
import { predict, rejection, removeFolder, startServer, tensor, writeRepository, type TestServer } from '../../support/test-server';
import { until } from '../../support/until';

const ones = new Array<number>(16).fill(1);

function predictSimple(client: PredictionServiceClient, model: string, version = ''): ReturnType<typeof predict> {
  return predict(client, { modelName: model, modelVersion: version, inputs: { INPUT0: tensor({ shape: [1n, 16n], int32Data: ones }), INPUT1: tensor({ shape: [1n, 16n], int32Data: ones }) } });
}

type Unary<Req, Res> = (req: Req, md: Metadata, cb: (err: ServiceError | null, res: Res) => void) => unknown;

function call<Req, Res>(method: Unary<Req, Res>, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => method(req, new Metadata(), (err, res) => (err ? reject(err) : resolve(res))));
}

const listModels = (m: ModelServiceClient): Promise<ListModelsResponse> => call<ListModelsRequest, ListModelsResponse>(m.listModels.bind(m), {});
const loadModel = (m: ModelServiceClient, modelName: string): Promise<LoadModelResponse> => call<LoadModelRequest, LoadModelResponse>(m.loadModel.bind(m), { modelName });
const unloadModel = (m: ModelServiceClient, modelName: string): Promise<UnloadModelResponse> => call<UnloadModelRequest, UnloadModelResponse>(m.unloadModel.bind(m), { modelName });

async function statusOf(models: ModelServiceClient, name: string): Promise<ModelStatus | undefined> {
  const list = await listModels(models);
  return list.models.find((m) => m.name === name);
}

/** version → [state, reason] for one model, as ListModels shows it. */
async function states(models: ModelServiceClient, name: string): Promise<Record<string, [State, string]>> {
  const m = await statusOf(models, name);
  return Object.fromEntries((m?.versions ?? []).map((v) => [v.version, [v.state, v.reason]]));
}

function configOf(models: ModelServiceClient, name: string, version = ''): Promise<ModelConfig> {
  return call<GetModelConfigRequest, GetModelConfigResponse>(models.getModelConfig.bind(models), { modelName: name, modelVersion: version }).then((r) => r.config!);
}

function writeVersion(repo: string, model: string, version: string, bytes: Uint8Array): void {
  mkdirSync(path.join(repo, model, version), { recursive: true });
  writeFileSync(path.join(repo, model, version, 'model.onnx'), bytes);
}

function watchHealth(health: HealthClient, service: string): { seen: Serving[]; cancel(): void } {
  const stream = health.watch({ service });
  const seen: Serving[] = [];
  stream.on('data', (m: { status: Serving }) => seen.push(m.status));
  stream.on('error', () => undefined);
  return { seen, cancel: () => stream.cancel() };
}

describe('the model repository', function () {
  this.timeout(60_000);

  describe('version policies and routing', () => {
    let repo: string;
    let t: TestServer;

    before(async () => {
      const three = { '1': simpleModel(), '2': simpleModel(), '3': simpleModel() };
      repo = writeRepository({ latest2: three, all: { '1': simpleModel(), '2': simpleModel() }, specific: three, plain: three });
      writeFileSync(path.join(repo, 'latest2', 'config.yaml'), 'version_policy:\n  latest: 2\n');
      writeFileSync(path.join(repo, 'all', 'config.json'), JSON.stringify({ version_policy: { all: true } }));
      writeFileSync(path.join(repo, 'specific', 'config.yaml'), 'version_policy: { specific: [1, 3] }\n');
      t = await startServer(repo);
    });

    after(async () => {
      await t.close();
      removeFolder(repo);
    });

    it('serves the newest version by default and lists the others as not served', async () => {
      expect(await states(t.models, 'plain')).to.deep.equal({
        '3': [State.MODEL_VERSION_STATE_READY, ''],
        '2': [State.MODEL_VERSION_STATE_UNAVAILABLE, 'not served: the version policy does not pick it'],
        '1': [State.MODEL_VERSION_STATE_UNAVAILABLE, 'not served: the version policy does not pick it'],
      });
      expect((await predictSimple(t.prediction, 'plain')).modelVersion).to.equal('3');
    });

    it('serves the latest N versions under latest: N, routing "" to the newest and a named version to itself', async () => {
      const s = await states(t.models, 'latest2');
      expect([s['3']![0], s['2']![0], s['1']![0]]).to.deep.equal([State.MODEL_VERSION_STATE_READY, State.MODEL_VERSION_STATE_READY, State.MODEL_VERSION_STATE_UNAVAILABLE]);
      expect((await predictSimple(t.prediction, 'latest2')).modelVersion).to.equal('3');
      const v2 = await predictSimple(t.prediction, 'latest2', '2');
      expect(v2.modelVersion).to.equal('2');
      expect(v2.outputs['OUTPUT0']!.int32Data).to.deep.equal(new Array(16).fill(2));
    });

    it('serves every version under all', async () => {
      const s = await states(t.models, 'all');
      expect(Object.values(s).map(([state]) => state)).to.deep.equal([State.MODEL_VERSION_STATE_READY, State.MODEL_VERSION_STATE_READY]);
      expect((await predictSimple(t.prediction, 'all', '1')).modelVersion).to.equal('1');
    });

    it('serves exactly the versions named under specific', async () => {
      const s = await states(t.models, 'specific');
      expect([s['3']![0], s['2']![0], s['1']![0]]).to.deep.equal([State.MODEL_VERSION_STATE_READY, State.MODEL_VERSION_STATE_UNAVAILABLE, State.MODEL_VERSION_STATE_READY]);
    });

    it('answers UNAVAILABLE for a version on disk that is not served, and NOT_FOUND for one that does not exist', async () => {
      const unserved = await rejection(predictSimple(t.prediction, 'latest2', '1'));
      expect(unserved.code).to.equal(status.UNAVAILABLE);
      expect(unserved.details).to.equal('model "latest2" version 1 is UNAVAILABLE: not served: the version policy does not pick it');
      const missing = await rejection(predictSimple(t.prediction, 'latest2', '9'));
      expect(missing.code).to.equal(status.NOT_FOUND);
      expect(missing.details).to.equal('unknown version "9" of model "latest2"');
    });

    it('completes the config of a model without a config file from the model and the defaults', async () => {
      const { versionPolicy, mainThread, ...c } = await configOf(t.models, 'plain');
      expect(versionPolicy?.latest).to.equal(1);
      // Timed at load: 64 rows of two 16-wide int32 inputs run in well under 0.2 ms.
      expect(mainThread?.maxRows).to.equal(64);
      expect(mainThread?.measuredRunUs).to.be.above(0);
      expect(c).to.deep.equal({
        name: 'plain', version: '3', platform: 'onnxruntime', sourceFile: '', instances: 1, placement: 'auto',
        session: { intraOpThreads: 1, interOpThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' },
        maxBatchSize: 32, dynamicBatching: { maxQueueDelayUs: 0n, preferredBatchSizes: [], maxQueueSize: 4096 }, warmup: [],
        inputs: [{ name: 'INPUT0', datatype: 6, shape: [-1n, 16n] }, { name: 'INPUT1', datatype: 6, shape: [-1n, 16n] }],
        outputs: [{ name: 'OUTPUT0', datatype: 6, shape: [-1n, 16n] }, { name: 'OUTPUT1', datatype: 6, shape: [-1n, 16n] }],
      });
    });

    it('shows the config file and its policy in the effective config', async () => {
      const c = await configOf(t.models, 'specific', '1');
      expect(c.sourceFile).to.equal('specific/config.yaml');
      expect(c.versionPolicy?.specific).to.deep.equal({ versions: ['1', '3'] });
      expect(c.version).to.equal('1');
    });
  });

  describe('bad config files', () => {
    let repo: string;
    let t: TestServer;
    const bad: Record<string, [string, string, string]> = {
      unknown_field: ['config.yaml', 'instance: 2\n', 'instance: expected a known field (version_policy, instances, placement, session, max_batch_size, dynamic_batching, warmup, inputs, outputs), got an unknown field'],
      wrong_type: ['config.yaml', 'session:\n  intra_op_threads: many\n', 'session.intra_op_threads: expected a whole number from 1 to 1024, got "many"'],
      two_policies: ['config.yaml', 'version_policy: {latest: 1, all: true}\n', 'version_policy: expected exactly one of latest, all, specific, got latest, all'],
      bad_level: ['config.json', '{"session": {"graph_optimization_level": "max"}}', 'session.graph_optimization_level: expected one of disabled, basic, extended, all, got "max"'],
      not_json: ['config.json', '{"instances": ', 'expected JSON, got text that does not parse ('],
      several_problems: ['config.yaml', 'instances: 0\nplacement: main\n', 'instances: expected a whole number from 1 to 256, got 0; several_problems/config.yaml: placement: expected one of auto, worker, got "main"'],
    };

    before(async () => {
      repo = writeRepository(Object.fromEntries(Object.keys(bad).map((name) => [name, simpleModel()])));
      for (const [name, [file, text]] of Object.entries(bad)) writeFileSync(path.join(repo, name, file), text);
      t = await startServer(repo);
    });

    after(async () => {
      await t.close();
      removeFolder(repo);
    });

    for (const [name, [file, , reason]] of Object.entries(bad)) {
      it(`fails to load ${name.replace('_', ' ')}, naming the file, the field and the reason`, async () => {
        const [state, why] = (await states(t.models, name))['1']!;
        expect(state).to.equal(State.MODEL_VERSION_STATE_FAILED);
        expect(why).to.contain(`${name}/${file}: ${reason}`);
        const err = await rejection(predictSimple(t.prediction, name));
        expect(err.code).to.equal(status.UNAVAILABLE);
        expect(err.details).to.contain(reason);
      });
    }
  });

  describe('following the folder while serving', () => {
    let repo: string;
    let t: TestServer;

    beforeEach(async () => {
      repo = writeRepository({ simple: simpleModel() });
      t = await startServer(repo, { repositoryPollMs: 200 });
    });

    afterEach(async () => {
      await t.close();
      removeFolder(repo);
    });

    it('swaps in a new version dropped into the folder under steady traffic without failing a request', async () => {
      let stop = false;
      const served: Record<string, number> = {};
      const failures: string[] = [];
      const client = async (): Promise<void> => {
        while (!stop) {
          try {
            const r = await predictSimple(t.prediction, 'simple');
            served[r.modelVersion] = (served[r.modelVersion] ?? 0) + 1;
          } catch (err) {
            failures.push((err as Error).message);
          }
        }
      };
      const clients = Array.from({ length: 8 }, client);
      await until(() => (served['1'] ?? 0) > 50, 'traffic on version 1');
      writeVersion(repo, 'simple', '2', simpleModel());
      await until(async () => (await states(t.models, 'simple'))['1']?.[0] === State.MODEL_VERSION_STATE_UNAVAILABLE, 'version 1 retired');
      const atSwap = served['2'] ?? 0;
      await until(() => (served['2'] ?? 0) > atSwap + 50, 'traffic on version 2');
      stop = true;
      await Promise.all(clients);
      expect(failures).to.deep.equal([]);
      expect(served['1']).to.be.above(50);
      expect(served['2']).to.be.above(50);
    });

    it('keeps the serving version when a new version is corrupt, and says why in ListModels', async () => {
      writeVersion(repo, 'simple', '2', new TextEncoder().encode('not a model'));
      await until(async () => (await states(t.models, 'simple'))['2']?.[0] === State.MODEL_VERSION_STATE_FAILED, 'version 2 failed');
      const s = await states(t.models, 'simple');
      expect(s['2']![1]).to.match(/^cannot load simple\/2\/model\.onnx: /);
      expect(s['2']![1]).to.not.contain(repo);
      expect(s['1']).to.deep.equal([State.MODEL_VERSION_STATE_READY, 'still serving: no version the policy picks could be loaded']);
      expect((await predictSimple(t.prediction, 'simple')).modelVersion).to.equal('1');
      // Mended in place, the new version loads and takes over.
      writeVersion(repo, 'simple', '2', simpleModel());
      await until(async () => (await states(t.models, 'simple'))['2']?.[0] === State.MODEL_VERSION_STATE_READY, 'version 2 mended');
      expect((await predictSimple(t.prediction, 'simple')).modelVersion).to.equal('2');
    });

    it('falls back to the older version when the newest is deleted', async () => {
      writeVersion(repo, 'simple', '2', simpleModel());
      await until(async () => (await states(t.models, 'simple'))['2']?.[0] === State.MODEL_VERSION_STATE_READY, 'version 2 ready');
      rmSync(path.join(repo, 'simple', '2'), { recursive: true });
      await until(async () => (await states(t.models, 'simple'))['2'] === undefined, 'version 2 gone');
      await until(async () => (await states(t.models, 'simple'))['1']?.[0] === State.MODEL_VERSION_STATE_READY, 'version 1 back');
      expect((await predictSimple(t.prediction, 'simple')).modelVersion).to.equal('1');
    });

    it('loads a model whose folder appears and unloads one whose folder goes, health following', async () => {
      const watcher = watchHealth(t.health, 'added');
      try {
        writeVersion(repo, 'added', '1', simpleModel());
        await until(() => watcher.seen.includes(Serving.SERVING), 'added serving');
        expect((await predictSimple(t.prediction, 'added')).outputs['OUTPUT1']!.int32Data).to.deep.equal(new Array(16).fill(0));
        rmSync(path.join(repo, 'added'), { recursive: true });
        await until(() => watcher.seen.at(-1) === Serving.SERVICE_UNKNOWN, 'added unknown');
        // Unknown, loading, ready; then unloaded (its folder went) and forgotten.
        expect(watcher.seen).to.deep.equal([Serving.SERVICE_UNKNOWN, Serving.NOT_SERVING, Serving.SERVING, Serving.NOT_SERVING, Serving.SERVICE_UNKNOWN]);
        expect(await statusOf(t.models, 'added')).to.equal(undefined);
        expect((await rejection(predictSimple(t.prediction, 'added'))).code).to.equal(status.NOT_FOUND);
      } finally {
        watcher.cancel();
      }
    });

    it('keeps serving when the config file is edited into something invalid, and applies it once mended', async () => {
      writeFileSync(path.join(repo, 'simple', 'config.yaml'), 'instances: 0\n');
      await until(async () => (await states(t.models, 'simple'))['1']![1].startsWith('still serving'), 'bad config noticed');
      expect((await states(t.models, 'simple'))['1']![1]).to.equal('still serving: simple/config.yaml: instances: expected a whole number from 1 to 256, got 0');
      expect((await predictSimple(t.prediction, 'simple')).modelVersion).to.equal('1');
      writeFileSync(path.join(repo, 'simple', 'config.yaml'), 'instances: 2\n');
      await until(async () => (await configOf(t.models, 'simple')).instances === 2, 'config applied');
      expect((await states(t.models, 'simple'))['1']).to.deep.equal([State.MODEL_VERSION_STATE_READY, '']);
    });
  });

  describe('explicit control', () => {
    let repo: string;
    let t: TestServer;

    before(async () => {
      repo = writeRepository({ simple: simpleModel(), broken: new TextEncoder().encode('garbage') });
      t = await startServer(repo, { modelControl: 'explicit' });
    });

    after(async () => {
      await t.close();
      removeFolder(repo);
    });

    it('unloads a model on UnloadModel and loads it again on LoadModel, health Watch seeing each change', async () => {
      const watcher = watchHealth(t.health, 'simple');
      try {
        await until(() => watcher.seen.length === 1, 'first health status');
        const unloaded = await unloadModel(t.models, 'simple');
        expect(unloaded.model!.versions).to.deep.equal([{ version: '1', state: State.MODEL_VERSION_STATE_UNAVAILABLE, reason: 'unloaded by request' }]);
        const refused = await rejection(predictSimple(t.prediction, 'simple'));
        expect(refused.code).to.equal(status.UNAVAILABLE);
        expect(refused.details).to.equal('model "simple" has no ready version: version 1 is UNAVAILABLE: unloaded by request');
        const loaded = await loadModel(t.models, 'simple');
        expect(loaded.model!.versions).to.deep.equal([{ version: '1', state: State.MODEL_VERSION_STATE_READY, reason: '' }]);
        expect((await predictSimple(t.prediction, 'simple')).modelVersion).to.equal('1');
        await until(() => watcher.seen.length === 3, 'three health statuses');
        expect(watcher.seen).to.deep.equal([Serving.SERVING, Serving.NOT_SERVING, Serving.SERVING]);
      } finally {
        watcher.cancel();
      }
    });

    it('answers NOT_FOUND for loading or unloading a model that does not exist', async () => {
      const load = await rejection(loadModel(t.models, 'nope'));
      expect(load.code).to.equal(status.NOT_FOUND);
      expect(load.details).to.equal('unknown model "nope": the model repository has no folder "nope"');
      const unload = await rejection(unloadModel(t.models, 'nope'));
      expect(unload.code).to.equal(status.NOT_FOUND);
    });

    it('answers UNAVAILABLE, with the reason, when LoadModel cannot make a version ready', async () => {
      const err = await rejection(loadModel(t.models, 'broken'));
      expect(err.code).to.equal(status.UNAVAILABLE);
      expect(err.details).to.contain('model "broken" failed to load: version 1 FAILED: cannot load broken/1/model.onnx: ');
      expect(err.details).to.not.contain(repo);
    });

    it('picks up a new folder only when asked to', async () => {
      writeVersion(repo, 'later', '1', simpleModel());
      // Nothing watches the folder in explicit mode; a watcher would have loaded it well within this.
      await new Promise((r) => setTimeout(r, 1000));
      expect(await statusOf(t.models, 'later')).to.equal(undefined);
      await loadModel(t.models, 'later');
      expect((await predictSimple(t.prediction, 'later')).modelVersion).to.equal('1');
    });
  });

  describe('model names and versions as clients write them', () => {
    let repo: string;
    let outside: string;
    let t: TestServer;
    let oip: GRPCInferenceServiceClient;

    before(async () => {
      repo = writeRepository({ simple: simpleModel(), '.hidden': simpleModel() });
      writeVersion(repo, 'padded', '007', simpleModel());
      writeVersion(repo, 'twice', '1', simpleModel());
      writeVersion(repo, 'twice', '2', simpleModel());
      writeVersion(repo, 'twice', '02', simpleModel());
      // A model folder beside the repository, which no name may reach.
      outside = mkdtempSync(path.join(path.dirname(repo), 'inferd-outside-'));
      writeVersion(outside, 'm', '1', simpleModel());
      t = await startServer(repo, { modelControl: 'explicit' });
      oip = new GRPCInferenceServiceClient(t.address, credentials.createInsecure());
    });

    after(async () => {
      oip?.close();
      await t?.close();
      removeFolder(repo);
      removeFolder(outside);
    });

    const notAFolder = 'a model name is a folder name, without "/", "\\" or NUL';
    const hidden = 'a model name does not start with "." (hidden folders, "." and ".." are not models)';
    const refused: [string, string][] = [
      ['..', hidden],
      ['.', hidden],
      ['.hidden', hidden],
      ['simple/../simple', notAFolder],
      ['/etc', notAFolder],
      ['a\\b', notAFolder],
      ['a\u0000b', notAFolder],
      ['', 'a model name may not be empty'],
    ];
    it('refuses LoadModel of a name that is no folder in the repository with NOT_FOUND, naming no path of the server, and goes on serving', async () => {
      for (const [name, reason] of [...refused, [`../${path.basename(outside)}/m`, notAFolder] as [string, string]]) {
        const err = await rejection(loadModel(t.models, name));
        expect(err.code, name).to.equal(status.NOT_FOUND);
        expect(err.details, name).to.equal(`unknown model ${JSON.stringify(name)}: ${reason}`);
        expect(err.details, name).to.not.contain(path.dirname(repo));
      }
      const missing = await rejection(loadModel(t.models, 'missing'));
      expect(missing.details).to.equal('unknown model "missing": the model repository has no folder "missing"');
      expect((await listModels(t.models)).models.map((m) => m.name)).to.deep.equal(['padded', 'simple', 'twice']);
      expect((await predictSimple(t.prediction, 'simple')).modelVersion).to.equal('1');
    });

    it('refuses RepositoryModelLoad (Open Inference Protocol) of ".." the same way', async () => {
      const err = await rejection(new Promise((resolve, reject) => oip.repositoryModelLoad({ repositoryName: '', modelName: '..', parameters: {} }, new Metadata(), (e, r) => (e ? reject(e) : resolve(r)))));
      expect(err.code).to.equal(status.NOT_FOUND);
      expect(err.details).to.equal(`failed to load '..': unknown model "..": ${hidden}`);
    });

    it('answers NOT_FOUND for a version written with leading zeros, saying how it is written, on Predict and GetModelMetadata', async () => {
      expect((await predictSimple(t.prediction, 'simple', '1')).modelVersion).to.equal('1');
      const err = await rejection(predictSimple(t.prediction, 'simple', '01'));
      expect(err.code).to.equal(status.NOT_FOUND);
      expect(err.details).to.equal('unknown version "01" of model "simple"; a version is written as its whole number without leading zeros ("1")');
      const meta = await rejection(call<GetModelMetadataRequest, GetModelMetadataResponse>(t.models.getModelMetadata.bind(t.models), { modelName: 'simple', modelVersion: '01' }));
      expect(meta.code).to.equal(status.NOT_FOUND);
      expect(meta.details).to.equal(err.details);
      for (const version of ['+1', ' 1', '1.0', '0x1']) {
        const other = await rejection(predictSimple(t.prediction, 'simple', version));
        expect(other.code, version).to.equal(status.NOT_FOUND);
        expect(other.details, version).to.equal(`unknown version ${JSON.stringify(version)} of model "simple"`);
      }
    });

    it('answers NOT_FOUND for a version with leading zeros on ModelInfer, and not ready on ModelReady (Open Inference Protocol)', async () => {
      const ints = (v: number): InferTensorContents => InferTensorContents.fromPartial({ intContents: new Array(16).fill(v) });
      const request = (modelVersion: string): ModelInferRequest =>
        ModelInferRequest.fromPartial({
          modelName: 'simple',
          modelVersion,
          inputs: ['INPUT0', 'INPUT1'].map((name) => InputTensor.fromPartial({ name, datatype: 'INT32', shape: [1n, 16n], contents: ints(1) })),
        });
      const infer = (version: string): Promise<unknown> => new Promise((resolve, reject) => oip.modelInfer(request(version), new Metadata(), (e, r) => (e ? reject(e) : resolve(r))));
      await infer('1');
      const err = await rejection(infer('01'));
      expect(err.code).to.equal(status.NOT_FOUND);
      expect(err.details).to.equal("Request for unknown model: 'simple' version 01 is not found");
      const ready = (version: string): Promise<unknown> => new Promise((resolve, reject) => oip.modelReady({ name: 'simple', version }, new Metadata(), (e, r) => (e ? reject(e) : resolve(r))));
      expect(await ready('1')).to.deep.equal({ ready: true });
      expect(await ready('01')).to.deep.equal({ ready: false });
    });

    it('serves a folder named 007 as version 7, and answers "007" as it answers "01"', async () => {
      expect(await states(t.models, 'padded')).to.deep.equal({ '7': [State.MODEL_VERSION_STATE_READY, ''] });
      expect((await predictSimple(t.prediction, 'padded', '7')).modelVersion).to.equal('7');
      const err = await rejection(predictSimple(t.prediction, 'padded', '007'));
      expect(err.code).to.equal(status.NOT_FOUND);
      expect(err.details).to.equal('unknown version "007" of model "padded"; a version is written as its whole number without leading zeros ("7")');
    });

    it('fails a version two folders name (2 and 02), naming both', async () => {
      expect(await states(t.models, 'twice')).to.deep.equal({
        '2': [State.MODEL_VERSION_STATE_FAILED, 'folders twice/02 and twice/2 are all version 2; keep one'],
        '1': [State.MODEL_VERSION_STATE_UNAVAILABLE, 'not served: the version policy does not pick it'],
      });
    });
  });
});
