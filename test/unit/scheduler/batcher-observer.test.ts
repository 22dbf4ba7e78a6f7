import { expect } from 'chai';
import { DynamicBatcher, type RunStart } from '../../../src/scheduler/dynamic-batcher';
import type { Runner } from '../../../src/scheduler/runner';
import type { HostTensor } from '../../../src/tensor/tensor-types';

/** A runner whose runs finish (or fail) when the test says so. */
class ManualRunner implements Runner {
  private readonly settlers: { resolve: () => void; reject: (err: Error) => void }[] = [];

  run(feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
    return new Promise((resolve, reject) => this.settlers.push({ resolve: () => resolve(feeds), reject }));
  }

  finishOne(): void {
    this.settlers.shift()!.resolve();
  }

  failOne(err: Error): void {
    this.settlers.shift()!.reject(err);
  }
}

const rows = (n: number): Record<string, HostTensor> => ({
  x: { type: 'float32', dims: [n, 1], data: new Float32Array(n) },
});
const never = new AbortController().signal;
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('DynamicBatcher observer', () => {
  it('reports each run with its instance, rows and the wait and trace of every request it serves, then its end', async () => {
    const runners = [new ManualRunner(), new ManualRunner()];
    const batcher = new DynamicBatcher(runners, {
      maxQueueSize: 10,
      label: 'm',
      maxBatchSize: 8,
      preferredBatchSizes: [],
      maxQueueDelayUs: 0,
    });
    const runs: RunStart[] = [];
    const ends: unknown[] = [];
    batcher.observe({ runStarting: (run) => (runs.push(run), (err) => ends.push(err)) });
    const traceA = { name: 'a' };
    const traceB = { name: 'b' };
    const first = batcher.submit(rows(1), ['y'], never, { trace: traceA }); // instance 1 (the last idle one)
    const second = batcher.submit(rows(2), ['y'], never); // instance 0
    const queued = [batcher.submit(rows(1), ['y'], never, { trace: traceB }), batcher.submit(rows(3), ['y'], never)];
    expect(
      runs.map((r) => ({ instance: r.instance, rows: r.rows, traces: r.requests.map((q) => q.trace) })),
    ).to.deep.equal([
      { instance: 1, rows: 1, traces: [traceA] },
      { instance: 0, rows: 2, traces: [undefined] },
    ]);
    expect(ends).to.deep.equal([]);
    runners[1]!.finishOne();
    await first;
    await tick();
    // The two that waited run together on the instance freed.
    expect(runs[2]!.instance).to.equal(1);
    expect(runs[2]!.rows).to.equal(4);
    expect(runs[2]!.requests.map((q) => q.trace)).to.deep.equal([traceB, undefined]);
    for (const q of runs[2]!.requests) expect(q.waitedMs).to.be.at.least(0);
    const boom = new Error('boom');
    runners[0]!.failOne(boom);
    await second.catch(() => undefined);
    runners[1]!.finishOne();
    await Promise.all(queued);
    expect(ends).to.deep.equal([undefined, boom, undefined]);
  });

  it('reports nothing before observe() (warm-up is not traffic)', async () => {
    const runner = new ManualRunner();
    const batcher = new DynamicBatcher([runner], {
      maxQueueSize: 10,
      label: 'm',
      maxBatchSize: 0,
      preferredBatchSizes: [],
      maxQueueDelayUs: 0,
    });
    const before = batcher.submit(rows(1), ['y'], never);
    const runs: RunStart[] = [];
    batcher.observe({ runStarting: (run) => (runs.push(run), () => undefined) });
    runner.finishOne();
    await before;
    expect(runs).to.deep.equal([]);
  });
});
