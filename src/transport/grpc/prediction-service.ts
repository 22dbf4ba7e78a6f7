import type { PredictionServiceServer, PredictRequest, PredictResponse, PredictStreamResponse } from '../../../generated/inferd/v1/prediction_service';
import type { Inference } from '../../inference';
import type { RequestScope } from '../../telemetry/request-scope';
import { inferRequestOf, predictOutputOf } from '../../tensor/inferd-v1-codec';
import type { CallAdapter } from './call-adapter';

export interface PredictionServiceOptions {
  /** Requests one stream may have in flight; at the bound the server stops reading it. */
  readonly maxStreamInFlight: number;
}

/**
 * inferd.v1.PredictionService: the inferd.v1 codec around the core. PredictStream answers each
 * request with its id, in completion order, a failed one with an `error` and the stream going
 * on (see CallAdapter.inferenceStream).
 */
export function predictionService(inference: Inference, calls: CallAdapter, options: PredictionServiceOptions): PredictionServiceServer {
  const predict = async (request: PredictRequest, signal: AbortSignal, scope: RequestScope): Promise<PredictResponse> => {
    const result = await inference.infer(inferRequestOf(request), signal, scope);
    return scope.step('encode', () => predictOutputOf(result, request));
  };
  return {
    predict: calls.inferenceUnary(predict),
    predictStream: calls.inferenceStream<PredictRequest, PredictStreamResponse>(
      async (request, signal, scope) => ({ id: request.id, response: await predict(request, signal, scope) }),
      (id, s) => ({ id, error: { code: s.code, message: s.details } }),
      { maxInFlight: options.maxStreamInFlight },
    ),
  };
}
