import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import pino from 'pino';
import type { BatchSpec } from '../../../src/jobs/job';
import { LeaseLostError, type JobStore, type Lease } from '../../../src/jobs/job-store';
import { PostgresJobStore } from '../../../src/jobs/store/postgres-job-store';
import { SqliteJobStore } from '../../../src/jobs/store/sqlite-job-store';
import { wireTensorJson } from '../../../src/jobs/batch/wire-tensor-json';
import type { WireTensor } from '../../../src/tensor/tensor-types';
import { FakeWallClock } from '../../support/fake-wall-clock';
import { TestPostgres } from '../../support/postgres';
import { removeFolder } from '../../support/test-server';

const HOUR = 3_600_000;
const batch = (input: string): { kind: 'batch' } & BatchSpec => ({ kind: 'batch', modelName: 'm', modelVersion: '', inputUri: input, outputUri: 'out.jsonl', batchSize: 8, inputColumns: [], outputNames: [] });
const silent = pino({ level: 'silent' });

function wire(fields: Partial<WireTensor>): WireTensor {
  return { datatype: 0, shape: [], rawData: new Uint8Array(0), floatData: [], doubleData: [], int32Data: [], int64Data: [], uint64Data: [], boolData: [], stringData: [], ...fields };
}

/** The same contract for both stores: what the jobs core relies on. */
for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`JobStore (${kind})`, function () {
    this.timeout(60_000);
    let server: TestPostgres | undefined;
    let dir: string;
    let url: string;
    let clock: FakeWallClock;
    let store: JobStore;
    const open = async (): Promise<JobStore> => {
      if (kind === 'sqlite') return SqliteJobStore.open({ file: path.join(dir, 'jobs.sqlite'), clock });
      return PostgresJobStore.open({ url, safe: 'test', host: '127.0.0.1', port: server!.port, replicaId: 'test', clock, log: silent });
    };
    /** Claims the job (QUEUED → RUNNING) as replica r1; returns its lease. */
    const start = async (id: string): Promise<Lease | undefined> => (await store.claimJob(id, 'r1', HOUR))?.lease;

    before(async () => {
      if (kind === 'postgres') server = await TestPostgres.start();
    });

    after(() => server?.close());

    beforeEach(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'inferd-store-'));
      if (server !== undefined) url = await server.createDatabase();
      clock = new FakeWallClock(Date.UTC(2026, 0, 1));
      store = await open();
    });

    afterEach(async () => {
      await store.close();
      removeFolder(dir);
    });

    it('keeps jobs: a store opened again finds them as they were', async () => {
      const job = await store.insert({ spec: batch('a.jsonl'), callbackUrl: 'http://h/x', schedule: 'nightly' });
      await store.close();
      await store.close(); // twice is fine
      store = await open();
      expect(await store.get(job.id)).to.deep.equal({
        id: job.id, spec: batch('a.jsonl'), state: 'QUEUED', total: 0, processed: 0, failed: 0, result: undefined, error: undefined,
        callbackUrl: 'http://h/x', schedule: 'nightly', owner: '', createdMs: clock.now(), startedMs: undefined, finishedMs: undefined,
      });
    });

    it('round-trips a prediction request and result exactly: bytes, NaN and infinities, 64-bit integers past 2^53', async () => {
      const inputs = {
        f: wire({ datatype: 1, shape: [2n], floatData: [NaN, -Infinity] }),
        i: wire({ datatype: 7, shape: [2n], int64Data: [-(2n ** 63n), 2n ** 53n + 1n] }),
        u: wire({ datatype: 11, shape: [1n], uint64Data: [2n ** 64n - 1n] }),
        r: wire({ shape: [3n], rawData: Uint8Array.of(0, 255, 7) }),
        s: wire({ datatype: 13, shape: [1n], stringData: [Buffer.from('héllo')] }),
      };
      const job = await store.insert({ spec: { kind: 'prediction', request: { modelName: 'm', modelVersion: '2', inputs, outputNames: ['y'], id: 'req' } } });
      const again = (await store.get(job.id))!;
      expect(again.spec).to.deep.equal({ kind: 'prediction', request: { modelName: 'm', modelVersion: '2', inputs, outputNames: ['y'], id: 'req' } });
      expect(again.total).to.equal(1);
      const lease = (await start(job.id))!;
      await store.finish(job.id, 'SUCCEEDED', { result: { modelName: 'm', modelVersion: '2', outputs: { y: inputs.i }, id: 'req' } }, undefined, lease);
      expect((await store.get(job.id))!.result).to.deep.equal({ modelName: 'm', modelVersion: '2', outputs: { y: inputs.i }, id: 'req' });
      expect(wireTensorJson.encode(inputs.f)).to.deep.equal({ datatype: 1, shape: ['2'], floatData: ['NaN', '-Infinity'] });
    });

    it('moves a job QUEUED → RUNNING (owned) → ended once: a claim or finish of a job in another state changes nothing', async () => {
      const job = await store.insert({ spec: batch('a.jsonl') });
      expect(await start(job.id)).to.deep.equal({ jobId: job.id, owner: 'r1', epoch: 1 });
      expect(await store.get(job.id)).to.deep.include({ state: 'RUNNING', owner: 'r1', startedMs: clock.now() });
      expect(await start(job.id)).to.equal(undefined);
      const ended = await store.finish(job.id, 'FAILED', { error: { code: 'INVALID_ARGUMENT', message: 'bad line' } });
      expect(ended).to.deep.include({ state: 'FAILED', owner: '', error: { code: 'INVALID_ARGUMENT', message: 'bad line' }, finishedMs: clock.now() });
      expect(await store.finish(job.id, 'CANCELLED', {})).to.equal(undefined);
      expect((await store.get(job.id))!.state).to.equal('FAILED');
    });

    it('records progress and the checkpoint in one change, only under the job\'s lease, and forgets the checkpoint when it ends', async () => {
      const job = await store.insert({ spec: batch('a.jsonl') });
      const lease = (await start(job.id))!;
      await store.progress(lease, { total: 10, processed: 4, failed: 1, checkpoint: { at: 4 } });
      await store.progress(lease, { processed: 6, failed: 1 });
      expect(await store.get(job.id)).to.deep.include({ total: 10, processed: 6, failed: 1 });
      expect(await store.checkpoint(job.id)).to.deep.equal({ at: 4 });
      await store.finish(job.id, 'SUCCEEDED', {}, undefined, lease);
      expect(await store.checkpoint(job.id)).to.equal(undefined);
      const late = await store.progress(lease, { processed: 7, failed: 1 }).catch((err: unknown) => err);
      expect(late).to.be.instanceOf(LeaseLostError);
      expect((late as LeaseLostError).message).to.equal(`job ${job.id} is SUCCEEDED`);
    });

    it('fences a lease released and claimed again: the old lease can no longer write, renew or finish', async () => {
      const job = await store.insert({ spec: batch('a.jsonl') });
      const first = (await start(job.id))!;
      await store.progress(first, { processed: 1, failed: 0, checkpoint: { at: 1 } });
      await store.release(first);
      expect((await store.get(job.id))!.owner).to.equal('');
      const second = (await store.claim('batch', 'r2', HOUR))!;
      expect(second.lease).to.deep.equal({ jobId: job.id, owner: 'r2', epoch: 2 });
      expect(second.job).to.deep.include({ state: 'RUNNING', owner: 'r2', processed: 1 });
      const refused = await store.progress(first, { processed: 5, failed: 0, checkpoint: { at: 5 } }).catch((err: unknown) => err);
      expect((refused as LeaseLostError).message).to.equal(`job ${job.id} is held by r2 now`);
      expect(await store.renew(first, HOUR).catch((err: unknown) => (err as Error).name)).to.equal('LeaseLostError');
      expect(await store.finish(job.id, 'SUCCEEDED', {}, undefined, first)).to.equal(undefined);
      expect(await store.checkpoint(job.id)).to.deep.equal({ at: 1 });
      await store.renew(second.lease, HOUR);
      expect(await store.finish(job.id, 'SUCCEEDED', {}, undefined, second.lease)).to.deep.include({ state: 'SUCCEEDED' });
    });

    it('claims a RUNNING job no replica holds before the oldest QUEUED one', async () => {
      const queued = await store.insert({ spec: batch('q.jsonl') });
      const running = await store.insert({ spec: batch('r.jsonl') });
      await store.release((await start(running.id))!);
      expect((await store.claim('batch', 'r2', HOUR))!.job.id).to.equal(running.id);
      expect((await store.claim('batch', 'r2', HOUR))!.job.id).to.equal(queued.id);
      expect(await store.claim('batch', 'r2', HOUR)).to.equal(undefined);
      expect(await store.claim('prediction', 'r2', HOUR)).to.equal(undefined);
    });

    it('gives each schedule tick to one caller only', async () => {
      expect(await Promise.all([store.claimTick('s', 1000), store.claimTick('s', 1000), store.claimTick('t', 1000)])).to.deep.equal([true, false, true]);
      expect(await store.claimTick('s', 2000)).to.equal(true);
    });

    it('queues the webhook delivery in the same transaction that ends the job, and hands a due one to one claim at a time', async () => {
      const job = await store.insert({ spec: batch('a.jsonl'), callbackUrl: 'http://h/x' });
      await store.finish(job.id, 'CANCELLED', {}, (j) => ({ id: 'd-1', jobId: j.id, url: j.callbackUrl, body: `{"state":"${j.state}"}`, dueMs: clock.now() }));
      expect(await store.claimDeliveries(clock.now(), 10, 'r1', HOUR)).to.deep.equal([{ id: 'd-1', jobId: job.id, url: 'http://h/x', body: '{"state":"CANCELLED"}', attempts: 0, dueMs: clock.now(), lastError: '' }]);
      expect(await store.claimDeliveries(clock.now(), 10, 'r2', HOUR)).to.deep.equal([]);
      await store.deliveryFailed('d-1', 1, clock.now() + 500, 'HTTP 500');
      expect(await store.claimDeliveries(clock.now(), 10, 'r1', HOUR)).to.deep.equal([]);
      expect(await store.nextDeliveryDueMs()).to.equal(clock.now() + 500);
      clock.advance(500);
      expect((await store.claimDeliveries(clock.now(), 10, 'r2', HOUR)).map((d) => [d.id, d.attempts, d.lastError])).to.deep.equal([['d-1', 1, 'HTTP 500']]);
      await store.deleteDelivery('d-1');
      expect(await store.nextDeliveryDueMs()).to.equal(undefined);
    });

    it('deletes jobs that ended before the retention cut-off, and never one that has not ended', async () => {
      const old = await store.insert({ spec: batch('old.jsonl') });
      await store.finish(old.id, 'CANCELLED', {});
      const running = await store.insert({ spec: batch('running.jsonl') });
      await start(running.id);
      clock.advance(48 * HOUR);
      const recent = await store.insert({ spec: batch('recent.jsonl') });
      await store.finish(recent.id, 'CANCELLED', {});
      expect(await store.sweep(clock.now() - 24 * HOUR, 1000)).to.equal(1);
      expect(await Promise.all([old, running, recent].map(async (j) => (await store.get(j.id))?.state))).to.deep.equal([undefined, 'RUNNING', 'CANCELLED']);
    });

    it('lists jobs newest first, by state, a page at a time', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await store.insert({ spec: batch(`${i}.jsonl`) })).id);
      await start(ids[1]!);
      const first = await store.list({ states: [], pageSize: 2 });
      expect(first.jobs.map((j) => j.id)).to.deep.equal([ids[4], ids[3]]);
      const second = await store.list({ states: [], pageSize: 2, afterSeq: first.next });
      expect(second.jobs.map((j) => j.id)).to.deep.equal([ids[2], ids[1]]);
      const third = await store.list({ states: [], pageSize: 2, afterSeq: second.next });
      expect([third.jobs.map((j) => j.id), third.next]).to.deep.equal([[ids[0]], undefined]);
      expect((await store.list({ states: ['RUNNING'], pageSize: 10 })).jobs.map((j) => j.id)).to.deep.equal([ids[1]]);
    });

    it('tells the ids and states of the unfinished jobs of a kind, RUNNING first, then oldest first', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await store.insert({ spec: batch(`${i}.jsonl`) })).id);
      await store.insert({ spec: { kind: 'prediction', request: { modelName: 'm', modelVersion: '', inputs: {}, outputNames: [], id: '' } } });
      await start(ids[3]!);
      await start(ids[0]!);
      await store.finish(ids[0]!, 'FAILED', { error: { code: 'INTERNAL', message: 'x' } });
      await store.finish(ids[2]!, 'CANCELLED', {});
      expect(await store.unfinished('batch')).to.deep.equal([
        { id: ids[3], state: 'RUNNING' },
        { id: ids[1], state: 'QUEUED' },
        { id: ids[4], state: 'QUEUED' },
      ]);
    });

    if (kind === 'sqlite') {
      it('refuses a file written by a newer inferd, naming it', async () => {
        await store.close();
        const file = path.join(dir, 'jobs.sqlite');
        const db = new Database(file);
        db.pragma('user_version = 99');
        db.close();
        expect(() => SqliteJobStore.open({ file, clock })).to.throw(`${file} was written by a newer inferd (schema 99; this one knows 2)`);
      });

      it('holds no job a stopped process left RUNNING once opened again: it is claimed first, with the epoch raised', async () => {
        const job = await store.insert({ spec: batch('a.jsonl') });
        await start(job.id);
        await store.close();
        store = await open();
        expect((await store.get(job.id))!.owner).to.equal('');
        expect((await store.claim('batch', 'r1', HOUR))!.lease).to.deep.equal({ jobId: job.id, owner: 'r1', epoch: 2 });
      });
    } else {
      it('announces every change, made through any connection, with the job as it is now', async () => {
        const other = await open();
        try {
          const seen: string[] = [];
          const job = await other.insert({ spec: batch('a.jsonl') });
          const ended = new Promise<void>((resolve) => {
            store.on('change', (j) => {
              if (j.id !== job.id) return;
              seen.push(`${j.state}:${j.processed}`);
              if (j.state === 'SUCCEEDED') resolve();
            });
          });
          const lease = (await other.claimJob(job.id, 'r2', HOUR))!.lease;
          await other.progress(lease, { total: 2, processed: 2, failed: 0 });
          await other.finish(job.id, 'SUCCEEDED', {}, undefined, lease);
          await ended;
          expect(seen[seen.length - 1]).to.equal('SUCCEEDED:2');
          expect(seen.filter((s) => s.startsWith('SUCCEEDED'))).to.have.length(1);
        } finally {
          await other.close();
        }
      });

      it('sweeps once in a period across replicas', async () => {
        const other = await open();
        try {
          const old = await store.insert({ spec: batch('old.jsonl') });
          await store.finish(old.id, 'CANCELLED', {});
          clock.advance(48 * HOUR);
          expect(await Promise.all([store.sweep(clock.now() - HOUR, HOUR), other.sweep(clock.now() - HOUR, HOUR)]).then((n) => n.sort())).to.deep.equal([0, 1]);
        } finally {
          await other.close();
        }
      });

      it('migrates an empty database once when replicas start at the same moment', async () => {
        await store.close();
        const stores = await Promise.all([open(), open(), open(), open()]);
        const client = stores[0]!;
        try {
          const job = await client.insert({ spec: batch('a.jsonl') });
          expect((await stores[3]!.get(job.id))!.state).to.equal('QUEUED');
        } finally {
          await Promise.all(stores.map((s) => s.close()));
        }
        store = await open();
      });
    }
  });
}
