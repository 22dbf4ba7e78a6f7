import { status, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { PredictionServiceServer, PredictRequest, PredictStreamResponse } from '../../../generated/inferd/v1/prediction_service';
import type { Inference } from '../../inference';
import { callSignal } from './call-signal';
import { statusFor } from './status-for';

export interface PredictionServiceOptions {
  /** Requests one stream may have in flight; at the bound the server stops reading it. */
  readonly maxStreamInFlight: number;
  readonly log: Logger;
}

/**
 * inferd.v1.PredictionService over the inference core. `drain()` ends open streams once what
 * they have in flight is answered, for a graceful stop.
 */
export class PredictionService {
  private readonly streams = new Set<PredictStream>();

  constructor(
    private readonly inference: Inference,
    private readonly options: PredictionServiceOptions,
  ) {}

  handlers(): PredictionServiceServer {
    const { log } = this.options;
    return {
      predict: (call, callback) => {
        const { signal, dispose } = callSignal(call);
        this.inference.predict(call.request, signal).then(
          (response) => callback(null, response),
          (err: unknown) => callback(statusFor(err, log)),
        ).finally(dispose);
      },
      predictStream: (call) => {
        const stream = new PredictStream(call, this.inference, this.options);
        this.streams.add(stream);
        stream.done.finally(() => this.streams.delete(stream));
      },
    };
  }

  /** Stops reading every open stream; each ends (UNAVAILABLE) after answering what it has in flight. */
  async drain(): Promise<void> {
    await Promise.all([...this.streams].map((s) => s.drain()));
  }
}

/**
 * One PredictStream call. Responses go out in completion order with their request's id. At
 * most `maxStreamInFlight` requests run at once, and reading pauses while the bound is reached
 * or the client is not reading responses (backpressure through HTTP/2 flow control).
 */
class PredictStream {
  readonly done: Promise<void>;
  private readonly controllers = new Set<AbortController>();
  private inFlight = 0;
  private halfClosed = false;
  private draining = false;
  private finished = false;
  private finish!: () => void;

  constructor(
    private readonly call: ServerDuplexStream<PredictRequest, PredictStreamResponse>,
    private readonly inference: Inference,
    private readonly options: PredictionServiceOptions,
  ) {
    this.done = new Promise((resolve) => (this.finish = resolve));
    const stream = callSignal(call);
    stream.signal.addEventListener('abort', () => {
      for (const c of this.controllers) c.abort(stream.signal.reason);
    });
    call.on('data', (request: PredictRequest) => this.onRequest(request));
    call.on('end', () => {
      this.halfClosed = true;
      this.maybeEnd();
    });
    call.on('drain', () => this.updateFlow());
    call.on('error', () => undefined); // a broken connection shows up as 'cancelled' too
    call.on('cancelled', () => this.end(undefined));
    void this.done.then(() => stream.dispose());
  }

  drain(): Promise<void> {
    this.draining = true;
    this.call.pause();
    this.maybeEnd();
    return this.done;
  }

  private onRequest(request: PredictRequest): void {
    if (this.finished) return;
    const controller = new AbortController();
    this.controllers.add(controller);
    this.inFlight++;
    this.updateFlow();
    this.inference.predict(request, controller.signal).then(
      (response) => this.write({ id: request.id, response }),
      (err: unknown) => {
        const s = statusFor(err, this.options.log);
        this.write({ id: request.id, error: { code: s.code, message: s.details } });
      },
    ).finally(() => {
      this.controllers.delete(controller);
      this.inFlight--;
      this.updateFlow();
      this.maybeEnd();
    });
  }

  private write(response: PredictStreamResponse): void {
    if (!this.finished) this.call.write(response);
  }

  /** Reads while below the in-flight bound and the client keeps up with responses; pauses otherwise. */
  private updateFlow(): void {
    if (this.finished || this.draining) return;
    const full = this.inFlight >= this.options.maxStreamInFlight || this.call.writableNeedDrain;
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
    if (result !== undefined) {
      if (result.code === status.OK) this.call.end();
      else this.call.emit('error', Object.assign(new Error(result.details), { code: result.code, details: result.details }));
    }
    this.finish();
  }
}
