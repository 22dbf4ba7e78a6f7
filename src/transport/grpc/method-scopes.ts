import type { Scope } from '../../security/scopes';

/** Who may call a method when authentication is on: anyone ('open'), or callers with a scope. */
export type MethodAccess = Scope | 'open';

/** Whether server reflection is open, needs a caller with "models:read", or is not served. */
export type ReflectionAccess = 'open' | 'auth' | 'off';

const OIP = '/inference.GRPCInferenceService/';

/**
 * The access each method needs. Health (and the Open Inference Protocol's liveness and readiness
 * calls) stay open for probes. A method missing here is refused to everyone: a test checks
 * that every method the server registers is listed.
 */
export const METHOD_SCOPES: Readonly<Record<string, MethodAccess>> = {
  '/inferd.v1.PredictionService/Predict': 'predict',
  '/inferd.v1.PredictionService/PredictStream': 'predict',
  '/inferd.v1.ModelService/ListModels': 'models:read',
  '/inferd.v1.ModelService/GetModelMetadata': 'models:read',
  '/inferd.v1.ModelService/GetModelConfig': 'models:read',
  '/inferd.v1.ModelService/LoadModel': 'models:admin',
  '/inferd.v1.ModelService/UnloadModel': 'models:admin',
  '/inferd.v1.JobService/SubmitPrediction': 'jobs',
  '/inferd.v1.JobService/SubmitBatchJob': 'jobs',
  '/inferd.v1.JobService/GetJob': 'jobs',
  '/inferd.v1.JobService/WatchJob': 'jobs',
  '/inferd.v1.JobService/CancelJob': 'jobs',
  '/inferd.v1.JobService/ListJobs': 'jobs',
  '/grpc.health.v1.Health/Check': 'open',
  '/grpc.health.v1.Health/List': 'open',
  '/grpc.health.v1.Health/Watch': 'open',
  [`${OIP}ServerLive`]: 'open',
  [`${OIP}ServerReady`]: 'open',
  [`${OIP}ModelReady`]: 'open',
  [`${OIP}ServerMetadata`]: 'models:read',
  [`${OIP}ModelMetadata`]: 'models:read',
  [`${OIP}ModelConfig`]: 'models:read',
  [`${OIP}ModelStatistics`]: 'models:read',
  [`${OIP}RepositoryIndex`]: 'models:read',
  [`${OIP}ModelInfer`]: 'predict',
  [`${OIP}ModelStreamInfer`]: 'predict',
  [`${OIP}RepositoryModelLoad`]: 'models:admin',
  [`${OIP}RepositoryModelUnload`]: 'models:admin',
  [`${OIP}SystemSharedMemoryStatus`]: 'models:admin',
  [`${OIP}SystemSharedMemoryRegister`]: 'models:admin',
  [`${OIP}SystemSharedMemoryUnregister`]: 'models:admin',
  [`${OIP}CudaSharedMemoryStatus`]: 'models:admin',
  [`${OIP}CudaSharedMemoryRegister`]: 'models:admin',
  [`${OIP}CudaSharedMemoryUnregister`]: 'models:admin',
  [`${OIP}TraceSetting`]: 'models:admin',
  [`${OIP}LogSettings`]: 'models:admin',
};

const REFLECTION_PATHS = [
  '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
  '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo',
];

/** The access `path` needs; undefined for a method no one may call. */
export function methodAccess(path: string, reflection: ReflectionAccess): MethodAccess | undefined {
  if (REFLECTION_PATHS.includes(path)) return reflection === 'open' ? 'open' : 'models:read';
  return METHOD_SCOPES[path];
}
