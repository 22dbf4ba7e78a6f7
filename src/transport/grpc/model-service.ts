import type { Logger } from 'pino';
import { ModelVersionState, type ModelServiceServer, type TensorMetadata } from '../../../generated/inferd/v1/model_service';
import type { ModelRepository, VersionState } from '../../repository/model-repository';
import { elementType } from '../../tensor/element-types';
import type { TensorSpec } from '../../tensor/tensor-types';
import { statusFor } from './status-for';

const STATE: Readonly<Record<VersionState, ModelVersionState>> = {
  LOADING: ModelVersionState.MODEL_VERSION_STATE_LOADING,
  READY: ModelVersionState.MODEL_VERSION_STATE_READY,
  UNLOADING: ModelVersionState.MODEL_VERSION_STATE_UNLOADING,
  UNAVAILABLE: ModelVersionState.MODEL_VERSION_STATE_UNAVAILABLE,
  FAILED: ModelVersionState.MODEL_VERSION_STATE_FAILED,
};

function tensorMetadata(spec: TensorSpec): TensorMetadata {
  return { name: spec.name, datatype: elementType(spec.type).wire, shape: spec.dims.map(BigInt) };
}

/** inferd.v1.ModelService: what the repository holds and what each model takes. */
export function modelService(repository: ModelRepository, log: Logger): ModelServiceServer {
  return {
    listModels: (_call, callback) => {
      const models = repository.modelNames().map((name) => ({
        name,
        versions: (repository.versions(name) ?? []).map((v) => ({ version: v.version, state: STATE[v.state], reason: v.reason })),
      }));
      callback(null, { models });
    },
    getModelMetadata: (call, callback) => {
      try {
        const { modelName, modelVersion } = call.request;
        const model = repository.resolve(modelName, modelVersion);
        const ready = (repository.versions(modelName) ?? []).filter((v) => v.state === 'READY').map((v) => v.version);
        callback(null, {
          name: model.name,
          version: model.version,
          versions: ready,
          platform: 'onnxruntime',
          inputs: model.inputs.map(tensorMetadata),
          outputs: model.outputs.map(tensorMetadata),
        });
      } catch (err) {
        callback(statusFor(err, log));
      }
    },
  };
}
