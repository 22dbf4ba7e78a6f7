import {
  ModelInferResponse,
  ModelStreamInferResponse,
  GRPCInferenceServiceService,
} from '../../../generated/inference/grpc_service';
import { PredictionServiceService } from '../../../generated/inferd/v1/prediction_service';
import { predictResponseBytes, predictStreamResponseBytes } from './predict-response-bytes';

/**
 * ts-proto's grpc-js definitions serialize with `Buffer.from(encode(x).finish())`, which copies
 * every response once more; `finish()` already returns bytes of their own, so a Buffer view
 * over them is as safe. These are the generated definitions of the services that carry tensors,
 * with that copy taken out of their responses, and inferd.v1's answers written in one buffer
 * sized in advance (see predictResponseBytes).
 */
const view = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

export const PREDICTION_SERVICE: typeof PredictionServiceService = {
  ...PredictionServiceService,
  predict: { ...PredictionServiceService.predict, responseSerialize: predictResponseBytes },
  predictStream: { ...PredictionServiceService.predictStream, responseSerialize: predictStreamResponseBytes },
};

export const INFERENCE_SERVICE: typeof GRPCInferenceServiceService = {
  ...GRPCInferenceServiceService,
  modelInfer: {
    ...GRPCInferenceServiceService.modelInfer,
    responseSerialize: (v: ModelInferResponse) => view(ModelInferResponse.encode(v).finish()),
  },
  modelStreamInfer: {
    ...GRPCInferenceServiceService.modelStreamInfer,
    responseSerialize: (v: ModelStreamInferResponse) => view(ModelStreamInferResponse.encode(v).finish()),
  },
};
