import { expect } from 'chai';
import { formBatch, type BatchCandidate } from '../../src/scheduler/form-batch';

const c = (rows: number, key = 'a'): BatchCandidate => ({ key, rows });

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

  it('trims a batch to the largest preferred size it reaches', () => {
    expect(formBatch([c(1), c(1), c(1), c(1), c(1), c(1)], { maxBatchSize: 8, preferredBatchSizes: [2, 4] })).to.deep.equal([0, 1, 2, 3]);
    expect(formBatch([c(1), c(1), c(1)], { maxBatchSize: 8, preferredBatchSizes: [4] })).to.deep.equal([0, 1, 2]);
  });
});
