import { createServer } from 'node:net';
import { expect } from 'chai';
import { InferdClient, InferdClientError } from '../../../src/client';
import { tinyMlpModel, tinyMlpReference } from '../../../src/example-models/example-models';
import { calibrateSlowRun } from '../../support/calibrate-slow-run';
import { slowModel } from '../../support/slow-model';
import { requestsAnswered } from '../../support/request-counts';
import { startServerAndClient, type ServerAndClient } from '../../support/server-and-client';
import { loadModel, unloadModel } from '../../support/test-server';
import { until } from '../../support/until';
import { clientFailure } from '../../support/failure';

/** A port of 127.0.0.1 nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const X = { x: { data: Float32Array.of(1, 2, 3, 4), shape: [1, 4] } };

describe('inferd/client errors and retries', function () {
  this.timeout(60_000);
  let t: ServerAndClient<InferdClient>;

  before(async () => {
    const models = { tiny_mlp: tinyMlpModel(), spare: tinyMlpModel(), slow: slowModel() };
    t = await startServerAndClient(models, (address) => new InferdClient(address, { retries: 3, retryDelayMs: 5 }), {
      modelControl: 'explicit',
    });
  });
  after(() => t?.close());

  it("fails NOT_FOUND for an unknown model, with the server's message, not retryable", async () => {
    const err = await clientFailure(t.client.predict('nope', X));
    expect([err.code, err.message, err.retryable, err.name]).to.deep.equal([
      'NOT_FOUND',
      'unknown model "nope"',
      false,
      'InferdClientError',
    ]);
  });

  it("fails INVALID_ARGUMENT with the server's message for an input the model cannot take, and does not retry it", async () => {
    const before = await requestsAnswered(t.server.httpPort, 'tiny_mlp', 'INVALID_ARGUMENT');
    const err = await clientFailure(
      t.client.predict('tiny_mlp', { x: { data: Float32Array.of(1, 2, 3), shape: [1, 3] } }),
    );
    expect([err.code, err.message, err.retryable]).to.deep.equal([
      'INVALID_ARGUMENT',
      'input "x": expected shape [-1,4], got [1,3]',
      false,
    ]);
    expect(await requestsAnswered(t.server.httpPort, 'tiny_mlp', 'INVALID_ARGUMENT')).to.equal(before + 1);
  });

  /** slowModel's inputs: one run does work that grows with side³. */
  const slow = (side: number) => ({
    x: { data: Float32Array.of(1), shape: [1, 1] },
    side: { data: BigInt64Array.of(BigInt(side)), shape: [1, 1] },
  });

  it('fails DEADLINE_EXCEEDED when the deadline passes during the call, not retryable', async () => {
    // Runs of at least 500 ms on this machine, against a deadline of 50 ms.
    const { side } = await calibrateSlowRun((n) => t.client.predict('slow', slow(n)), 500);
    const err = await clientFailure(t.client.predict('slow', slow(side), { deadlineMs: 50 }));
    expect([err.code, err.retryable]).to.deep.equal(['DEADLINE_EXCEEDED', false]);
  });

  it('fails CANCELLED when the signal fires during the call, and at once for a signal that already fired', async () => {
    const controller = new AbortController();
    const pending = t.client.predict('slow', slow(256), { signal: controller.signal });
    controller.abort();
    const err = await clientFailure(pending);
    expect([err.code, err.message]).to.deep.equal(['CANCELLED', 'cancelled by the caller']);
    const again = await clientFailure(t.client.predict('tiny_mlp', X, { signal: controller.signal }));
    expect(again.code).to.equal('CANCELLED');
  });

  // The server counts an answer for a model with no version to serve under model "".
  it('retries UNAVAILABLE (a model not loaded) `retries` times, then fails with it, retryable', async () => {
    await unloadModel(t, 'spare');
    const before = await requestsAnswered(t.server.httpPort, '', 'UNAVAILABLE');
    const twice = new InferdClient(t.address, { retries: 2, retryDelayMs: 1 });
    try {
      const err = await clientFailure(twice.predict('spare', X));
      expect([err.code, err.retryable]).to.deep.equal(['UNAVAILABLE', true]);
      expect(err.message).to.match(/spare/);
      expect(await requestsAnswered(t.server.httpPort, '', 'UNAVAILABLE')).to.equal(before + 3);
    } finally {
      twice.close();
    }
  });

  it('answers a call made while its model is unloaded once the model is loaded again, by retrying within its deadline', async () => {
    await unloadModel(t, 'spare');
    const before = await requestsAnswered(t.server.httpPort, '', 'UNAVAILABLE');
    const patient = new InferdClient(t.address, {
      retries: 1000,
      retryDelayMs: 5,
      maxRetryDelayMs: 20,
      deadlineMs: 30_000,
    });
    try {
      const answer = patient.predict('spare', X);
      await until(
        async () => (await requestsAnswered(t.server.httpPort, '', 'UNAVAILABLE')) >= before + 2,
        'two UNAVAILABLE answers',
      );
      await loadModel(t, 'spare');
      const r = await answer;
      expect(Array.from(r.outputs['y']!.data as Float32Array)).to.deep.equal(tinyMlpReference([1, 2, 3, 4]));
    } finally {
      patient.close();
    }
  });

  it('fails UNAVAILABLE, retryable, when no server listens, after its retries', async () => {
    const nowhere = new InferdClient(`127.0.0.1:${await closedPort()}`, { retries: 2, retryDelayMs: 1 });
    try {
      const err = await clientFailure(nowhere.predict('tiny_mlp', X));
      expect([err.code, err.retryable]).to.deep.equal(['UNAVAILABLE', true]);
      expect(err.message).to.match(/ECONNREFUSED/);
    } finally {
      nowhere.close();
    }
  });

  it('refuses bad options at construction, and calls after close(), which is safe to call twice', async () => {
    expect(() => new InferdClient(t.address, { retries: -1 })).to.throw(
      InferdClientError,
      'retries: expected a number ≥ 0, got -1',
    );
    expect(() => new InferdClient(t.address, { token: 'a b' })).to.throw(
      InferdClientError,
      'token: holds a character no token can have',
    );
    expect(() => new InferdClient(['127.0.0.1:1', 'localhost:2'])).to.throw(
      InferdClientError,
      'a list of addresses takes IP:port entries',
    );
    expect(() => new InferdClient(t.address, { tls: { cert: 'x' } })).to.throw(
      InferdClientError,
      'tls: cert and key go together',
    );
    const closing = new InferdClient(t.address);
    closing.close();
    closing.close();
    const err = await clientFailure(closing.predict('tiny_mlp', X));
    expect([err.code, err.message]).to.deep.equal(['CANCELLED', 'the client is closed']);
  });
});
