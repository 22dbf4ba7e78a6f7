import {
  credentials,
  Metadata,
  status,
  type ClientDuplexStream,
  type ServiceError,
  type StatusObject,
} from '@grpc/grpc-js';
import { expect } from 'chai';
import {
  GRPCInferenceServiceClient,
  ModelInferRequest,
  ModelInferRequest_InferInputTensor as InputTensor,
  InferTensorContents,
  type ModelInferResponse,
  type ModelStreamInferResponse,
} from '../../../generated/inference/grpc_service';
import type { PredictRequest, PredictStreamResponse } from '../../../generated/inferd/v1/prediction_service';
import { identityModel } from '../../../src/example-models/example-models';
import { jobsClient, type Jobs } from '../../support/jobs';
import {
  predict,
  rejection,
  removeFolder,
  startServer,
  tensor,
  writeRepository,
  type TestServer,
} from '../../support/test-server';

/** A shape whose element count is 0, and whose other dimension no tensor can have. */
const ABSURD = [0n, 1_000_000_000_000_000n];
const ABSURD_MESSAGE =
  'input "x": dimension 1 of shape [0,1000000000000000] is 1000000000000000, expected 0 to 4294967295';

const absurd = (id: string): Partial<PredictRequest> => ({
  modelName: 'any2',
  id,
  inputs: { x: tensor({ shape: ABSURD }) },
});
const good = (id: string): Partial<PredictRequest> => ({
  modelName: 'any2',
  id,
  inputs: { x: tensor({ shape: [1n, 2n], floatData: [1.5, -2] }) },
});
const oipAbsurd = (id: string): ModelInferRequest =>
  ModelInferRequest.fromPartial({
    modelName: 'any2',
    id,
    inputs: [InputTensor.fromPartial({ name: 'x', datatype: 'FP32', shape: ABSURD })],
  });
const oipGood = (id: string): ModelInferRequest =>
  ModelInferRequest.fromPartial({
    modelName: 'any2',
    id,
    inputs: [
      InputTensor.fromPartial({
        name: 'x',
        datatype: 'FP32',
        shape: [1n, 2n],
        contents: InferTensorContents.fromPartial({ fp32Contents: [1.5, -2] }),
      }),
    ],
  });

/** Writes every request on one stream, half-closes, and settles with every response and the final status. */
function streamAll<Req, Res>(
  call: ClientDuplexStream<Req, Res>,
  requests: Req[],
): Promise<{ responses: Res[]; end: StatusObject }> {
  const responses: Res[] = [];
  call.on('data', (r: Res) => responses.push(r));
  call.on('error', () => undefined); // the same outcome comes as 'status'
  const end = new Promise<StatusObject>((resolve) => call.on('status', resolve));
  for (const r of requests) call.write(r);
  call.end();
  return end.then((s) => ({ responses, end: s }));
}

describe('each dimension of a shape is checked, not only the element count, on every front end', function () {
  this.timeout(60_000);
  let repo: string;
  let t: TestServer;
  let oip: GRPCInferenceServiceClient;
  let jobs: Jobs;

  before(async () => {
    // x and y are FLOAT32 [a,b]: any two dimensions fit the model's declared shape.
    repo = writeRepository({ any2: identityModel('FLOAT', { dims: ['a', 'b'] }) });
    t = await startServer(repo);
    oip = new GRPCInferenceServiceClient(t.address, credentials.createInsecure());
    jobs = jobsClient(t.address);
  });

  after(async () => {
    oip?.close();
    jobs?.close();
    await t?.close();
    removeFolder(repo);
  });

  it('Predict: INVALID_ARGUMENT naming the input and the dimension, where the runtime answered INTERNAL', async () => {
    const err = await rejection(predict(t.prediction, absurd('a')));
    expect(err.code).to.equal(status.INVALID_ARGUMENT);
    expect(err.details).to.equal(ABSURD_MESSAGE);
  });

  it("PredictStream: an error response under the request's id, and the stream goes on", async () => {
    const { responses, end } = await streamAll<PredictRequest, PredictStreamResponse>(t.prediction.predictStream(), [
      { ...good('before'), modelVersion: '', outputNames: [] } as PredictRequest,
      { ...absurd('absurd'), modelVersion: '', outputNames: [] } as PredictRequest,
      { ...good('after'), modelVersion: '', outputNames: [] } as PredictRequest,
    ]);
    expect(end.code).to.equal(status.OK);
    const byId = new Map(responses.map((r) => [r.id, r]));
    expect(byId.get('absurd')!.error).to.deep.equal({ code: status.INVALID_ARGUMENT, message: ABSURD_MESSAGE });
    for (const id of ['before', 'after'])
      expect(byId.get(id)!.response!.outputs['y']!.floatData, id).to.deep.equal([1.5, -2]);
  });

  it('ModelInfer (Open Inference Protocol): INVALID_ARGUMENT with the same message', async () => {
    const err = await rejection(
      new Promise<ModelInferResponse>((resolve, reject) =>
        oip.modelInfer(oipAbsurd('a'), new Metadata(), (e: ServiceError | null, r: ModelInferResponse) =>
          e ? reject(e) : resolve(r),
        ),
      ),
    );
    expect(err.code).to.equal(status.INVALID_ARGUMENT);
    expect(err.details).to.equal(ABSURD_MESSAGE);
  });

  it("ModelStreamInfer (Open Inference Protocol): an error message under the request's id, and the stream goes on", async () => {
    const { responses, end } = await streamAll<ModelInferRequest, ModelStreamInferResponse>(oip.modelStreamInfer(), [
      oipAbsurd('absurd'),
      oipGood('after'),
    ]);
    expect(end.code).to.equal(status.OK);
    const absurdAnswer = responses.find((r) => r.errorMessage !== '')!;
    expect(absurdAnswer.errorMessage).to.equal(ABSURD_MESSAGE);
    const after = responses.find((r) => r.inferResponse?.id === 'after')!;
    expect(after.errorMessage).to.equal('');
    expect(after.inferResponse!.outputs[0]!.shape).to.deep.equal([1n, 2n]);
  });

  it('SubmitPrediction (jobs): INVALID_ARGUMENT at submission, no job made', async () => {
    const before = (await jobs.list({})).jobs.length;
    const err = await rejection(jobs.submitPrediction(absurd('a')));
    expect(err.code).to.equal(status.INVALID_ARGUMENT);
    expect(err.details).to.equal(ABSURD_MESSAGE);
    expect((await jobs.list({})).jobs).to.have.length(before);
  });

  it('takes the largest dimension ONNX Runtime takes next to a 0, and answers the empty tensor', async () => {
    const r = await predict(t.prediction, { modelName: 'any2', inputs: { x: tensor({ shape: [0n, 4294967295n] }) } });
    expect(r.outputs['y']).to.deep.include({ shape: [0n, 4294967295n], floatData: [] });
  });

  it('names a shape of a million dimensions in a few words', async () => {
    const err = await rejection(
      predict(t.prediction, {
        modelName: 'any2',
        inputs: { x: tensor({ shape: new Array<bigint>(1_000_000).fill(1n) }) },
      }),
    );
    expect(err.code).to.equal(status.INVALID_ARGUMENT);
    expect(err.details).to.equal('input "x": expected shape [-1,-1], got [1,1,1,1,1,1,1,1,...] (rank 1000000)');
  });
});
