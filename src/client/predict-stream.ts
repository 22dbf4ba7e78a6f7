import type { ClientDuplexStream, ServiceError, StatusObject } from '@grpc/grpc-js';
import type { StreamAnswer } from './decode-predict-stream-response';
import { fromServiceError, statusName } from './from-service-error';
import { InferdClientError } from './inferd-client-error';
import type { StreamResult } from './client-types';
import type { Inputs } from './tensor-types';
import { backoffMs, cancelled, sleep, type RetryPolicy } from './retry-wait-ms';

/** How a PredictStream runs, as InferdClient sets it up. */
export interface PredictStreamSetup {
  /** Opens one PredictStream call (a new one after a retryable failure). */
  readonly open: () => ClientDuplexStream<Buffer, StreamAnswer>;
  /** The request bytes of input `index` (whose id is that index); throws an InferdClientError for a bad input. */
  readonly encode: (index: number, inputs: Inputs) => Buffer;
  readonly maxInFlight: number;
  readonly ordered: boolean;
  readonly retry: RetryPolicy;
  readonly signal: AbortSignal | undefined;
}

interface Pending {
  readonly bytes: Buffer;
  /** Times it was answered UNAVAILABLE and sent again. */
  retries: number;
}

const failedResult = (index: number, error: InferdClientError): StreamResult => ({
  index,
  outputs: undefined,
  modelVersion: undefined,
  error,
});

/**
 * One PredictStream, read as an async iterator of results. It pulls an input only while fewer
 * than `maxInFlight` inputs are unanswered or answered but not yet taken by the consumer, so a
 * slow consumer slows the sending; it waits for the channel when a write is refused.
 * With `ordered`, results come in input order (an early answer waits for those before it).
 *
 * Retries: a message answered UNAVAILABLE is sent again after a backoff (up to `retries` times);
 * a stream that fails UNAVAILABLE (a replica gone, a connection lost) is opened again and its
 * unanswered messages sent again (predictions have no side effects), up to `retries` times in a
 * row without an answer in between. Any other failure of the stream rejects the pending `next()`
 * after every result already received has been taken.
 */
export class PredictStream implements AsyncIterableIterator<StreamResult> {
  private inputs: Iterator<Inputs> | AsyncIterator<Inputs> | undefined;
  private readonly sync: boolean;
  private call: ClientDuplexStream<Buffer, StreamAnswer> | undefined;
  private started = false;
  private stopped = false;
  private inputsDone = false;
  private nextIndex = 0;
  /** Inputs pulled whose result the consumer has not taken yet: the in-flight bound counts these. */
  private outstanding = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly ready: StreamResult[] = [];
  private readyHead = 0;
  private readonly early = new Map<number, StreamResult>();
  private nextToDeliver = 0;
  private failure: InferdClientError | undefined;
  private streamRetries = 0;
  private consumer: { resolve: (r: IteratorResult<StreamResult>) => void; reject: (err: unknown) => void } | undefined;
  private wakePump: (() => void) | undefined;
  private readonly onAbort = (): void => this.fail(cancelled(this.setup.signal!));

  constructor(
    source: AsyncIterable<Inputs> | Iterable<Inputs>,
    private readonly setup: PredictStreamSetup,
  ) {
    this.sync = typeof (source as AsyncIterable<Inputs>)[Symbol.asyncIterator] !== 'function';
    this.inputs = this.sync
      ? (source as Iterable<Inputs>)[Symbol.iterator]()
      : (source as AsyncIterable<Inputs>)[Symbol.asyncIterator]();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<StreamResult>> {
    if (!this.started) this.start();
    if (this.readyHead < this.ready.length) return Promise.resolve({ value: this.take(), done: false });
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.inputsDone && this.outstanding === 0) {
      this.stop(false);
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.consumer = { resolve, reject };
    });
  }

  /** The consumer stopped early (a `break` out of for-await): cancels the call and stops reading the inputs. */
  return(): Promise<IteratorResult<StreamResult>> {
    this.stop(true);
    return Promise.resolve({ value: undefined, done: true });
  }

  private start(): void {
    this.started = true;
    const signal = this.setup.signal;
    if (signal?.aborted) {
      this.failure = cancelled(signal);
      return;
    }
    signal?.addEventListener('abort', this.onAbort, { once: true });
    this.openCall();
    void this.pump();
  }

  private take(): StreamResult {
    const result = this.ready[this.readyHead]!;
    this.ready[this.readyHead++] = undefined as unknown as StreamResult;
    if (this.readyHead === this.ready.length) {
      this.ready.length = 0;
      this.readyHead = 0;
    }
    this.outstanding--;
    this.wake();
    return result;
  }

  /** Reads inputs and sends them while the in-flight bound allows. */
  private async pump(): Promise<void> {
    try {
      while (!this.stopped) {
        if (this.outstanding >= this.setup.maxInFlight || this.call === undefined) {
          await new Promise<void>((resolve) => (this.wakePump = resolve));
          continue;
        }
        const step = this.sync
          ? (this.inputs as Iterator<Inputs>).next()
          : await (this.inputs as AsyncIterator<Inputs>).next();
        if (this.stopped) return;
        if (step.done === true) {
          this.inputsDone = true;
          this.call?.end();
          this.deliverIfDone();
          return;
        }
        const index = this.nextIndex++;
        this.outstanding++;
        let bytes: Buffer;
        try {
          bytes = this.setup.encode(index, step.value);
        } catch (err) {
          this.settle(
            failedResult(
              index,
              err instanceof InferdClientError ? err : new InferdClientError('INVALID_ARGUMENT', String(err)),
            ),
          );
          continue;
        }
        this.pending.set(index, { bytes, retries: 0 });
        if (!this.call.write(bytes)) await this.drained(this.call);
      }
    } catch (err) {
      this.fail(
        new InferdClientError('CANCELLED', `the stream's inputs failed: ${(err as Error).message}`, false, {
          cause: err,
        }),
      );
    }
  }

  /** Settles once `call` takes writes again, or is no longer the stream's call, or the stream stopped. */
  private drained(call: ClientDuplexStream<Buffer, StreamAnswer>): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        call.off('drain', done);
        this.wakePump = undefined;
        resolve();
      };
      call.once('drain', done);
      this.wakePump = done;
    });
  }

  private wake(): void {
    const w = this.wakePump;
    if (w !== undefined) {
      this.wakePump = undefined;
      w();
    }
  }

  private openCall(): void {
    const call = this.setup.open();
    this.call = call;
    call.on('data', (answer: StreamAnswer) => this.onAnswer(answer));
    call.on('error', (err: ServiceError) => this.onCallError(call, err));
    call.on('status', (s: StatusObject) => {
      if (s.code !== 0 || call !== this.call) return;
      if (this.pending.size > 0)
        this.fail(
          new InferdClientError(
            'INTERNAL',
            `the server ended the stream with ${this.pending.size} message(s) unanswered`,
          ),
        );
      else if (!this.inputsDone)
        this.fail(new InferdClientError('INTERNAL', 'the server ended the stream before its inputs ended'));
    });
    // Messages of a stream that failed go out again, in the order they were first sent.
    for (const p of this.pending.values()) call.write(p.bytes);
    if (this.inputsDone) call.end();
    this.wake();
  }

  private onAnswer(answer: StreamAnswer): void {
    const index = Number(answer.id);
    const p = this.pending.get(index);
    if (p === undefined || this.stopped) return;
    this.streamRetries = 0;
    if (answer.error !== undefined) {
      const code = statusName(answer.error.code);
      if (code === 'UNAVAILABLE' && p.retries < this.setup.retry.retries) {
        p.retries++;
        const call = this.call;
        void sleep(backoffMs(this.setup.retry, p.retries - 1), undefined).then(() => {
          if (!this.stopped && this.call === call && this.pending.has(index)) call?.write(p.bytes);
        });
        return;
      }
      this.pending.delete(index);
      this.settle(failedResult(index, new InferdClientError(code, answer.error.message, code === 'UNAVAILABLE')));
      return;
    }
    this.pending.delete(index);
    this.settle({
      index,
      outputs: answer.response.outputs,
      modelVersion: answer.response.modelVersion,
      error: undefined,
    });
  }

  private onCallError(call: ClientDuplexStream<Buffer, StreamAnswer>, err: ServiceError): void {
    if (call !== this.call || this.stopped) return;
    this.call = undefined;
    const error = fromServiceError(err, true);
    if (!error.retryable || this.streamRetries >= this.setup.retry.retries) {
      this.fail(error);
      return;
    }
    this.streamRetries++;
    void sleep(backoffMs(this.setup.retry, this.streamRetries - 1), this.setup.signal).then(
      () => {
        if (!this.stopped) this.openCall();
      },
      () => undefined, // the signal fired: onAbort has failed the stream
    );
  }

  /** Hands a result to the consumer, in input order when ordered. */
  private settle(result: StreamResult): void {
    if (!this.setup.ordered) this.ready.push(result);
    else if (result.index !== this.nextToDeliver) {
      this.early.set(result.index, result);
      return;
    } else {
      this.ready.push(result);
      this.nextToDeliver++;
      for (let r = this.early.get(this.nextToDeliver); r !== undefined; r = this.early.get(this.nextToDeliver)) {
        this.early.delete(this.nextToDeliver++);
        this.ready.push(r);
      }
    }
    const c = this.consumer;
    if (c !== undefined) {
      this.consumer = undefined;
      c.resolve({ value: this.take(), done: false });
    }
  }

  /** Ends the consumer's wait when every input has been answered and taken. */
  private deliverIfDone(): void {
    if (this.inputsDone && this.outstanding === 0 && this.consumer !== undefined) {
      const c = this.consumer;
      this.consumer = undefined;
      this.stop(false);
      c.resolve({ value: undefined, done: true });
    }
  }

  /** Ends the stream with `error`, which the consumer gets once it has taken the results already here. */
  private fail(error: InferdClientError): void {
    if (this.failure !== undefined || this.stopped) return;
    this.failure = error;
    this.stop(true);
    const c = this.consumer;
    if (c !== undefined) {
      this.consumer = undefined;
      c.reject(error);
    }
  }

  /**
   * Stops reading the inputs, removes the abort listener and, with `cancel`, cancels the call (a
   * stream whose every message is answered and whose inputs have ended is left to end by itself).
   * Safe to call twice.
   */
  private stop(cancel: boolean): void {
    if (this.stopped) return;
    this.stopped = true;
    this.setup.signal?.removeEventListener('abort', this.onAbort);
    const call = this.call;
    this.call = undefined;
    if (cancel) call?.cancel();
    this.wake();
    const inputs = this.inputs;
    this.inputs = undefined;
    void Promise.resolve(inputs?.return?.()).catch(() => undefined);
  }
}
