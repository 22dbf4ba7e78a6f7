import { expect } from 'chai';
import { InferdClient, InferdClientError, type Inputs, type StreamResult } from '../../../src/client';
import { tinyMlpModel, tinyMlpReference } from '../../../src/example-models/example-models';
import { startServerAndClient, type ServerAndClient } from '../../support/server-and-client';

const row = (i: number): number[] => [i % 1000, -(i % 7), 2, 3];
const good = (i: number): Inputs => ({ x: { data: Float32Array.from(row(i)), shape: [1, 4] } });
/** Three values for a model that takes rows of four: the server refuses it. */
const bad = (i: number): Inputs => ({ x: { data: Float32Array.of(i, 1, 2), shape: [1, 3] } });

describe('inferd/client predictStream', function () {
  this.timeout(60_000);
  let t: ServerAndClient<InferdClient>;

  before(
    async () => (t = await startServerAndClient({ tiny_mlp: tinyMlpModel() }, (address) => new InferdClient(address))),
  );
  after(() => t?.close());

  it('answers 10,000 messages with 1% bad inputs in input order: each bad one with its error, the rest exactly, and the stream goes on', async () => {
    const isBad = (i: number): boolean => i % 100 === 37;
    async function* inputs(): AsyncGenerator<Inputs> {
      for (let i = 0; i < 10_000; i++) yield isBad(i) ? bad(i) : good(i);
    }
    let next = 0;
    let errors = 0;
    for await (const r of t.client.predictStream('tiny_mlp', inputs(), { maxInFlight: 256, ordered: true })) {
      expect(r.index).to.equal(next);
      if (isBad(next)) {
        errors++;
        expect([r.error?.code, r.error?.message, r.outputs]).to.deep.equal([
          'INVALID_ARGUMENT',
          'input "x": expected shape [-1,4], got [1,3]',
          undefined,
        ]);
      } else {
        expect(r.error).to.equal(undefined);
        expect(r.modelVersion).to.equal('1');
        expect(r.outputs!['y']!.shape).to.deep.equal([1, 3]);
        expect(Array.from(r.outputs!['y']!.data as Float32Array)).to.deep.equal(tinyMlpReference(row(next)));
      }
      next++;
    }
    expect([next, errors]).to.deep.equal([10_000, 100]);
  });

  it('keeps at most maxInFlight inputs unanswered or untaken: a slow consumer slows the reading of the inputs', async () => {
    let pulled = 0;
    function* inputs(): Generator<Inputs> {
      for (let i = 0; i < 200; i++) {
        pulled++;
        yield good(i);
      }
    }
    let taken = 0;
    let mostAhead = 0;
    for await (const r of t.client.predictStream('tiny_mlp', inputs(), { maxInFlight: 8 })) {
      expect(r.index).to.equal(taken);
      taken++;
      // Give the stream every chance to read ahead before the next result is taken.
      await new Promise((resolve) => setTimeout(resolve, 2));
      mostAhead = Math.max(mostAhead, pulled - taken);
    }
    expect(taken).to.equal(200);
    expect(mostAhead).to.equal(8);
  });

  it('answers an input the client refuses with its error, in its place, without sending it, and goes on', async () => {
    const inputs = [good(0), { x: { data: Float32Array.of(1, 2), shape: [1, 4] } }, good(2)];
    const results: StreamResult[] = [];
    for await (const r of t.client.predictStream('tiny_mlp', inputs)) results.push(r);
    expect(results.map((r) => [r.index, r.error?.code, r.error?.message])).to.deep.equal([
      [0, undefined, undefined],
      [1, 'INVALID_ARGUMENT', 'input "x": shape [1,4] holds 4 elements, data has 2'],
      [2, undefined, undefined],
    ]);
  });

  it("unordered, gives every input's result once, each with its index", async () => {
    const seen: number[] = [];
    for await (const r of t.client.predictStream(
      'tiny_mlp',
      Array.from({ length: 500 }, (_, i) => good(i)),
      { ordered: false, maxInFlight: 64 },
    )) {
      expect(Array.from(r.outputs!['y']!.data as Float32Array)).to.deep.equal(tinyMlpReference(row(r.index)));
      seen.push(r.index);
    }
    expect(seen.sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 500 }, (_, i) => i));
  });

  it('stops reading the inputs when the consumer breaks out of the loop, and ends with no result for an empty input', async () => {
    let closed = false;
    function* endless(): Generator<Inputs> {
      try {
        for (let i = 0; ; i++) yield good(i);
      } finally {
        closed = true;
      }
    }
    let taken = 0;
    for await (const r of t.client.predictStream('tiny_mlp', endless())) {
      expect(r.error).to.equal(undefined);
      if (++taken === 50) break;
    }
    expect(closed).to.equal(true);
    const none: StreamResult[] = [];
    for await (const r of t.client.predictStream('tiny_mlp', [])) none.push(r);
    expect(none).to.deep.equal([]);
  });

  it('throws CANCELLED from the loop when the signal fires', async () => {
    const controller = new AbortController();
    let taken = 0;
    let thrown: unknown;
    function* endless(): Generator<Inputs> {
      for (let i = 0; ; i++) yield good(i);
    }
    try {
      for await (const r of t.client.predictStream('tiny_mlp', endless(), { signal: controller.signal })) {
        expect(r.error).to.equal(undefined);
        if (++taken === 20) controller.abort();
      }
    } catch (err) {
      thrown = err;
    }
    expect(thrown).to.be.instanceOf(InferdClientError);
    expect([(thrown as InferdClientError).code, (thrown as InferdClientError).message]).to.deep.equal([
      'CANCELLED',
      'cancelled by the caller',
    ]);
  });
});
