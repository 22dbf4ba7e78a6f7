import { expect } from 'chai';
import { batchKey } from '../../../src/scheduler/batch-key';
import { formBatch, type BatchCandidate } from '../../../src/scheduler/form-batch';
import type { HostTensor } from '../../../src/tensor/tensor-types';

const c = (rows: number, key = 'a', bytes = 4 * rows): BatchCandidate => ({ key, rows, bytes });

describe('formBatch', () => {
  const limits = { maxBatchSize: 8, preferredBatchSizes: [] as number[] };

  it('picks nothing when nothing waits', () => {
    expect(formBatch([], limits)).to.deep.equal([]);
  });

  it('runs every request alone when batching is off', () => {
    expect(formBatch([c(1), c(1)], { maxBatchSize: 0, preferredBatchSizes: [] })).to.deep.equal([0]);
  });

  it('gathers requests in order up to the most rows a run may hold', () => {
    expect(formBatch([c(3), c(3), c(3), c(2)], limits)).to.deep.equal([0, 1, 3]);
  });

  it('never mixes requests of different keys, and skips past them', () => {
    expect(formBatch([c(1), c(1, 'b'), c(1), c(1, 'b')], limits)).to.deep.equal([0, 2]);
  });

  it('runs a request larger than the limit alone', () => {
    expect(formBatch([c(20), c(1)], limits)).to.deep.equal([0]);
  });

  it('stops a batch at the most input bytes a run may hold, skipping a request that would pass it', () => {
    const bytes = { maxBatchSize: 8, preferredBatchSizes: [], maxBatchBytes: 1000 };
    expect(formBatch([c(1, 'a', 400), c(1, 'a', 400), c(1, 'a', 400), c(1, 'a', 200)], bytes)).to.deep.equal([0, 1, 3]);
    expect(formBatch([c(1, 'a', 400), c(1, 'a', 400), c(1, 'a', 200), c(1, 'a', 1)], bytes)).to.deep.equal([0, 1, 2]);
  });

  it('runs a request larger than the byte limit alone, and takes no byte limit from 0', () => {
    expect(
      formBatch([c(1, 'a', 5000), c(1, 'a', 1)], { maxBatchSize: 8, preferredBatchSizes: [], maxBatchBytes: 1000 }),
    ).to.deep.equal([0]);
    expect(
      formBatch([c(1, 'a', 5000), c(1, 'a', 5000)], { maxBatchSize: 8, preferredBatchSizes: [], maxBatchBytes: 0 }),
    ).to.deep.equal([0, 1]);
  });

  it('trims a batch to the largest preferred size it reaches', () => {
    expect(
      formBatch([c(1), c(1), c(1), c(1), c(1), c(1)], { maxBatchSize: 8, preferredBatchSizes: [2, 4] }),
    ).to.deep.equal([0, 1, 2, 3]);
    expect(formBatch([c(1), c(1), c(1)], { maxBatchSize: 8, preferredBatchSizes: [4] })).to.deep.equal([0, 1, 2]);
  });
});

describe('batchKey', () => {
  const t = (dims: number[]): HostTensor => ({
    type: 'float32',
    dims,
    data: new Float32Array(dims.reduce((a, b) => a * b, 1)),
  });

  it("keys a request by its inputs' types and non-batch dimensions and its outputs, with its rows and bytes", () => {
    expect(batchKey({ a: t([3, 2]), b: t([3]) }, ['y'])).to.deep.equal({
      key: 'a:float32[2];b:float32[]->y',
      rows: 3,
      bytes: 36,
    });
  });

  it('gives no key to a request whose inputs disagree on the first dimension, or that has a scalar input: it runs by itself', () => {
    const disagree = batchKey({ a: t([3, 2]), b: t([2]) }, ['y']);
    const scalar = batchKey({ a: t([]) }, ['y']);
    expect([disagree, scalar]).to.deep.equal([
      { key: undefined, rows: 1, bytes: 32 },
      { key: undefined, rows: 1, bytes: 4 },
    ]);
    expect(formBatch([disagree, disagree, c(1)], { maxBatchSize: 8, preferredBatchSizes: [] })).to.deep.equal([0]);
    expect(formBatch([c(1), disagree, c(1)], { maxBatchSize: 8, preferredBatchSizes: [] })).to.deep.equal([0, 2]);
  });
});
