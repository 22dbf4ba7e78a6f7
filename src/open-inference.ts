/**
 * The Open Inference Protocol's model documents (Triton's model configuration, statistics and
 * repository index) built once from the repository, in a protocol-neutral form: camelCase
 * names, whole numbers as bigint, enums by name. The gRPC service and the REST binding each
 * only encode them (protobuf messages; snake_case JSON).
 */
import { clipText } from './clip-text';
import { InferdError } from './inferd-error';
import type { EffectiveConfig, ModelRepository, VersionState } from './repository/model-repository';
import type { ModelVersion } from './repository/model-version';
import { oipDatatype } from './tensor/oip-codec';
import type { TensorSpec } from './tensor/tensor-types';

/** What Triton calls an ONNX model run by ONNX Runtime. */
export const PLATFORM = 'onnxruntime_onnx';
const BACKEND = 'onnxruntime';
const MODEL_FILE = 'model.onnx';

export interface ConfigTensor {
  readonly name: string;
  /** Triton's config name of the dtype, e.g. TYPE_FP32. */
  readonly dataType: string;
  readonly dims: readonly bigint[];
}

export interface ModelConfigDocument {
  readonly name: string;
  readonly platform: string;
  readonly backend: string;
  readonly versionPolicy: { readonly latest: { readonly numVersions: number } } | { readonly all: Record<string, never> } | { readonly specific: { readonly versions: readonly bigint[] } };
  readonly maxBatchSize: number;
  readonly input: readonly ConfigTensor[];
  readonly output: readonly ConfigTensor[];
  readonly instanceGroup: readonly { readonly name: string; readonly count: number; readonly kind: 'KIND_CPU' }[];
  readonly defaultModelFilename: string;
}

/** A tensor in Triton's config shape: with batching on, dims leave out the batch dimension. */
function configTensor(spec: TensorSpec, batched: boolean): ConfigTensor {
  const dims = batched ? spec.dims.slice(1) : spec.dims;
  return { name: spec.name, dataType: oipDatatype(spec.type).configName, dims: dims.map(BigInt) };
}

/**
 * The effective configuration as Triton's ModelConfig: with max_batch_size > 0, dims leave out
 * the batch dimension, as Triton writes them; with 0, dims are whole shapes.
 */
export function modelConfigDocument(c: EffectiveConfig): ModelConfigDocument {
  const batched = c.maxBatchSize > 0;
  const p = c.versionPolicy;
  return {
    name: c.name,
    platform: PLATFORM,
    backend: BACKEND,
    versionPolicy: 'latest' in p ? { latest: { numVersions: p.latest } } : 'all' in p ? { all: {} } : { specific: { versions: p.specific.map(BigInt) } },
    maxBatchSize: c.maxBatchSize,
    input: c.inputs.map((s) => configTensor(s, batched)),
    output: c.outputs.map((s) => configTensor(s, batched)),
    instanceGroup: [{ name: c.name, count: c.instances, kind: 'KIND_CPU' }],
    defaultModelFilename: MODEL_FILE,
  };
}

export interface Duration {
  readonly count: bigint;
  readonly ns: bigint;
}

export interface ModelStatisticsDocument {
  readonly name: string;
  readonly version: string;
  readonly lastInference: bigint;
  readonly inferenceCount: bigint;
  readonly executionCount: bigint;
  readonly inferenceStats: Readonly<Record<'success' | 'fail' | 'queue' | 'computeInput' | 'computeInfer' | 'computeOutput' | 'cacheHit' | 'cacheMiss', Duration>>;
  readonly batchStats: readonly { readonly batchSize: bigint; readonly computeInput: Duration; readonly computeInfer: Duration; readonly computeOutput: Duration }[];
}

const duration = (count: number | bigint, ns: bigint): Duration => ({ count: BigInt(count), ns });
const NONE = duration(0, 0n);

/**
 * Triton's statistics from the batcher's counts: inference_count is rows, execution_count runs,
 * batch_stats the runs and their time by batch size. Input and output preparation is not timed
 * apart from the run (zero).
 */
export function modelStatisticsDocument(model: ModelVersion): ModelStatisticsDocument {
  const s = model.stats();
  return {
    name: model.name,
    version: model.version,
    lastInference: BigInt(s.lastInferenceMs),
    inferenceCount: BigInt(s.inferences),
    executionCount: BigInt(s.executions),
    inferenceStats: {
      success: duration(s.success, s.queueNs + s.computeNs),
      fail: duration(s.fail, 0n),
      queue: duration(s.executions, s.queueNs),
      computeInput: NONE,
      computeInfer: duration(s.executions, s.computeNs),
      computeOutput: NONE,
      cacheHit: NONE,
      cacheMiss: NONE,
    },
    batchStats: Object.entries(s.batchSizes).map(([size, count]) => ({
      batchSize: BigInt(size),
      computeInput: NONE,
      computeInfer: duration(count, s.batchComputeNs[Number(size)] ?? 0n),
      computeOutput: NONE,
    })),
  };
}

/**
 * The model versions statistics are asked for: `name` '' is every model, `version` '' every
 * ready version of the model. `resolve` names the version or throws (NOT_FOUND for an unknown
 * model, UNAVAILABLE for a named version that is not ready), in the front end's words.
 */
export function statisticsVersions(repository: ModelRepository, name: string, version: string, resolve: (name: string, version: string) => ModelVersion): ModelVersion[] {
  if (name === '' && version !== '') throw new InferdError('INVALID_ARGUMENT', `version "${clipText(version)}" given without a model name`);
  const models: ModelVersion[] = [];
  for (const model of name === '' ? repository.modelNames() : [name]) {
    if (version !== '') {
      models.push(resolve(model, version));
      continue;
    }
    if (repository.versions(model) === undefined) resolve(model, '');
    for (const v of (repository.versions(model) ?? []).filter((s) => s.state === 'READY')) {
      try {
        models.push(repository.resolve(model, v.version));
      } catch {
        // It stopped being ready since the listing: not asked for any more.
      }
    }
  }
  return models;
}

/**
 * The model version a request names, in Triton's words when there is none (`Request for unknown
 * model: 'm' is not found`, which Triton's clients look for): NOT_FOUND, or what the repository
 * throws for a version not ready (UNAVAILABLE).
 */
export function resolveModel(repository: ModelRepository, name: string, version: string): ModelVersion {
  try {
    return repository.resolve(name, version);
  } catch (err) {
    if (!(err instanceof InferdError) || err.code !== 'NOT_FOUND') throw err;
    throw unknownModel(repository, name, version, err);
  }
}

/** NOT_FOUND in Triton's words for a model (or a version of it) that the repository does not have. */
export function unknownModel(repository: ModelRepository, name: string, version: string, cause?: unknown): InferdError {
  const which = repository.versions(name) === undefined || version === '' ? `'${clipText(name)}'` : `'${clipText(name)}' version ${clipText(version)}`;
  return new InferdError('NOT_FOUND', `Request for unknown model: ${which} is not found`, { cause });
}

/** Repository states as Triton spells them; a version that failed to load is UNAVAILABLE, with its reason. */
const INDEX_STATE: Readonly<Record<VersionState, string>> = { LOADING: 'LOADING', READY: 'READY', UNLOADING: 'UNLOADING', UNAVAILABLE: 'UNAVAILABLE', FAILED: 'UNAVAILABLE' };

export interface IndexEntry {
  readonly name: string;
  /** '' for a model with no version folders. */
  readonly version: string;
  readonly state: string;
  /** '' when there is nothing to say. */
  readonly reason: string;
}

/** Every model version and its state (only ready ones with `readyOnly`). */
export function repositoryIndex(repository: ModelRepository, readyOnly: boolean): IndexEntry[] {
  const models: IndexEntry[] = [];
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
