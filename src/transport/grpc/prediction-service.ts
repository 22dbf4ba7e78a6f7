import { status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { PredictionServiceServer, PredictRequest, PredictResponse, PredictStreamResponse } from '../../../generated/inferd/v1/prediction_service';
import type { Inference } from '../../inference';
import type { RequestScope } from '../../telemetry/request-scope';
import type { Telemetry } from '../../telemetry/telemetry';
import { inferRequestOf, predictOutputOf } from '../../tensor/inferd-v1-codec';
import { OpenStreams } from './bounded-stream';
import { callSignal } from './call-signal';
import { answerUnary, grpcOutcome, RequestOutcome, traceHeaders } from './call-telemetry';
import { RefusedRequest } from './refused-request';
import { statusFor } from './status-for';

const SERVICE = 'inferd.v1.PredictionService';

export interface PredictionServiceOptions {
  /** Requests one stream may have in flight; at the bound the server stops reading it. */
  readonly maxStreamInFlight: number;
  readonly log: Logger;
  readonly telemetry: Telemetry;
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
    const { log, telemetry } = this.options;
    return {
      predict: (call, callback) => {
        const traced = telemetry.startCall(SERVICE, 'Predict', () => traceHeaders(call.metadata));
        const { signal, dispose } = callSignal(call);
        void answerUnary(traced, log, async (scope) => this.predict(RefusedRequest.check(call.request), signal, scope), callback).finally(dispose);
      },
      predictStream: (call) => {
        const traced = telemetry.startCall(SERVICE, 'PredictStream', () => traceHeaders(call.metadata));
        const stream = this.streams.start<PredictRequest, PredictStreamResponse>(
          call,
          async (request, signal) => {
            const scope = traced.message();
            const outcome = new RequestOutcome(scope, log);
            try {
              const response = await this.predict(RefusedRequest.check(request), signal, scope);
              outcome.succeeded();
              return { id: request.id, response };
            } catch (err) {
              const s = outcome.failed(err);
              return { id: request.id, error: { code: s.code, message: s.details } };
            }
          },
          (request, err) => {
            const s = statusFor(err, log);
            return { id: request.id, error: { code: s.code, message: s.details } };
          },
          { maxInFlight: this.options.maxStreamInFlight },
        );
        void stream.done.then(() => traced.end(grpcOutcome({ code: stream.code ?? status.CANCELLED })));
      },
    };
  }

  /** One prediction: the inferd.v1 codec around the core. */
  private async predict(request: PredictRequest, signal: AbortSignal, scope: RequestScope): Promise<PredictResponse> {
    const result = await this.inference.infer(inferRequestOf(request), signal, scope);
    return scope.step('encode', () => predictOutputOf(result, request));
  }

  /** Stops reading every open stream; each ends (UNAVAILABLE) after answering what it has in flight. */
  drain(): Promise<void> {
    return this.streams.drainAll();
  }
}
