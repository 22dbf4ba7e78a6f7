import { expect } from 'chai';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { simpleModel } from '../../../src/example-models/example-models';
import { PACKAGE_ROOT } from '../../../src/package-root';
import { removeFolder, startServer, writeRepository, type TestServer } from '../../support/test-server';

const BUF = path.join(PACKAGE_ROOT, 'node_modules', '.bin', 'buf');

interface BufResult {
  /** The exit code: 0 when the call succeeded. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

interface BufRun {
  /** Settles with the first JSON document buf curl prints (the first response message). */
  readonly firstPrinted: Promise<unknown>;
  readonly done: Promise<BufResult>;
}

/**
 * Starts `buf curl --protocol grpc --http2-prior-knowledge ...args` with `stdin` as its input.
 * It learns the schema from the server's reflection service alone: no proto files are given.
 */
function bufCurl(args: readonly string[], stdin = ''): BufRun {
  let stdout = '';
  let printed!: (doc: unknown) => void;
  let notPrinted!: (err: Error) => void;
  const firstPrinted = new Promise<unknown>((resolve, reject) => {
    printed = resolve;
    notPrinted = reject;
  });
  const done = new Promise<BufResult>((resolve, reject) => {
    const child = execFile(
      BUF,
      ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', ...args],
      { timeout: 20_000 },
      (err, out, stderr) => {
        notPrinted(new Error(`buf curl exited before printing a response: ${stderr}`));
        if (err !== null && typeof err.code !== 'number') reject(err);
        else resolve({ code: err === null ? 0 : (err.code as number), stdout: out, stderr });
      },
    );
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const docs = jsonDocuments(stdout);
      if (docs.length > 0) printed(docs[0]);
    });
    child.stdin!.end(stdin);
  });
  firstPrinted.catch(() => undefined); // only the Watch test waits on it
  return { firstPrinted, done };
}

/**
 * The complete JSON objects in text that holds them one after another (buf curl prints each
 * message pretty, one after the other); text outside any object, such as a warning line, is skipped.
 */
function jsonDocuments(text: string): unknown[] {
  const docs: unknown[] = [];
  let depth = 0;
  let inString = false;
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (depth === 0) {
      if (c === '{') {
        start = i;
        depth = 1;
      }
    } else if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if ((c === '}' || c === ']') && --depth === 0) docs.push(JSON.parse(text.slice(start, i + 1)));
  }
  return docs;
}

/** The one JSON document a unary call printed, after checking it succeeded. */
async function call(method: string, request: unknown, url: string): Promise<unknown> {
  const result = await bufCurl([`${url}/${method}`, '-d', '@-'], JSON.stringify(request)).done;
  expect(result.code, result.stderr).to.equal(0);
  const docs = jsonDocuments(result.stdout);
  expect(docs).to.have.length(1);
  return docs[0];
}

/** 16 INT32 values, i * step + offset. */
function row(step: number, offset: number): number[] {
  return Array.from({ length: 16 }, (_, i) => i * step + offset);
}

/** A PredictRequest for `simple` as a person types it for buf curl: proto field names, typed values. */
function simpleRequest(id: string, a: number[], b: number[]): unknown {
  return {
    model_name: 'simple',
    id,
    inputs: {
      INPUT0: { shape: [1, 16], int32_data: a },
      INPUT1: { shape: [1, 16], int32_data: b },
    },
  };
}

/** The PredictResponse buf curl prints for it (proto3 JSON: camelCase, int64 as strings). */
function simpleResponse(id: string, a: number[], b: number[]): unknown {
  const out = (values: number[]) => ({ datatype: 'DATA_TYPE_INT32', shape: ['1', '16'], int32Data: values });
  return {
    modelName: 'simple',
    modelVersion: '1',
    id,
    outputs: {
      OUTPUT0: out(a.map((x, i) => x + b[i]!)),
      OUTPUT1: out(a.map((x, i) => x - b[i]!)),
    },
  };
}

const METHODS = [
  'grpc.health.v1.Health/Check',
  'grpc.health.v1.Health/List',
  'grpc.health.v1.Health/Watch',
  'grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
  'grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo',
  'inferd.v1.JobService/CancelJob',
  'inferd.v1.JobService/GetJob',
  'inferd.v1.JobService/ListJobs',
  'inferd.v1.JobService/SubmitBatchJob',
  'inferd.v1.JobService/SubmitPrediction',
  'inferd.v1.JobService/WatchJob',
  'inferd.v1.ModelService/GetModelConfig',
  'inferd.v1.ModelService/GetModelMetadata',
  'inferd.v1.ModelService/ListModels',
  'inferd.v1.ModelService/LoadModel',
  'inferd.v1.ModelService/UnloadModel',
  'inferd.v1.PredictionService/Predict',
  'inferd.v1.PredictionService/PredictStream',
  'inference.GRPCInferenceService/CudaSharedMemoryRegister',
  'inference.GRPCInferenceService/CudaSharedMemoryStatus',
  'inference.GRPCInferenceService/CudaSharedMemoryUnregister',
  'inference.GRPCInferenceService/LogSettings',
  'inference.GRPCInferenceService/ModelConfig',
  'inference.GRPCInferenceService/ModelInfer',
  'inference.GRPCInferenceService/ModelMetadata',
  'inference.GRPCInferenceService/ModelReady',
  'inference.GRPCInferenceService/ModelStatistics',
  'inference.GRPCInferenceService/ModelStreamInfer',
  'inference.GRPCInferenceService/RepositoryIndex',
  'inference.GRPCInferenceService/RepositoryModelLoad',
  'inference.GRPCInferenceService/RepositoryModelUnload',
  'inference.GRPCInferenceService/ServerLive',
  'inference.GRPCInferenceService/ServerMetadata',
  'inference.GRPCInferenceService/ServerReady',
  'inference.GRPCInferenceService/SystemSharedMemoryRegister',
  'inference.GRPCInferenceService/SystemSharedMemoryStatus',
  'inference.GRPCInferenceService/SystemSharedMemoryUnregister',
  'inference.GRPCInferenceService/TraceSetting',
];

describe('server reflection, as buf curl uses it', () => {
  let repo: string;
  let t: TestServer;
  let url: string;

  before(async () => {
    repo = writeRepository({ simple: simpleModel() });
    t = await startServer(repo);
    url = `http://${t.address}`;
  });

  after(async () => {
    await t?.close();
    removeFolder(repo);
  });

  for (const reflection of ['grpc-v1', 'grpc-v1alpha']) {
    it(`lists exactly the ${METHODS.length} methods the server serves, over ${reflection} reflection`, async () => {
      const result = await bufCurl(['--list-methods', '--reflect-protocol', reflection, url]).done;
      expect(result.code, result.stderr).to.equal(0);
      expect(result.stdout.trim().split('\n').sort()).to.deep.equal(METHODS);
    });
  }

  it('calls Predict from typed JSON and prints the exact sums and differences', async () => {
    const a = row(1_000_003, -7_000_000);
    const b = row(-123_457, 42);
    expect(await call('inferd.v1.PredictionService/Predict', simpleRequest('curl-1', a, b), url)).to.deep.equal(
      simpleResponse('curl-1', a, b),
    );
  });

  it('calls PredictStream with two JSON messages and prints one response for each, under its id', async () => {
    const a1 = row(1, 0);
    const b1 = row(2, 100);
    const a2 = row(-5, 9);
    const b2 = row(0, -3);
    const input = `${JSON.stringify(simpleRequest('s-1', a1, b1))}\n${JSON.stringify(simpleRequest('s-2', a2, b2))}\n`;
    const result = await bufCurl([`${url}/inferd.v1.PredictionService/PredictStream`, '-d', '@-'], input).done;

    expect(result.code, result.stderr).to.equal(0);
    const responses = jsonDocuments(result.stdout) as { id: string }[];
    expect(responses.map((r) => r.id).sort()).to.deep.equal(['s-1', 's-2']);
    const byId = Object.fromEntries(responses.map((r) => [r.id, r]));
    expect(byId['s-1']).to.deep.equal({ id: 's-1', response: simpleResponse('s-1', a1, b1) });
    expect(byId['s-2']).to.deep.equal({ id: 's-2', response: simpleResponse('s-2', a2, b2) });
  });

  it('calls ListModels', async () => {
    expect(await call('inferd.v1.ModelService/ListModels', {}, url)).to.deep.equal({
      models: [{ name: 'simple', versions: [{ version: '1', state: 'MODEL_VERSION_STATE_READY' }] }],
    });
  });

  it('calls GetModelMetadata and shows the symbolic batch dimension as "-1"', async () => {
    const io = (name: string) => ({ name, datatype: 'DATA_TYPE_INT32', shape: ['-1', '16'] });
    expect(await call('inferd.v1.ModelService/GetModelMetadata', { model_name: 'simple' }, url)).to.deep.equal({
      name: 'simple',
      version: '1',
      versions: ['1'],
      platform: 'onnxruntime',
      inputs: [io('INPUT0'), io('INPUT1')],
      outputs: [io('OUTPUT0'), io('OUTPUT1')],
    });
  });

  it('calls Health/Check for a model', async () => {
    expect(await call('grpc.health.v1.Health/Check', { service: 'simple' }, url)).to.deep.equal({ status: 'SERVING' });
  });

  it('calls Health/List', async () => {
    expect(await call('grpc.health.v1.Health/List', {}, url)).to.deep.equal({
      statuses: {
        '': { status: 'SERVING' },
        'grpc.health.v1.Health': { status: 'SERVING' },
        'grpc.reflection.v1.ServerReflection': { status: 'SERVING' },
        'grpc.reflection.v1alpha.ServerReflection': { status: 'SERVING' },
        'inference.GRPCInferenceService': { status: 'SERVING' },
        'inferd.v1.JobService': { status: 'SERVING' },
        'inferd.v1.ModelService': { status: 'SERVING' },
        'inferd.v1.PredictionService': { status: 'SERVING' },
        simple: { status: 'SERVING' },
      },
    });
  });

  it('calls Health/Watch, printing SERVING, then NOT_SERVING and exiting 0 when the server stops', async () => {
    const own = await startServer(repo);
    try {
      const watch = bufCurl(
        [`http://${own.address}/grpc.health.v1.Health/Watch`, '-d', '@-'],
        JSON.stringify({ service: 'simple' }),
      );
      expect(await watch.firstPrinted).to.deep.equal({ status: 'SERVING' });

      await own.server.close();

      const result = await watch.done;
      expect(result.code, result.stderr).to.equal(0);
      expect(jsonDocuments(result.stdout)).to.deep.equal([{ status: 'SERVING' }, { status: 'NOT_SERVING' }]);
    } finally {
      await own.close();
    }
  });

  it('shows the INVALID_ARGUMENT a bad input gets, naming the input, and exits non-zero', async () => {
    const request = {
      model_name: 'simple',
      inputs: {
        INPUT0: { shape: [1, 15], int32_data: row(1, 0).slice(0, 15) },
        INPUT1: { shape: [1, 16], int32_data: row(1, 0) },
      },
    };
    const result = await bufCurl([`${url}/inferd.v1.PredictionService/Predict`, '-d', '@-'], JSON.stringify(request))
      .done;

    expect(result.code).to.not.equal(0);
    expect(result.stdout).to.equal('');
    // stderr may carry unrelated warnings before the error document; the error is the JSON in it.
    expect(jsonDocuments(result.stderr)).to.deep.equal([
      { code: 'invalid_argument', message: 'input "INPUT0": expected shape [-1,16], got [1,15]' },
    ]);
  });
});
