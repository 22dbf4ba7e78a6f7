import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { HealthCheckResponse_ServingStatus as Serving } from '../../../generated/grpc/health/v1/health';
import {
  GRPCInferenceServiceClient,
  InferTensorContents,
  ModelInferRequest,
  ModelStreamInferResponse,
  type ModelInferRequest_InferInputTensor,
} from '../../../generated/inference/grpc_service';
import { JobServiceClient } from '../../../generated/inferd/v1/job_service';
import { PredictRequest, PredictStreamResponse } from '../../../generated/inferd/v1/prediction_service';
import { identityModel } from '../../../src/example-models/example-models';
import { ALL_METHODS, rawCall } from '../../support/raw-call';
import { children, serve, type ServeProcess } from '../../support/serve-process';
import {
  predict,
  rejection,
  removeFolder,
  startServer,
  tensor,
  writeRepository,
  type TestServer,
} from '../../support/test-server';
import { emptyStringsRequest, int32ZerosRequest } from '../../support/wire-requests';

const identity = (b: Buffer): Buffer => b;

/** Calls a unary method with request bytes as they are; settles with its status and response bytes. */
function unaryBytes(
  address: string,
  path: string,
  body: Buffer,
): Promise<{ code: status; details: string; response?: Buffer }> {
  const client = new Client(address, credentials.createInsecure(), {
    'grpc.max_receive_message_length': -1,
    'grpc.max_send_message_length': -1,
  });
  return new Promise<{ code: status; details: string; response?: Buffer }>((resolve) => {
    client.makeUnaryRequest(path, identity, identity, body, (err: ServiceError | null, response?: Buffer) =>
      resolve(err ? { code: err.code, details: err.details } : { code: status.OK, details: '', response }),
    );
  }).finally(() => client.close());
}

/** Writes request bytes on one bidirectional stream, half-closes, and settles with every answer and the final status. */
function streamBytes(address: string, path: string, bodies: Buffer[]): Promise<{ answers: Buffer[]; code: status }> {
  const client = new Client(address, credentials.createInsecure());
  const call = client.makeBidiStreamRequest(path, identity, identity, new Metadata());
  const answers: Buffer[] = [];
  call.on('data', (b: Buffer) => answers.push(b));
  call.on('error', () => undefined); // the status says how it ended
  const ended = new Promise<{ answers: Buffer[]; code: status }>((resolve) =>
    call.on('status', (s: { code: status }) => resolve({ answers, code: s.code })),
  );
  for (const body of bodies) call.write(body);
  call.end();
  return ended.finally(() => client.close());
}

const encode = (request: Partial<PredictRequest>): Buffer =>
  Buffer.from(PredictRequest.encode(PredictRequest.fromPartial(request)).finish());
const strings = (n: number): Uint8Array[] => Array.from({ length: n }, (_, i) => Buffer.from(`s${i}`));

/** Bytes no message decodes: field 1 with wire type 7, which protobuf does not have. */
const GARBAGE = Buffer.from([0x0f]);

describe('request limits: what one request may cost to decode', () => {
  let repo: string;
  let s: TestServer;

  before(async () => {
    repo = writeRepository({ strings: identityModel('STRING'), ints: identityModel('INT32') });
    s = await startServer(repo, { maxRequestElements: 100, maxRequestStrings: 10 });
  });

  after(async () => {
    await s?.close();
    removeFolder(repo);
  });

  it('refuses a Predict with more STRING elements than --max-request-strings with RESOURCE_EXHAUSTED naming the limit, and serves one at the limit', async () => {
    const over = await rejection(
      predict(s.prediction, { modelName: 'strings', inputs: { x: tensor({ shape: [11n], stringData: strings(11) }) } }),
    );
    expect(over.code).to.equal(status.RESOURCE_EXHAUSTED);
    expect(over.details).to.equal(
      'the request carries more than 10 STRING elements, the limit per request (--max-request-strings): string_data of input "x" holds at least 11',
    );
    const at = await predict(s.prediction, {
      modelName: 'strings',
      inputs: { x: tensor({ shape: [10n], stringData: strings(10) }) },
    });
    expect(at.outputs['y']?.stringData.map((b) => Buffer.from(b).toString())).to.deep.equal(strings(10).map(String));
  });

  it('refuses a Predict with more typed elements than --max-request-elements, and serves the same elements sent as raw_data', async () => {
    // The map entry and the one shape dimension count too: 102 in all.
    const over = await rejection(
      predict(s.prediction, {
        modelName: 'ints',
        inputs: { x: tensor({ shape: [100n], int32Data: new Array<number>(100).fill(7) }) },
      }),
    );
    expect(over.code).to.equal(status.RESOURCE_EXHAUSTED);
    expect(over.details).to.equal(
      'the request carries more than 100 elements outside raw bytes, the limit per request (--max-request-elements): int32_data of input "x" holds 100; numeric tensors sent as raw bytes are not counted',
    );
    const raw = Buffer.from(Int32Array.from({ length: 100 }, () => 7).buffer);
    const served = await predict(s.prediction, {
      modelName: 'ints',
      inputs: { x: tensor({ shape: [100n], rawData: raw }) },
    });
    expect(Buffer.from(served.outputs['y']!.rawData)).to.deep.equal(raw);
  });

  it('answers a PredictStream request over a limit, and one that cannot be decoded, with an error carrying its id, and the stream goes on', async () => {
    const { answers, code } = await streamBytes(s.address, '/inferd.v1.PredictionService/PredictStream', [
      encode({ modelName: 'strings', id: 'big', inputs: { x: tensor({ shape: [11n], stringData: strings(11) }) } }),
      GARBAGE,
      encode({ modelName: 'strings', id: 'ok', inputs: { x: tensor({ shape: [1n], stringData: strings(1) }) } }),
    ]);
    expect(code).to.equal(status.OK);
    const byId = new Map(answers.map((b) => PredictStreamResponse.decode(b)).map((r) => [r.id, r]));
    expect(byId.get('big')?.error).to.deep.equal({
      code: status.RESOURCE_EXHAUSTED,
      message:
        'the request carries more than 10 STRING elements, the limit per request (--max-request-strings): string_data of input "x" holds at least 11',
    });
    expect(byId.get('')?.error).to.deep.equal({
      code: status.INVALID_ARGUMENT,
      message:
        'the request is not a valid inferd.v1.PredictRequest: field 1 has wire type 7, which protobuf does not have',
    });
    expect(byId.get('ok')?.response?.outputs['y']?.stringData).to.deep.equal(strings(1).map((b) => new Uint8Array(b)));
    expect(answers).to.have.length(3);
  });

  it('refuses an Open Inference Protocol ModelInfer over a limit, BYTES in bytes_contents or in raw_input_contents, and answers ModelStreamInfer in the stream', async () => {
    const oip = new GRPCInferenceServiceClient(s.address, credentials.createInsecure());
    try {
      const input = (bytesContents?: Uint8Array[]): ModelInferRequest_InferInputTensor => ({
        name: 'x',
        datatype: 'BYTES',
        shape: [11n],
        parameters: {},
        contents: bytesContents && InferTensorContents.fromPartial({ bytesContents }),
      });
      const request = (
        id: string,
        x: ModelInferRequest_InferInputTensor,
        rawInputContents: Uint8Array[] = [],
      ): ModelInferRequest => ({
        modelName: 'strings',
        modelVersion: '',
        id,
        parameters: {},
        inputs: [x],
        outputs: [],
        rawInputContents,
      });
      const infer = (r: ModelInferRequest): Promise<ServiceError> =>
        new Promise((resolve, reject) =>
          oip.modelInfer(r, (err: ServiceError | null) =>
            err ? resolve(err) : reject(new Error('expected a refusal')),
          ),
        );
      const typed = await infer(request('', input(strings(11))));
      expect([typed.code, typed.details]).to.deep.equal([
        status.RESOURCE_EXHAUSTED,
        'the request carries more than 10 BYTES elements, the limit per request (--max-request-strings): bytes_contents of input "x" holds at least 11',
      ]);
      const raw = Buffer.concat(
        strings(11).flatMap((b) => [Buffer.from(Uint32Array.of(b.length).buffer), Buffer.from(b)]),
      );
      const rawOver = await infer(request('', input(), [raw]));
      expect([rawOver.code, rawOver.details]).to.deep.equal([
        status.RESOURCE_EXHAUSTED,
        'the request carries more than 10 BYTES elements, the limit per request (--max-request-strings): raw_input_contents of input "x" holds at least 11',
      ]);

      const { answers, code } = await streamBytes(s.address, '/inference.GRPCInferenceService/ModelStreamInfer', [
        Buffer.from(ModelInferRequest.encode(request('big', input(strings(11)))).finish()),
        GARBAGE,
      ]);
      expect(code).to.equal(status.OK);
      const streamed = answers
        .map((b) => ModelStreamInferResponse.decode(b))
        .map((r) => [r.inferResponse?.id, r.errorMessage]);
      expect(streamed).to.have.deep.members([
        [
          'big',
          'the request carries more than 10 BYTES elements, the limit per request (--max-request-strings): bytes_contents of input "x" holds at least 11',
        ],
        [
          '',
          'the request is not a valid inference.ModelInferRequest: field 1 has wire type 7, which protobuf does not have',
        ],
      ]);
    } finally {
      oip.close();
    }
  });

  it('refuses a SubmitPrediction over a limit before any job is made', async () => {
    const jobs = new JobServiceClient(s.address, credentials.createInsecure());
    try {
      const request = PredictRequest.fromPartial({
        modelName: 'strings',
        inputs: { x: tensor({ shape: [11n], stringData: strings(11) }) },
      });
      const err = await new Promise<ServiceError>((resolve, reject) =>
        jobs.submitPrediction({ request, callbackUrl: '' }, (e: ServiceError | null) =>
          e ? resolve(e) : reject(new Error('expected a refusal')),
        ),
      );
      expect([err.code, err.details]).to.deep.equal([
        status.RESOURCE_EXHAUSTED,
        'the request carries more than 10 STRING elements, the limit per request (--max-request-strings): string_data of input "x" holds at least 11',
      ]);
      const listed = await new Promise<number>((resolve, reject) =>
        jobs.listJobs({ states: [], pageSize: 10, pageToken: '' }, (e: ServiceError | null, r) =>
          e ? reject(e) : resolve(r.jobs.length),
        ),
      );
      expect(listed).to.equal(0);
    } finally {
      jobs.close();
    }
  });

  it('answers request bytes that cannot be decoded with INVALID_ARGUMENT, not INTERNAL, on every method', async () => {
    const answeredInStream = [
      '/inferd.v1.PredictionService/PredictStream',
      '/inference.GRPCInferenceService/ModelStreamInfer',
    ];
    for (const method of ALL_METHODS.filter((m) => !answeredInStream.includes(m.path))) {
      const r = await rawCall(s.address, method, new Metadata(), credentials.createInsecure(), GARBAGE);
      expect(r.code, method.path).to.equal(status.INVALID_ARGUMENT);
      expect(r.details, method.path).to.match(/^the request is not a valid .+: .+/);
    }
    const predictGarbage = await unaryBytes(
      s.address,
      '/inferd.v1.PredictionService/Predict',
      Buffer.from([0x1a, 0x05, 0x0a]),
    );
    expect(predictGarbage).to.deep.equal({
      code: status.INVALID_ARGUMENT,
      details:
        'the request is not a valid inferd.v1.PredictRequest: a field of 5 bytes runs past the end of its message (1 bytes left)',
    });
    const checkGarbage = await rawCall(
      s.address,
      ALL_METHODS.find((m) => m.path === '/grpc.health.v1.Health/Check')!,
      new Metadata(),
      credentials.createInsecure(),
      GARBAGE,
    );
    expect(checkGarbage).to.deep.equal({
      code: status.INVALID_ARGUMENT,
      details: 'the request is not a valid request message of /grpc.health.v1.Health/Check: cant skip wire type 7',
    });
  });
});

/** Resident and peak resident memory of a process, in bytes. */
function memory(pid: number): { rss: number; peak: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)![1]) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

describe('inferd serve, sent requests that would take gigabytes to decode (default limits)', () => {
  let repo: string;
  let server: ServeProcess;
  let address: string;

  before(async () => {
    repo = writeRepository({ strings: identityModel('STRING'), ints: identityModel('INT32') });
    server = await serve(repo);
    address = `127.0.0.1:${server.port}`;
    // A first call of each kind, so that what the baseline leaves out is only the big request.
    for (const body of [emptyStringsRequest('strings', 10), int32ZerosRequest('ints', 10)])
      expect((await unaryBytes(address, '/inferd.v1.PredictionService/Predict', body)).code).to.equal(status.OK);
  });

  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    await server?.exited;
    removeFolder(repo);
  });

  const cases = [
    {
      what: '8,000,000 empty strings (15 MiB)',
      body: () => emptyStringsRequest('strings', 8_000_000),
      details:
        'the request carries more than 262144 STRING elements, the limit per request (--max-request-strings): string_data of input "x" holds at least 262145',
    },
    {
      what: '16,000,000 int32 zeros (15 MiB)',
      body: () => int32ZerosRequest('ints', 16_000_000),
      details:
        'the request carries more than 1048576 elements outside raw bytes, the limit per request (--max-request-elements): int32_data of input "x" holds 16000000; numeric tensors sent as raw bytes are not counted',
    },
  ];
  for (const c of cases) {
    it(`refuses ${c.what} with RESOURCE_EXHAUSTED naming the limit, and its memory stays within a few times the message`, async () => {
      const body = c.body();
      const before = memory(server.child.pid!);
      for (let i = 0; i < 3; i++)
        expect(await unaryBytes(address, '/inferd.v1.PredictionService/Predict', body)).to.deep.equal({
          code: status.RESOURCE_EXHAUSTED,
          details: c.details,
        });
      // Decoding either took 0.8 to 3 GB; receiving the message takes a few copies of it.
      const grown = memory(server.child.pid!).peak - before.rss;
      expect(
        grown,
        `grew ${(grown / 2 ** 20).toFixed(0)} MiB for a ${(body.length / 2 ** 20).toFixed(0)} MiB message`,
      ).to.be.below(16 * body.length);
    });
  }

  it('answers health and ServerLive on another connection while such requests keep coming', async () => {
    const body = emptyStringsRequest('strings', 8_000_000);
    let stop = false;
    const outcomes: status[] = [];
    let firstAnswered!: () => void;
    const flowing = new Promise<void>((resolve) => (firstAnswered = resolve));
    // Two big requests in flight at all times, each sent again once answered, until the small calls are answered.
    const pump = async (): Promise<void> => {
      while (!stop) {
        outcomes.push((await unaryBytes(address, '/inferd.v1.PredictionService/Predict', body)).code);
        firstAnswered();
      }
    };
    const pumps = [pump(), pump()];
    await flowing;
    const health = new Client(address, credentials.createInsecure());
    try {
      const call = (path: string): Promise<Buffer> =>
        new Promise((resolve, reject) =>
          health.makeUnaryRequest(path, identity, identity, Buffer.alloc(0), (err: ServiceError | null, r?: Buffer) =>
            err ? reject(err) : resolve(r!),
          ),
        );
      const [check, live] = await Promise.all([
        call('/grpc.health.v1.Health/Check'),
        call('/inference.GRPCInferenceService/ServerLive'),
      ]);
      // HealthCheckResponse { status: SERVING }, ServerLiveResponse { live: true }.
      expect([...check]).to.deep.equal([0x08, Serving.SERVING]);
      expect([...live]).to.deep.equal([0x08, 1]);
    } finally {
      stop = true;
      health.close();
      await Promise.all(pumps);
    }
    // The two sent before the small calls and the two in flight when they were answered, at least.
    expect(outcomes.length).to.be.at.least(3);
    expect(new Set(outcomes)).to.deep.equal(new Set([status.RESOURCE_EXHAUSTED]));
  });
});
