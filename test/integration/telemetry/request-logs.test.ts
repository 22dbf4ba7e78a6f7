import { expect } from 'chai';
import { status } from '@grpc/grpc-js';
import pino from 'pino';
import { simpleModel } from '../../../src/example-models/example-models';
import { CALLER, callerMetadata, memoryTracing, spansWhen } from '../../support/telemetry';
import {
  predict,
  rejection,
  removeFolder,
  startServer,
  tensor,
  writeRepository,
  type TestServer,
} from '../../support/test-server';

interface Line {
  msg: string;
  level: number;
  [field: string]: unknown;
}

describe('request logs', function () {
  this.timeout(120_000);
  let repo: string;
  let t: TestServer;
  const lines: Line[] = [];
  const memory = memoryTracing();

  before(async () => {
    repo = writeRepository({ simple: simpleModel() });
    const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Line) });
    t = await startServer(repo, {}, { tracing: memory.tracing, log });
  });

  after(async () => {
    await t.close();
    await memory.provider.shutdown();
    removeFolder(repo);
  });

  it('logs each answered request at debug level with its trace_id and span_id, model, version and code, never its tensors', async () => {
    const shape = [1n, 16n];
    await predict(
      t.prediction,
      {
        modelName: 'simple',
        id: 'r1',
        inputs: {
          INPUT0: tensor({ shape, int32Data: new Array(16).fill(123457) }),
          INPUT1: tensor({ shape, int32Data: new Array(16).fill(1) }),
        },
      },
      { metadata: callerMetadata() },
    );
    expect(
      (await rejection(predict(t.prediction, { modelName: 'simple', inputs: {} }, { metadata: callerMetadata() })))
        .code,
    ).to.equal(status.INVALID_ARGUMENT);
    const spans = await spansWhen(
      memory.exporter,
      (s) => s.filter((x) => x.name === 'inferd.v1.PredictionService/Predict').length === 2,
    );
    const serverSpans = spans
      .filter((x) => x.name === 'inferd.v1.PredictionService/Predict')
      .map((s) => s.spanContext().spanId);
    const answered = lines.filter((l) => l.msg === 'request answered');
    expect(answered).to.have.length(2);
    expect(
      answered.map((l) => ({
        trace_id: l['trace_id'],
        span_id: l['span_id'],
        model: l['model'],
        version: l['version'],
        code: l['code'],
      })),
    ).to.deep.equal([
      { trace_id: CALLER.traceId, span_id: serverSpans[0], model: 'simple', version: '1', code: 'OK' },
      { trace_id: CALLER.traceId, span_id: serverSpans[1], model: 'simple', version: '1', code: 'INVALID_ARGUMENT' },
    ]);
    expect(JSON.stringify(lines)).to.not.include('123457');
  });
});
