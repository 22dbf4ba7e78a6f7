import { getEventListeners } from 'node:events';
import { expect } from 'chai';
import { InferdError } from '../../../src/inferd-error';
import { DynamicBatcher, type DynamicBatcherOptions } from '../../../src/scheduler/dynamic-batcher';
import type { Runner } from '../../../src/scheduler/runner';
import type { HostTensor } from '../../../src/tensor/tensor-types';

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

const unbatched = (maxQueueSize: number, label: string): DynamicBatcherOptions => ({
  maxQueueSize,
  label,
  maxBatchSize: 0,
  preferredBatchSizes: [],
  maxQueueDelayUs: 0,
});
const feeds = (tag: string): Record<string, HostTensor> => ({ tag: { type: 'string', dims: [1], data: [tag] } });
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('DynamicBatcher', () => {
  it('runs one request per instance and queues the rest in arrival order', async () => {
    const runner = new ManualRunner();
    const batcher = new DynamicBatcher([runner], unbatched(10, 'm'));
    const never = new AbortController().signal;
    const done = ['a', 'b', 'c'].map((tag) => batcher.submit(feeds(tag), [], never));
    expect(runner.started).to.deep.equal(['a']);
    expect(batcher.depth).to.equal(2);
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
    const batcher = new DynamicBatcher([runner], unbatched(10, 'm'));
    const first = batcher.submit(feeds('first'), [], new AbortController().signal);
    const controller = new AbortController();
    const dropped = batcher.submit(feeds('dropped'), [], controller.signal).catch((e: unknown) => e);
    controller.abort(new InferdError('DEADLINE_EXCEEDED', 'too late'));
    const err = (await dropped) as InferdError;
    expect(err.code).to.equal('DEADLINE_EXCEEDED');
    expect(batcher.depth).to.equal(0);
    runner.finishOne();
    await first;
    await tick();
    expect(runner.started).to.deep.equal(['first']);
  });

  it('refuses a request whose signal already fired', async () => {
    const batcher = new DynamicBatcher([new ManualRunner()], unbatched(10, 'm'));
    const controller = new AbortController();
    controller.abort(new InferdError('CANCELLED', 'gone'));
    const err = (await batcher.submit(feeds('x'), [], controller.signal).catch((e: unknown) => e)) as InferdError;
    expect(err.code).to.equal('CANCELLED');
  });

  it('answers RESOURCE_EXHAUSTED past maxQueueSize waiting requests', async () => {
    const runner = new ManualRunner();
    const batcher = new DynamicBatcher([runner], unbatched(1, 'model "m" version 1'));
    const never = new AbortController().signal;
    const running = batcher.submit(feeds('a'), [], never);
    const waiting = batcher.submit(feeds('b'), [], never);
    const err = (await batcher.submit(feeds('c'), [], never).catch((e: unknown) => e)) as InferdError;
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
    const batcher = new DynamicBatcher([runner], unbatched(10, 'm'));
    const never = new AbortController().signal;
    void batcher.submit(feeds('a'), [], never);
    void batcher.submit(feeds('b'), [], never);
    let idle = false;
    void batcher.whenIdle().then(() => (idle = true));
    runner.finishOne();
    await tick();
    expect(idle).to.equal(false);
    runner.finishOne();
    await tick();
    await tick();
    expect(idle).to.equal(true);
  });
});

describe('DynamicBatcher statistics', () => {
  it('counts successes, failures and runs, and sums queue and run time', async () => {
    const runner = new ManualRunner();
    const batcher = new DynamicBatcher([runner], unbatched(1, 'm'));
    const never = new AbortController().signal;
    const a = batcher.submit(feeds('a'), [], never);
    const b = batcher.submit(feeds('b'), [], never);
    await batcher.submit(feeds('c'), [], never).catch(() => undefined); // queue full
    runner.finishOne();
    await a;
    await tick();
    runner.finishOne();
    await b;
    await tick();
    const s = batcher.stats();
    expect({ success: s.success, fail: s.fail, executions: s.executions }).to.deep.equal({
      success: 2,
      fail: 1,
      executions: 2,
    });
    expect(s.queueNs > 0n).to.equal(true);
    expect(s.computeNs > 0n).to.equal(true);
    expect(s.lastInferenceMs).to.be.closeTo(Date.now(), 5000);
  });
});

describe('DynamicBatcher priorities', () => {
  it('runs every waiting real-time request before background work, in arrival order within each', async () => {
    const runner = new ManualRunner();
    const batcher = new DynamicBatcher([runner], unbatched(10, 'm'));
    const never = new AbortController().signal;
    const all = [
      batcher.submit(feeds('first'), [], never),
      batcher.submit(feeds('job-1'), [], never, { priority: 'background' }),
      batcher.submit(feeds('rt-1'), [], never),
      batcher.submit(feeds('job-2'), [], never, { priority: 'background' }),
      batcher.submit(feeds('rt-2'), [], never, { priority: 'realtime' }),
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

/** A runner that records each run's rows and answers y = x * 2 on whatever it is given. */
class DoublingRunner implements Runner {
  readonly runs: number[][] = [];
  private readonly finishers: (() => void)[] = [];

  run(feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
    const x = feeds['x']!;
    this.runs.push(Array.from(x.data as Float32Array));
    const y: HostTensor = { type: 'float32', dims: x.dims, data: (x.data as Float32Array).map((v) => v * 2) };
    return new Promise((resolve) => this.finishers.push(() => resolve({ y })));
  }

  finishOne(): void {
    this.finishers.shift()!();
  }
}

/** A clock the test moves by hand. */
class ManualClock {
  private nowMs = 0;
  private timers: { at: number; f: () => void; id: number }[] = [];
  private nextId = 1;
  now(): number {
    return this.nowMs;
  }
  setTimeout(f: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.nowMs + ms, f, id });
    return id;
  }
  clearTimeout(id: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== id);
  }
  advance(ms: number): void {
    this.nowMs += ms;
    const due = this.timers.filter((t) => t.at <= this.nowMs);
    this.timers = this.timers.filter((t) => t.at > this.nowMs);
    for (const t of due) t.f();
  }
}

const row = (...values: number[]): Record<string, HostTensor> => ({
  x: { type: 'float32', dims: [1, values.length], data: Float32Array.from(values) },
});

describe('DynamicBatcher batching', () => {
  const batched = (extra: Partial<DynamicBatcherOptions> = {}): DynamicBatcherOptions => ({
    maxQueueSize: 100,
    label: 'm',
    maxBatchSize: 4,
    preferredBatchSizes: [],
    maxQueueDelayUs: 0,
    ...extra,
  });
  const never = new AbortController().signal;

  it('lets a run take up to a quarter of the requests waiting, past maxBatchSize, up to deepQueueMaxBatchSize', async () => {
    for (const [deep, sizes] of [
      [32, [1, 24, 18, 14, 10, 8, 8, 8, 8, 1]], // 99 waiting after the first: 24, then 75: 18, 57: 14, ...
      [20, [1, 20, 19, 15, 11, 8, 8, 8, 8, 2]],
      [undefined, [1, ...Array(12).fill(8), 3]],
    ] as const) {
      const runner = new DoublingRunner();
      const batcher = new DynamicBatcher([runner], batched({ maxBatchSize: 8, deepQueueMaxBatchSize: deep }));
      const answers = Array.from({ length: 100 }, (_, i) =>
        batcher.submit(row(i), ['y'], new AbortController().signal),
      );
      while (runner.runs.length < sizes.length || batcher.depth > 0) {
        runner.finishOne();
        await tick();
      }
      runner.finishOne();
      const values = await Promise.all(answers);
      expect([deep, runner.runs.map((r) => r.length)]).to.deep.equal([deep, sizes]);
      expect(values.map((v) => (v['y']!.data as Float32Array)[0])).to.deep.equal(
        Array.from({ length: 100 }, (_, i) => 2 * i),
      );
    }
  });

  it('stacks what waited while the instance was busy into one run and gives each request its own rows back', async () => {
    const runner = new DoublingRunner();
    const batcher = new DynamicBatcher([runner], batched());
    const first = batcher.submit(row(1, 1), ['y'], never);
    const rest = [row(2, 3), row(4, 5), row(6, 7)].map((f) => batcher.submit(f, ['y'], never));
    expect(runner.runs).to.deep.equal([[1, 1]]);
    runner.finishOne();
    await first;
    await tick();
    expect(runner.runs[1]).to.deep.equal([2, 3, 4, 5, 6, 7]);
    runner.finishOne();
    const answers = await Promise.all(rest);
    expect(answers.map((a) => [Array.from(a['y']!.data as Float32Array), a['y']!.dims])).to.deep.equal([
      [
        [4, 6],
        [1, 2],
      ],
      [
        [8, 10],
        [1, 2],
      ],
      [
        [12, 14],
        [1, 2],
      ],
    ]);
    expect(batcher.stats()).to.deep.include({ executions: 2, inferences: 4, success: 4, batchSizes: { 1: 1, 3: 1 } });
  });

  it('ends a batch at maxBatchBytes of input and runs the rest next', async () => {
    const runner = new DoublingRunner();
    // Rows of two float32 values are 8 bytes: 16 bytes hold two of them.
    const batcher = new DynamicBatcher([runner], batched({ maxBatchBytes: 16 }));
    const busy = batcher.submit(row(0, 0), ['y'], never);
    const rest = [row(1, 1), row(2, 2), row(3, 3)].map((f) => batcher.submit(f, ['y'], never));
    runner.finishOne();
    await busy;
    await tick();
    expect(runner.runs[1]).to.deep.equal([1, 1, 2, 2]);
    runner.finishOne();
    await tick();
    await tick();
    expect(runner.runs[2]).to.deep.equal([3, 3]);
    runner.finishOne();
    await Promise.all(rest);
    expect(batcher.stats().batchSizes).to.deep.equal({ 1: 2, 2: 1 });
  });

  it('never puts requests of different shapes in one run', async () => {
    const runner = new DoublingRunner();
    const batcher = new DynamicBatcher([runner], batched());
    const busy = batcher.submit(row(0), ['y'], never);
    const a = batcher.submit(row(1, 1), ['y'], never);
    const b = batcher.submit(row(2, 2, 2), ['y'], never);
    const c2 = batcher.submit(row(3, 3), ['y'], never);
    runner.finishOne();
    await busy;
    await tick();
    expect(runner.runs[1]).to.deep.equal([1, 1, 3, 3]);
    runner.finishOne();
    await Promise.all([a, c2]);
    await tick();
    expect(runner.runs[2]).to.deep.equal([2, 2, 2]);
    runner.finishOne();
    await b;
  });

  it('holds a partial batch for at most max_queue_delay_us while an instance is free, then runs it', async () => {
    const clock = new ManualClock();
    const runner = new DoublingRunner();
    const batcher = new DynamicBatcher([runner], batched({ maxQueueDelayUs: 2000, clock }));
    const a = batcher.submit(row(1), ['y'], never);
    expect(runner.runs).to.deep.equal([]);
    clock.advance(1);
    const b = batcher.submit(row(2), ['y'], never);
    expect(runner.runs).to.deep.equal([]);
    clock.advance(1);
    expect(runner.runs).to.deep.equal([[1, 2]]);
    runner.finishOne();
    await Promise.all([a, b]);
  });

  it('runs a full batch at once without waiting out the delay', () => {
    const clock = new ManualClock();
    const runner = new DoublingRunner();
    const batcher = new DynamicBatcher([runner], batched({ maxQueueDelayUs: 1_000_000, clock }));
    for (let i = 0; i < 4; i++) void batcher.submit(row(i), ['y'], never);
    expect(runner.runs).to.deep.equal([[0, 1, 2, 3]]);
  });

  it('fails every request of a batch when the run fails', async () => {
    const runner: Runner = { run: () => Promise.reject(new InferdError('INTERNAL', 'model run failed: boom')) };
    const batcher = new DynamicBatcher([runner], batched());
    const results = await Promise.allSettled([row(1), row(2)].map((f) => batcher.submit(f, ['y'], never)));
    expect(results.map((r) => r.status)).to.deep.equal(['rejected', 'rejected']);
    expect(batcher.stats().fail).to.equal(2);
  });
});

/**
 * An instance as the batcher sees one with a pipeline: it takes batches while one runs and
 * begins each when the one before it ends, skipping it when its signal fired before then.
 */
class PipelinedRunner implements Runner {
  /** Rows (x values) of every batch handed over, and of every batch that began. */
  readonly received: number[][] = [];
  readonly begun: number[][] = [];
  private readonly queue: {
    x: number[];
    signal: AbortSignal | undefined;
    resolve: (o: Record<string, HostTensor>) => void;
    reject: (e: unknown) => void;
    y: HostTensor;
  }[] = [];

  run(
    feeds: Record<string, HostTensor>,
    _outputNames: readonly string[],
    signal?: AbortSignal,
  ): Promise<Record<string, HostTensor>> {
    const x = feeds['x']!;
    const values = Array.from(x.data as Float32Array);
    this.received.push(values);
    const y: HostTensor = { type: 'float32', dims: x.dims, data: (x.data as Float32Array).map((v) => v * 2) };
    return new Promise((resolve, reject) => {
      this.queue.push({ x: values, signal, resolve, reject, y });
      if (this.queue.length === 1) this.beginNext();
    });
  }

  /** Ends the run in progress and begins the next batch that was not dropped. */
  finishOne(): void {
    const done = this.queue.shift()!;
    done.resolve({ y: done.y });
    this.beginNext();
  }

  private beginNext(): void {
    while (this.queue[0]?.signal?.aborted === true) {
      const skipped = this.queue.shift()!;
      skipped.reject(skipped.signal!.reason);
    }
    if (this.queue[0] !== undefined) this.begun.push(this.queue[0].x);
  }
}

describe('DynamicBatcher pipeline', () => {
  const piped = (extra: Partial<DynamicBatcherOptions> = {}): DynamicBatcherOptions => ({
    maxQueueSize: 100,
    label: 'm',
    maxBatchSize: 2,
    preferredBatchSizes: [],
    maxQueueDelayUs: 0,
    pipeline: true,
    ...extra,
  });
  const never = new AbortController().signal;
  const tooLate = (): InferdError =>
    new InferdError('DEADLINE_EXCEEDED', 'the deadline passed before the model ran the request');

  it('hands a busy instance its next batch only when that batch is full', async () => {
    const runner = new PipelinedRunner();
    const batcher = new DynamicBatcher([runner], piped());
    const a = batcher.submit(row(1), ['y'], never);
    const b = batcher.submit(row(2), ['y'], never);
    expect(runner.received).to.deep.equal([[1]]);
    const c = batcher.submit(row(3), ['y'], never);
    expect(runner.received).to.deep.equal([[1], [2, 3]]);
    expect(batcher.depth).to.equal(0);
    const d = batcher.submit(row(4), ['y'], never);
    expect(batcher.depth).to.equal(1);
    runner.finishOne();
    await a;
    await tick();
    expect(runner.begun).to.deep.equal([[1], [2, 3]]);
    expect(runner.received).to.deep.equal([[1], [2, 3]]); // [4] is not full: it waits for a free instance
    runner.finishOne();
    await Promise.all([b, c]);
    await tick();
    expect(runner.received.at(-1)).to.deep.equal([4]);
    runner.finishOne();
    expect(Array.from((await d)['y']!.data as Float32Array)).to.deep.equal([8]);
    expect(batcher.stats()).to.deep.include({ executions: 3, inferences: 4, success: 4, fail: 0 });
  });

  it('answers DEADLINE_EXCEEDED, never running it, a request whose deadline passes while queued behind a pipelined batch', async () => {
    const runner = new PipelinedRunner();
    const batcher = new DynamicBatcher([runner], piped());
    const running = batcher.submit(row(1), ['y'], never);
    const pipelined = [row(2), row(3)].map((f) => batcher.submit(f, ['y'], never));
    const deadline = new AbortController();
    const late = batcher.submit(row(9), ['y'], deadline.signal).catch((e: unknown) => e);
    expect(runner.received).to.deep.equal([[1], [2, 3]]);
    expect(batcher.depth).to.equal(1);
    deadline.abort(tooLate());
    expect(((await late) as InferdError).code).to.equal('DEADLINE_EXCEEDED');
    expect(batcher.depth).to.equal(0);
    runner.finishOne();
    await running;
    runner.finishOne();
    await Promise.all(pipelined);
    await tick();
    expect(runner.begun).to.deep.equal([[1], [2, 3]]);
    expect(runner.received).to.deep.equal([[1], [2, 3]]);
    expect(batcher.stats()).to.deep.include({ success: 3, fail: 1, executions: 2 });
  });

  it('answers at once a request dropped from a pipelined batch that has not begun, and skips a batch whose requests are all dropped', async () => {
    const runner = new PipelinedRunner();
    const batcher = new DynamicBatcher([runner], piped());
    const running = batcher.submit(row(1), ['y'], never);
    const first = new AbortController();
    const second = new AbortController();
    const p2 = batcher.submit(row(2), ['y'], first.signal).catch((e: unknown) => e);
    const p3 = batcher.submit(row(3), ['y'], second.signal).catch((e: unknown) => e);
    expect(runner.received).to.deep.equal([[1], [2, 3]]);
    first.abort(tooLate());
    expect(((await p2) as InferdError).code).to.equal('DEADLINE_EXCEEDED');
    second.abort(new InferdError('CANCELLED', 'the client cancelled the call'));
    expect(((await p3) as InferdError).code).to.equal('CANCELLED');
    runner.finishOne();
    await running;
    await tick();
    await tick();
    expect(runner.begun).to.deep.equal([[1]]);
    expect(batcher.inFlight).to.equal(0);
    expect(batcher.stats()).to.deep.include({ success: 1, fail: 2, executions: 1, inferences: 1 });
    await batcher.whenIdle();
  });

  it('adds one abort listener to a request for its whole wait, in the queue and then in a pipelined batch, and removes it once that batch begins', async () => {
    const runner = new PipelinedRunner();
    const batcher = new DynamicBatcher([runner], piped());
    const running = batcher.submit(row(1), ['y'], never);
    const signals = [new AbortController().signal, new AbortController().signal];
    const calls: string[] = [];
    signals.forEach((s, i) => {
      const [add, remove] = [s.addEventListener.bind(s), s.removeEventListener.bind(s)];
      s.addEventListener = (...args: Parameters<AbortSignal['addEventListener']>) => (
        calls.push(`add ${i}`),
        add(...args)
      );
      s.removeEventListener = (...args: Parameters<AbortSignal['removeEventListener']>) => (
        calls.push(`remove ${i}`),
        remove(...args)
      );
    });
    const listeners = (): number[] => signals.map((s) => getEventListeners(s, 'abort').length);
    const queued = batcher.submit(row(2), ['y'], signals[0]!);
    expect([runner.received.length, listeners()]).to.deep.equal([1, [1, 0]]); // in the queue
    const pipelined = batcher.submit(row(3), ['y'], signals[1]!);
    expect([runner.received.length, listeners()]).to.deep.equal([2, [1, 1]]); // both in a batch behind the run
    runner.finishOne();
    await running;
    expect([runner.begun.length, listeners()]).to.deep.equal([2, [0, 0]]); // their batch began
    expect(calls).to.deep.equal(['add 0', 'add 1', 'remove 0', 'remove 1']);
    runner.finishOne();
    await Promise.all([queued, pipelined]);
  });

  it('keeps a request whose signal fires after its pipelined batch began: it runs, and its answer is its own', async () => {
    const runner = new PipelinedRunner();
    const batcher = new DynamicBatcher([runner], piped());
    const running = batcher.submit(row(1), ['y'], never);
    const controller = new AbortController();
    const p2 = batcher.submit(row(2), ['y'], controller.signal);
    const p3 = batcher.submit(row(3), ['y'], never);
    runner.finishOne();
    await running;
    controller.abort(tooLate());
    runner.finishOne();
    const [a2, a3] = await Promise.all([p2, p3]);
    expect([Array.from(a2['y']!.data as Float32Array), Array.from(a3['y']!.data as Float32Array)]).to.deep.equal([
      [4],
      [6],
    ]);
  });

  it('holds one abort listener on a signal that all its waiting requests share, and rejects each with its reason when it fires', async () => {
    const runner = new DoublingRunner();
    const batcher = new DynamicBatcher([runner], piped({ maxBatchSize: 4 }));
    const stream = new AbortController();
    const answers = Array.from({ length: 40 }, (_, i) =>
      batcher.submit(row(i), ['y'], stream.signal).catch((e: unknown) => e),
    );
    // One request runs, a full batch of 4 waits behind it in the instance, 35 wait in the queue.
    expect([runner.runs.length, batcher.depth, getEventListeners(stream.signal, 'abort').length]).to.deep.equal([
      2, 35, 1,
    ]);
    stream.abort(new InferdError('CANCELLED', 'the client cancelled the call'));
    runner.finishOne();
    const settled = await Promise.all(answers);
    expect((settled[0] as Record<string, HostTensor>)['y']!.data).to.deep.equal(Float32Array.from([0]));
    expect(settled.slice(1).map((e) => (e as InferdError).message)).to.deep.equal(
      Array(39).fill('the client cancelled the call'),
    );
    expect([batcher.depth, getEventListeners(stream.signal, 'abort').length, batcher.stats().fail]).to.deep.equal([
      0, 0, 39,
    ]);
  });

  it('takes the shared listener off once every request of the signal has been answered', async () => {
    const runner = new DoublingRunner();
    const batcher = new DynamicBatcher([runner], piped({ maxBatchSize: 4 }));
    const stream = new AbortController();
    const answers = Array.from({ length: 10 }, (_, i) => batcher.submit(row(i), ['y'], stream.signal));
    expect(getEventListeners(stream.signal, 'abort')).to.have.length(1);
    while (batcher.depth > 0 || batcher.inFlight > 0) {
      runner.finishOne();
      await tick();
    }
    const values = await Promise.all(answers);
    expect(values.map((v) => (v['y']!.data as Float32Array)[0])).to.deep.equal(
      Array.from({ length: 10 }, (_, i) => 2 * i),
    );
    expect(getEventListeners(stream.signal, 'abort')).to.have.length(0);
  });
});
