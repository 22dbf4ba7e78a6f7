import type { Inference, PredictInput, PredictOutput } from '../inference';
import { inferRequestOf, predictOutputOf } from '../tensor/inferd-v1-codec';

/**
 * Runs an asynchronous prediction as Predict would, with the same request metrics and spans (a
 * trace of its own, "job prediction"), but at background priority: it waits behind every
 * real-time request of its model. Rejects as Inference.infer does (and with the signal's reason
 * when `signal` fires while it waits).
 */
export function runPredictionJob(inference: Inference, request: PredictInput, signal: AbortSignal): Promise<PredictOutput> {
  return inference.telemetry.startJob('prediction', undefined).serve(async (scope) => {
    const result = await inference.infer({ ...inferRequestOf(request), priority: 'background' }, signal, scope);
    return scope.step('encode', () => predictOutputOf(result, request));
  });
}
