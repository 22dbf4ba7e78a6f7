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
import {
  DataType,
  ModelInstanceGroup_Kind,
  type ModelConfig,
  type ModelInput,
} from '../../../generated/inference/model_config';
import type { HealthRegistry } from '../../health/health-registry';
import { InferdError } from '../../inferd-error';
import type { Inference } from '../../inference';
import { PACKAGE_ROOT } from '../../package-root';
import {
  modelConfigDocument,
  modelStatisticsDocument,
  PLATFORM,
  repositoryIndex,
  inTritonWords,
  loadModel,
  resolveModel,
  serverReady,
  unloadModel,
  statisticsVersions,
  type ConfigTensor,
  type ModelConfigDocument,
} from '../../open-inference';
import type { ModelRepository } from '../../repository/model-repository';
import type { CancelSignal } from '../../scheduler/cancel-signal';
import { oipDatatype } from '../../tensor/oip-codec';
import type { TensorSpec } from '../../tensor/tensor-types';
import type { RequestScope } from '../../telemetry/request-scope';
import type { CallAdapter } from './call-adapter';
import { inferRequestOf, modelInferResponseOf } from './oip-infer-codec';
import { Unimplemented } from './status-for';

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
    const infer = (
      request: ModelInferRequest,
      signal: CancelSignal,
      scope: RequestScope,
    ): Promise<ModelInferResponse> => this.infer(request, signal, scope);
    return {
      serverLive: calls.unary(() => ({ live: true })),
      serverReady: calls.unary(() => ({
        ready: serverReady(health, repository),
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
      serverMetadata: calls.unary(() => ({
        name: 'inferd',
        version: this.serverVersion,
        extensions: ['model_repository', 'model_configuration', 'statistics'],
      })),
      modelMetadata: calls.unary((request) => {
        let model;
        try {
          model = inference.metadata(request.name, request.version);
        } catch (err) {
          throw inTritonWords(err, repository, request.name, request.version);
        }
        return {
          name: model.name,
          versions: [...model.readyVersions],
          platform: PLATFORM,
          inputs: model.inputs.map(tensorMetadata),
          outputs: model.outputs.map(tensorMetadata),
        };
      }),
      modelInfer: calls.inferenceUnary(infer),
      modelStreamInfer: calls.inferenceStream<ModelInferRequest, ModelStreamInferResponse>(
        async (request, signal, scope) => ({ errorMessage: '', inferResponse: await infer(request, signal, scope) }),
        // Only the id, so that the client can tell which request failed.
        (id, s) => ({ errorMessage: s.details, inferResponse: ModelInferResponse.fromPartial({ id }) }),
        { maxInFlight: this.options.maxStreamInFlight },
      ),
      modelConfig: calls.unary((request) => {
        const model = resolveModel(repository, request.name, request.version);
        return { config: modelConfig(modelConfigDocument(repository.config(model.name, model.version))) };
      }),
      modelStatistics: calls.unary((request) => ({ modelStats: this.statistics(request.name, request.version) })),
      repositoryIndex: calls.unary((request) => ({ models: this.index(request.ready) })),
      repositoryModelLoad: calls.unary(async (request) => {
        await loadModel(repository, request.modelName, Object.keys(request.parameters));
        return {};
      }),
      repositoryModelUnload: calls.unary(async (request) => {
        await unloadModel(repository, request.modelName, Object.keys(request.parameters));
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
  private async infer(
    request: ModelInferRequest,
    signal: CancelSignal,
    scope: RequestScope,
  ): Promise<ModelInferResponse> {
    let result;
    try {
      result = await this.parts.inference.infer(inferRequestOf(request), signal, scope);
    } catch (err) {
      throw inTritonWords(err, this.parts.repository, request.modelName, request.modelVersion);
    }
    return scope.step('encode', () => modelInferResponseOf(result, request.id));
  }

  /**
   * One entry per model version asked for: `name` "" is every model, `version` "" every ready
   * version of the model. A named version that is not ready is UNAVAILABLE.
   */
  private statistics(name: string, version: string): ModelStatistics[] {
    return statisticsVersions(this.parts.repository, name, version).map((model) => {
      const doc = modelStatisticsDocument(model);
      // What inferd does not time apart (input, output, cache) is left out, as Triton leaves out what it does not measure.
      const untimed = { computeInput: undefined, computeOutput: undefined };
      return {
        ...doc,
        inferenceStats: { ...doc.inferenceStats, ...untimed, cacheHit: undefined, cacheMiss: undefined },
        batchStats: doc.batchStats.map((b) => ({ ...b, ...untimed })),
        memoryUsage: [],
        responseStats: {},
      };
    });
  }

  private index(readyOnly: boolean): RepositoryIndexResponse_ModelIndex[] {
    return repositoryIndex(this.parts.repository, readyOnly);
  }
}

function tensorMetadata(spec: TensorSpec): ModelMetadataResponse_TensorMetadata {
  return { name: spec.name, datatype: oipDatatype(spec.type).name, shape: spec.dims.map(BigInt) };
}

/** The configuration document as the protobuf message: enums by number. */
function modelConfig(doc: ModelConfigDocument): ModelConfig {
  const p = doc.versionPolicy;
  return {
    ...doc,
    versionPolicy: {
      latest: 'latest' in p ? p.latest : undefined,
      all: 'all' in p ? p.all : undefined,
      specific: 'specific' in p ? { versions: [...p.specific.versions] } : undefined,
    },
    input: doc.input.map(configTensor),
    output: doc.output.map(configTensor),
    instanceGroup: doc.instanceGroup.map((g) => ({ ...g, kind: ModelInstanceGroup_Kind[g.kind] })),
  };
}

function configTensor(t: ConfigTensor): ModelInput {
  return { name: t.name, dataType: DataType[t.dataType as keyof typeof DataType], dims: [...t.dims] };
}
