import { expect } from 'chai';
import { InferdError } from '../../src/inferd-error';
import { ModelQueue, type Runner } from '../../src/scheduler/model-queue';
import type { HostTensor } from '../../src/tensor/tensor-types';

/** A runner whose runs finish when the test says so. */
class ManualRunner implements Runner {
  readonly started: string[] = [];
  private readonly finishers: (() => void)[] = [];

  run(feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
    this.started.push((feeds['tag']!.data as string[])[0]!);
    return new Promise((resolve) => this.finishers.push(() => resolve(feeds)));
  }

  finishOne(): void {
    this.finishers.shift()!();
  }
}

const feeds = (tag: string): Record<string, HostTensor> => ({ tag: { type: 'string', dims: [1], data: [tag] } });
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('ModelQueue', () => {
  it('runs one request per instance and queues the rest in arrival order', async () => {
    const runner = new ManualRunner();
    const queue = new ModelQueue([runner], { maxQueueSize: 10, label: 'm' });
    const never = new AbortController().signal;
    const done = ['a', 'b', 'c'].map((tag) => queue.submit(feeds(tag), [], never));
    expect(runner.started).to.deep.equal(['a']);
    expect(queue.depth).to.equal(2);
    runner.finishOne();
    await done[0];
    await tick();
    expect(runner.started).to.deep.equal(['a', 'b']);
    runner.finishOne();
    await tick();
    runner.finishOne();
    await Promise.all(done);
    expect(runner.started).to.deep.equal(['a', 'b', 'c']);
  });

  it('drops a request whose signal fires while queued, without running it', async () => {
    const runner = new ManualRunner();
    const queue = new ModelQueue([runner], { maxQueueSize: 10, label: 'm' });
    const first = queue.submit(feeds('first'), [], new AbortController().signal);
    const controller = new AbortController();
    const dropped = queue.submit(feeds('dropped'), [], controller.signal).catch((e: unknown) => e);
    controller.abort(new InferdError('DEADLINE_EXCEEDED', 'too late'));
    const err = (await dropped) as InferdError;
    expect(err.code).to.equal('DEADLINE_EXCEEDED');
    expect(queue.depth).to.equal(0);
    runner.finishOne();
    await first;
    await tick();
    expect(runner.started).to.deep.equal(['first']);
  });

  it('refuses a request whose signal already fired', async () => {
    const queue = new ModelQueue([new ManualRunner()], { maxQueueSize: 10, label: 'm' });
    const controller = new AbortController();
    controller.abort(new InferdError('CANCELLED', 'gone'));
    const err = (await queue.submit(feeds('x'), [], controller.signal).catch((e: unknown) => e)) as InferdError;
    expect(err.code).to.equal('CANCELLED');
  });

  it('answers RESOURCE_EXHAUSTED past maxQueueSize waiting requests', async () => {
    const runner = new ManualRunner();
    const queue = new ModelQueue([runner], { maxQueueSize: 1, label: 'model "m" version 1' });
    const never = new AbortController().signal;
    const running = queue.submit(feeds('a'), [], never);
    const waiting = queue.submit(feeds('b'), [], never);
    const err = (await queue.submit(feeds('c'), [], never).catch((e: unknown) => e)) as InferdError;
    expect(err.code).to.equal('RESOURCE_EXHAUSTED');
    expect(err.message).to.equal('model "m" version 1: queue is full (1 requests waiting)');
    runner.finishOne();
    await running;
    await tick();
    runner.finishOne();
    await waiting;
  });

  it('settles whenIdle only after queued and running work is done', async () => {
    const runner = new ManualRunner();
    const queue = new ModelQueue([runner], { maxQueueSize: 10, label: 'm' });
    const never = new AbortController().signal;
    void queue.submit(feeds('a'), [], never);
    void queue.submit(feeds('b'), [], never);
    let idle = false;
    void queue.whenIdle().then(() => (idle = true));
    runner.finishOne();
    await tick();
    expect(idle).to.equal(false);
    runner.finishOne();
    await tick();
    await tick();
    expect(idle).to.equal(true);
  });
});

describe('ModelQueue statistics', () => {
  it('counts successes, failures and runs, and sums queue and run time', async () => {
    const runner = new ManualRunner();
    const queue = new ModelQueue([runner], { maxQueueSize: 1, label: 'm' });
    const never = new AbortController().signal;
    const a = queue.submit(feeds('a'), [], never);
    const b = queue.submit(feeds('b'), [], never);
    await queue.submit(feeds('c'), [], never).catch(() => undefined); // queue full
    runner.finishOne();
    await a;
    await tick();
    runner.finishOne();
    await b;
    await tick();
    const s = queue.stats();
    expect({ success: s.success, fail: s.fail, executions: s.executions }).to.deep.equal({ success: 2, fail: 1, executions: 2 });
    expect(s.queueNs > 0n).to.equal(true);
    expect(s.computeNs > 0n).to.equal(true);
    expect(s.lastInferenceMs).to.be.closeTo(Date.now(), 5000);
  });
});

describe('ModelQueue priorities', () => {
  it('runs every waiting real-time request before background work, in arrival order within each', async () => {
    const runner = new ManualRunner();
    const queue = new ModelQueue([runner], { maxQueueSize: 10, label: 'm' });
    const never = new AbortController().signal;
    const all = [
      queue.submit(feeds('first'), [], never),
      queue.submit(feeds('job-1'), [], never, { priority: 'background' }),
      queue.submit(feeds('rt-1'), [], never),
      queue.submit(feeds('job-2'), [], never, { priority: 'background' }),
      queue.submit(feeds('rt-2'), [], never, { priority: 'realtime' }),
    ];
    for (let i = 0; i < all.length; i++) {
      runner.finishOne();
      await tick();
      await tick();
    }
    await Promise.all(all);
    expect(runner.started).to.deep.equal(['first', 'rt-1', 'rt-2', 'job-1', 'job-2']);
  });
});
