import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { status, type ServiceError } from '@grpc/grpc-js';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { HealthCheckRequest, type HealthCheckResponse } from '../../../generated/grpc/health/v1/health';
import { JobState } from '../../../generated/inferd/v1/job_service';
import { PredictRequest, type PredictStreamResponse } from '../../../generated/inferd/v1/prediction_service';
import { simpleModel } from '../../../src/example-models/example-models';
import type { ModelRepository } from '../../../src/repository/model-repository';
import { calibrateSlowRun } from '../../support/calibrate-slow-run';
import { slowModel } from '../../support/slow-model';
import { jobsClient } from '../../support/jobs';
import { CALLER, callerMetadata, httpGet, memoryTracing, spansWhen } from '../../support/telemetry';
import { predict, rejection, removeFolder, startServer, tensor, writeRepository, type TestServer } from '../../support/test-server';

const PREDICT = 'inferd.v1.PredictionService/Predict';
const STREAM = 'inferd.v1.PredictionService/PredictStream';

function simpleRequest(id: string, i: number): Partial<PredictRequest> {
  return {
    modelName: 'simple',
    id,
    inputs: { INPUT0: tensor({ shape: [1n, 16n], int32Data: new Array(16).fill(i) }), INPUT1: tensor({ shape: [1n, 16n], int32Data: new Array(16).fill(1) }) },
  };
}

/** A request to the batchable slowModel with the work of `side`. */
function slowRequest(id: string, side: number): Partial<PredictRequest> {
  return { modelName: 'slow', id, inputs: { x: tensor({ shape: [1n, 1n], floatData: [2] }), side: tensor({ shape: [1n, 1n], int64Data: [BigInt(side)] }) } };
}

const childrenOf = (spans: ReadableSpan[], parent: ReadableSpan): ReadableSpan[] =>
  spans.filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId);
const names = (spans: ReadableSpan[]): string[] => spans.map((s) => s.name).sort();

describe('tracing', function () {
  this.timeout(120_000);
  let repo: string;
  let data: string;
  let t: TestServer;
  const memory = memoryTracing();
  /** A run of a second or more on this machine: far longer than it takes three more requests to queue. */
  let slowSide: number;

  before(async () => {
    repo = writeRepository({ simple: simpleModel(), slow: slowModel({ batchable: true }) });
    data = mkdtempSync(path.join(tmpdir(), 'inferd-tracing-data-'));
    t = await startServer(repo, { dataDir: data }, { tracing: memory.tracing });
    slowSide = (await calibrateSlowRun((side) => predict(t.prediction, slowRequest('calibrate', side)), 1_000)).side;
  });

  after(async () => {
    await t.close();
    await memory.provider.shutdown();
    removeFolder(repo);
    removeFolder(data);
  });

  beforeEach(() => memory.exporter.reset());

  it('gives a unary Predict one server span continuing the caller trace, with decode, queue wait, model run and encode under it', async () => {
    await predict(t.prediction, simpleRequest('a', 1), { metadata: callerMetadata() });
    const spans = await spansWhen(memory.exporter, (s) => s.some((x) => x.name === PREDICT));
    const server = spans.find((s) => s.name === PREDICT)!;
    expect(server.kind).to.equal(SpanKind.SERVER);
    expect(server.spanContext().traceId).to.equal(CALLER.traceId);
    expect(server.parentSpanContext?.spanId).to.equal(CALLER.spanId);
    expect(server.attributes).to.deep.include({
      'rpc.system': 'grpc',
      'rpc.service': 'inferd.v1.PredictionService',
      'rpc.method': 'Predict',
      'rpc.grpc.status_code': 0,
      'inferd.model.name': 'simple',
      'inferd.model.version': '1',
    });
    expect(server.status.code).to.equal(SpanStatusCode.UNSET);
    const children = childrenOf(spans, server);
    expect(names(children)).to.deep.equal(['decode', 'encode', 'model run', 'queue wait']);
    for (const c of children) expect(c.spanContext().traceId).to.equal(CALLER.traceId);
    const run = children.find((c) => c.name === 'model run')!;
    expect(run.attributes).to.deep.include({ 'inferd.model.name': 'simple', 'inferd.model.version': '1', 'inferd.batch.size': 1, 'inferd.batch.requests': 1, 'inferd.model.instance': 'main' });
    expect(run.links.map((l) => l.context.spanId)).to.deep.equal([server.spanContext().spanId]);
    // Steps happen in order: decode, then the wait, then the run, then encode.
    const at = (name: string): ReadableSpan => children.find((c) => c.name === name)!;
    const ms = (hr: [number, number]): number => hr[0] * 1e3 + hr[1] / 1e6;
    expect(ms(at('queue wait').endTime)).to.be.at.most(ms(at('model run').startTime) + 1);
    expect(ms(at('model run').endTime)).to.be.at.most(ms(at('encode').startTime) + 1);
  });

  it('marks a failed Predict with its status code; a caller fault leaves the server span status unset', async () => {
    const err = await rejection(predict(t.prediction, { modelName: 'simple', inputs: {} }, { metadata: callerMetadata() }));
    expect(err.code).to.equal(status.INVALID_ARGUMENT);
    const spans = await spansWhen(memory.exporter, (s) => s.some((x) => x.name === PREDICT));
    const server = spans.find((s) => s.name === PREDICT)!;
    expect(server.attributes['rpc.grpc.status_code']).to.equal(status.INVALID_ARGUMENT);
    expect(server.status.code).to.equal(SpanStatusCode.UNSET);
    const decode = childrenOf(spans, server);
    expect(names(decode)).to.deep.equal(['decode']);
    expect(decode[0]!.status.code).to.equal(SpanStatusCode.ERROR);
    expect(decode[0]!.status.message).to.match(/missing input "INPUT0"/);

    const notFound = await rejection(predict(t.prediction, { modelName: 'nope' }));
    expect(notFound.code).to.equal(status.NOT_FOUND);
    const later = await spansWhen(memory.exporter, (s) => s.filter((x) => x.name === PREDICT).length === 2);
    const second = later.filter((s) => s.name === PREDICT)[1]!;
    expect(second.parentSpanContext).to.equal(undefined); // no traceparent: a new trace
    expect(second.attributes['rpc.grpc.status_code']).to.equal(status.NOT_FOUND);
  });

  it('gives a stream one server span and each message a span of its own; a failing message is marked, the stream is not', async () => {
    const call = t.prediction.predictStream(callerMetadata());
    const responses: PredictStreamResponse[] = [];
    call.on('data', (r: PredictStreamResponse) => responses.push(r));
    const ended = new Promise<void>((resolve, reject) => {
      call.on('end', resolve);
      call.on('error', reject);
    });
    call.write(PredictRequest.fromPartial(simpleRequest('ok1', 1)));
    call.write(PredictRequest.fromPartial({ modelName: 'simple', id: 'bad', inputs: { INPUT0: tensor({ shape: [1n, 16n], int32Data: new Array(16).fill(0) }) } }));
    call.write(PredictRequest.fromPartial(simpleRequest('ok2', 2)));
    call.end();
    await ended;
    expect(responses.map((r) => r.id).sort()).to.deep.equal(['bad', 'ok1', 'ok2']);
    const spans = await spansWhen(memory.exporter, (s) => s.some((x) => x.name === STREAM));
    const stream = spans.find((s) => s.name === STREAM)!;
    expect(stream.kind).to.equal(SpanKind.SERVER);
    expect(stream.spanContext().traceId).to.equal(CALLER.traceId);
    expect(stream.parentSpanContext?.spanId).to.equal(CALLER.spanId);
    expect(stream.attributes).to.deep.include({ 'rpc.system': 'grpc', 'rpc.service': 'inferd.v1.PredictionService', 'rpc.method': 'PredictStream', 'rpc.grpc.status_code': 0 });
    expect(stream.status.code).to.equal(SpanStatusCode.UNSET);
    const messages = childrenOf(spans, stream);
    expect(messages.map((m) => m.name)).to.deep.equal([`${STREAM} message`, `${STREAM} message`, `${STREAM} message`]);
    const failed = messages.filter((m) => m.status.code === SpanStatusCode.ERROR);
    expect(failed).to.have.length(1);
    expect(failed[0]!.attributes['rpc.grpc.status_code']).to.equal(status.INVALID_ARGUMENT);
    expect(failed[0]!.status.message).to.match(/missing input "INPUT1"/);
    expect(names(childrenOf(spans, failed[0]!))).to.deep.equal(['decode']);
    for (const ok of messages.filter((m) => m !== failed[0])) {
      expect(ok.status.code).to.equal(SpanStatusCode.UNSET);
      expect(ok.attributes['rpc.grpc.status_code']).to.equal(0);
      const steps = names(childrenOf(spans, ok));
      // A message whose run served others too may have its run span under another message.
      expect(steps.filter((n) => n !== 'model run')).to.deep.equal(['decode', 'encode', 'queue wait']);
    }
    const runs = spans.filter((s) => s.name === 'model run');
    const okIds = messages.filter((m) => m !== failed[0]).map((m) => m.spanContext().spanId).sort();
    expect(runs.flatMap((r) => r.links.map((l) => l.context.spanId)).sort()).to.deep.equal(okIds);
  });

  it('makes a batched run one span linked to the span of every request it served', async () => {
    const repository = (t.server as unknown as { repository: ModelRepository }).repository;
    const queue = repository.resolve('slow', '');
    const first = predict(t.prediction, slowRequest('first', slowSide), { metadata: callerMetadata() });
    // Once the single instance is busy with the first, the next three wait together.
    while (queue.inFlight === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    const rest = ['b1', 'b2', 'b3'].map((id) => predict(t.prediction, slowRequest(id, slowSide)));
    while (queue.depth < 3 && queue.inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 1));
    expect(queue.depth, 'the three requests queued behind the slow run').to.equal(3);
    await Promise.all([first, ...rest]);
    const spans = await spansWhen(memory.exporter, (s) => s.filter((x) => x.name === PREDICT).length === 4);
    const servers = spans.filter((s) => s.name === PREDICT);
    const runs = spans.filter((s) => s.name === 'model run');
    expect(runs.map((r) => r.attributes['inferd.batch.size']).sort()).to.deep.equal([1, 3]);
    const batched = runs.find((r) => r.attributes['inferd.batch.size'] === 3)!;
    expect(batched.attributes).to.deep.include({ 'inferd.model.name': 'slow', 'inferd.model.version': '1', 'inferd.batch.requests': 3, 'inferd.model.instance': 0 });
    const served = servers.filter((s) => s.spanContext().traceId !== CALLER.traceId);
    expect(served).to.have.length(3);
    expect(batched.links.map((l) => l.context.spanId).sort()).to.deep.equal(served.map((s) => s.spanContext().spanId).sort());
    expect(served.map((s) => s.spanContext().spanId)).to.include(batched.parentSpanContext?.spanId);
    for (const s of served) {
      const wait = childrenOf(spans, s).find((c) => c.name === 'queue wait');
      expect(wait, 'each request of the batch has its own queue wait').to.not.equal(undefined);
    }
  });

  /** inferd_requests_total of model simple version 1 answered OK, from /metrics. */
  async function simpleRequestsOk(): Promise<number> {
    const line = (await httpGet(t.server.httpPort, '/metrics')).body.split('\n').find((l) => l.startsWith('inferd_requests_total{model="simple",version="1",code="OK"} '));
    return line === undefined ? 0 : Number(line.split(' ')[1]);
  }

  it('traces an asynchronous prediction as a request, in a trace of its own, and counts it in the request metrics', async () => {
    const jobs = jobsClient(t.address);
    try {
      const before = await simpleRequestsOk();
      const job = await jobs.finished((await jobs.submitPrediction(simpleRequest('job', 4))).id);
      expect(job.state).to.equal(JobState.JOB_STATE_SUCCEEDED);
      const spans = await spansWhen(memory.exporter, (s) => s.some((x) => x.name === 'job prediction'));
      const root = spans.find((s) => s.name === 'job prediction')!;
      expect(root.kind).to.equal(SpanKind.INTERNAL);
      expect(root.parentSpanContext).to.equal(undefined);
      expect(root.attributes).to.deep.include({ 'inferd.job.kind': 'prediction', 'inferd.model.name': 'simple', 'inferd.model.version': '1' });
      expect(root.status.code).to.equal(SpanStatusCode.UNSET);
      expect(names(childrenOf(spans, root))).to.deep.equal(['decode', 'encode', 'model run', 'queue wait']);
      expect(await simpleRequestsOk()).to.equal(before + 1);
    } finally {
      jobs.close();
    }
  });

  it('traces each model run of a batch job as a request under the job\'s span, and counts it in the request metrics', async () => {
    mkdirSync(path.join(data, 'traced'));
    const record = (i: number): string => JSON.stringify({ INPUT0: new Array(16).fill(i), INPUT1: new Array(16).fill(1) });
    writeFileSync(path.join(data, 'traced', 'in.jsonl'), `${record(1)}\n${record(2)}\n`);
    const jobs = jobsClient(t.address);
    try {
      const before = await simpleRequestsOk();
      const job = await jobs.finished((await jobs.submitBatch({ modelName: 'simple', inputUri: 'traced/in.jsonl', outputUri: 'traced/out.jsonl', batchSize: 2 })).id);
      expect(job.state).to.equal(JobState.JOB_STATE_SUCCEEDED);
      const spans = await spansWhen(memory.exporter, (s) => s.some((x) => x.name === 'job batch'));
      const root = spans.find((s) => s.name === 'job batch')!;
      expect(root.parentSpanContext).to.equal(undefined);
      expect(root.attributes).to.deep.include({ 'inferd.job.kind': 'batch', 'inferd.job.id': job.id });
      // Both records stack into one run: one request.
      const runs = childrenOf(spans, root);
      expect(runs.map((r) => r.name)).to.deep.equal(['job batch run']);
      expect(runs[0]!.attributes).to.deep.include({ 'inferd.model.name': 'simple', 'inferd.model.version': '1' });
      expect(names(childrenOf(spans, runs[0]!))).to.deep.equal(['decode', 'model run', 'queue wait']);
      expect(await simpleRequestsOk()).to.equal(before + 1);
    } finally {
      jobs.close();
    }
  });

  it('does not trace health checks', async () => {
    await new Promise<HealthCheckResponse>((resolve, reject) =>
      t.health.check(HealthCheckRequest.fromPartial({ service: '' }), (err: ServiceError | null, r: HealthCheckResponse) => (err ? reject(err) : resolve(r))),
    );
    await predict(t.prediction, simpleRequest('after', 3));
    const spans = await spansWhen(memory.exporter, (s) => s.some((x) => x.name === PREDICT));
    expect(spans.filter((s) => s.kind === SpanKind.SERVER).map((s) => s.name)).to.deep.equal([PREDICT]);
  });
});
