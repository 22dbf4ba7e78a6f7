import { getEventListeners } from 'node:events';
import { expect } from 'chai';
import { InferdError } from '../../../src/inferd-error';
import { InstancePool, type BatchedRequest, type AssignedBatch } from '../../../src/scheduler/instance-pool';
import type { Runner } from '../../../src/scheduler/runner';
import type { HostTensor } from '../../../src/tensor/tensor-types';
import { FakeWallClock } from '../../support/fake-wall-clock';

/** An instance whose runs end when the test says; it records each run it is handed, with its skip signal. */
class ManualRunner implements Runner {
  readonly received: { tag: string; signal: AbortSignal | undefined }[] = [];
  private readonly ends: { resolve: (o: Record<string, HostTensor>) => void; reject: (e: unknown) => void }[] = [];

  constructor(readonly name: string) {}

  run(
    feeds: Record<string, HostTensor>,
    _outputNames: readonly string[],
    signal?: AbortSignal,
  ): Promise<Record<string, HostTensor>> {
    this.received.push({ tag: (feeds['tag']!.data as string[])[0]!, signal });
    return new Promise((resolve, reject) => this.ends.push({ resolve, reject }));
  }

  /** Rejects the newest run at once, as a runner refuses a run (a closing session, say). */
  refuseNewest(err: Error): void {
    this.ends.pop()!.reject(err);
    this.received.pop();
  }

  /** Settles the oldest run: with its feeds back, or rejected with its signal's reason when that fired (a skip). */
  endOne(): void {
    const end = this.ends.shift()!;
    const { tag, signal } = this.received[this.received.length - this.ends.length - 1]!;
    if (signal?.aborted === true) end.reject(signal.reason);
    else end.resolve({ tag: { type: 'string', dims: [1], data: [tag] } });
  }
}

interface TestRequest extends BatchedRequest {
  readonly name: string;
  readonly controller: AbortController;
  rejected?: unknown;
}

function request(name: string, clock?: FakeWallClock, deadlineMs?: number): TestRequest {
  const controller = new AbortController();
  if (deadlineMs !== undefined)
    clock!.setTimeout(
      () => controller.abort(new InferdError('DEADLINE_EXCEEDED', `${name}: the deadline passed`)),
      deadlineMs,
    );
  const r: TestRequest = {
    name,
    controller,
    signal: controller.signal,
    reject: (reason) => (r.rejected = reason),
    onAbort: undefined,
    drop: undefined,
  };
  return r;
}

const tag = (t: string): Record<string, HostTensor> => ({ tag: { type: 'string', dims: [1], data: [t] } });

/** A pool over `runners` that logs what it tells: runs beginning and ending, requests dropped. */
function pool(
  runners: Runner[],
  instanceIds?: (number | string)[],
): { pool: InstancePool<TestRequest>; log: string[] } {
  const log: string[] = [];
  const names = (b: AssignedBatch<TestRequest>): string => b.requests.map((r) => r.name).join('+');
  const p = new InstancePool<TestRequest>(
    runners,
    {
      runBegins: (b) => {
        log.push(`begins ${names(b)} on ${b.instanceId}`);
        return (err) => log.push(`ended ${names(b)}${err === undefined ? '' : ` with ${(err as Error).message}`}`);
      },
      requestDropped: (r) => log.push(`dropped ${r.name}`),
    },
    instanceIds,
  );
  return { pool: p, log };
}

describe('InstancePool', () => {
  it('uses the idle instance freed last first, and has none while every instance is busy', async () => {
    const [a, b] = [new ManualRunner('a'), new ManualRunner('b')];
    const { pool: p, log } = pool([a, b], ['first', 'second']);
    expect(p.idleInstance()).to.equal(b);
    const one = p.assign(b, [request('r1')], 1, tag('r1'), []);
    expect(p.idleInstance()).to.equal(a);
    p.assign(a, [request('r2')], 1, tag('r2'), []);
    expect([p.idleInstance(), p.inFlight]).to.deep.equal([undefined, 2]);
    // A batch handed to an idle instance begins at once and cannot be skipped.
    expect(b.received).to.deep.equal([{ tag: 'r1', signal: undefined }]);
    expect(log).to.deep.equal(['begins r1 on second', 'begins r2 on first']);
    b.endOne();
    await one.outputs;
    p.release(one, undefined);
    expect([p.idleInstance(), p.inFlight]).to.deep.equal([b, 1]);
    expect(log.at(-1)).to.equal('ended r1');
  });

  it('offers for a pipelined batch the first busy instance with nothing waiting behind its run', () => {
    const [a, b] = [new ManualRunner('a'), new ManualRunner('b')];
    const { pool: p } = pool([a, b]);
    expect(p.instanceWithNothingBehind()).to.equal(undefined);
    p.assign(b, [request('r1')], 1, tag('r1'), []);
    p.assign(a, [request('r2')], 1, tag('r2'), []);
    expect(p.instanceWithNothingBehind()).to.equal(a);
    p.assign(a, [request('r3')], 1, tag('r3'), []);
    expect(p.instanceWithNothingBehind()).to.equal(b);
    p.assign(b, [request('r4')], 1, tag('r4'), []);
    expect([p.instanceWithNothingBehind(), p.inFlight]).to.deep.equal([undefined, 4]);
  });

  it('begins a batch handed to a busy instance when the run before it ends, and tells each end with its error', async () => {
    const runner = new ManualRunner('a');
    const { pool: p, log } = pool([runner]);
    const first = p.assign(runner, [request('r1')], 1, tag('r1'), []);
    const second = p.assign(runner, [request('r2'), request('r3')], 2, tag('r2+r3'), []);
    expect(runner.received[1]!.signal?.aborted).to.equal(false);
    expect(log).to.deep.equal(['begins r1 on 0']);
    runner.endOne();
    await first.outputs;
    p.release(first, undefined);
    expect(log).to.deep.equal(['begins r1 on 0', 'ended r1', 'begins r2+r3 on 0']);
    p.release(second, new Error('boom'));
    expect(log.at(-1)).to.equal('ended r2+r3 with boom');
    expect([p.idleInstance(), p.inFlight]).to.deep.equal([runner, 0]);
  });

  it('drops a request of a waiting batch when its deadline passes, and has the instance skip the batch once all are dropped', async () => {
    const clock = new FakeWallClock(0);
    const runner = new ManualRunner('a');
    const { pool: p, log } = pool([runner]);
    const first = p.assign(runner, [request('r1')], 1, tag('r1'), []);
    const [r2, r3] = [request('r2', clock, 5), request('r3', clock, 10)];
    const skipped = p.assign(runner, [r2, r3], 2, tag('r2+r3'), []);
    const skip = runner.received[1]!.signal!;
    clock.advance(5);
    expect((r2.rejected as InferdError).message).to.equal('r2: the deadline passed');
    expect([log.at(-1), [...skipped.dropped].map((r) => r.name), skip.aborted]).to.deep.equal([
      'dropped r2',
      ['r2'],
      false,
    ]);
    clock.advance(5);
    expect((r3.rejected as InferdError).message).to.equal('r3: the deadline passed');
    expect([skip.aborted, (skip.reason as InferdError).message]).to.deep.equal([true, 'r3: the deadline passed']);
    runner.endOne();
    await first.outputs;
    p.release(first, undefined);
    // Skipped: never reported as a run.
    expect(log).to.deep.equal(['begins r1 on 0', 'dropped r2', 'dropped r3', 'ended r1']);
    runner.endOne();
    const err = await skipped.outputs.catch((e: unknown) => e);
    expect((err as InferdError).message).to.equal('r3: the deadline passed');
    p.release(skipped, err);
    expect([p.inFlight, p.idleInstance(), log.length]).to.deep.equal([0, runner, 4]);
  });

  it('keeps a request whose signal fires once its batch began, with no listener left on it', async () => {
    const runner = new ManualRunner('a');
    const { pool: p, log } = pool([runner]);
    const first = p.assign(runner, [request('r1')], 1, tag('r1'), []);
    const r2 = request('r2');
    p.assign(runner, [r2], 1, tag('r2'), []);
    expect(getEventListeners(r2.signal, 'abort')).to.have.length(1);
    runner.endOne();
    await first.outputs;
    p.release(first, undefined);
    expect(getEventListeners(r2.signal, 'abort')).to.have.length(0);
    r2.controller.abort(new InferdError('CANCELLED', 'gone'));
    expect([r2.rejected, runner.received[1]!.signal!.aborted, log.at(-1)]).to.deep.equal([
      undefined,
      false,
      'begins r2 on 0',
    ]);
  });

  it('skips only the batch whose requests were all dropped, whichever batches waited behind a run before it', async () => {
    const runner = new ManualRunner('a');
    const { pool: p, log } = pool([runner]);
    // Batches that waited behind a run and ran: their skip signals never fired.
    for (const name of ['r1', 'r3']) {
      const running = p.assign(runner, [request(name)], 1, tag(name), []);
      const next = p.assign(runner, [request(`${name}+`)], 1, tag(`${name}+`), []);
      runner.endOne();
      p.release(running, undefined);
      runner.endOne();
      await next.outputs;
      p.release(next, undefined);
    }
    const running = p.assign(runner, [request('r5')], 1, tag('r5'), []);
    const [r6, r7] = [request('r6'), request('r7')];
    const skipped = p.assign(runner, [r6], 1, tag('r6'), []);
    const kept = p.assign(runner, [r7], 1, tag('r7'), []);
    r6.controller.abort(new InferdError('CANCELLED', 'r6 cancelled'));
    const handed = runner.received.slice(-2).map((r) => [r.tag, r.signal!.aborted]);
    expect(handed).to.deep.equal([
      ['r6', true],
      ['r7', false],
    ]);
    runner.endOne();
    p.release(running, undefined);
    runner.endOne();
    const err = await skipped.outputs.catch((e: unknown) => e);
    expect((err as InferdError).message).to.equal('r6 cancelled');
    p.release(skipped, err);
    runner.endOne();
    expect((await kept.outputs)['tag']!.data).to.deep.equal(['r7']);
    p.release(kept, undefined);
    // A fired skip signal is never handed to a later batch.
    const again = p.assign(runner, [request('r8')], 1, tag('r8'), []);
    p.assign(runner, [request('r9')], 1, tag('r9'), []);
    expect([runner.received.at(-1)!.tag, runner.received.at(-1)!.signal!.aborted]).to.deep.equal(['r9', false]);
    expect(log.slice(-5)).to.deep.equal(['dropped r6', 'ended r5', 'begins r7 on 0', 'ended r7', 'begins r8 on 0']);
    runner.endOne();
    p.release(again, undefined);
  });

  it('forgets a batch its runner refused before it began: a later abort of its requests drops nothing, and its skip signal serves no later batch', async () => {
    const runner = new ManualRunner('a');
    const { pool: p, log } = pool([runner]);
    const running = p.assign(runner, [request('r1')], 1, tag('r1'), []);
    const r2 = request('r2');
    const refused = p.assign(runner, [r2], 1, tag('r2'), []);
    const refusedSkip = runner.received.at(-1)!.signal!;
    runner.refuseNewest(new InferdError('UNAVAILABLE', 'model instance is closed'));
    const err = await refused.outputs.catch((e: unknown) => e);
    p.release(refused, err);
    r2.controller.abort(new InferdError('CANCELLED', 'r2 cancelled'));
    expect([r2.rejected, refusedSkip.aborted, getEventListeners(r2.signal, 'abort').length]).to.deep.equal([
      undefined,
      false,
      0,
    ]);
    p.assign(runner, [request('r3')], 1, tag('r3'), []);
    expect(runner.received.at(-1)!.signal).to.not.equal(refusedSkip);
    runner.endOne();
    p.release(running, undefined);
    expect(log).to.deep.equal(['begins r1 on 0', 'ended r1', 'begins r3 on 0']);
  });
});
