import { expect } from 'chai';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import {
  HealthCheckResponse_ServingStatus as Serving,
  type HealthClient,
  type HealthListResponse,
} from '../../../generated/grpc/health/v1/health';
import { simpleModel, tinyMlpModel } from '../../../src/example-models/example-models';
import { calibrateSlowRun, type SlowRun } from '../../support/calibrate-slow-run';
import { slowModel } from '../../support/slow-model';
import {
  predict,
  rejection,
  removeFolder,
  startServer,
  tensor,
  writeRepository,
  type TestServer,
} from '../../support/test-server';

/** Calls Health/Check; resolves with the serving status or rejects with the ServiceError. */
function check(health: HealthClient, service: string): Promise<Serving> {
  return new Promise((resolve, reject) => {
    health.check({ service }, new Metadata(), { deadline: Date.now() + 5_000 }, (err: ServiceError | null, response) =>
      err ? reject(err) : resolve(response.status),
    );
  });
}

function list(health: HealthClient): Promise<HealthListResponse> {
  return new Promise((resolve, reject) => {
    health.list({}, (err: ServiceError | null, response) => (err ? reject(err) : resolve(response)));
  });
}

/** 16 INT32 values, i * step + offset. */
function row(step: number, offset: number): number[] {
  return Array.from({ length: 16 }, (_, i) => i * step + offset);
}

/** A request for slowModel with the work of `side`: x = 1, for which y = side exactly. */
function slowRequest(side: number) {
  return {
    modelName: 'slow',
    inputs: {
      x: tensor({ shape: [1n, 1n], floatData: [1] }),
      side: tensor({ shape: [1n, 1n], int64Data: [BigInt(side)] }),
    },
    id: 'slow-1',
  };
}

/** Gap between two health probes during an inference. */
const PROBE_INTERVAL_MS = 10;

describe('grpc.health.v1.Health', function () {
  this.timeout(60_000);
  let repo: string;
  let t: TestServer;

  before(async () => {
    repo = writeRepository({ simple: simpleModel(), slow: slowModel(), tiny_mlp: tinyMlpModel() });
    t = await startServer(repo);
  });

  after(async () => {
    await t?.close();
    removeFolder(repo);
  });

  describe('Check', () => {
    it('answers SERVING for the whole server ("")', async () => {
      expect(await check(t.health, '')).to.equal(Serving.SERVING);
    });

    for (const model of ['simple', 'slow', 'tiny_mlp']) {
      it(`answers SERVING for the loaded model "${model}"`, async () => {
        expect(await check(t.health, model)).to.equal(Serving.SERVING);
      });
    }

    it('answers NOT_FOUND, naming the service, for a name the server does not know', async () => {
      const err = await rejection(check(t.health, 'no_such_model'));
      expect(err.code).to.equal(status.NOT_FOUND);
      expect(err.details).to.equal('unknown service "no_such_model"');
    });
  });

  describe('List', () => {
    it('lists the whole server, every gRPC service and every model, all SERVING', async () => {
      const response = await list(t.health);
      const statuses = Object.fromEntries(Object.entries(response.statuses).map(([name, s]) => [name, s.status]));
      expect(statuses).to.deep.equal({
        '': Serving.SERVING,
        'grpc.health.v1.Health': Serving.SERVING,
        'grpc.reflection.v1.ServerReflection': Serving.SERVING,
        'grpc.reflection.v1alpha.ServerReflection': Serving.SERVING,
        'inference.GRPCInferenceService': Serving.SERVING,
        'inferd.v1.JobService': Serving.SERVING,
        'inferd.v1.ModelService': Serving.SERVING,
        'inferd.v1.PredictionService': Serving.SERVING,
        simple: Serving.SERVING,
        slow: Serving.SERVING,
        tiny_mlp: Serving.SERVING,
      });
    });
  });

  describe('Watch', () => {
    it('reports SERVICE_UNKNOWN at once for a name the server does not know', async () => {
      const call = t.health.watch({ service: 'no_such_model' });
      try {
        const first = await new Promise<Serving>((resolve, reject) => {
          call.once('data', (m: { status: Serving }) => resolve(m.status));
          call.once('error', reject);
        });
        expect(first).to.equal(Serving.SERVICE_UNKNOWN);
      } finally {
        call.on('error', () => undefined); // the cancel below ends it with CANCELLED
        call.cancel();
      }
    });

    it('streams SERVING, then NOT_SERVING when the server closes, and then ends with OK', async () => {
      const own = await startServer(repo);
      try {
        const call = own.health.watch({ service: 'simple' });
        const seen: Serving[] = [];
        const ended = new Promise<number>((resolve, reject) => {
          call.on('error', reject);
          call.on('status', (s: { code: number }) => resolve(s.code));
        });
        await new Promise<void>((resolve) =>
          call.on('data', (m: { status: Serving }) => {
            seen.push(m.status);
            if (seen.length === 1) resolve();
          }),
        );
        expect(seen).to.deep.equal([Serving.SERVING]);

        await own.server.close();

        expect(await ended).to.equal(status.OK);
        expect(seen).to.deep.equal([Serving.SERVING, Serving.NOT_SERVING]);
      } finally {
        await own.close();
      }
    });
  });

  describe('while a model runs (inference is off the main thread)', () => {
    /** Runs of a second or more on this machine: what inferd must not hold the main thread for. */
    let slow: SlowRun;

    before(async () => {
      slow = await calibrateSlowRun((side) => predict(t.prediction, slowRequest(side)), 1_000);
    });

    it('answers Check after Check for as long as an inference runs, none of them waiting for the run', async () => {
      let slowSettled = false;
      const running = predict(t.prediction, slowRequest(slow.side)).finally(() => (slowSettled = true));

      // Were the run on the main thread, no Check could be answered before it ended.
      const latencies: number[] = [];
      while (!slowSettled) {
        const before = performance.now();
        expect(await check(t.health, 'slow')).to.equal(Serving.SERVING);
        if (!slowSettled) latencies.push(performance.now() - before);
        // Pacing, not waiting for anything: probes spread over the whole run, leaving the CPU to the model.
        await sleep(PROBE_INTERVAL_MS);
      }
      const response = await running;

      expect(response.outputs['y']!.floatData).to.deep.equal([slow.side]);
      expect(latencies.length, 'Checks answered while the model ran').to.be.at.least(5);
      // The bound comes from the run measured on this machine: a Check that waited for the run would take up to a whole one.
      expect(Math.max(...latencies), `slowest Check (ms), against a run of ${slow.runMs.toFixed(0)} ms`).to.be.below(
        slow.runMs / 2,
      );
    });

    it('answers a Predict on another model while a slow one runs, before the slow one finishes', async () => {
      let slowSettled = false;
      // Both calls go over one channel, so the slow request reaches the server first.
      const running = predict(t.prediction, slowRequest(slow.side)).finally(() => (slowSettled = true));
      const fast = await predict(t.prediction, {
        modelName: 'simple',
        id: 'fast-1',
        inputs: {
          INPUT0: tensor({ shape: [1n, 16n], int32Data: row(3, -20) }),
          INPUT1: tensor({ shape: [1n, 16n], int32Data: row(-2, 7) }),
        },
      });
      const slowWasRunning = !slowSettled;

      expect(fast.id).to.equal('fast-1');
      expect(fast.outputs['OUTPUT0']!.int32Data).to.deep.equal(row(1, -13));
      expect(fast.outputs['OUTPUT1']!.int32Data).to.deep.equal(row(5, -27));
      expect(slowWasRunning).to.equal(true);
      expect((await running).outputs['y']!.floatData).to.deep.equal([slow.side]);
    });
  });
});
