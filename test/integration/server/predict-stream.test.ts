import { expect } from 'chai';
import { performance } from 'node:perf_hooks';
import { status, type ClientDuplexStream, type StatusObject } from '@grpc/grpc-js';
import { PredictRequest, PredictStreamResponse } from '../../../generated/inferd/v1/prediction_service';
import type { Tensor } from '../../../generated/inferd/v1/tensor';
import { simpleModel } from '../../../src/example-models/example-models';
import type { ModelRepository } from '../../../src/repository/model-repository';
import { calibrateSlowRun } from '../../support/calibrate-slow-run';
import { slowModel } from '../../support/slow-model';
import {
  predict,
  removeFolder,
  startServer,
  tensor,
  writeRepository,
  type TestServer,
} from '../../support/test-server';
import { RawPredictStream } from '../../support/raw-predict-stream';

type Stream = ClientDuplexStream<PredictRequest, PredictStreamResponse>;

/** Columns of the `simple` model's inputs and outputs. */
const COLUMNS = 16;

/** The two inputs of request number `i` to `simple`: every element depends on `i`, so answers swapped between requests differ. */
function simpleOperands(i: number, rows: number): { a: number[]; b: number[] } {
  const n = rows * COLUMNS;
  return {
    a: Array.from({ length: n }, (_, k) => i * 1_000 + k * 7 - 50_000),
    b: Array.from({ length: n }, (_, k) => (i % 13) * k - 3 * i),
  };
}

/** An INT32 [rows,16] tensor carrying `values` in raw_data or in int32_data. */
function int32Tensor(values: number[], raw: boolean): Tensor {
  const shape = [BigInt(values.length / COLUMNS), BigInt(COLUMNS)];
  if (!raw) return tensor({ shape, int32Data: values });
  return tensor({ shape, rawData: new Uint8Array(Int32Array.from(values).buffer) });
}

/** The INT32 values of a wire tensor, read from whichever of raw_data and int32_data it uses. */
function int32Values(t: Tensor): number[] {
  if (t.rawData.length === 0) return t.int32Data;
  const copy = new Uint8Array(t.rawData); // aligned, and not a view into a pooled Buffer
  return Array.from(new Int32Array(copy.buffer));
}

/** Request number `i` to `simple`. */
function simpleRequest(id: string, i: number, opts: { raw?: boolean; rows?: number } = {}): PredictRequest {
  const { a, b } = simpleOperands(i, opts.rows ?? 1);
  const raw = opts.raw ?? false;
  return {
    modelName: 'simple',
    modelVersion: '',
    id,
    outputNames: [],
    inputs: { INPUT0: int32Tensor(a, raw), INPUT1: int32Tensor(b, raw) },
  };
}

/** Asserts `r` answers {@link simpleRequest}(id, i, opts): its id, the exact sum and difference, in the form the inputs came in. */
function expectSimpleAnswer(
  r: PredictStreamResponse | undefined,
  id: string,
  i: number,
  opts: { raw?: boolean; rows?: number } = {},
): void {
  const rows = opts.rows ?? 1;
  const { a, b } = simpleOperands(i, rows);
  expect(r, `response to ${id}`).to.not.equal(undefined);
  expect(r!.id).to.equal(id);
  expect(r!.error, `error of ${id}`).to.equal(undefined);
  const response = r!.response!;
  expect(response.id).to.equal(id);
  expect(response.modelName).to.equal('simple');
  expect(response.modelVersion).to.equal('1');
  expect(Object.keys(response.outputs).sort()).to.deep.equal(['OUTPUT0', 'OUTPUT1']);
  for (const out of Object.values(response.outputs)) {
    expect(out.shape).to.deep.equal([BigInt(rows), BigInt(COLUMNS)]);
    expect(out.rawData.length > 0, `${id} answers in raw_data exactly when it asked in raw_data`).to.equal(
      opts.raw ?? false,
    );
  }
  expect(int32Values(response.outputs['OUTPUT0']!), `OUTPUT0 of ${id}`).to.deep.equal(a.map((x, k) => x + b[k]!));
  expect(int32Values(response.outputs['OUTPUT1']!), `OUTPUT1 of ${id}`).to.deep.equal(a.map((x, k) => x - b[k]!));
}

/** A request to `slow` (slowModel) with x = `units` and the work of `side`: y is exactly 0 for units 0, `side` for 1. */
function slowRequest(id: string, units: 0 | 1, side: number): PredictRequest {
  return {
    modelName: 'slow',
    modelVersion: '',
    id,
    outputNames: [],
    inputs: {
      x: tensor({ shape: [1n, 1n], floatData: [units] }),
      side: tensor({ shape: [1n, 1n], int64Data: [BigInt(side)] }),
    },
  };
}

function expectSlowAnswer(r: PredictStreamResponse | undefined, id: string, units: 0 | 1, side: number): void {
  expect(r, `response to ${id}`).to.not.equal(undefined);
  expect(r!.id).to.equal(id);
  expect(r!.error, `error of ${id}`).to.equal(undefined);
  expect(r!.response!.id).to.equal(id);
  expect(r!.response!.modelName).to.equal('slow');
  expect(r!.response!.outputs['y']!.shape).to.deep.equal([1n, 1n]);
  expect(r!.response!.outputs['y']!.floatData).to.deep.equal([units * side]);
}

/** The side of `slow` at which one run through `s` takes at least `atLeastMs` on this machine now. */
async function slowSide(s: TestServer, atLeastMs: number): Promise<number> {
  return (await calibrateSlowRun((side) => predict(s.prediction, slowRequest('calibrate', 0, side)), atLeastMs)).side;
}

/** Runs of `slow` so far (on the worker: it never runs on the main thread). */
function slowRuns(s: TestServer): number {
  return (s.server as unknown as { repository: ModelRepository }).repository.resolve('slow', '').stats().executions;
}

interface StreamEnd extends StatusObject {
  /** How many responses had arrived when the status did. */
  readonly answered: number;
}

interface Recording {
  /** Responses in arrival order. */
  readonly responses: PredictStreamResponse[];
  /** Settles with the call's final status (an error status too: it never rejects). */
  readonly ended: Promise<StreamEnd>;
  /** Settles when the response with this id arrives. */
  answer(id: string): Promise<PredictStreamResponse>;
}

/** Starts reading `call`: records every response and the final status. */
function record(call: Stream): Recording {
  const responses: PredictStreamResponse[] = [];
  const waiters = new Map<string, (r: PredictStreamResponse) => void>();
  call.on('data', (r: PredictStreamResponse) => {
    responses.push(r);
    waiters.get(r.id)?.(r);
    waiters.delete(r.id);
  });
  call.on('error', () => undefined); // the same outcome comes as 'status'
  const ended = new Promise<StreamEnd>((resolve) =>
    call.on('status', (s: StatusObject) => resolve({ ...s, answered: responses.length })),
  );
  return {
    responses,
    ended,
    answer: (id) => {
      const seen = responses.find((r) => r.id === id);
      return seen ? Promise.resolve(seen) : new Promise((resolve) => waiters.set(id, resolve));
    },
  };
}

function byId(responses: readonly PredictStreamResponse[]): Map<string, PredictStreamResponse[]> {
  const map = new Map<string, PredictStreamResponse[]>();
  for (const r of responses) map.set(r.id, [...(map.get(r.id) ?? []), r]);
  return map;
}

/** Settles with `count()` once it has stayed the same for `quietMs`. */
async function whenStill(count: () => number, quietMs: number): Promise<number> {
  for (;;) {
    const before = count();
    await new Promise((resolve) => setTimeout(resolve, quietMs));
    if (count() === before) return before;
  }
}

describe('PredictStream', () => {
  describe('on one stream of 1,000 requests sent without waiting, every 10th one bad', () => {
    const total = 1_000;
    const bad = [
      {
        kind: 'wrong shape',
        request: (id: string, i: number): PredictRequest => {
          const r = simpleRequest(id, i);
          return {
            ...r,
            inputs: { ...r.inputs, INPUT0: tensor({ shape: [1n, 8n], int32Data: [1, 2, 3, 4, 5, 6, 7, 8] }) },
          };
        },
        code: status.INVALID_ARGUMENT,
        naming: () => ['input "INPUT0"', '[-1,16]', '[1,8]'],
      },
      {
        kind: 'unknown model',
        request: (id: string, i: number): PredictRequest => ({
          ...simpleRequest(id, i),
          modelName: `no_such_model_${i}`,
        }),
        code: status.NOT_FOUND,
        naming: (i: number) => [`"no_such_model_${i}"`],
      },
      {
        kind: 'missing input',
        request: (id: string, i: number): PredictRequest => {
          const r = simpleRequest(id, i);
          return { ...r, inputs: { INPUT0: r.inputs['INPUT0']! } };
        },
        code: status.INVALID_ARGUMENT,
        naming: () => ['missing input "INPUT1"'],
      },
      {
        kind: 'a typed field that does not belong to INT32',
        request: (id: string, i: number): PredictRequest => {
          const r = simpleRequest(id, i);
          return {
            ...r,
            inputs: {
              ...r.inputs,
              INPUT1: tensor({ shape: [1n, 16n], floatData: Array.from({ length: 16 }, (_, k) => k + 0.5) }),
            },
          };
        },
        code: status.INVALID_ARGUMENT,
        naming: () => ['input "INPUT1"', 'float_data'],
      },
    ];
    const isBad = (i: number): boolean => i % 10 === 9;
    const badKind = (i: number) => bad[Math.floor(i / 10) % bad.length]!;
    /** Good requests vary the batch size and alternate raw_data with int32_data. */
    const goodOptions = (i: number) => ({ rows: 1 + (i % 3), raw: i % 2 === 0 });

    let repo: string;
    let s: TestServer;
    let ended: StreamEnd;
    let answers: Map<string, PredictStreamResponse[]>;

    before(async () => {
      repo = writeRepository({ simple: simpleModel() });
      s = await startServer(repo);
      const call = s.prediction.predictStream();
      const recording = record(call);
      for (let i = 0; i < total; i++) {
        const id = `req-${i}`;
        call.write(isBad(i) ? badKind(i).request(id, i) : simpleRequest(id, i, goodOptions(i)));
      }
      call.end();
      ended = await recording.ended;
      answers = byId(recording.responses);
    });

    after(async () => {
      await s?.close();
      removeFolder(repo);
    });

    it('answers every request exactly once, under its own id', () => {
      expect(answers.size).to.equal(total);
      for (let i = 0; i < total; i++) expect(answers.get(`req-${i}`), `answers to req-${i}`).to.have.length(1);
    });

    it('answers each good request with the exact sum and difference of its own inputs', () => {
      for (let i = 0; i < total; i++)
        if (!isBad(i)) expectSimpleAnswer(answers.get(`req-${i}`)?.[0], `req-${i}`, i, goodOptions(i));
    });

    for (const [k, b] of bad.entries()) {
      it(`answers a request with ${b.kind} with an error of status ${b.code} (${status[b.code]}) naming the culprit, and goes on`, () => {
        let seen = 0;
        for (let i = 0; i < total; i++) {
          if (!isBad(i) || badKind(i) !== bad[k]) continue;
          const r = answers.get(`req-${i}`)![0]!;
          expect(r.response, `response of req-${i}`).to.equal(undefined);
          expect(r.error, `error of req-${i}`).to.not.equal(undefined);
          expect(r.error!.code, `code of req-${i}`).to.equal(b.code);
          for (const part of b.naming(i)) expect(r.error!.message).to.include(part);
          // The next request, sent after this bad one on the same stream, is still answered.
          if (i + 1 < total)
            expectSimpleAnswer(answers.get(`req-${i + 1}`)?.[0], `req-${i + 1}`, i + 1, goodOptions(i + 1));
          seen++;
        }
        expect(seen).to.equal(total / 10 / bad.length);
      });
    }

    it('ends with status OK once the client half-closes, only after all 1,000 responses arrived', () => {
      expect(ended.code).to.equal(status.OK);
      expect(ended.answered).to.equal(total);
    });
  });

  describe('on one stream to a slow and a fast model', () => {
    let repo: string;
    let s: TestServer;

    before(async () => {
      repo = writeRepository({ simple: simpleModel(), slow: slowModel() });
      s = await startServer(repo);
    });

    after(async () => {
      await s?.close();
      removeFolder(repo);
    });

    it('answers in completion order, not request order: fast requests sent after a slow one come back first, each under its own id', async () => {
      const fast = 20;
      const fastRequests = Array.from({ length: fast }, (_, i) => simpleRequest(`fast-${i}`, i));
      // The baseline: the fast requests alone on a stream. The slow run takes ten times as long, and a second at least.
      const started = performance.now();
      const alone = s.prediction.predictStream();
      const aloneRecording = record(alone);
      for (const r of fastRequests) alone.write(r);
      alone.end();
      expect((await aloneRecording.ended).answered).to.equal(fast);
      const side = await slowSide(s, Math.max(1_000, 10 * (performance.now() - started)));

      const call = s.prediction.predictStream();
      const recording = record(call);
      call.write(slowRequest('slow', 1, side));
      for (const r of fastRequests) call.write(r);
      call.end();
      const ended = await recording.ended;

      expect(ended.code).to.equal(status.OK);
      const ids = recording.responses.map((r) => r.id);
      expect(ids).to.have.length(fast + 1);
      expect(ids[fast], 'the last response').to.equal('slow');
      expect(new Set(ids.slice(0, fast))).to.deep.equal(new Set(Array.from({ length: fast }, (_, i) => `fast-${i}`)));
      const answers = byId(recording.responses);
      for (let i = 0; i < fast; i++) expectSimpleAnswer(answers.get(`fast-${i}`)?.[0], `fast-${i}`, i);
      expectSlowAnswer(answers.get('slow')?.[0], 'slow', 1, side);
    });
  });

  describe('when the client cancels with slow requests queued', () => {
    const queued = 8;
    let repo: string;
    let s: TestServer;
    /** Runs of a second or more, far longer than it takes to queue them and cancel. */
    let side: number;

    before(async () => {
      repo = writeRepository({ simple: simpleModel(), slow: slowModel() });
      s = await startServer(repo);
      side = await slowSide(s, 1_000);
    });

    after(async () => {
      await s?.close();
      removeFolder(repo);
    });

    it('ends the call with CANCELLED, drops the queued work without running it, and keeps serving', async () => {
      const runsBefore = slowRuns(s);
      const call = s.prediction.predictStream();
      const recording = record(call);
      // One slow request runs on the model's single instance; the others wait behind it.
      for (let i = 0; i <= queued; i++) call.write(slowRequest(`slow-${i}`, 0, side));
      // The server reads a stream in order: once this is answered, every slow request has been read and queued.
      call.write(simpleRequest('probe', 7));
      expectSimpleAnswer(await recording.answer('probe'), 'probe', 7);

      call.cancel();
      const ended = await recording.ended;
      expect(ended.code).to.equal(status.CANCELLED);
      expect(recording.responses.map((r) => r.id)).to.deep.equal(['probe']);

      // Unary calls go on working, with exact results.
      const after = await predict(s.prediction, simpleRequest('after', 42));
      expectSimpleAnswer({ id: 'after', response: after }, 'after', 42);

      // The slow instance finishes the one run it had started, then takes this one: none of the
      // queued requests ran.
      const next = await predict(s.prediction, slowRequest('next', 1, side));
      expectSlowAnswer({ id: 'next', response: next }, 'next', 1, side);
      expect(
        slowRuns(s) - runsBefore,
        'runs of the slow model: the one under way at the cancel, and the next',
      ).to.equal(2);
    });
  });

  describe('when the client half-closes with requests in flight', () => {
    let repo: string;
    let s: TestServer;
    /** Runs long enough to be in flight when the half-close arrives. */
    let side: number;

    before(async () => {
      repo = writeRepository({ simple: simpleModel(), slow: slowModel() });
      s = await startServer(repo);
      side = await slowSide(s, 300);
    });

    after(async () => {
      await s?.close();
      removeFolder(repo);
    });

    it('answers everything in flight before it ends the stream with OK', async () => {
      const call = s.prediction.predictStream();
      const recording = record(call);
      const slow = 3;
      const fast = 5;
      for (let i = 0; i < slow; i++) call.write(slowRequest(`slow-${i}`, (i % 2) as 0 | 1, side));
      for (let i = 0; i < fast; i++) call.write(simpleRequest(`fast-${i}`, i, { raw: true }));
      call.end();
      const ended = await recording.ended;

      expect(ended.code).to.equal(status.OK);
      expect(ended.answered).to.equal(slow + fast);
      const answers = byId(recording.responses);
      expect(answers.size).to.equal(slow + fast);
      for (let i = 0; i < slow; i++) {
        expect(answers.get(`slow-${i}`)).to.have.length(1);
        expectSlowAnswer(answers.get(`slow-${i}`)![0], `slow-${i}`, (i % 2) as 0 | 1, side);
      }
      for (let i = 0; i < fast; i++) {
        expect(answers.get(`fast-${i}`)).to.have.length(1);
        expectSimpleAnswer(answers.get(`fast-${i}`)![0], `fast-${i}`, i, { raw: true });
      }
    });
  });

  describe('with maxStreamInFlight 4', () => {
    const maxStreamInFlight = 4;
    let repo: string;
    let s: TestServer;
    /** Runs long enough that fast requests, were they read, would be answered before the first of them. */
    let side: number;

    before(async () => {
      repo = writeRepository({ simple: simpleModel(), slow: slowModel() });
      // A queue that holds no more than one stream's bound: a server that read past the bound would answer RESOURCE_EXHAUSTED.
      // HTTP/2's own 64 KiB windows, so that what the server takes in while it reads nothing
      // is its in-flight bound plus one small window (with the default 4 MiB window the
      // transport alone holds some two thousand of these requests, which is still bounded).
      s = await startServer(repo, { maxStreamInFlight, maxQueueSize: maxStreamInFlight, http2WindowBytes: 65535 });
      side = await slowSide(s, 300);
    });

    after(async () => {
      await s?.close();
      removeFolder(repo);
    });

    it('reads no further while 4 requests are in flight: fast requests behind 4 slow ones are answered only after the first slow one', async () => {
      const call = s.prediction.predictStream();
      const recording = record(call);
      for (let i = 0; i < maxStreamInFlight; i++) call.write(slowRequest(`slow-${i}`, 1, side));
      const fast = 20;
      for (let i = 0; i < fast; i++) call.write(simpleRequest(`fast-${i}`, i));
      call.end();
      const ended = await recording.ended;

      expect(ended.code).to.equal(status.OK);
      // Read, the fast requests would be answered first (see 'answers in completion order').
      expect(recording.responses[0]!.id, 'the first response').to.equal('slow-0');
      const answers = byId(recording.responses);
      expect(answers.size).to.equal(maxStreamInFlight + fast);
      for (let i = 0; i < maxStreamInFlight; i++) expectSlowAnswer(answers.get(`slow-${i}`)?.[0], `slow-${i}`, 1, side);
      for (let i = 0; i < fast; i++) expectSimpleAnswer(answers.get(`fast-${i}`)?.[0], `fast-${i}`, i);
    });

    it('stops reading a stream whose client reads no responses, and answers all 2,000 requests exactly once it reads', async () => {
      const total = 2_000;
      const rows = 16; // about 2 KiB a request and a response
      const client = RawPredictStream.open(s.address);
      try {
        let sent = 0;
        const sending = (async () => {
          for (let i = 0; i < total; i++) {
            await client.send(simpleRequest(`req-${i}`, i, { rows, raw: true }));
            sent++;
          }
          client.stream.end();
        })();
        await client.answering; // the server has answered (and we read nothing)
        // That something stopped happening can only be seen on a clock.
        const sentWhileNotReading = await whenStill(() => sent, 300);
        expect(sentWhileNotReading, 'requests the server took while the client read nothing').to.be.below(total / 4);

        const { frames, grpcStatus } = await client.readAll();
        await sending;
        expect(sent).to.equal(total);
        expect(grpcStatus).to.equal(String(status.OK));
        const responses = frames.map((f) => PredictStreamResponse.decode(f));
        expect(responses).to.have.length(total);
        const answers = byId(responses);
        expect(answers.size).to.equal(total);
        for (let i = 0; i < total; i++)
          expectSimpleAnswer(answers.get(`req-${i}`)?.[0], `req-${i}`, i, { rows, raw: true });
      } finally {
        client.close();
      }
    });
  });
});
