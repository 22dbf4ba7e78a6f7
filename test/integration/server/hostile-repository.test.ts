import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { expect } from 'chai';
import { ModelServiceClient, ModelVersionState as State, type ListModelsResponse } from '../../../generated/inferd/v1/model_service';
import { PredictionServiceClient } from '../../../generated/inferd/v1/prediction_service';
import { identityModel, simpleModel, tinyMlpModel, tinyMlpReference } from '../../../src/example-models/example-models';
import { children, serve, type ServeProcess } from '../../support/serve-process';
import { predict, rejection, removeFolder, tensor, writeRepository } from '../../support/test-server';
import { until } from '../../support/until';

/** Writes a file into the repository, creating the folders on its way. */
function put(repo: string, relative: string, content: string | Uint8Array): void {
  const file = path.join(repo, relative);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
}

/** 16 MB of a YAML list of numbers: parsed, it would take ~8 GB of heap, past V8's limit. */
const HUGE_YAML = `warmup: [${'1,'.repeat(8 * 1024 * 1024)}]\n`;

/**
 * Hostile folders, each as a model name → its files and the state and reason ListModels shows for
 * its version 1. Before the bounds, `big` and `huge_declared` ended the process (a warm-up of
 * 400,000,000 elements built in a JavaScript array: "Fatal JavaScript invalid size error").
 */
const HOSTILE: Record<string, { files: Record<string, string | Uint8Array>; state: State; reason: string }> = {
  big: {
    files: { '1/model.onnx': tinyMlpModel(), 'config.yaml': 'warmup: [{ name: big, count: 1, inputs: { x: { shape: [100000000, 4], zero: true } } }]\n' },
    state: State.MODEL_VERSION_STATE_FAILED,
    reason: 'big/config.yaml: warmup[0].inputs.x.shape: expected at most 33554432 bytes of input (--max-message-bytes), got [100000000,4] of FLOAT32, 1600000000 bytes',
  },
  zero_hides: {
    files: { '1/model.onnx': identityModel('FLOAT', { dims: ['a', 'b'] }), 'config.yaml': 'warmup: [{ inputs: { x: { shape: [0, 1000000000000000], zero: true } } }]\n' },
    state: State.MODEL_VERSION_STATE_FAILED,
    reason: 'zero_hides/config.yaml: warmup[0].inputs.x.shape[1]: expected a whole number from 0 to 4294967295, got 1000000000000000',
  },
  huge_config: {
    files: { '1/model.onnx': tinyMlpModel(), 'config.yaml': HUGE_YAML },
    state: State.MODEL_VERSION_STATE_FAILED,
    reason: 'huge_config/config.yaml: expected at most 32768 bytes (--max-model-config-bytes), got a larger file',
  },
  huge_mlmodel: {
    files: { '1/MLmodel': `flavors:\n  onnx:\n    data: model.onnx\n# ${HUGE_YAML}`, '1/model.onnx': tinyMlpModel() },
    state: State.MODEL_VERSION_STATE_FAILED,
    reason: 'huge_mlmodel/1/MLmodel: expected at most 32768 bytes (--max-model-config-bytes), got a larger file',
  },
  // A model file that declares a 1.6 GB input: its default warm-up (best effort) is left out.
  huge_declared: {
    files: { '1/model.onnx': identityModel('FLOAT', { dims: [100_000_000, 4] }) },
    state: State.MODEL_VERSION_STATE_READY,
    reason: '',
  },
  // An override to a 1.6 GB input: likewise.
  huge_override: {
    files: { '1/model.onnx': tinyMlpModel(), 'config.yaml': 'inputs: [{ name: x, dims: [100000000, 4] }]\n' },
    state: State.MODEL_VERSION_STATE_READY,
    reason: '',
  },
};

describe('hostile model folders dropped into a watched repository', function () {
  this.timeout(180_000);
  let repo: string;
  let server: ServeProcess;
  let prediction: PredictionServiceClient;
  let models: ModelServiceClient;

  before(async () => {
    repo = writeRepository({ simple: simpleModel(), tiny_mlp: tinyMlpModel(), other: tinyMlpModel() });
    // Both bounds set by their flags (the defaults: 64 MiB and 64 KiB).
    server = await serve(repo, ['--repository-poll-ms', '200', '--log-level', 'info', '--max-message-bytes', String(32 * 1024 * 1024), '--max-model-config-bytes', String(32 * 1024)]);
    const address = `127.0.0.1:${server.port}`;
    prediction = new PredictionServiceClient(address, credentials.createInsecure());
    models = new ModelServiceClient(address, credentials.createInsecure());
  });

  after(() => {
    prediction?.close();
    models?.close();
    for (const child of children) child.kill('SIGKILL');
    removeFolder(repo);
  });

  const listModels = (): Promise<ListModelsResponse> =>
    new Promise((resolve, reject) => models.listModels({}, new Metadata(), (err: ServiceError | null, r: ListModelsResponse) => (err ? reject(err) : resolve(r))));

  it('fails (or loads) each hostile version with its reason, while the other models serve every request and the process lives on', async () => {
    const x = [1, -2, 0.5, 4];
    const failures: string[] = [];
    let served = 0;
    let stop = false;
    const client = async (model: string): Promise<void> => {
      while (!stop) {
        try {
          const r = await predict(prediction, { modelName: model, inputs: { x: tensor({ shape: [1n, 4n], floatData: x }) } });
          expect(r.outputs['y']!.floatData).to.deep.equal(tinyMlpReference(x));
          served++;
        } catch (err) {
          failures.push(`${model}: ${(err as Error).message}`);
        }
      }
    };
    const clients = ['tiny_mlp', 'other', 'tiny_mlp', 'other'].map(client);
    try {
      await until(() => served >= 20, 'traffic before the drop', 60_000);
      // Each folder made aside (a hidden folder, which the server passes over), then moved in whole.
      for (const [name, { files }] of Object.entries(HOSTILE)) {
        for (const [file, content] of Object.entries(files)) put(repo, path.join(`.${name}`, file), content);
        renameSync(path.join(repo, `.${name}`), path.join(repo, name));
      }

      const shown = async (): Promise<Record<string, [State, string] | undefined>> => {
        const list = await listModels();
        return Object.fromEntries(Object.keys(HOSTILE).map((name) => {
          const v = list.models.find((m) => m.name === name)?.versions.find((s) => s.version === '1');
          return [name, v && [v.state, v.reason]];
        }));
      };
      const expected = Object.fromEntries(Object.entries(HOSTILE).map(([name, h]) => [name, [h.state, h.reason]]));
      await until(async () => JSON.stringify(await shown()) === JSON.stringify(expected), 'every hostile version settled', 60_000);
      // Requests answered after every hostile version settled: serving went on through all of it.
      const settledAt = served;
      await until(() => served >= settledAt + 20, 'traffic after the drop', 60_000);
    } finally {
      stop = true;
      await Promise.all(clients);
    }
    expect(failures).to.deep.equal([]);
    expect(server.child.exitCode).to.equal(null);
    // The whole path stays in the server's own log.
    const failed = server.logs.find((r) => r.msg === 'model version failed to load' && r['model'] === 'big')!;
    expect(failed['reason']).to.equal(HOSTILE['big']!.reason);
    expect(failed['path']).to.equal(path.join(repo, 'big', '1', 'model.onnx'));
    expect(server.logs.some((r) => r.msg === 'default warm-up run failed; add a warmup entry to the model config' && r['model'] === 'huge_declared')).to.equal(true);
  });

  it('answers a model that declares a 1.6 GB input with INVALID_ARGUMENT for any smaller one, and the others as before', async () => {
    const err = await rejection(predict(prediction, { modelName: 'huge_declared', inputs: { x: tensor({ shape: [1n, 4n], floatData: [1, 2, 3, 4] }) } }));
    expect(err.code).to.equal(status.INVALID_ARGUMENT);
    expect(err.details).to.equal('input "x": expected shape [100000000,4], got [1,4]');
    const r = await predict(prediction, { modelName: 'simple', inputs: { INPUT0: tensor({ shape: [1n, 16n], int32Data: new Array(16).fill(2) }), INPUT1: tensor({ shape: [1n, 16n], int32Data: new Array(16).fill(1) }) } });
    expect(r.outputs['OUTPUT0']!.int32Data).to.deep.equal(new Array(16).fill(3));
    expect(server.child.exitCode).to.equal(null);
  });
});
