import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { credentials, Metadata, status, type ClientDuplexStream, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import {
  GRPCInferenceServiceClient,
  InferTensorContents,
  ModelInferRequest,
  ModelInferRequest_InferInputTensor as InputTensor,
  type InferParameter,
  type ModelConfigResponse,
  type ModelInferResponse,
  type ModelMetadataResponse,
  type ModelStatistics,
  type ModelStatisticsResponse,
  type ModelStreamInferResponse,
  type RepositoryIndexResponse,
} from '../../../generated/inference/grpc_service';
import { DataType, ModelConfig, ModelInstanceGroup_Kind } from '../../../generated/inference/model_config';
import type { ListModelsResponse } from '../../../generated/inferd/v1/model_service';
import { identityModel, simpleModel } from '../../../src/example-models/example-models';
import { PACKAGE_ROOT } from '../../../src/package-root';
import { calibrateSlowRun, type SlowRun } from '../../support/calibrate-slow-run';
import { slowModel } from '../../support/slow-model';
import { rejection, removeFolder, startServer, writeRepository, type TestServer } from '../../support/test-server';

const BUF = path.join(PACKAGE_ROOT, 'node_modules', '.bin', 'buf');
const PACKAGE_VERSION = (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Triton's `simple` example request (reference §4.1): INPUT0 = 0..15 and INPUT1 = 16 ones, raw little-endian INT32. */
const TRITON_INPUT0_BASE64 = 'AAAAAAEAAAACAAAAAwAAAAQAAAAFAAAABgAAAAcAAAAIAAAACQAAAAoAAAALAAAADAAAAA0AAAAOAAAADwAAAA==';
const TRITON_INPUT1_BASE64 = 'AQAAAAEAAAABAAAAAQAAAAEAAAABAAAAAQAAAAEAAAABAAAAAQAAAAEAAAABAAAAAQAAAAEAAAABAAAAAQAAAA==';

type Callback<T> = (err: ServiceError | null, response: T) => void;

/** Makes one unary call; resolves with the response or rejects with the ServiceError. */
function unary<T>(start: (callback: Callback<T>) => unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    start((err, response) => (err ? reject(err) : resolve(response)));
  });
}

function infer(client: GRPCInferenceServiceClient, request: Partial<ModelInferRequest>, deadlineMs?: number): Promise<ModelInferResponse> {
  const options = deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs };
  return unary((cb) => client.modelInfer(ModelInferRequest.fromPartial(request), new Metadata(), options, cb));
}

const range = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));
const int32Bytes = (values: number[]): Uint8Array => new Uint8Array(Int32Array.from(values).buffer);
/** The INT32 values of raw bytes (copied: received bytes are a view into the whole message, at any offset). */
const int32s = (raw: Uint8Array): number[] => Array.from(new Int32Array(new Uint8Array(raw).buffer));
const base64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

/** BYTES in raw form: each element as a 4-byte little-endian length, then its bytes. */
function lengthPrefixed(elements: readonly (string | Uint8Array)[]): Buffer {
  return Buffer.concat(elements.flatMap((e) => {
    const bytes = typeof e === 'string' ? Buffer.from(e, 'utf8') : Buffer.from(e);
    const length = Buffer.alloc(4);
    length.writeUInt32LE(bytes.length);
    return [length, bytes];
  }));
}

function input(name: string, datatype: string, shape: number[], contents?: Partial<InferTensorContents>): InputTensor {
  return InputTensor.fromPartial({ name, datatype, shape: shape.map(BigInt), contents: contents && InferTensorContents.fromPartial(contents) });
}

/** A request to `simple` with INT32 [rows,16] operands, raw or typed. */
function simpleRequest(id: string, a: number[], b: number[], opts: { raw?: boolean; outputs?: string[]; parameters?: Record<string, InferParameter> } = {}): Partial<ModelInferRequest> {
  const shape = [a.length / 16, 16];
  const raw = opts.raw ?? true;
  return {
    modelName: 'simple',
    id,
    parameters: opts.parameters ?? {},
    inputs: [input('INPUT0', 'INT32', shape, raw ? undefined : { intContents: a }), input('INPUT1', 'INT32', shape, raw ? undefined : { intContents: b })],
    outputs: (opts.outputs ?? []).map((name) => ({ name, parameters: {} })),
    rawInputContents: raw ? [int32Bytes(a), int32Bytes(b)] : [],
  };
}

/** Asserts `r` is the exact answer of `simple` to a, b: both outputs (or those named) raw, nothing typed. */
function expectSimpleAnswer(r: ModelInferResponse, id: string, a: number[], b: number[], outputs = ['OUTPUT0', 'OUTPUT1']): void {
  expect(r.id).to.equal(id);
  expect(r.modelName).to.equal('simple');
  expect(r.modelVersion).to.equal('1');
  const shape = [BigInt(a.length / 16), 16n];
  expect(r.outputs).to.deep.equal(outputs.map((name) => ({ name, datatype: 'INT32', shape, parameters: {}, contents: undefined })));
  expect(r.rawOutputContents).to.have.length(outputs.length);
  const expected: Record<string, number[]> = { OUTPUT0: a.map((x, i) => x + b[i]!), OUTPUT1: a.map((x, i) => x - b[i]!) };
  outputs.forEach((name, i) => expect(int32s(r.rawOutputContents[i]!), name).to.deep.equal(expected[name]));
}

/** Streams every request on one ModelStreamInfer call, then half-closes; settles with every response and the final status. */
async function streamAll(client: GRPCInferenceServiceClient, requests: Partial<ModelInferRequest>[]): Promise<{ responses: ModelStreamInferResponse[]; end: StatusObject }> {
  const call: ClientDuplexStream<ModelInferRequest, ModelStreamInferResponse> = client.modelStreamInfer();
  const responses: ModelStreamInferResponse[] = [];
  call.on('data', (r: ModelStreamInferResponse) => responses.push(r));
  call.on('error', () => undefined); // the same outcome comes as 'status'
  const end = new Promise<StatusObject>((resolve) => call.on('status', resolve));
  for (const r of requests) call.write(ModelInferRequest.fromPartial(r));
  call.end();
  return { responses, end: await end };
}

describe('inference.GRPCInferenceService (Open Inference Protocol)', function () {
  this.timeout(60_000);
  let repo: string;
  let t: TestServer;
  let client: GRPCInferenceServiceClient;

  before(async () => {
    repo = writeRepository({
      simple: simpleModel(),
      counted: simpleModel(),
      id_bytes: identityModel('STRING'),
      id_fp16: identityModel('FLOAT16'),
      id_uint64: identityModel('UINT64'),
      id_int8: identityModel('INT8'),
      id_bool: identityModel('BOOL'),
      id_fp64: identityModel('DOUBLE'),
    });
    t = await startServer(repo);
    client = new GRPCInferenceServiceClient(t.address, credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    await t?.close();
    removeFolder(repo);
  });

  describe('health and metadata', () => {
    it('ServerLive answers live', async () => {
      expect(await unary((cb) => client.serverLive({}, cb))).to.deep.equal({ live: true });
    });

    it('ServerReady answers ready when every model is loaded', async () => {
      expect(await unary((cb) => client.serverReady({}, cb))).to.deep.equal({ ready: true });
    });

    it('ModelReady answers true for a loaded model, false for an unknown model or version', async () => {
      expect(await unary((cb) => client.modelReady({ name: 'simple', version: '' }, cb))).to.deep.equal({ ready: true });
      expect(await unary((cb) => client.modelReady({ name: 'simple', version: '1' }, cb))).to.deep.equal({ ready: true });
      expect(await unary((cb) => client.modelReady({ name: 'simple', version: '2' }, cb))).to.deep.equal({ ready: false });
      expect(await unary((cb) => client.modelReady({ name: 'wrong_model_name', version: '' }, cb))).to.deep.equal({ ready: false });
    });

    it('ServerMetadata names inferd, its package version and the extensions it implements', async () => {
      expect(await unary((cb) => client.serverMetadata({}, cb))).to.deep.equal({
        name: 'inferd',
        version: PACKAGE_VERSION,
        extensions: ['model_repository', 'model_configuration', 'statistics'],
      });
    });

    it('ModelMetadata gives the platform, ready versions, datatype strings and -1 for a dimension of any size', async () => {
      const io = (name: string) => ({ name, datatype: 'INT32', shape: [-1n, 16n] });
      expect(await unary((cb) => client.modelMetadata({ name: 'simple', version: '' }, cb))).to.deep.equal({
        name: 'simple',
        versions: ['1'],
        platform: 'onnxruntime_onnx',
        inputs: [io('INPUT0'), io('INPUT1')],
        outputs: [io('OUTPUT0'), io('OUTPUT1')],
      });
    });

    for (const [model, datatype] of [['id_bytes', 'BYTES'], ['id_fp16', 'FP16'], ['id_uint64', 'UINT64'], ['id_int8', 'INT8'], ['id_bool', 'BOOL'], ['id_fp64', 'FP64']] as const) {
      it(`ModelMetadata names the datatype of ${model} ${datatype}`, async () => {
        const m = await unary<ModelMetadataResponse>((cb) => client.modelMetadata({ name: model, version: '' }, cb));
        expect(m.inputs).to.deep.equal([{ name: 'x', datatype, shape: [-1n] }]);
        expect(m.outputs).to.deep.equal([{ name: 'y', datatype, shape: [-1n] }]);
      });
    }

    it("ModelMetadata of an unknown model fails NOT_FOUND with Triton's \"Request for unknown model\" message", async () => {
      const err = await rejection(unary((cb) => client.modelMetadata({ name: 'wrong_model_name', version: '' }, cb)));
      expect(err.code).to.equal(status.NOT_FOUND);
      expect(err.details).to.equal("Request for unknown model: 'wrong_model_name' is not found");
    });

    it('ModelConfig gives the effective configuration in Triton\'s shape', async () => {
      // Batching is on (every first dimension is dynamic), so dims leave out the batch dimension.
      const io = (name: string) => ({ name, dataType: DataType.TYPE_INT32, dims: [16n] });
      expect(await unary((cb) => client.modelConfig({ name: 'simple', version: '' }, cb))).to.deep.equal({
        config: ModelConfig.fromPartial({
          name: 'simple',
          platform: 'onnxruntime_onnx',
          backend: 'onnxruntime',
          versionPolicy: { latest: { numVersions: 1 } },
          maxBatchSize: 32,
          input: [io('INPUT0'), io('INPUT1')],
          output: [io('OUTPUT0'), io('OUTPUT1')],
          instanceGroup: [{ name: 'simple', count: 1, kind: ModelInstanceGroup_Kind.KIND_CPU }],
          defaultModelFilename: 'model.onnx',
        }),
      });
    });

    it('ModelConfig types a BYTES tensor TYPE_STRING', async () => {
      const { config } = await unary<ModelConfigResponse>((cb) => client.modelConfig({ name: 'id_bytes', version: '' }, cb));
      expect(config!.maxBatchSize).to.equal(32);
      expect(config!.input).to.deep.equal([{ name: 'x', dataType: DataType.TYPE_STRING, dims: [] }]);
    });

    it('ModelConfig of an unknown version fails NOT_FOUND naming the model and version', async () => {
      const err = await rejection(unary((cb) => client.modelConfig({ name: 'simple', version: '7' }, cb)));
      expect(err.code).to.equal(status.NOT_FOUND);
      expect(err.details).to.equal("Request for unknown model: 'simple' version 7 is not found");
    });
  });

  describe('ModelInfer', () => {
    it("answers Triton's example `simple` request (raw) with the exact sum and difference in raw_output_contents", async () => {
      const r = await infer(client, {
        modelName: 'simple',
        id: 'my request id',
        inputs: [input('INPUT0', 'INT32', [1, 16]), input('INPUT1', 'INT32', [1, 16])],
        outputs: [{ name: 'OUTPUT0', parameters: {} }, { name: 'OUTPUT1', parameters: {} }],
        rawInputContents: [Buffer.from(TRITON_INPUT0_BASE64, 'base64'), Buffer.from(TRITON_INPUT1_BASE64, 'base64')],
      });
      expect(r.id).to.equal('my request id');
      expect(r.outputs.map((o) => [o.name, o.datatype, o.shape])).to.deep.equal([['OUTPUT0', 'INT32', [1n, 16n]], ['OUTPUT1', 'INT32', [1n, 16n]]]);
      expect(int32s(r.rawOutputContents[0]!)).to.deep.equal(range(16, (i) => i + 1));
      expect(int32s(r.rawOutputContents[1]!)).to.deep.equal(range(16, (i) => i - 1));
    });

    it('takes typed int_contents and still answers raw', async () => {
      const a = range(32, (i) => i * 1_000_003 - 7_000_000);
      const b = range(32, (i) => 42 - i * 123_457);
      expectSimpleAnswer(await infer(client, simpleRequest('typed', a, b, { raw: false })), 'typed', a, b);
    });

    it('returns every output, in the model\'s order, when none is requested', async () => {
      const a = range(16, (i) => i);
      const b = range(16, () => 1);
      const r = await infer(client, simpleRequest('all', a, b));
      expectSimpleAnswer(r, 'all', a, b, ['OUTPUT0', 'OUTPUT1']);
    });

    it('returns only the requested outputs, in the order requested', async () => {
      const a = range(16, (i) => 5 - i);
      const b = range(16, (i) => 2 * i);
      expectSimpleAnswer(await infer(client, simpleRequest('one', a, b, { outputs: ['OUTPUT1'] })), 'one', a, b, ['OUTPUT1']);
      expectSimpleAnswer(await infer(client, simpleRequest('two', a, b, { outputs: ['OUTPUT1', 'OUTPUT0'] })), 'two', a, b, ['OUTPUT1', 'OUTPUT0']);
    });

    it('round-trips BYTES sent raw, length-prefixed, byte for byte', async () => {
      const elements = ['hi', 'abc', '', 'héllo ✓ 日本'];
      const raw = lengthPrefixed(elements);
      expect(base64(lengthPrefixed(['hi', 'abc']))).to.equal('AgAAAGhpAwAAAGFiYw=='); // the reference's own example
      const r = await infer(client, { modelName: 'id_bytes', inputs: [input('x', 'BYTES', [4])], rawInputContents: [raw] });
      expect(r.outputs).to.deep.equal([{ name: 'y', datatype: 'BYTES', shape: [4n], parameters: {}, contents: undefined }]);
      expect(Buffer.from(r.rawOutputContents[0]!).equals(raw)).to.equal(true);
    });

    it('takes BYTES as typed bytes_contents and answers them raw, length-prefixed', async () => {
      const elements = ['first', 'second element', '3'];
      const r = await infer(client, { modelName: 'id_bytes', inputs: [input('x', 'BYTES', [3], { bytesContents: elements.map((e) => Buffer.from(e)) })] });
      expect(Buffer.from(r.rawOutputContents[0]!).equals(lengthPrefixed(elements))).to.equal(true);
    });

    it('round-trips FP16 raw half bits exactly (normal, largest, subnormal, infinity, negative zero)', async () => {
      const bits = Uint16Array.of(0x3e00 /* 1.5 */, 0xc000 /* -2 */, 0x7bff /* 65504 */, 0x0001 /* 2^-24 */, 0x7c00 /* +inf */, 0x8000 /* -0 */);
      const raw = new Uint8Array(bits.buffer);
      const r = await infer(client, { modelName: 'id_fp16', inputs: [input('x', 'FP16', [6])], rawInputContents: [raw] });
      expect(r.outputs[0]!.datatype).to.equal('FP16');
      expect(Array.from(new Uint8Array(r.rawOutputContents[0]!))).to.deep.equal(Array.from(raw));
    });

    it('round-trips UINT64 values beyond 2^53 exactly, raw and typed', async () => {
      const values = [2n ** 64n - 1n, 2n ** 53n + 1n, 0n, 9_007_199_254_740_993n];
      const raw = new Uint8Array(BigUint64Array.from(values).buffer);
      const read = (bytes: Uint8Array): bigint[] => Array.from(new BigUint64Array(new Uint8Array(bytes).buffer));
      const fromRaw = await infer(client, { modelName: 'id_uint64', inputs: [input('x', 'UINT64', [4])], rawInputContents: [raw] });
      expect(read(fromRaw.rawOutputContents[0]!)).to.deep.equal(values);
      const fromTyped = await infer(client, { modelName: 'id_uint64', inputs: [input('x', 'UINT64', [4], { uint64Contents: values })] });
      expect(read(fromTyped.rawOutputContents[0]!)).to.deep.equal(values);
    });

    it('takes BOOL as bool_contents and answers one byte (0 or 1) per element', async () => {
      const r = await infer(client, { modelName: 'id_bool', inputs: [input('x', 'BOOL', [3], { boolContents: [true, false, true] })] });
      expect(Array.from(new Uint8Array(r.rawOutputContents[0]!))).to.deep.equal([1, 0, 1]);
    });

    it('takes FP64 as fp64_contents and answers the exact doubles', async () => {
      const values = [Math.PI, -1e-300, 2 ** 60 + 2 ** 8];
      const r = await infer(client, { modelName: 'id_fp64', inputs: [input('x', 'FP64', [3], { fp64Contents: values })] });
      expect(Array.from(new Float64Array(new Uint8Array(r.rawOutputContents[0]!).buffer))).to.deep.equal(values);
    });

    it('narrows int_contents to INT8 and refuses a value out of its range', async () => {
      const r = await infer(client, { modelName: 'id_int8', inputs: [input('x', 'INT8', [3], { intContents: [-128, 0, 127] })] });
      expect(Array.from(new Int8Array(new Uint8Array(r.rawOutputContents[0]!).buffer))).to.deep.equal([-128, 0, 127]);
      const err = await rejection(infer(client, { modelName: 'id_int8', inputs: [input('x', 'INT8', [2], { intContents: [5, 128] })] }));
      expect(err.code).to.equal(status.INVALID_ARGUMENT);
      expect(err.details).to.equal('input "x": element 1 is 128, out of range for INT8 [-128, 127]');
    });

    it('accepts a priority parameter sent as uint64, as tritonclient sends it', async () => {
      const a = range(16, (i) => i);
      const r = await infer(client, simpleRequest('prio', a, a, { parameters: { priority: { uint64Param: 1n } } }));
      expectSimpleAnswer(r, 'prio', a, a);
    });

    it('answers a request whose timeout parameter (60 s) does not expire', async () => {
      const a = range(16, (i) => 3 * i);
      const r = await infer(client, simpleRequest('patient', a, a, { parameters: { timeout: { int64Param: 60_000_000n } } }));
      expectSimpleAnswer(r, 'patient', a, a);
    });
  });

  describe('ModelInfer refuses bad requests with the exact status and a message naming what was wrong', () => {
    const a = range(16, (i) => i);
    const cases: { name: string; request: () => Partial<ModelInferRequest>; code: status; details: string }[] = [
      {
        name: 'typed contents together with raw_input_contents',
        request: () => {
          const r = simpleRequest('both', a, a);
          return { ...r, inputs: [input('INPUT0', 'INT32', [1, 16], { intContents: a }), r.inputs![1]!] };
        },
        code: status.INVALID_ARGUMENT,
        details: "contents field must not be specified when using raw_input_contents for 'INPUT0' for model 'simple'",
      },
      {
        name: 'typed contents beside raw_input_contents, in Triton\'s words before any other check of the tensor (shared memory, datatype, shape) or of the request (parameters, raw entry count)',
        request: () => {
          const r = simpleRequest('both-first', a, a, { parameters: { timeout: { stringParam: '1s' } } });
          const bad = InputTensor.fromPartial({ name: 'INPUT1', datatype: 'FP32', shape: [2n, 8n], contents: InferTensorContents.fromPartial({ intContents: a }), parameters: { shared_memory_region: { stringParam: 'r0' } } });
          return { ...r, inputs: [r.inputs![0]!, bad], rawInputContents: [r.rawInputContents![0]!] };
        },
        code: status.INVALID_ARGUMENT,
        details: "contents field must not be specified when using raw_input_contents for 'INPUT1' for model 'simple'",
      },
      {
        name: 'a datatype other than the declared one',
        request: () => ({ ...simpleRequest('dt', a, a), inputs: [input('INPUT0', 'FP32', [1, 16]), input('INPUT1', 'INT32', [1, 16])] }),
        code: status.INVALID_ARGUMENT,
        details: 'input "INPUT0": expected datatype INT32, got FP32',
      },
      {
        name: 'a datatype string the protocol does not define (they are upper case)',
        request: () => ({ ...simpleRequest('dt', a, a), inputs: [input('INPUT0', 'INT32', [1, 16]), input('INPUT1', 'int32', [1, 16])] }),
        code: status.INVALID_ARGUMENT,
        details: 'input "INPUT1": unknown datatype "int32"; the model takes INT32',
      },
      {
        name: 'no datatype',
        request: () => ({ ...simpleRequest('dt', a, a), inputs: [input('INPUT0', '', [1, 16]), input('INPUT1', 'INT32', [1, 16])] }),
        code: status.INVALID_ARGUMENT,
        details: 'input "INPUT0": datatype is missing; the model takes INT32',
      },
      {
        name: 'raw contents whose byte length does not match the shape',
        request: () => ({ ...simpleRequest('len', a, a), rawInputContents: [int32Bytes(a), int32Bytes(a).subarray(0, 60)] }),
        code: status.INVALID_ARGUMENT,
        details: 'input "INPUT1": shape [1,16] of INT32 needs 64 bytes in raw_input_contents, got 60',
      },
      {
        name: 'fewer raw_input_contents than inputs',
        request: () => ({ ...simpleRequest('count', a, a), rawInputContents: [int32Bytes(a)] }),
        code: status.INVALID_ARGUMENT,
        details: 'raw_input_contents has 1 entries for 2 inputs: send one per input, in the order of inputs',
      },
      {
        name: 'typed contents with fewer elements than the shape needs',
        request: () => simpleRequest('few', a, a.slice(0, 15).concat([]), { raw: false }),
        code: status.INVALID_ARGUMENT,
        details: 'input "INPUT1": shape [1,16] needs 16 elements, int_contents has 15',
      },
      {
        name: 'a contents field that does not belong to the datatype',
        request: () => ({ ...simpleRequest('field', a, a, { raw: false }), inputs: [input('INPUT0', 'INT32', [1, 16], { fp32Contents: a }), input('INPUT1', 'INT32', [1, 16], { intContents: a })] }),
        code: status.INVALID_ARGUMENT,
        details: 'input "INPUT0": INT32 values go in int_contents, got fp32_contents',
      },
      {
        name: 'no elements at all',
        request: () => ({ ...simpleRequest('none', a, a, { raw: false }), inputs: [input('INPUT0', 'INT32', [1, 16]), input('INPUT1', 'INT32', [1, 16], { intContents: a })] }),
        code: status.INVALID_ARGUMENT,
        details: 'input "INPUT0": shape [1,16] needs 16 INT32 elements, got none',
      },
      {
        name: 'a shape the model cannot take',
        request: () => ({ ...simpleRequest('shape', a, a), inputs: [input('INPUT0', 'INT32', [2, 8]), input('INPUT1', 'INT32', [1, 16])] }),
        code: status.INVALID_ARGUMENT,
        details: 'input "INPUT0": expected shape [-1,16], got [2,8]',
      },
      {
        name: 'an unknown model',
        request: () => ({ ...simpleRequest('model', a, a), modelName: 'no_such_model' }),
        code: status.NOT_FOUND,
        details: "Request for unknown model: 'no_such_model' is not found",
      },
      {
        name: 'an unknown version',
        request: () => ({ ...simpleRequest('version', a, a), modelVersion: '7' }),
        code: status.NOT_FOUND,
        details: "Request for unknown model: 'simple' version 7 is not found",
      },
      {
        name: 'an unknown input',
        request: () => {
          const r = simpleRequest('in', a, a);
          return { ...r, inputs: [...r.inputs!, input('INPUT2', 'INT32', [1, 16])], rawInputContents: [...r.rawInputContents!, int32Bytes(a)] };
        },
        code: status.INVALID_ARGUMENT,
        details: 'unknown input "INPUT2": model "simple" version 1 takes "INPUT0", "INPUT1"',
      },
      {
        name: 'a missing input',
        request: () => {
          const r = simpleRequest('missing', a, a);
          return { ...r, inputs: [r.inputs![0]!], rawInputContents: [r.rawInputContents![0]!] };
        },
        code: status.INVALID_ARGUMENT,
        details: 'missing input "INPUT1": model "simple" version 1 takes "INPUT0", "INPUT1"',
      },
      {
        name: 'an input named twice',
        request: () => {
          const r = simpleRequest('twice', a, a);
          return { ...r, inputs: [r.inputs![0]!, r.inputs![0]!], rawInputContents: r.rawInputContents! };
        },
        code: status.INVALID_ARGUMENT,
        details: 'input "INPUT0" appears more than once',
      },
      {
        name: 'an unknown output',
        request: () => simpleRequest('out', a, a, { outputs: ['OUTPUT0', 'OUTPUT9'] }),
        code: status.INVALID_ARGUMENT,
        details: 'unknown output "OUTPUT9": model "simple" version 1 has "OUTPUT0", "OUTPUT1"',
      },
      {
        name: 'FP16 values in a typed field (FP16 travels raw only)',
        request: () => ({ modelName: 'id_fp16', inputs: [input('x', 'FP16', [2], { fp32Contents: [1, 2] })] }),
        code: status.INVALID_ARGUMENT,
        details: 'input "x": FP16 values can only be sent in raw_input_contents, got fp32_contents',
      },
      {
        name: 'raw BYTES that end inside a length prefix',
        request: () => ({ modelName: 'id_bytes', inputs: [input('x', 'BYTES', [2])], rawInputContents: [Buffer.concat([lengthPrefixed(['ab']), Buffer.of(1, 0)])] }),
        code: status.INVALID_ARGUMENT,
        details: 'input "x": raw_input_contents ends inside the 4-byte length of element 1 (2 bytes left)',
      },
      {
        name: 'raw BYTES whose length runs past the end',
        request: () => ({ modelName: 'id_bytes', inputs: [input('x', 'BYTES', [1])], rawInputContents: [lengthPrefixed(['abcdef']).subarray(0, 7)] }),
        code: status.INVALID_ARGUMENT,
        details: 'input "x": element 0 has length 6, but raw_input_contents has 3 bytes left',
      },
      {
        name: 'raw BYTES with more elements than the shape',
        request: () => ({ modelName: 'id_bytes', inputs: [input('x', 'BYTES', [2])], rawInputContents: [lengthPrefixed(['a', 'b', 'c'])] }),
        code: status.INVALID_ARGUMENT,
        details: 'input "x": shape [2] needs 2 BYTES elements, raw_input_contents holds more (5 bytes left after element 1)',
      },
      {
        name: 'raw BYTES with fewer elements than the shape',
        request: () => ({ modelName: 'id_bytes', inputs: [input('x', 'BYTES', [3])], rawInputContents: [lengthPrefixed(['a', 'b'])] }),
        code: status.INVALID_ARGUMENT,
        details: 'input "x": shape [3] needs 3 BYTES elements, raw_input_contents holds 2',
      },
      {
        name: 'a BYTES element with a NUL byte (ONNX Runtime would cut it short)',
        request: () => ({ modelName: 'id_bytes', inputs: [input('x', 'BYTES', [2])], rawInputContents: [lengthPrefixed(['ok', 'he\u0000llo'])] }),
        code: status.INVALID_ARGUMENT,
        details: 'input "x": element 1 contains a NUL byte, which ONNX Runtime cannot carry in a BYTES tensor',
      },
      {
        name: 'a BYTES element that is not UTF-8',
        request: () => ({ modelName: 'id_bytes', inputs: [input('x', 'BYTES', [1], { bytesContents: [Uint8Array.of(0xff, 0xfe)] })] }),
        code: status.INVALID_ARGUMENT,
        details: 'input "x": element 0 is not valid UTF-8, which ONNX Runtime needs in a BYTES tensor',
      },
      {
        name: 'a timeout parameter that is not a whole number',
        request: () => simpleRequest('timeout', a, a, { parameters: { timeout: { stringParam: '1s' } } }),
        code: status.INVALID_ARGUMENT,
        details: 'parameter "timeout" must be an int64_param or uint64_param (microseconds)',
      },
      {
        name: 'an input in shared memory',
        request: () => {
          const r = simpleRequest('shm', a, a);
          const shm = InputTensor.fromPartial({ name: 'INPUT0', datatype: 'INT32', shape: [1n, 16n], parameters: { shared_memory_region: { stringParam: 'r0' } } });
          return { ...r, inputs: [shm, r.inputs![1]!], rawInputContents: [r.rawInputContents![1]!] };
        },
        code: status.INVALID_ARGUMENT,
        details: 'input "INPUT0": shared memory is not supported (parameter "shared_memory_region"); send the elements in the request',
      },
    ];

    for (const c of cases) {
      it(`${c.name}`, async () => {
        const err = await rejection(infer(client, c.request()));
        expect(err.code).to.equal(c.code);
        expect(err.details).to.equal(c.details);
      });
    }
  });

  describe('ModelStreamInfer', () => {
    it('answers every request under its id, carries a bad one\'s error in error_message, and goes on to OK', async () => {
      const total = 20;
      const operands = (i: number) => ({ a: range(16, (k) => i * 100 + k), b: range(16, (k) => k - i) });
      const requests = range(total, (i) => {
        const { a, b } = operands(i);
        if (i === 7) return { ...simpleRequest(`req-${i}`, a, b), modelName: 'no_such_model' };
        if (i === 13) return { ...simpleRequest(`req-${i}`, a, b), rawInputContents: [int32Bytes(a), int32Bytes(b).subarray(4)] };
        return simpleRequest(`req-${i}`, a, b, { raw: i % 2 === 0 });
      });
      const { responses, end } = await streamAll(client, requests);

      expect(end.code).to.equal(status.OK);
      expect(responses).to.have.length(total);
      const byId = new Map(responses.map((r) => [r.inferResponse!.id, r]));
      expect([...byId.keys()].sort()).to.deep.equal(range(total, (i) => `req-${i}`).sort());
      expect(byId.get('req-7')!.errorMessage).to.equal("Request for unknown model: 'no_such_model' is not found");
      expect(byId.get('req-13')!.errorMessage).to.equal('input "INPUT1": shape [1,16] of INT32 needs 64 bytes in raw_input_contents, got 60');
      for (const bad of ['req-7', 'req-13']) {
        expect(byId.get(bad)!.inferResponse).to.deep.equal({ modelName: '', modelVersion: '', id: bad, parameters: {}, outputs: [], rawOutputContents: [] });
      }
      for (let i = 0; i < total; i++) {
        if (i === 7 || i === 13) continue;
        const { a, b } = operands(i);
        expect(byId.get(`req-${i}`)!.errorMessage, `error of req-${i}`).to.equal('');
        expectSimpleAnswer(byId.get(`req-${i}`)!.inferResponse!, `req-${i}`, a, b);
      }
    });
  });

  describe('ModelStatistics', () => {
    const stats = (name: string, version = ''): Promise<ModelStatistics[]> => unary<ModelStatisticsResponse>((cb) => client.modelStatistics({ name, version }, cb)).then((r) => r.modelStats);

    it('counts exactly the requests that ran: 3 unary and 2 streamed successes, none for a refused input', async () => {
      const [before] = await stats('counted');
      expect(before).to.deep.include({ name: 'counted', version: '1', lastInference: 0n, inferenceCount: 0n, executionCount: 0n });
      expect(before!.inferenceStats).to.deep.equal({
        success: { count: 0n, ns: 0n },
        fail: { count: 0n, ns: 0n },
        queue: { count: 0n, ns: 0n },
        computeInput: undefined,
        computeInfer: { count: 0n, ns: 0n },
        computeOutput: undefined,
        cacheHit: undefined,
        cacheMiss: undefined,
      });

      const startedMs = Date.now();
      const a = range(16, (i) => i);
      const counted = (r: Partial<ModelInferRequest>) => ({ ...r, modelName: 'counted' });
      for (let i = 0; i < 3; i++) await infer(client, counted(simpleRequest(`u-${i}`, a, a)));
      const refused = await rejection(infer(client, counted({ ...simpleRequest('bad', a, a), rawInputContents: [int32Bytes(a)] })));
      expect(refused.code).to.equal(status.INVALID_ARGUMENT);
      const { responses } = await streamAll(client, [counted(simpleRequest('s-0', a, a)), counted(simpleRequest('s-1', a, a))]);
      expect(responses.map((r) => r.errorMessage)).to.deep.equal(['', '']);
      const doneMs = Date.now();

      const all = await stats('counted');
      expect(all).to.have.length(1);
      const s = all[0]!;
      expect(s).to.deep.include({ name: 'counted', version: '1', inferenceCount: 5n, executionCount: 5n });
      expect(Number(s.lastInference)).to.be.within(startedMs, doneMs);
      const i = s.inferenceStats!;
      expect([i.success!.count, i.fail!.count, i.queue!.count, i.computeInfer!.count]).to.deep.equal([5n, 0n, 5n, 5n]);
      expect(i.computeInfer!.ns > 0n, 'compute ns').to.equal(true);
      expect(i.success!.ns).to.equal(i.queue!.ns + i.computeInfer!.ns);
    });

    it('gives exactly one entry per model when no name is given, and one for a named version', async () => {
      const all = await stats('');
      expect(all.map((s) => `${s.name}/${s.version}`)).to.deep.equal(['counted/1', 'id_bool/1', 'id_bytes/1', 'id_fp16/1', 'id_fp64/1', 'id_int8/1', 'id_uint64/1', 'simple/1']);
      expect((await stats('simple', '1')).map((s) => `${s.name}/${s.version}`)).to.deep.equal(['simple/1']);
    });

    it("fails NOT_FOUND with Triton's message for an unknown model", async () => {
      const err = await rejection(stats('wrong_model_name'));
      expect(err.code).to.equal(status.NOT_FOUND);
      expect(err.details).to.equal("Request for unknown model: 'wrong_model_name' is not found");
    });
  });

  describe('RPCs inferd does not implement', () => {
    const calls: [string, (cb: Callback<unknown>) => unknown, string][] = [
      ['SystemSharedMemoryStatus', (cb) => client.systemSharedMemoryStatus({ name: '' }, cb), 'system shared memory is not supported by inferd'],
      ['SystemSharedMemoryRegister', (cb) => client.systemSharedMemoryRegister({ name: 'r', key: '/k', offset: 0n, byteSize: 64n }, cb), 'system shared memory is not supported by inferd'],
      ['SystemSharedMemoryUnregister', (cb) => client.systemSharedMemoryUnregister({ name: 'r' }, cb), 'system shared memory is not supported by inferd'],
      ['CudaSharedMemoryStatus', (cb) => client.cudaSharedMemoryStatus({ name: '' }, cb), 'CUDA shared memory is not supported by inferd'],
      ['CudaSharedMemoryRegister', (cb) => client.cudaSharedMemoryRegister({ name: 'r', rawHandle: new Uint8Array(0), deviceId: 0n, byteSize: 64n }, cb), 'CUDA shared memory is not supported by inferd'],
      ['CudaSharedMemoryUnregister', (cb) => client.cudaSharedMemoryUnregister({ name: 'r' }, cb), 'CUDA shared memory is not supported by inferd'],
      ['TraceSetting', (cb) => client.traceSetting({ settings: {}, modelName: '' }, cb), 'TraceSetting is not supported by inferd'],
      ['LogSettings', (cb) => client.logSettings({ settings: {} }, cb), 'LogSettings is not supported by inferd'],
    ];
    for (const [name, call, details] of calls) {
      it(`${name} answers UNIMPLEMENTED`, async () => {
        const err = await rejection(unary(call));
        expect(err.code).to.equal(status.UNIMPLEMENTED);
        expect(err.details).to.equal(details);
      });
    }
  });

  describe('through buf curl, with no proto files (server reflection)', () => {
    it("calls ModelInfer with Triton's example JSON and prints the exact raw outputs", async () => {
      const request = {
        model_name: 'simple',
        inputs: [
          { name: 'INPUT0', datatype: 'INT32', shape: [1, 16] },
          { name: 'INPUT1', datatype: 'INT32', shape: [1, 16] },
        ],
        raw_input_contents: [TRITON_INPUT0_BASE64, TRITON_INPUT1_BASE64],
      };
      const { stdout, stderr, code } = await new Promise<{ stdout: string; stderr: string; code: number }>((resolve) => {
        const child = execFile(
          BUF,
          ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', `http://${t.address}/inference.GRPCInferenceService/ModelInfer`, '-d', '@-'],
          { timeout: 20_000 },
          (err, out, errOut) => resolve({ stdout: out, stderr: errOut, code: err === null ? 0 : Number(err.code ?? 1) }),
        );
        child.stdin!.end(JSON.stringify(request));
      });
      expect(code, stderr).to.equal(0);
      const out = (name: string) => ({ name, datatype: 'INT32', shape: ['1', '16'] });
      expect(JSON.parse(stdout)).to.deep.equal({
        modelName: 'simple',
        modelVersion: '1',
        outputs: [out('OUTPUT0'), out('OUTPUT1')],
        rawOutputContents: [base64(int32Bytes(range(16, (i) => i + 1))), base64(int32Bytes(range(16, (i) => i - 1)))],
      });
    });
  });
});

describe('inference.GRPCInferenceService with a repository of several versions and a broken model', function () {
  this.timeout(60_000);
  let repo: string;
  let t: TestServer;
  let client: GRPCInferenceServiceClient;

  before(async () => {
    repo = writeRepository({
      simple: simpleModel(),
      versioned: { '1': simpleModel(), '2': simpleModel() },
      broken: new TextEncoder().encode('this is not an onnx model'),
    });
    t = await startServer(repo);
    client = new GRPCInferenceServiceClient(t.address, credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    await t?.close();
    removeFolder(repo);
  });

  /** Why version 1 of `versioned` is not served, as inferd.v1.ModelService/ListModels says. */
  async function versionOneReason(): Promise<string> {
    const list = await unary<ListModelsResponse>((cb) => t.models.listModels({}, cb));
    const reason = list.models.find((m) => m.name === 'versioned')!.versions.find((v) => v.version === '1')!.reason;
    expect(reason).to.not.equal('');
    return reason;
  }

  it('RepositoryIndex lists every model version with its state and reason', async () => {
    const { models } = await unary<RepositoryIndexResponse>((cb) => client.repositoryIndex({ repositoryName: '', ready: false }, cb));
    expect(models.map((m) => [m.name, m.version, m.state])).to.deep.equal([
      ['broken', '1', 'UNAVAILABLE'],
      ['simple', '1', 'READY'],
      ['versioned', '2', 'READY'],
      ['versioned', '1', 'UNAVAILABLE'],
    ]);
    expect(models[0]!.reason).to.match(/^cannot load .*model\.onnx: /);
    expect(models[1]!.reason).to.equal('');
    // The reason the repository gives, as inferd.v1's ListModels reports it too.
    expect(models[3]!.reason).to.equal(await versionOneReason());
  });

  it('RepositoryIndex with ready set lists only the ready versions', async () => {
    const { models } = await unary<RepositoryIndexResponse>((cb) => client.repositoryIndex({ repositoryName: '', ready: true }, cb));
    expect(models).to.deep.equal([
      { name: 'simple', version: '1', state: 'READY', reason: '' },
      { name: 'versioned', version: '2', state: 'READY', reason: '' },
    ]);
  });

  it('ServerReady answers false while a model has no ready version (Triton\'s strict readiness)', async () => {
    expect(await unary((cb) => client.serverReady({}, cb))).to.deep.equal({ ready: false });
  });

  it('ModelReady tells the served version from the one only on disk', async () => {
    expect(await unary((cb) => client.modelReady({ name: 'versioned', version: '2' }, cb))).to.deep.equal({ ready: true });
    expect(await unary((cb) => client.modelReady({ name: 'versioned', version: '1' }, cb))).to.deep.equal({ ready: false });
    expect(await unary((cb) => client.modelReady({ name: 'broken', version: '' }, cb))).to.deep.equal({ ready: false });
  });

  it('ModelMetadata of a model that failed to load fails UNAVAILABLE with the reason', async () => {
    const err = await rejection(unary((cb) => client.modelMetadata({ name: 'broken', version: '' }, cb)));
    expect(err.code).to.equal(status.UNAVAILABLE);
    expect(err.details).to.match(/^model "broken" has no ready version: version 1 is FAILED: cannot load /);
  });

  it('ModelStatistics gives one entry for the one served version', async () => {
    const { modelStats } = await unary<ModelStatisticsResponse>((cb) => client.modelStatistics({ name: 'versioned', version: '' }, cb));
    expect(modelStats.map((s) => `${s.name}/${s.version}`)).to.deep.equal(['versioned/2']);
  });

  it('ModelStatistics of a version only on disk fails UNAVAILABLE', async () => {
    const err = await rejection(unary((cb) => client.modelStatistics({ name: 'versioned', version: '1' }, cb)));
    expect(err.code).to.equal(status.UNAVAILABLE);
    expect(err.details).to.equal(`model "versioned" version 1 is UNAVAILABLE: ${await versionOneReason()}`);
  });
});

describe('inference.GRPCInferenceService repository control', function () {
  this.timeout(60_000);
  let repo: string;
  let t: TestServer;
  let client: GRPCInferenceServiceClient;
  const a = range(16, (i) => 10 * i - 77);
  const b = range(16, (i) => 1_000 - i);

  before(async () => {
    repo = writeRepository({ simple: simpleModel() });
    t = await startServer(repo);
    client = new GRPCInferenceServiceClient(t.address, credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    await t?.close();
    removeFolder(repo);
  });

  const ready = async (): Promise<boolean> => (await unary<{ ready: boolean }>((cb) => client.modelReady({ name: 'simple', version: '' }, cb))).ready;

  it('RepositoryModelUnload takes a model out of service; RepositoryModelLoad brings it back', async () => {
    expect(await unary((cb) => client.repositoryModelUnload({ repositoryName: '', modelName: 'simple', parameters: { unload_dependents: { boolParam: true } } }, cb))).to.deep.equal({});
    expect(await ready()).to.equal(false);
    const { models } = await unary<RepositoryIndexResponse>((cb) => client.repositoryIndex({ repositoryName: '', ready: false }, cb));
    expect(models.map((m) => [m.name, m.version, m.state])).to.deep.equal([['simple', '1', 'UNAVAILABLE']]);
    const refused = await rejection(infer(client, simpleRequest('while-unloaded', a, b)));
    expect(refused.code).to.equal(status.UNAVAILABLE);
    expect(refused.details).to.equal(`model "simple" has no ready version: version 1 is UNAVAILABLE: ${models[0]!.reason}`);

    expect(await unary((cb) => client.repositoryModelLoad({ repositoryName: '', modelName: 'simple', parameters: {} }, cb))).to.deep.equal({});
    expect(await ready()).to.equal(true);
    expectSimpleAnswer(await infer(client, simpleRequest('reloaded', a, b)), 'reloaded', a, b);
  });

  it('RepositoryModelLoad of a model not in the repository fails NOT_FOUND with "failed to load"', async () => {
    const err = await rejection(unary((cb) => client.repositoryModelLoad({ repositoryName: '', modelName: 'wrong_model_name', parameters: {} }, cb)));
    expect(err.code).to.equal(status.NOT_FOUND);
    expect(err.details).to.match(/^failed to load 'wrong_model_name': /);
  });

  it("RepositoryModelUnload of an unknown model fails NOT_FOUND with Triton's message", async () => {
    const err = await rejection(unary((cb) => client.repositoryModelUnload({ repositoryName: '', modelName: 'wrong_model_name', parameters: {} }, cb)));
    expect(err.code).to.equal(status.NOT_FOUND);
    expect(err.details).to.equal("Request for unknown model: 'wrong_model_name' is not found");
  });

  it('RepositoryModelLoad refuses a config or file parameter: models come from the repository folder', async () => {
    const err = await rejection(unary((cb) => client.repositoryModelLoad({ repositoryName: '', modelName: 'simple', parameters: { config: { stringParam: '{"max_batch_size": 16}' } } }, cb)));
    expect(err.code).to.equal(status.INVALID_ARGUMENT);
    expect(err.details).to.equal('parameter "config" is not supported: inferd loads models and their config files from the repository folder');
    expect(await ready()).to.equal(true);
  });
});

describe('inference.GRPCInferenceService with a slow model', function () {
  this.timeout(120_000);
  let repo: string;
  let t: TestServer;
  let client: GRPCInferenceServiceClient;
  /** A run of at least a second on this machine, as loaded when the tests start. */
  let slow: SlowRun;

  /** x = 1 gives y = side exactly (see slowModel). */
  const slowRequest = (id: string, side = slow.side, parameters: Record<string, InferParameter> = {}): Partial<ModelInferRequest> => ({
    modelName: 'slow',
    id,
    parameters,
    inputs: [input('x', 'FP32', [1, 1], { fp32Contents: [1] }), input('side', 'INT64', [1, 1], { int64Contents: [BigInt(side)] })],
  });
  const y = (r: ModelInferResponse): number[] => Array.from(new Float32Array(new Uint8Array(r.rawOutputContents[0]!).buffer));

  before(async () => {
    repo = writeRepository({ slow: slowModel(), simple: simpleModel() });
    t = await startServer(repo);
    client = new GRPCInferenceServiceClient(t.address, credentials.createInsecure());
    slow = await calibrateSlowRun((side) => infer(client, slowRequest('calibrate', side)), 1_000);
  });

  after(async () => {
    client?.close();
    await t?.close();
    removeFolder(repo);
  });

  it('drops a request whose timeout parameter expires while it waits in the queue, with DEADLINE_EXCEEDED, without running it', async () => {
    // 50 ms, against a run of a second or more measured on this machine just before.
    const timeoutUs = 50_000n;
    const statsBefore = (await unary<ModelStatisticsResponse>((cb) => client.modelStatistics({ name: 'slow', version: '' }, cb))).modelStats[0]!;

    // One channel: the first request reaches the server first and takes the single instance.
    let runningAnswered = false;
    const running = infer(client, slowRequest('running')).finally(() => (runningAnswered = true));
    const timedOut = infer(client, slowRequest('queued', slow.side, { timeout: { int64Param: timeoutUs } }));
    const err = await rejection(timedOut);
    expect(runningAnswered, 'the run it waited behind still going').to.equal(false);
    expect(err.code).to.equal(status.DEADLINE_EXCEEDED);
    expect(err.details).to.equal('Request timeout expired: the timeout parameter (50000 µs) passed while the request waited in the queue of model "slow" version 1');
    expect(y(await running)).to.deep.equal([slow.side]);

    const after = (await unary<ModelStatisticsResponse>((cb) => client.modelStatistics({ name: 'slow', version: '' }, cb))).modelStats[0]!;
    expect(after.executionCount - statsBefore.executionCount, 'runs').to.equal(1n);
    expect(after.inferenceStats!.success!.count - statsBefore.inferenceStats!.success!.count, 'successes').to.equal(1n);
    expect(after.inferenceStats!.fail!.count - statsBefore.inferenceStats!.fail!.count, 'failures').to.equal(1n);
  });

  it('reads a stream no further while maxStreamInFlight (2) requests are in flight: fast requests behind 2 slow ones are answered after the first slow one', async () => {
    const own = await startServer(repo, { maxStreamInFlight: 2 });
    const ownClient = new GRPCInferenceServiceClient(own.address, credentials.createInsecure());
    try {
      const fast = 10;
      const operands = range(fast, (i) => range(16, (k) => i * 16 + k));
      const { responses, end } = await streamAll(ownClient, [
        slowRequest('slow-0'),
        slowRequest('slow-1'),
        ...range(fast, (i) => simpleRequest(`fast-${i}`, operands[i]!, operands[i]!)),
      ]);
      expect(end.code).to.equal(status.OK);
      expect(responses.map((r) => r.errorMessage)).to.deep.equal(range(fast + 2, () => ''));
      // Read at once, the fast requests would be answered first (they do not wait for the slow model's instance).
      expect(responses[0]!.inferResponse!.id, 'the first response').to.equal('slow-0');
      const byId = new Map(responses.map((r) => [r.inferResponse!.id, r.inferResponse!]));
      expect(y(byId.get('slow-0')!)).to.deep.equal([slow.side]);
      expect(y(byId.get('slow-1')!)).to.deep.equal([slow.side]);
      for (let i = 0; i < fast; i++) expectSimpleAnswer(byId.get(`fast-${i}`)!, `fast-${i}`, operands[i]!, operands[i]!);
    } finally {
      ownClient.close();
      await own.close();
    }
  });

  it('on a graceful stop, answers what a stream has in flight, then ends it with UNAVAILABLE', async () => {
    const own = await startServer(repo);
    const ownClient = new GRPCInferenceServiceClient(own.address, credentials.createInsecure());
    try {
      const call = ownClient.modelStreamInfer();
      const responses: ModelStreamInferResponse[] = [];
      let probeAnswered!: () => void;
      const probed = new Promise<void>((resolve) => (probeAnswered = resolve));
      call.on('data', (r: ModelStreamInferResponse) => {
        responses.push(r);
        if (r.inferResponse!.id === 'probe') probeAnswered();
      });
      call.on('error', () => undefined);
      const ended = new Promise<StatusObject>((resolve) => call.on('status', resolve));
      call.write(ModelInferRequest.fromPartial(slowRequest('in-flight')));
      // The server reads a stream in order: once the probe is answered, the slow request is in flight.
      const a = range(16, (i) => i);
      call.write(ModelInferRequest.fromPartial(simpleRequest('probe', a, a)));
      await probed;
      const closing = own.server.close();
      const end = await ended;
      await closing;
      expect(responses.map((r) => [r.inferResponse!.id, r.errorMessage])).to.deep.equal([['probe', ''], ['in-flight', '']]);
      expectSimpleAnswer(responses[0]!.inferResponse!, 'probe', a, a);
      expect(y(responses[1]!.inferResponse!)).to.deep.equal([slow.side]);
      expect(end.code).to.equal(status.UNAVAILABLE);
    } finally {
      ownClient.close();
      await own.close();
    }
  });
});
