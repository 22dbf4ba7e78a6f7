import { clipText } from '../../clip-text';
import { InferdError } from '../../inferd-error';
import type { ModelMetadata } from '../../inference';
import type { EffectiveConfig, ModelRepository, VersionState } from '../../repository/model-repository';
import type { ModelVersion } from '../../repository/model-version';
import { oipDatatype } from '../../tensor/oip-codec';
import type { TensorSpec } from '../../tensor/tensor-types';
import type { JsonWritable } from './json-text';

/**
 * The JSON documents of the REST binding's model and repository endpoints, in the shapes
 * Triton's HTTP server writes them (snake_case names, whole numbers as numbers), built from the
 * repository as the gRPC Open Inference Protocol service builds its messages.
 */

/** What Triton calls an ONNX model run by ONNX Runtime. */
const PLATFORM = 'onnxruntime_onnx';
const BACKEND = 'onnxruntime';
const MODEL_FILE = 'model.onnx';

/** Repository states as Triton spells them; a version that failed to load is UNAVAILABLE, with its reason. */
const INDEX_STATE: Readonly<Record<VersionState, string>> = { LOADING: 'LOADING', READY: 'READY', UNLOADING: 'UNLOADING', UNAVAILABLE: 'UNAVAILABLE', FAILED: 'UNAVAILABLE' };

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

export function readyVersions(repository: ModelRepository, name: string): string[] {
  return (repository.versions(name) ?? []).filter((v) => v.state === 'READY').map((v) => v.version);
}

function tensorMetadata(spec: TensorSpec): JsonWritable {
  return { name: spec.name, datatype: oipDatatype(spec.type).name, shape: [...spec.dims] };
}

/** `GET /v2/models/{m}`: name, the ready versions, platform, inputs and outputs (-1: any size), from the core's one description of a model. */
export function modelMetadataDocument(m: ModelMetadata): JsonWritable {
  return { name: m.name, versions: [...m.readyVersions], platform: PLATFORM, inputs: m.inputs.map(tensorMetadata), outputs: m.outputs.map(tensorMetadata) };
}

/** A tensor in Triton's config shape: with batching on, dims leave out the batch dimension. */
function configTensor(spec: TensorSpec, batched: boolean): JsonWritable {
  return { name: spec.name, data_type: oipDatatype(spec.type).configName, dims: [...(batched ? spec.dims.slice(1) : spec.dims)] };
}

function versionPolicy(p: EffectiveConfig['versionPolicy']): JsonWritable {
  if ('latest' in p) return { latest: { num_versions: p.latest } };
  if ('all' in p) return { all: {} };
  return { specific: { versions: [...p.specific] } };
}

/** `GET /v2/models/{m}/config`: the effective configuration as Triton's ModelConfig in JSON. */
export function modelConfigDocument(c: EffectiveConfig): JsonWritable {
  const batched = c.maxBatchSize > 0;
  return {
    name: c.name,
    platform: PLATFORM,
    backend: BACKEND,
    version_policy: versionPolicy(c.versionPolicy),
    max_batch_size: c.maxBatchSize,
    input: c.inputs.map((s) => configTensor(s, batched)),
    output: c.outputs.map((s) => configTensor(s, batched)),
    instance_group: [{ name: c.name, count: c.instances, kind: 'KIND_CPU' }],
    default_model_filename: MODEL_FILE,
  };
}

/**
 * The model versions statistics are asked for: `name` '' is every model, `version` '' every
 * ready version of the model. Throws NOT_FOUND for an unknown model, UNAVAILABLE for a named
 * version that is not ready.
 */
export function statisticsVersions(repository: ModelRepository, name: string, version: string): ModelVersion[] {
  const models: ModelVersion[] = [];
  for (const model of name === '' ? repository.modelNames() : [name]) {
    if (version !== '') {
      models.push(resolveModel(repository, model, version));
      continue;
    }
    if (repository.versions(model) === undefined) throw unknownModel(repository, model, '');
    for (const v of readyVersions(repository, model)) {
      try {
        models.push(repository.resolve(model, v));
      } catch {
        // It stopped being ready since the listing: not asked for any more.
      }
    }
  }
  return models;
}

const duration = (count: number | bigint, ns: bigint): JsonWritable => ({ count: BigInt(count), ns });

/**
 * `GET .../stats`: Triton's statistics from the batcher's counts: inference_count is rows,
 * execution_count runs, batch_stats the runs and their time by batch size. Input and output
 * preparation is not timed apart from the run.
 */
export function statisticsDocument(models: readonly ModelVersion[]): JsonWritable {
  return {
    model_stats: models.map((model) => {
      const s = model.stats();
      return {
        name: model.name,
        version: model.version,
        last_inference: s.lastInferenceMs,
        inference_count: s.inferences,
        execution_count: s.executions,
        inference_stats: {
          success: duration(s.success, s.queueNs + s.computeNs),
          fail: duration(s.fail, 0n),
          queue: duration(s.executions, s.queueNs),
          compute_input: duration(0, 0n),
          compute_infer: duration(s.executions, s.computeNs),
          compute_output: duration(0, 0n),
          cache_hit: duration(0, 0n),
          cache_miss: duration(0, 0n),
        },
        batch_stats: Object.entries(s.batchSizes).map(([size, count]) => ({
          batch_size: Number(size),
          compute_input: duration(0, 0n),
          compute_infer: duration(count, s.batchComputeNs[Number(size)] ?? 0n),
          compute_output: duration(0, 0n),
        })),
        memory_usage: [],
      };
    }),
  };
}

/** `POST /v2/repository/index`: every model version and its state (only ready ones with `readyOnly`), as a JSON array. */
export function repositoryIndexDocument(repository: ModelRepository, readyOnly: boolean): JsonWritable {
  const models: JsonWritable[] = [];
  for (const name of repository.modelNames()) {
    const versions = repository.versions(name) ?? [];
    if (versions.length === 0 && !readyOnly) models.push({ name, state: 'UNAVAILABLE', reason: 'the model has no version folders' });
    for (const v of versions) {
      if (readyOnly && v.state !== 'READY') continue;
      models.push({ name, version: v.version, state: INDEX_STATE[v.state], reason: v.reason === '' ? undefined : v.reason });
    }
  }
  return models;
}
