import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import type { BatchSpec } from '../../../src/jobs/job';
import { JobStore } from '../../../src/jobs/job-store';
import { wireTensorJson } from '../../../src/jobs/batch/wire-tensor-json';
import type { WireTensor } from '../../../src/tensor/tensor-types';
import { FakeWallClock } from '../../support/fake-wall-clock';
import { removeFolder } from '../../support/test-server';

const HOUR = 3_600_000;
const batch = (input: string): { kind: 'batch' } & BatchSpec => ({ kind: 'batch', modelName: 'm', modelVersion: '', inputUri: input, outputUri: 'out.jsonl', batchSize: 8, inputColumns: [], outputNames: [] });

function wire(fields: Partial<WireTensor>): WireTensor {
  return { datatype: 0, shape: [], rawData: new Uint8Array(0), floatData: [], doubleData: [], int32Data: [], int64Data: [], uint64Data: [], boolData: [], stringData: [], ...fields };
}

describe('JobStore', () => {
  let dir: string;
  let clock: FakeWallClock;
  let store: JobStore;

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'inferd-store-'));
    clock = new FakeWallClock(Date.UTC(2026, 0, 1));
    store = JobStore.open({ file: path.join(dir, 'jobs.sqlite'), clock });
  });

  afterEach(() => {
    store.close();
    removeFolder(dir);
  });

  it('keeps jobs in the file: a store opened again finds them as they were', () => {
    const job = store.insert({ spec: batch('a.jsonl'), callbackUrl: 'http://h/x', schedule: 'nightly' });
    store.close();
    store.close(); // twice is fine
    store = JobStore.open({ file: path.join(dir, 'jobs.sqlite'), clock });
    expect(store.get(job.id)).to.deep.equal({
      id: job.id, spec: batch('a.jsonl'), state: 'QUEUED', total: 0, processed: 0, failed: 0, result: undefined, error: undefined,
      callbackUrl: 'http://h/x', schedule: 'nightly', createdMs: clock.now(), startedMs: undefined, finishedMs: undefined,
    });
  });

  it('round-trips a prediction request and result exactly: bytes, NaN and infinities, 64-bit integers past 2^53', () => {
    const inputs = {
      f: wire({ datatype: 1, shape: [2n], floatData: [NaN, -Infinity] }),
      i: wire({ datatype: 7, shape: [2n], int64Data: [-(2n ** 63n), 2n ** 53n + 1n] }),
      u: wire({ datatype: 11, shape: [1n], uint64Data: [2n ** 64n - 1n] }),
      r: wire({ shape: [3n], rawData: Uint8Array.of(0, 255, 7) }),
      s: wire({ datatype: 13, shape: [1n], stringData: [Buffer.from('héllo')] }),
    };
    const job = store.insert({ spec: { kind: 'prediction', request: { modelName: 'm', modelVersion: '2', inputs, outputNames: ['y'], id: 'req' } } });
    const again = store.get(job.id)!;
    expect(again.spec).to.deep.equal({ kind: 'prediction', request: { modelName: 'm', modelVersion: '2', inputs, outputNames: ['y'], id: 'req' } });
    expect(again.total).to.equal(1);
    store.start(job.id);
    store.finish(job.id, 'SUCCEEDED', { result: { modelName: 'm', modelVersion: '2', outputs: { y: inputs.i }, id: 'req' } });
    expect(store.get(job.id)!.result).to.deep.equal({ modelName: 'm', modelVersion: '2', outputs: { y: inputs.i }, id: 'req' });
    expect(wireTensorJson.encode(inputs.f)).to.deep.equal({ datatype: 1, shape: ['2'], floatData: ['NaN', '-Infinity'] });
  });

  it('moves a job QUEUED → RUNNING → ended once: start and finish of a job in another state change nothing', () => {
    const job = store.insert({ spec: batch('a.jsonl') });
    expect(store.start(job.id)!.state).to.equal('RUNNING');
    expect(store.start(job.id)).to.equal(undefined);
    const ended = store.finish(job.id, 'FAILED', { error: { code: 'INVALID_ARGUMENT', message: 'bad line' } });
    expect(ended).to.deep.include({ state: 'FAILED', error: { code: 'INVALID_ARGUMENT', message: 'bad line' }, finishedMs: clock.now() });
    expect(store.finish(job.id, 'CANCELLED', {})).to.equal(undefined);
    expect(store.get(job.id)!.state).to.equal('FAILED');
  });

  it('records progress and the checkpoint in one change, only while the job is RUNNING, and forgets the checkpoint when it ends', () => {
    const job = store.insert({ spec: batch('a.jsonl') });
    const changes: number[] = [];
    store.on('change', (j) => changes.push(j.processed));
    store.progress(job.id, { total: 10, processed: 4, failed: 1, checkpoint: { at: 4 } });
    expect(store.get(job.id)!.processed).to.equal(0); // QUEUED: ignored
    store.start(job.id);
    store.progress(job.id, { total: 10, processed: 4, failed: 1, checkpoint: { at: 4 } });
    store.progress(job.id, { processed: 6, failed: 1 });
    expect(store.get(job.id)).to.deep.include({ total: 10, processed: 6, failed: 1 });
    expect(store.checkpoint(job.id)).to.deep.equal({ at: 4 });
    store.finish(job.id, 'SUCCEEDED', {});
    expect(store.checkpoint(job.id)).to.equal(undefined);
    expect(changes).to.deep.equal([0, 4, 6, 6]);
  });

  it('queues the webhook delivery in the same transaction that ends the job', () => {
    const job = store.insert({ spec: batch('a.jsonl'), callbackUrl: 'http://h/x' });
    store.finish(job.id, 'CANCELLED', {}, (j) => ({ id: 'd-1', jobId: j.id, url: j.callbackUrl, body: `{"state":"${j.state}"}`, dueMs: clock.now() }));
    expect(store.dueDeliveries(clock.now(), 10)).to.deep.equal([{ id: 'd-1', jobId: job.id, url: 'http://h/x', body: '{"state":"CANCELLED"}', attempts: 0, dueMs: clock.now(), lastError: '' }]);
    store.deliveryFailed('d-1', 1, clock.now() + 500, 'HTTP 500');
    expect(store.dueDeliveries(clock.now(), 10)).to.deep.equal([]);
    expect(store.nextDeliveryDueMs()).to.equal(clock.now() + 500);
    store.deleteDelivery('d-1');
    expect(store.nextDeliveryDueMs()).to.equal(undefined);
  });

  it('deletes jobs that ended before the retention cut-off, and never one that has not ended', () => {
    const old = store.insert({ spec: batch('old.jsonl') });
    store.finish(old.id, 'CANCELLED', {});
    const running = store.insert({ spec: batch('running.jsonl') });
    store.start(running.id);
    clock.advance(48 * HOUR);
    const recent = store.insert({ spec: batch('recent.jsonl') });
    store.finish(recent.id, 'CANCELLED', {});
    expect(store.deleteFinishedBefore(clock.now() - 24 * HOUR)).to.equal(1);
    expect([old, running, recent].map((j) => store.get(j.id)?.state)).to.deep.equal([undefined, 'RUNNING', 'CANCELLED']);
  });

  it('lists jobs newest first, by state, a page at a time', () => {
    const ids = Array.from({ length: 5 }, (_, i) => store.insert({ spec: batch(`${i}.jsonl`) }).id);
    store.start(ids[1]!);
    const first = store.list({ states: [], pageSize: 2 });
    expect(first.jobs.map((j) => j.id)).to.deep.equal([ids[4], ids[3]]);
    const second = store.list({ states: [], pageSize: 2, afterSeq: first.next });
    expect(second.jobs.map((j) => j.id)).to.deep.equal([ids[2], ids[1]]);
    const third = store.list({ states: [], pageSize: 2, afterSeq: second.next });
    expect([third.jobs.map((j) => j.id), third.next]).to.deep.equal([[ids[0]], undefined]);
    expect(store.list({ states: ['RUNNING'], pageSize: 10 }).jobs.map((j) => j.id)).to.deep.equal([ids[1]]);
  });

  it('tells the ids and states of the unfinished jobs of a kind, RUNNING first, then oldest first', () => {
    const ids = Array.from({ length: 5 }, (_, i) => store.insert({ spec: batch(`${i}.jsonl`) }).id);
    store.insert({ spec: { kind: 'prediction', request: { modelName: 'm', modelVersion: '', inputs: {}, outputNames: [], id: '' } } });
    store.start(ids[3]!);
    store.start(ids[0]!);
    store.finish(ids[0]!, 'FAILED', { error: { code: 'INTERNAL', message: 'x' } });
    store.finish(ids[2]!, 'CANCELLED', {});
    expect(store.unfinished('batch')).to.deep.equal([
      { id: ids[3], state: 'RUNNING' },
      { id: ids[1], state: 'QUEUED' },
      { id: ids[4], state: 'QUEUED' },
    ]);
  });

  it('refuses a file written by a newer inferd, naming it', () => {
    store.close();
    const file = path.join(dir, 'jobs.sqlite');
    const db = new Database(file);
    db.pragma('user_version = 99');
    db.close();
    expect(() => JobStore.open({ file, clock })).to.throw(`${file} was written by a newer inferd (schema 99; this one knows 1)`);
  });
});
