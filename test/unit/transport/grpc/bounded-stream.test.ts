import { EventEmitter } from 'node:events';
import { status, type ServerDuplexStream } from '@grpc/grpc-js';
import { expect } from 'chai';
import { InferdError } from '../../../../src/inferd-error';
import { BoundedStream, OpenStreams } from '../../../../src/transport/grpc/bounded-stream';

/** The parts of a grpc-js bidirectional server call that BoundedStream uses, recording what it is told. */
class FakeCall extends EventEmitter {
  readonly written: string[] = [];
  ended = false;
  /** The status the stream ended with when not OK. */
  closedWith: { code: number; details: string } | undefined;
  writableNeedDrain = false;
  private paused = false;

  constructor() {
    super();
    this.on('error', (err: { code: number; details: string }) => (this.closedWith = { code: err.code, details: err.details }));
  }

  getDeadline(): number {
    return Infinity;
  }

  pause(): this {
    this.paused = true;
    return this;
  }

  resume(): this {
    this.paused = false;
    return this;
  }

  isPaused(): boolean {
    return this.paused;
  }

  write(response: string): boolean {
    this.written.push(response);
    return true;
  }

  end(): void {
    this.ended = true;
  }
}

/** Answers the test settles by hand, one per request, with the signal each was given. */
class Answers {
  readonly pending = new Map<string, { signal: AbortSignal; resolve: (r: string) => void; reject: (e: unknown) => void }>();

  readonly answer = (request: string, signal: AbortSignal): Promise<string> =>
    new Promise((resolve, reject) => this.pending.set(request, { signal, resolve, reject }));

  resolve(request: string): void {
    this.pending.get(request)!.resolve(request.toUpperCase());
  }

  reject(request: string, err: unknown): void {
    this.pending.get(request)!.reject(err);
  }
}

const fail = (request: string, err: unknown): string => `${request}: ${(err as Error).message}`;

/** Lets the promise callbacks that follow a settled answer run (one turn of the event loop, no timer). */
const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function stream(maxInFlight: number): { call: FakeCall; answers: Answers; stream: BoundedStream<string, string> } {
  const call = new FakeCall();
  const answers = new Answers();
  const s = new BoundedStream(call as unknown as ServerDuplexStream<string, string>, answers.answer, fail, { maxInFlight });
  return { call, answers, stream: s };
}

describe('BoundedStream', () => {
  it('answers each request once, in the order answers complete, and ends with OK after the half-close once every request is answered', async () => {
    const { call, answers, stream: s } = stream(8);
    call.emit('data', 'a');
    call.emit('data', 'b');
    answers.resolve('b');
    await settled();
    call.emit('end');
    await settled();
    expect([call.written, call.ended]).to.deep.equal([['B'], false]);
    answers.resolve('a');
    await s.done;
    expect([call.written, call.ended, s.code]).to.deep.equal([['B', 'A'], true, status.OK]);
  });

  it('stops reading at maxInFlight requests and reads again once one is answered', async () => {
    const { call, answers } = stream(2);
    call.emit('data', 'a');
    expect(call.isPaused()).to.equal(false);
    call.emit('data', 'b');
    expect(call.isPaused()).to.equal(true);
    answers.resolve('a');
    await settled();
    expect(call.isPaused()).to.equal(false);
  });

  it('stops reading while the client does not read its responses, and reads again on drain', async () => {
    const { call, answers } = stream(8);
    call.emit('data', 'a');
    call.writableNeedDrain = true;
    answers.resolve('a');
    await settled();
    expect(call.isPaused()).to.equal(true);
    call.writableNeedDrain = false;
    call.emit('drain');
    expect(call.isPaused()).to.equal(false);
  });

  it('answers a request whose answer rejects (or throws) with fail\'s response, and goes on', async () => {
    const call = new FakeCall();
    const s = new BoundedStream(
      call as unknown as ServerDuplexStream<string, string>,
      (request) => {
        if (request === 'throws') throw new Error('thrown');
        return request === 'rejects' ? Promise.reject(new Error('rejected')) : Promise.resolve('fine');
      },
      fail,
      { maxInFlight: 8 },
    );
    for (const request of ['rejects', 'throws', 'ok']) call.emit('data', request);
    call.emit('end');
    await s.done;
    // All three settle at once: they may go out in any order.
    expect([[...call.written].sort(), s.code]).to.deep.equal([['fine', 'rejects: rejected', 'throws: thrown'], status.OK]);
  });

  it('fires the signal of every request in flight when the client cancels, ends CANCELLED and writes no later answer', async () => {
    const { call, answers, stream: s } = stream(8);
    call.emit('data', 'a');
    call.emit('data', 'b');
    call.emit('cancelled');
    await s.done;
    const reasons = [...answers.pending.values()].map(({ signal }) => [signal.aborted, (signal.reason as InferdError).code]);
    expect(reasons).to.deep.equal([[true, 'CANCELLED'], [true, 'CANCELLED']]);
    answers.resolve('a');
    await settled();
    expect([call.written, call.ended, call.closedWith, s.code]).to.deep.equal([[], false, undefined, status.CANCELLED]);
  });

  it('on drain(), stops reading, answers what is in flight, then ends UNAVAILABLE', async () => {
    const { call, answers, stream: s } = stream(8);
    call.emit('data', 'a');
    const drained = s.drain();
    expect(call.isPaused()).to.equal(true);
    answers.resolve('a');
    await drained;
    expect([call.written, call.closedWith, s.code]).to.deep.equal([['A'], { code: status.UNAVAILABLE, details: 'server is shutting down' }, status.UNAVAILABLE]);
  });
});

describe('OpenStreams', () => {
  it('drains every stream still open, and forgets one that ended', async () => {
    const open = new OpenStreams();
    const ended = new FakeCall();
    const first = open.start(ended as unknown as ServerDuplexStream<string, string>, async (r) => r, fail, { maxInFlight: 1 });
    ended.emit('end');
    await first.done;
    const calls = [new FakeCall(), new FakeCall()];
    const answers = new Answers();
    const streams = calls.map((c) => open.start(c as unknown as ServerDuplexStream<string, string>, answers.answer, fail, { maxInFlight: 1 }));
    calls[0]!.emit('data', 'x');
    const drained = open.drainAll();
    answers.resolve('x');
    await drained;
    expect(streams.map((s) => s.code)).to.deep.equal([status.UNAVAILABLE, status.UNAVAILABLE]);
    expect([calls[0]!.written, calls[1]!.written]).to.deep.equal([['X'], []]);
    // The stream that ended before was not drained again: it stays OK.
    expect([first.code, ended.closedWith]).to.deep.equal([status.OK, undefined]);
  });
});
