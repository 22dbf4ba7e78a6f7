import { expect } from 'chai';
import { credentials, Metadata, status, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { HealthClient } from '../../../generated/grpc/health/v1/health';
import {
  GRPCInferenceServiceClient,
  ModelInferRequest,
  type ModelInferResponse,
  type ModelStreamInferResponse,
} from '../../../generated/inference/grpc_service';
import type { PredictRequest, PredictStreamResponse } from '../../../generated/inferd/v1/prediction_service';
import { simpleModel } from '../../../src/example-models/example-models';
import { MAX_QUOTED_CHARS } from '../../../src/clip-text';
import { MAX_STATUS_DETAILS_BYTES } from '../../../src/transport/grpc/status-for';
import { expectSimpleAnswer, SIMPLE_REQUEST } from '../../support/secure-clients';
import {
  predict,
  rejection,
  removeFolder,
  startServer,
  tensor,
  writeRepository,
  type TestServer,
} from '../../support/test-server';

/** Far more than any trailer carries: whole, the message naming it could not reach the client. */
const LONG = 100_000;
const LONG_NAME = 'm'.repeat(LONG);
const RANK_LONG_SHAPE = Array.from({ length: LONG }, () => 1n);
/** A regression shows as DEADLINE_EXCEEDED (the client never hears back), not as a hung test. */
const DEADLINE_MS = 10_000;

const ONES = Array.from({ length: 16 }, () => 1);
const OIP_INPUT1 = { name: 'INPUT1', datatype: 'INT32', shape: [1n, 16n], contents: { intContents: ONES } };

/** What a shape of rank 100,000 is answered: the shape shown elided, whole in a status. */
const RANK_LONG_MESSAGE = 'input "INPUT0": expected shape [-1,16], got [1,1,1,1,1,1,1,1,...] (rank 100000)';

/** Checks that a message was cut: it starts with `start`, ends with "…", and fits a status. */
function expectCut(message: string, start: string): void {
  expect(message.slice(0, start.length)).to.equal(start);
  expect(message.endsWith('…'), `ends with an ellipsis: …${message.slice(-20)}`).to.equal(true);
  expect(Buffer.byteLength(message)).to.be.at.most(MAX_STATUS_DETAILS_BYTES);
}

function infer(client: GRPCInferenceServiceClient, request: ModelInferRequest): Promise<ModelInferResponse> {
  return new Promise((resolve, reject) => {
    client.modelInfer(request, new Metadata(), { deadline: Date.now() + DEADLINE_MS }, (err, r) =>
      err ? reject(err) : resolve(r),
    );
  });
}

describe('client text too long to quote whole in an error', function () {
  this.timeout(60_000);
  let repo: string;
  let t: TestServer;
  let oip: GRPCInferenceServiceClient;

  before(async () => {
    repo = writeRepository({ simple: simpleModel() });
    t = await startServer(repo);
    oip = new GRPCInferenceServiceClient(t.address, credentials.createInsecure(), {
      'grpc.max_send_message_length': -1,
    });
  });

  after(async () => {
    oip?.close();
    await t?.close();
    removeFolder(repo);
  });

  it('answers Predict for a 100,000-character model name NOT_FOUND, quoting the name cut with an ellipsis', async () => {
    const err = await rejection(
      predict(t.prediction, { ...SIMPLE_REQUEST, modelName: LONG_NAME }, { deadlineMs: DEADLINE_MS }),
    );
    expect(err.code, err.details).to.equal(status.NOT_FOUND);
    expectCut(err.details, `unknown model "${'m'.repeat(100)}`);
  });

  it('answers Predict for a shape of rank 100,000 INVALID_ARGUMENT, quoting the shape elided', async () => {
    const inputs = { ...SIMPLE_REQUEST.inputs, INPUT0: tensor({ shape: RANK_LONG_SHAPE, int32Data: [1] }) };
    const err = await rejection(predict(t.prediction, { modelName: 'simple', inputs }, { deadlineMs: DEADLINE_MS }));
    expect(err.code, err.details).to.equal(status.INVALID_ARGUMENT);
    expect(err.details).to.equal(RANK_LONG_MESSAGE);
  });

  it('answers ModelInfer for a 100,000-character model name NOT_FOUND, the name cut at 1,024 characters in a whole message', async () => {
    const err = (await rejection(infer(oip, ModelInferRequest.fromPartial({ modelName: LONG_NAME })))) as ServiceError;
    expect(err.code, err.details).to.equal(status.NOT_FOUND);
    expect(err.details).to.equal(`Request for unknown model: '${'m'.repeat(MAX_QUOTED_CHARS)}…' is not found`);
  });

  it('answers ModelInfer for a shape of rank 100,000 INVALID_ARGUMENT, quoting the shape elided', async () => {
    const input0 = { name: 'INPUT0', datatype: 'INT32', shape: RANK_LONG_SHAPE, contents: { intContents: [1] } };
    const err = (await rejection(
      infer(oip, ModelInferRequest.fromPartial({ modelName: 'simple', inputs: [input0, OIP_INPUT1] })),
    )) as ServiceError;
    expect(err.code, err.details).to.equal(status.INVALID_ARGUMENT);
    expect(err.details).to.equal(RANK_LONG_MESSAGE);
  });

  it('answers such requests on PredictStream with cut error messages, and goes on', async () => {
    const call = t.prediction.predictStream(new Metadata(), { deadline: Date.now() + DEADLINE_MS });
    const responses: PredictStreamResponse[] = [];
    call.on('data', (r: PredictStreamResponse) => responses.push(r));
    call.on('error', () => undefined);
    const ended = new Promise<StatusObject>((resolve) => call.on('status', resolve));
    const full = (r: Partial<PredictRequest>): PredictRequest => ({
      modelName: 'simple',
      modelVersion: '',
      inputs: {},
      outputNames: [],
      id: '',
      ...r,
    });
    call.write(full({ ...SIMPLE_REQUEST, modelName: LONG_NAME, id: 'name' }));
    call.write(
      full({
        inputs: { ...SIMPLE_REQUEST.inputs, INPUT0: tensor({ shape: RANK_LONG_SHAPE, int32Data: [1] }) },
        id: 'shape',
      }),
    );
    call.write(full({ ...SIMPLE_REQUEST, id: 'good' }));
    call.end();
    const end = await ended;
    expect([end.code, end.details]).to.deep.equal([status.OK, 'OK']);
    const byId = new Map(responses.map((r) => [r.id, r]));
    expect([...byId.keys()].sort()).to.deep.equal(['good', 'name', 'shape']);
    expect(byId.get('name')!.error!.code).to.equal(status.NOT_FOUND);
    expectCut(byId.get('name')!.error!.message, `unknown model "${'m'.repeat(100)}`);
    expect(byId.get('shape')!.error!.code).to.equal(status.INVALID_ARGUMENT);
    expect(byId.get('shape')!.error!.message).to.equal(RANK_LONG_MESSAGE);
    expectSimpleAnswer(byId.get('good')!.response!);
  });

  it('answers such requests on ModelStreamInfer with cut error messages, and goes on', async () => {
    const call = oip.modelStreamInfer(new Metadata(), { deadline: Date.now() + DEADLINE_MS });
    const responses: ModelStreamInferResponse[] = [];
    call.on('data', (r: ModelStreamInferResponse) => responses.push(r));
    call.on('error', () => undefined);
    const ended = new Promise<StatusObject>((resolve) => call.on('status', resolve));
    const input0 = (shape: bigint[], values: number[]) => ({
      name: 'INPUT0',
      datatype: 'INT32',
      shape,
      contents: { intContents: values },
    });
    call.write(ModelInferRequest.fromPartial({ modelName: LONG_NAME, id: 'name' }));
    call.write(
      ModelInferRequest.fromPartial({
        modelName: 'simple',
        id: 'shape',
        inputs: [input0(RANK_LONG_SHAPE, [1]), OIP_INPUT1],
      }),
    );
    call.write(
      ModelInferRequest.fromPartial({ modelName: 'simple', id: 'good', inputs: [input0([1n, 16n], ONES), OIP_INPUT1] }),
    );
    call.end();
    const end = await ended;
    expect([end.code, end.details]).to.deep.equal([status.OK, 'OK']);
    const byId = new Map(responses.map((r) => [r.inferResponse!.id, r]));
    expect([...byId.keys()].sort()).to.deep.equal(['good', 'name', 'shape']);
    expect(byId.get('name')!.errorMessage).to.equal(
      `Request for unknown model: '${'m'.repeat(MAX_QUOTED_CHARS)}…' is not found`,
    );
    expect(byId.get('shape')!.errorMessage).to.equal(RANK_LONG_MESSAGE);
    expect(byId.get('good')!.errorMessage).to.equal('');
    expect(byId.get('good')!.inferResponse!.rawOutputContents).to.have.length(2);
  });

  it('answers a health check for a 100,000-character service name NOT_FOUND, the name cut at 1,024 characters', async () => {
    const health = new HealthClient(t.address, credentials.createInsecure());
    try {
      const err = await new Promise<ServiceError>((resolve, reject) =>
        health.check({ service: 's'.repeat(LONG) }, new Metadata(), { deadline: Date.now() + DEADLINE_MS }, (e) =>
          e ? resolve(e) : reject(new Error('expected NOT_FOUND')),
        ),
      );
      expect([err.code, err.details]).to.deep.equal([
        status.NOT_FOUND,
        `unknown service "${'s'.repeat(MAX_QUOTED_CHARS)}…"`,
      ]);
    } finally {
      health.close();
    }
  });
});
