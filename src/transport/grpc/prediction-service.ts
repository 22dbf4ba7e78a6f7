import type { Logger } from 'pino';
import type { PredictionServiceServer, PredictRequest, PredictStreamResponse } from '../../../generated/inferd/v1/prediction_service';
import type { Inference } from '../../inference';
import { OpenStreams } from './bounded-stream';
import { callSignal } from './call-signal';
import { statusFor } from './status-for';

export interface PredictionServiceOptions {
  /** Requests one stream may have in flight; at the bound the server stops reading it. */
  readonly maxStreamInFlight: number;
  readonly log: Logger;
}

/**
 * inferd.v1.PredictionService over the inference core. PredictStream answers each request with
 * its id, in completion order, a failed one with an `error` and the stream going on (see
 * BoundedStream for flow control). `drain()` ends open streams once what they have in flight is
 * answered, for a graceful stop.
 */
export class PredictionService {
  private readonly streams = new OpenStreams();

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
        this.streams.start<PredictRequest, PredictStreamResponse>(
          call,
          async (request, signal) => ({ id: request.id, response: await this.inference.predict(request, signal) }),
          (request, err) => {
            const s = statusFor(err, log);
            return { id: request.id, error: { code: s.code, message: s.details } };
          },
          { maxInFlight: this.options.maxStreamInFlight },
        );
      },
    };
  }

  /** Stops reading every open stream; each ends (UNAVAILABLE) after answering what it has in flight. */
  drain(): Promise<void> {
    return this.streams.drainAll();
  }
}
