import { getEventListeners } from 'node:events';
import { expect } from 'chai';
import { InferdError } from '../../../src/inferd-error';
import { RequestQueue, type Priority, type QueuedRequest } from '../../../src/scheduler/request-queue';
import { FakeWallClock } from '../../support/fake-wall-clock';

interface TestRequest extends QueuedRequest {
  readonly name: string;
  /** What it was rejected with, once it was. */
  rejected?: unknown;
}

/** A request with its own controller; with `deadlineMs`, a timer on `clock` aborts it then, as a call's deadline does. */
function request(
  name: string,
  o: { priority?: Priority; clock?: FakeWallClock; deadlineMs?: number } = {},
): TestRequest & { controller: AbortController } {
  const controller = new AbortController();
  if (o.deadlineMs !== undefined) {
    o.clock!.setTimeout(
      () => controller.abort(new InferdError('DEADLINE_EXCEEDED', `${name}: the deadline passed`)),
      o.deadlineMs,
    );
  }
  const r: TestRequest & { controller: AbortController } = {
    name,
    key: 'k',
    rows: 1,
    bytes: 4,
    priority: o.priority ?? 'realtime',
    signal: controller.signal,
    controller,
    reject: (reason) => (r.rejected = reason),
    onAbort: undefined,
    drop: undefined,
  };
  return r;
}

const names = (q: RequestQueue<TestRequest>): string[] => q.waiting.map((r) => r.name);

describe('RequestQueue', () => {
  it('keeps every real-time request ahead of background work, in arrival order within each', () => {
    const q = new RequestQueue<TestRequest>(() => undefined);
    q.add(request('job-1', { priority: 'background' }));
    q.add(request('rt-1'));
    q.add(request('job-2', { priority: 'background' }));
    q.add(request('rt-2'));
    expect(names(q)).to.deep.equal(['rt-1', 'rt-2', 'job-1', 'job-2']);
    expect(q.length).to.equal(4);
  });

  it('takes out the requests picked, in order, and leaves the rest in theirs, each with no listener left', () => {
    const q = new RequestQueue<TestRequest>(() => undefined);
    const all = ['a', 'b', 'c', 'd'].map((n) => request(n));
    for (const r of all) q.add(r);
    expect(getEventListeners(all[0]!.signal, 'abort')).to.have.length(1);
    expect(q.take([0, 2]).map((r) => r.name)).to.deep.equal(['a', 'c']);
    expect(names(q)).to.deep.equal(['b', 'd']);
    expect(getEventListeners(all[0]!.signal, 'abort')).to.have.length(0);
    expect(getEventListeners(all[1]!.signal, 'abort')).to.have.length(1);
    // Taken, a request is no longer the queue's to drop.
    all[0]!.controller.abort(new InferdError('CANCELLED', 'gone'));
    expect(all[0]!.rejected).to.equal(undefined);
  });

  it('drops a request whose deadline passes while it waits: rejected with the reason at that moment, the rest kept in order', () => {
    const clock = new FakeWallClock(0);
    const dropped: string[] = [];
    const q = new RequestQueue<TestRequest>((r) => dropped.push(r.name));
    const late = request('late', { clock, deadlineMs: 5 });
    q.add(request('a'));
    q.add(late);
    q.add(request('job', { priority: 'background' }));
    clock.advance(4);
    expect([names(q), dropped, late.rejected]).to.deep.equal([['a', 'late', 'job'], [], undefined]);
    clock.advance(1);
    expect(names(q)).to.deep.equal(['a', 'job']);
    expect(dropped).to.deep.equal(['late']);
    expect((late.rejected as InferdError).message).to.equal('late: the deadline passed');
    expect(getEventListeners(late.signal, 'abort')).to.have.length(0);
    // Real-time work still goes in ahead of the background request after the drop.
    q.add(request('b'));
    expect(names(q)).to.deep.equal(['a', 'b', 'job']);
  });

  it('rejects every waiting request with the reason given and removes their listeners', () => {
    const dropped: string[] = [];
    const q = new RequestQueue<TestRequest>((r) => dropped.push(r.name));
    const all = [request('a'), request('job', { priority: 'background' })];
    for (const r of all) q.add(r);
    const stopping = new InferdError('UNAVAILABLE', 'the server is stopping');
    expect(q.failAll(stopping).map((r) => r.name)).to.deep.equal(['a', 'job']);
    expect(all.map((r) => r.rejected)).to.deep.equal([stopping, stopping]);
    expect(q.length).to.equal(0);
    for (const r of all) expect(getEventListeners(r.signal, 'abort')).to.have.length(0);
    all[0]!.controller.abort(new InferdError('CANCELLED', 'gone'));
    expect(dropped).to.deep.equal([]);
    q.add(request('b'));
    q.add(request('job-2', { priority: 'background' }));
    q.add(request('c'));
    expect(names(q)).to.deep.equal(['b', 'c', 'job-2']);
  });
});
