/**
 * inferd/client: the typed TypeScript client of inferd.
 *
 *   import { InferdClient, InferdClientError } from 'inferd/client';
 *
 * Nothing here loads the server's code or ONNX Runtime.
 */
export { InferdClient } from './inferd-client';
export type {
  BatchJobRequest,
  CallOptions,
  ClientTls,
  InferdClientOptions,
  Job,
  JobState,
  ModelMetadata,
  ModelStatus,
  ModelVersionStateName,
  PredictOptions,
  PredictResult,
  PredictStreamOptions,
  StreamResult,
  SubmitPredictionOptions,
  TensorInfo,
} from './client-types';
export { InferdClientError, type StatusName } from './inferd-client-error';
export type { Datatype, InputTensor, Inputs, OutputDataOf, OutputTensor, Outputs, TypedArray } from './tensor-types';
export { float16ToFloat32, float32ToFloat16 } from './float16-arrays';
