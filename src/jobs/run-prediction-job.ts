import { decodeInputs, selectOutputs, type Inference, type PredictInput, type PredictOutput } from '../inference';
import { decodeTensor, encodeTensor } from '../tensor/inferd-v1-codec';
import type { WireTensor } from '../tensor/tensor-types';

/**
 * Runs an asynchronous prediction as Predict would, but at background priority: it waits behind
 * every real-time request of its model. Rejects as Inference.predict does (and with the
 * signal's reason when `signal` fires while it waits).
 */
export async function runPredictionJob(inference: Inference, request: PredictInput, signal: AbortSignal): Promise<PredictOutput> {
  const model = inference.resolve(request.modelName, request.modelVersion);
  const feeds = decodeInputs(model, request.inputs, decodeTensor);
  const outputNames = selectOutputs(model, request.outputNames);
  const results = await inference.run(model, feeds, outputNames, signal, { priority: 'background' });
  const raw = Object.values(request.inputs).every((t) => t.rawData.length > 0);
  const outputs: Record<string, WireTensor> = {};
  for (const name of outputNames) outputs[name] = encodeTensor(results[name]!, raw);
  return { modelName: model.name, modelVersion: model.version, outputs, id: request.id };
}
