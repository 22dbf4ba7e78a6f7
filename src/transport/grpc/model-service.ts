import {
  ModelVersionState,
  type ModelConfig,
  type ModelServiceServer,
  type ModelStatus,
  type TensorMetadata,
  type VersionPolicy,
} from '../../../generated/inferd/v1/model_service';
import type { Inference } from '../../inference';
import type { EffectiveConfig, ModelRepository, VersionState } from '../../repository/model-repository';
import { elementType } from '../../tensor/element-types';
import type { TensorSpec } from '../../tensor/tensor-types';
import type { CallAdapter } from './call-adapter';

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

function modelStatus(repository: ModelRepository, name: string): ModelStatus {
  return { name, versions: (repository.versions(name) ?? []).map((v) => ({ version: v.version, state: STATE[v.state], reason: v.reason })) };
}

function versionPolicy(p: EffectiveConfig['versionPolicy']): VersionPolicy {
  if ('latest' in p) return { latest: p.latest };
  if ('all' in p) return { all: true };
  return { specific: { versions: [...p.specific] } };
}

function modelConfig(c: EffectiveConfig): ModelConfig {
  return {
    name: c.name,
    version: c.version,
    platform: c.platform,
    sourceFile: c.file ?? '',
    versionPolicy: versionPolicy(c.versionPolicy),
    instances: c.instances,
    session: { intraOpThreads: c.session.intraOpThreads, interOpThreads: c.session.interOpThreads, graphOptimizationLevel: c.session.graphOptimizationLevel, executionMode: c.session.executionMode },
    maxBatchSize: c.maxBatchSize,
    dynamicBatching: { maxQueueDelayUs: BigInt(c.dynamicBatching.maxQueueDelayUs), preferredBatchSizes: [...c.dynamicBatching.preferredBatchSizes], maxQueueSize: c.dynamicBatching.maxQueueSize },
    warmup: c.warmup.map((w) => w.name),
    inputs: c.inputs.map(tensorMetadata),
    outputs: c.outputs.map(tensorMetadata),
    placement: c.placement,
    mainThread: { measuredRunUs: c.mainThread.measuredRunUs ?? 0, maxRows: c.mainThread.maxRows, note: c.mainThread.note },
  };
}

/** inferd.v1.ModelService: what the repository holds, what each model takes, and explicit load and unload. */
export function modelService(inference: Inference, repository: ModelRepository, calls: CallAdapter): ModelServiceServer {
  const answerStatus = async (name: string, change: Promise<void>): Promise<{ model: ModelStatus }> => {
    await change;
    return { model: modelStatus(repository, name) };
  };
  return {
    listModels: calls.unary(() => ({ models: repository.modelNames().map((name) => modelStatus(repository, name)) })),
    getModelConfig: calls.unary((request) => ({ config: modelConfig(repository.config(request.modelName, request.modelVersion)) })),
    loadModel: calls.unary((request) => answerStatus(request.modelName, repository.load(request.modelName))),
    unloadModel: calls.unary((request) => answerStatus(request.modelName, repository.unload(request.modelName))),
    getModelMetadata: calls.unary((request) => {
      const model = inference.metadata(request.modelName, request.modelVersion);
      return {
        name: model.name,
        version: model.version,
        versions: [...model.readyVersions],
        platform: 'onnxruntime',
        inputs: model.inputs.map(tensorMetadata),
        outputs: model.outputs.map(tensorMetadata),
      };
    }),
  };
}
