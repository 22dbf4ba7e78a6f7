import type {
  PredictionServiceServer,
  PredictRequest,
  PredictResponse,
  PredictStreamResponse,
} from '../../../generated/inferd/v1/prediction_service';
import type { Inference } from '../../inference';
import type { CancelSignal } from '../../scheduler/cancel-signal';
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
export function predictionService(
  inference: Inference,
  calls: CallAdapter,
  options: PredictionServiceOptions,
): PredictionServiceServer {
  const predict = async (
    request: PredictRequest,
    signal: CancelSignal,
    scope: RequestScope,
  ): Promise<PredictResponse> => {
    const result = await inference.infer(inferRequestOf(request), signal, scope);
    return scope.step('encode', () => predictOutputOf(result, request));
  };
  return {
    predict: calls.inferenceUnary(predict),
    predictStream: calls.inferenceStream<PredictRequest, PredictStreamResponse>(
      (request, signal, scope) =>
        inference.infer(inferRequestOf(request), signal, scope).then((result) => ({
          id: request.id,
          response: scope.step('encode', () => predictOutputOf(result, request)),
        })),
      (id, s) => ({ id, error: { code: s.code, message: s.details } }),
      { maxInFlight: options.maxStreamInFlight },
    ),
  };
}
