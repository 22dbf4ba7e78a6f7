import { expect } from 'chai';
import { performance } from 'node:perf_hooks';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { HealthCheckResponse_ServingStatus as Serving, HealthClient } from '../../../generated/grpc/health/v1/health';
import { PredictionServiceClient } from '../../../generated/inferd/v1/prediction_service';
import { simpleModel } from '../../../src/example-models/example-models';
import { calibrateSlowRun, type SlowRun } from '../../support/calibrate-slow-run';
import { slowModel } from '../../support/slow-model';
import { predict, rejection, removeFolder, tensor, writeRepository } from '../../support/test-server';
import { children, serve, type LogRecord } from '../../support/serve-process';

/** A prediction and a health client sharing one channel: calls reach the server in the order they are made. */
function connect(port: number): { prediction: PredictionServiceClient; health: HealthClient; close(): void } {
  const prediction = new PredictionServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
  const health = new HealthClient(`127.0.0.1:${port}`, credentials.createInsecure(), {
    channelOverride: prediction.getChannel(),
  });
  return { prediction, health, close: () => prediction.close() };
}

function check(health: HealthClient, service: string): Promise<Serving> {
  return new Promise((resolve, reject) => {
    health.check({ service }, new Metadata(), (err: ServiceError | null, response) =>
      err ? reject(err) : resolve(response.status),
    );
  });
}

/** Opens a Health/Watch; `statuses` fills as they come; `ended` settles with the final status code. */
function watch(
  health: HealthClient,
  service: string,
): { statuses: Serving[]; first: Promise<void>; ended: Promise<number> } {
  const call = health.watch({ service });
  const statuses: Serving[] = [];
  const first = new Promise<void>((resolve) => call.once('data', () => resolve()));
  call.on('data', (m: { status: Serving }) => statuses.push(m.status));
  call.on('error', () => undefined); // the status event says how it ended
  const ended = new Promise<number>((resolve) => call.on('status', (s: { code: number }) => resolve(s.code)));
  return { statuses, first, ended };
}

/** Settles like `promise`, or rejects when it has not settled within `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms)),
  );
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** x = 1 with the work of `side`, for which slowModel's y is exactly `side`. */
function slowRequest(side: number) {
  return {
    modelName: 'slow',
    id: 'slow-1',
    inputs: {
      x: tensor({ shape: [1n, 1n], floatData: [1] }),
      side: tensor({ shape: [1n, 1n], int64Data: [BigInt(side)] }),
    },
  };
}

/** How much work makes one run of the server behind `prediction` take at least `atLeastMs`, measured through it. */
function calibrate(prediction: PredictionServiceClient, atLeastMs: number): Promise<SlowRun> {
  return calibrateSlowRun((side) => predict(prediction, slowRequest(side)), atLeastMs);
}

const SIMPLE_REQUEST = {
  modelName: 'simple',
  inputs: {
    INPUT0: tensor({ shape: [1n, 16n], int32Data: new Array<number>(16).fill(1) }),
    INPUT1: tensor({ shape: [1n, 16n], int32Data: new Array<number>(16).fill(2) }),
  },
};

/** Generous bound on a graceful stop once nothing is in flight any more. */
const EXIT_MS = 10_000;

describe('inferd serve, stopped by a signal', function () {
  // Each test starts a server process and sizes the slow runs on it.
  this.timeout(120_000);
  let repo: string;

  before(() => {
    repo = writeRepository({ simple: simpleModel(), slow: slowModel() });
  });

  afterEach(() => {
    for (const child of children) child.kill('SIGKILL');
  });

  after(() => removeFolder(repo));

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    describe(`on ${signal}, with a slow Predict in flight`, () => {
      it('finishes the call in flight with its result, refuses new calls with UNAVAILABLE, turns health NOT_SERVING, and exits 0', async () => {
        const server = await serve(repo);
        const clients = connect(server.port);
        try {
          // A run of a second or more: far longer than the signal, the log line and one refused call take.
          const { side } = await calibrate(clients.prediction, 1_000);
          const health = watch(clients.health, 'slow');
          await health.first;
          let slowSettled = false;
          const slow = predict(clients.prediction, slowRequest(side)).finally(() => (slowSettled = true));
          // Answered after the Predict on the same connection, so the Predict has reached the server.
          expect(await check(clients.health, '')).to.equal(Serving.SERVING);

          server.child.kill(signal);
          await server.logged('draining');
          const refused = await rejection(predict(clients.prediction, SIMPLE_REQUEST));
          const slowWasInFlight = !slowSettled;
          const response = await slow;
          const code = await within(server.exited, EXIT_MS, 'exiting');

          expect(slowWasInFlight).to.equal(true);
          expect(response.outputs['y']!.floatData).to.deep.equal([side]);
          expect(refused.code, refused.message).to.equal(status.UNAVAILABLE);
          expect(await health.ended).to.equal(status.OK);
          expect(health.statuses).to.deep.equal([Serving.SERVING, Serving.NOT_SERVING]);
          expect(code).to.equal(0);
          expect(server.logs.find((r) => r.msg === 'stopping')).to.include({ signal });
          expect(server.logs.map((r) => r.msg)).to.include('stopped');
        } finally {
          clients.close();
        }
      });
    });
  }

  describe('on SIGTERM with --drain-timeout-ms 200 and a Predict in flight that runs for seconds', () => {
    let cutOff: ServiceError;
    let cutOffMs: number;
    let exitCode: number | null;
    let exitMs: number;
    let logs: LogRecord[];
    /** A run of at least ten drain timeouts, measured on this server before the signal. */
    let slow: SlowRun;

    before(async () => {
      const server = await serve(repo, ['--drain-timeout-ms', '200']);
      const clients = connect(server.port);
      try {
        slow = await calibrate(clients.prediction, 2_000);
        const slower = rejection(predict(clients.prediction, slowRequest(slow.side)));
        // Answered after the Predict on the same connection, so the Predict has reached the server.
        expect(await check(clients.health, '')).to.equal(Serving.SERVING);

        const signalled = performance.now();
        server.child.kill('SIGTERM');
        cutOff = await slower;
        cutOffMs = performance.now() - signalled;
        // A native run cannot be interrupted: the process exits once it has ended, and cleanly.
        exitCode = await within(server.exited, EXIT_MS + 2 * slow.runMs, 'exit');
        exitMs = performance.now() - signalled;
        logs = server.logs;
      } finally {
        clients.close();
      }
    });

    it('cuts the call off with UNAVAILABLE once the drain timeout has passed', () => {
      expect(cutOff.code, cutOff.message).to.equal(status.UNAVAILABLE);
      // Not before the timeout: the call had its 200 ms to finish (less a little for timer granularity).
      expect(cutOffMs).to.be.at.least(190);
    });

    it('answers the cut-off call long before the run ends', () => {
      // The process exits only once the run has ended: the answer came first.
      expect(exitMs).to.be.above(cutOffMs);
      // And it did not wait for most of a run (measured on this machine, ten drain timeouts or more).
      expect(cutOffMs, `ms from the signal to the answer, with one run taking ${slow.runMs.toFixed(0)} ms`).to.be.below(
        slow.runMs / 2,
      );
    });

    it('exits 0 once the run in progress has ended, saying it cut calls off', () => {
      expect(exitCode).to.equal(0);
      expect(logs.map((r) => r.msg)).to.include.members([
        'drain timeout passed: cutting off calls in flight',
        'stopped',
      ]);
    });
  });
});
