import { setMaxListeners } from 'node:events';
import { status, type ServerDuplexStream } from '@grpc/grpc-js';
import { callSignal } from './call-signal';

export interface BoundedStreamOptions {
  /** Requests that may be in flight at once; at the bound the stream stops reading. */
  readonly maxInFlight: number;
}

/**
 * One bidirectional call that answers each request with one response, many at a time.
 * Responses go out in completion order. At most `maxInFlight` requests are in flight, and
 * reading pauses while the bound is reached or the client is not reading responses
 * (backpressure through HTTP/2 flow control). When the client half-closes, the stream ends
 * with OK once every request read is answered; when the client cancels, every request in
 * flight sees its signal fire; `drain()` stops reading and ends the stream with UNAVAILABLE
 * once what is in flight is answered.
 *
 * `answer` settles with the response to a request; `signal` fires when the call is cancelled
 * or its deadline passes. When it rejects, `fail` turns the error into the response to write
 * (the stream itself goes on).
 */
export class BoundedStream<Req, Res> {
  /** Settles once the stream has ended, however it ended. */
  readonly done: Promise<void>;
  /** How the stream ended, once `done` settles: OK, UNAVAILABLE (drained) or CANCELLED (by the client). */
  code: status | undefined;
  /** The call's signal (client cancel, deadline), which every request of the stream is given. */
  private readonly signal: AbortSignal;
  private inFlight = 0;
  private halfClosed = false;
  private draining = false;
  private finished = false;
  private finish!: () => void;

  constructor(
    private readonly call: ServerDuplexStream<Req, Res>,
    private readonly answer: (request: Req, signal: AbortSignal) => Promise<Res>,
    private readonly fail: (request: Req, err: unknown) => Res,
    private readonly options: BoundedStreamOptions,
  ) {
    this.done = new Promise((resolve) => (this.finish = resolve));
    const stream = callSignal(call);
    // Every request in flight waits on the call's one signal (an AbortController a message showed
    // in the stream's profile, docs/benchmarks.md). The scheduler holds one
    // listener on it for all of them, but a request with a timeout of its own listens on it too
    // (timeoutSignal): as many listeners as such requests in flight, which is no leak.
    setMaxListeners(0, stream.signal);
    this.signal = stream.signal;
    call.on('data', (request: Req) => this.onRequest(request));
    call.on('end', () => {
      this.halfClosed = true;
      this.maybeEnd();
    });
    call.on('drain', () => this.updateFlow());
    call.on('error', () => undefined); // a broken connection shows up as 'cancelled' too
    call.on('cancelled', () => this.end(undefined));
    void this.done.then(() => stream.dispose());
  }

  /** Stops reading; settles once the stream has ended (UNAVAILABLE, after answering what is in flight). */
  drain(): Promise<void> {
    this.draining = true;
    this.call.pause();
    this.maybeEnd();
    return this.done;
  }

  private onRequest(request: Req): void {
    if (this.finished) return;
    this.inFlight++;
    this.updateFlow();
    let answered: Promise<Res>;
    try {
      answered = this.answer(request, this.signal);
    } catch (err) {
      answered = Promise.reject(err);
    }
    answered.then(
      (response) => this.answered(response),
      (err: unknown) => this.answered(this.fail(request, err)),
    );
  }

  /** Writes a request's response and counts the request out of flight. */
  private answered(response: Res): void {
    try {
      if (!this.finished) this.call.write(response);
    } finally {
      this.inFlight--;
      this.updateFlow();
      this.maybeEnd();
    }
  }

  /** Reads while below the in-flight bound and the client keeps up with responses; pauses otherwise. */
  private updateFlow(): void {
    if (this.finished || this.draining) return;
    const full = this.inFlight >= this.options.maxInFlight || this.call.writableNeedDrain;
    if (full && !this.call.isPaused()) this.call.pause();
    else if (!full && this.call.isPaused()) this.call.resume();
  }

  private maybeEnd(): void {
    if (this.inFlight > 0) return;
    if (this.halfClosed) this.end({ code: status.OK });
    else if (this.draining) this.end({ code: status.UNAVAILABLE, details: 'server is shutting down' });
  }

  private end(result: { code: status; details?: string } | undefined): void {
    if (this.finished) return;
    this.finished = true;
    this.code = result?.code ?? status.CANCELLED;
    if (result !== undefined) {
      if (result.code === status.OK) this.call.end();
      else
        this.call.emit(
          'error',
          Object.assign(new Error(result.details), { code: result.code, details: result.details }),
        );
    }
    this.finish();
  }
}

/** The streams a service has open, so that a graceful stop can drain them all. */
export class OpenStreams {
  private readonly open = new Set<BoundedStream<unknown, unknown>>();

  /** Starts a BoundedStream on `call` and keeps it until it ends. */
  start<Req, Res>(
    call: ServerDuplexStream<Req, Res>,
    answer: (request: Req, signal: AbortSignal) => Promise<Res>,
    fail: (request: Req, err: unknown) => Res,
    options: BoundedStreamOptions,
  ): BoundedStream<Req, Res> {
    const stream = new BoundedStream(call, answer, fail, options);
    const any = stream as unknown as BoundedStream<unknown, unknown>;
    this.open.add(any);
    void stream.done.finally(() => this.open.delete(any));
    return stream;
  }

  /** Drains every open stream (see BoundedStream.drain). */
  async drainAll(): Promise<void> {
    await Promise.all([...this.open].map((s) => s.drain()));
  }
}
