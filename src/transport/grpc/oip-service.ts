import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { handleUnaryCall } from '@grpc/grpc-js';
import {
  ModelInferResponse,
  type GRPCInferenceServiceServer,
  type ModelInferRequest,
  type ModelMetadataResponse_TensorMetadata,
  type ModelStatistics,
  type ModelStreamInferResponse,
  type RepositoryIndexResponse_ModelIndex,
} from '../../../generated/inference/grpc_service';
import { DataType, ModelInstanceGroup_Kind, type ModelConfig, type ModelInput, type ModelVersionPolicy } from '../../../generated/inference/model_config';
import type { HealthRegistry } from '../../health/health-registry';
import { clipText } from '../../clip-text';
import { InferdError } from '../../inferd-error';
import type { Inference } from '../../inference';
import { PACKAGE_ROOT } from '../../package-root';
import type { EffectiveConfig, ModelRepository, VersionState } from '../../repository/model-repository';
import type { ModelVersion } from '../../repository/model-version';
import { oipDatatype } from '../../tensor/oip-codec';
import type { TensorSpec } from '../../tensor/tensor-types';
import type { RequestScope } from '../../telemetry/request-scope';
import type { CallAdapter } from './call-adapter';
import { inferRequestOf, modelInferResponseOf } from './oip-infer-codec';
import { Unimplemented } from './status-for';

/** What Triton calls an ONNX model run by ONNX Runtime. */
const PLATFORM = 'onnxruntime_onnx';
const BACKEND = 'onnxruntime';
const MODEL_FILE = 'model.onnx';

/** Repository states as Triton spells them; a version that failed to load is UNAVAILABLE, with its reason. */
const INDEX_STATE: Readonly<Record<VersionState, string>> = {
  LOADING: 'LOADING',
  READY: 'READY',
  UNLOADING: 'UNLOADING',
  UNAVAILABLE: 'UNAVAILABLE',
  FAILED: 'UNAVAILABLE',
};

export interface OipServiceParts {
  readonly inference: Inference;
  readonly repository: ModelRepository;
  readonly health: HealthRegistry;
}

export interface OipServiceOptions {
  /** Requests one ModelStreamInfer call may have in flight; at the bound the server stops reading it. */
  readonly maxStreamInFlight: number;
}

/**
 * inference.GRPCInferenceService, the Open Inference Protocol (KServe V2) with Triton's
 * extensions: the ModelInfer codec (oip-infer-codec.ts) around the same core as inferd.v1.
 * Outputs always travel in raw_output_contents. Shared-memory, trace and log RPCs answer
 * UNIMPLEMENTED.
 */
export class OipService {
  private constructor(
    private readonly parts: OipServiceParts,
    private readonly calls: CallAdapter,
    private readonly options: OipServiceOptions,
    /** inferd's release, reported by ServerMetadata. */
    private readonly serverVersion: string,
  ) {}

  /** Reads inferd's version from its package.json. */
  static load(parts: OipServiceParts, calls: CallAdapter, options: OipServiceOptions): OipService {
    const pkg = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
    return new OipService(parts, calls, options, pkg.version);
  }

  handlers(): GRPCInferenceServiceServer {
    const { inference, repository, health } = this.parts;
    const { calls } = this;
    const unimplemented = <Req, Res>(what: string): handleUnaryCall<Req, Res> =>
      calls.unary(() => {
        throw new Unimplemented(`${what} is not supported by inferd`);
      });
    const infer = (request: ModelInferRequest, signal: AbortSignal, scope: RequestScope): Promise<ModelInferResponse> => this.infer(request, signal, scope);
    return {
      serverLive: calls.unary(() => ({ live: true })),
      serverReady: calls.unary(() => ({
        ready: health.get('') === 'SERVING' && repository.modelNames().every((name) => (repository.versions(name) ?? []).length === 0 || repository.isReady(name)),
      })),
      modelReady: calls.unary((request) => {
        try {
          inference.resolve(request.name, request.version);
          return { ready: true };
        } catch (err) {
          if (err instanceof InferdError) return { ready: false };
          throw err;
        }
      }),
      serverMetadata: calls.unary(() => ({ name: 'inferd', version: this.serverVersion, extensions: ['model_repository', 'model_configuration', 'statistics'] })),
      modelMetadata: calls.unary((request) => {
        let model;
        try {
          model = inference.metadata(request.name, request.version);
        } catch (err) {
          throw this.tritonNotFound(err, request.name, request.version);
        }
        return { name: model.name, versions: [...model.readyVersions], platform: PLATFORM, inputs: model.inputs.map(tensorMetadata), outputs: model.outputs.map(tensorMetadata) };
      }),
      modelInfer: calls.inferenceUnary(infer),
      modelStreamInfer: calls.inferenceStream<ModelInferRequest, ModelStreamInferResponse>(
        async (request, signal, scope) => ({ errorMessage: '', inferResponse: await infer(request, signal, scope) }),
        // Only the id, so that the client can tell which request failed.
        (id, s) => ({ errorMessage: s.details, inferResponse: ModelInferResponse.fromPartial({ id }) }),
        { maxInFlight: this.options.maxStreamInFlight },
      ),
      modelConfig: calls.unary((request) => {
        const model = this.resolve(request.name, request.version);
        return { config: modelConfig(repository.config(model.name, model.version)) };
      }),
      modelStatistics: calls.unary((request) => ({ modelStats: this.statistics(request.name, request.version) })),
      repositoryIndex: calls.unary((request) => ({ models: this.index(request.ready) })),
      repositoryModelLoad: calls.unary(async (request) => {
        refuseParameters(request.parameters, []);
        try {
          await repository.load(request.modelName);
        } catch (err) {
          // Triton's clients look for "failed to load".
          if (err instanceof InferdError && err.code === 'NOT_FOUND') throw new InferdError('NOT_FOUND', `failed to load '${clipText(request.modelName)}': ${err.message}`, { cause: err });
          throw err;
        }
        return {};
      }),
      repositoryModelUnload: calls.unary(async (request) => {
        // Nothing depends on another model in inferd, so unload_dependents changes nothing.
        refuseParameters(request.parameters, ['unload_dependents']);
        this.resolveModel(request.modelName);
        await repository.unload(request.modelName);
        return {};
      }),
      systemSharedMemoryStatus: unimplemented('system shared memory'),
      systemSharedMemoryRegister: unimplemented('system shared memory'),
      systemSharedMemoryUnregister: unimplemented('system shared memory'),
      cudaSharedMemoryStatus: unimplemented('CUDA shared memory'),
      cudaSharedMemoryRegister: unimplemented('CUDA shared memory'),
      cudaSharedMemoryUnregister: unimplemented('CUDA shared memory'),
      traceSetting: unimplemented('TraceSetting'),
      logSettings: unimplemented('LogSettings'),
    };
  }

  /** One inference: the ModelInfer codec around the core, with unknown models named in Triton's words. */
  private async infer(request: ModelInferRequest, signal: AbortSignal, scope: RequestScope): Promise<ModelInferResponse> {
    let result;
    try {
      result = await this.parts.inference.infer(inferRequestOf(request), signal, scope);
    } catch (err) {
      throw this.tritonNotFound(err, request.modelName, request.modelVersion);
    }
    return scope.step('encode', () => modelInferResponseOf(result, request.id));
  }

  /** The model version a request names; an unknown model or version is NOT_FOUND in Triton's words. */
  private resolve(name: string, version: string): ModelVersion {
    try {
      return this.parts.repository.resolve(name, version);
    } catch (err) {
      throw this.tritonNotFound(err, name, version);
    }
  }

  /** `err`, or for NOT_FOUND the same in Triton's words, which Triton's clients look for. */
  private tritonNotFound(err: unknown, name: string, version: string): unknown {
    if (!(err instanceof InferdError) || err.code !== 'NOT_FOUND') return err;
    const which = this.parts.repository.versions(name) === undefined || version === '' ? `'${clipText(name)}'` : `'${clipText(name)}' version ${clipText(version)}`;
    return new InferdError('NOT_FOUND', `Request for unknown model: ${which} is not found`, { cause: err });
  }

  /** Throws NOT_FOUND, in Triton's words, when the repository has no model of this name. */
  private resolveModel(name: string): void {
    if (this.parts.repository.versions(name) === undefined) throw new InferdError('NOT_FOUND', `Request for unknown model: '${clipText(name)}' is not found`);
  }

  /**
   * One entry per model version asked for: `name` "" is every model, `version` "" every ready
   * version of the model. A named version that is not ready is UNAVAILABLE.
   */
  private statistics(name: string, version: string): ModelStatistics[] {
    if (name === '' && version !== '') throw new InferdError('INVALID_ARGUMENT', `version "${clipText(version)}" given without a model name`);
    const models: ModelVersion[] = [];
    for (const model of name === '' ? this.parts.repository.modelNames() : [name]) {
      if (version !== '') {
        models.push(this.resolve(model, version));
        continue;
      }
      this.resolveModel(model);
      for (const v of this.parts.inference.readyVersions(model)) {
        try {
          models.push(this.parts.repository.resolve(model, v));
        } catch {
          // It stopped being ready since the listing: not asked for any more.
        }
      }
    }
    return models.map(modelStatistics);
  }

  private index(readyOnly: boolean): RepositoryIndexResponse_ModelIndex[] {
    const { repository } = this.parts;
    const models: RepositoryIndexResponse_ModelIndex[] = [];
    for (const name of repository.modelNames()) {
      const versions = repository.versions(name) ?? [];
      if (versions.length === 0 && !readyOnly) models.push({ name, version: '', state: 'UNAVAILABLE', reason: 'the model has no version folders' });
      for (const v of versions) {
        if (readyOnly && v.state !== 'READY') continue;
        models.push({ name, version: v.version, state: INDEX_STATE[v.state], reason: v.reason });
      }
    }
    return models;
  }
}

function tensorMetadata(spec: TensorSpec): ModelMetadataResponse_TensorMetadata {
  return { name: spec.name, datatype: oipDatatype(spec.type).name, shape: spec.dims.map(BigInt) };
}

/** A tensor in Triton's config shape: with batching on, dims leave out the batch dimension. */
function configTensor(spec: TensorSpec, batched: boolean): ModelInput {
  const dims = batched ? spec.dims.slice(1) : spec.dims;
  return { name: spec.name, dataType: DataType[oipDatatype(spec.type).configName as keyof typeof DataType], dims: dims.map(BigInt) };
}

function versionPolicy(p: EffectiveConfig['versionPolicy']): ModelVersionPolicy {
  if ('latest' in p) return { latest: { numVersions: p.latest }, all: undefined, specific: undefined };
  if ('all' in p) return { latest: undefined, all: {}, specific: undefined };
  return { latest: undefined, all: undefined, specific: { versions: p.specific.map(BigInt) } };
}

/**
 * The effective configuration in Triton's shape: with max_batch_size > 0, dims leave out the
 * batch dimension, as Triton writes them; with 0, dims are whole shapes.
 */
function modelConfig(c: EffectiveConfig): ModelConfig {
  const batched = c.maxBatchSize > 0;
  return {
    name: c.name,
    platform: PLATFORM,
    backend: BACKEND,
    versionPolicy: versionPolicy(c.versionPolicy),
    maxBatchSize: c.maxBatchSize,
    input: c.inputs.map((s) => configTensor(s, batched)),
    output: c.outputs.map((s) => configTensor(s, batched)),
    instanceGroup: [{ name: c.name, count: c.instances, kind: ModelInstanceGroup_Kind.KIND_CPU }],
    defaultModelFilename: MODEL_FILE,
  };
}

/** Refuses repository parameters other than those `accepted`: inferd takes models only from the repository folder. */
function refuseParameters(parameters: Readonly<Record<string, unknown>>, accepted: readonly string[]): void {
  const refused = Object.keys(parameters).filter((k) => !accepted.includes(k));
  if (refused.length > 0) {
    throw new InferdError('INVALID_ARGUMENT', `parameter "${clipText(refused[0]!)}" is not supported: inferd loads models and their config files from the repository folder`);
  }
}

/**
 * Triton's statistics from the batcher's counts: inference_count is rows, execution_count runs,
 * batch_stats the runs and their time by batch size. Input and output preparation is not timed
 * apart from the run.
 */
function modelStatistics(model: ModelVersion): ModelStatistics {
  const s = model.stats();
  const executions = BigInt(s.executions);
  return {
    name: model.name,
    version: model.version,
    lastInference: BigInt(s.lastInferenceMs),
    inferenceCount: BigInt(s.inferences),
    executionCount: executions,
    inferenceStats: {
      success: { count: BigInt(s.success), ns: s.queueNs + s.computeNs },
      fail: { count: BigInt(s.fail), ns: 0n },
      queue: { count: executions, ns: s.queueNs },
      computeInput: undefined,
      computeInfer: { count: executions, ns: s.computeNs },
      computeOutput: undefined,
      cacheHit: undefined,
      cacheMiss: undefined,
    },
    batchStats: Object.entries(s.batchSizes).map(([size, count]) => ({
      batchSize: BigInt(size),
      computeInput: undefined,
      computeInfer: { count: BigInt(count), ns: s.batchComputeNs[Number(size)] ?? 0n },
      computeOutput: undefined,
    })),
    memoryUsage: [],
    responseStats: {},
  };
}
