import type { ModelMetadata } from '../../inference';
import {
  modelConfigDocument as configDocument,
  modelStatisticsDocument,
  PLATFORM,
  repositoryIndex,
  resolveModel,
  statisticsVersions,
} from '../../open-inference';
import type { ModelVersion } from '../../repository/model-version';
import { oipDatatype } from '../../tensor/oip-codec';
import type { EffectiveConfig, ModelRepository } from '../../repository/model-repository';
import type { TensorSpec } from '../../tensor/tensor-types';
import type { JsonWritable } from './json-text';

/**
 * The JSON documents of the REST binding's model and repository endpoints, in the shapes
 * Triton's HTTP server writes them (snake_case names, whole numbers as numbers): the documents
 * src/open-inference.ts builds for both bindings, written as JSON.
 */

/** A document with its camelCase names in snake_case, as Triton's JSON spells protobuf fields. */
function snakeCase(value: unknown): JsonWritable {
  if (Array.isArray(value)) return value.map(snakeCase);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), snakeCase(v)]));
  }
  return value as JsonWritable;
}

function tensorMetadata(spec: TensorSpec): JsonWritable {
  return { name: spec.name, datatype: oipDatatype(spec.type).name, shape: [...spec.dims] };
}

/** `GET /v2/models/{m}`: name, the ready versions, platform, inputs and outputs (-1: any size), from the core's one description of a model. */
export function modelMetadataDocument(m: ModelMetadata): JsonWritable {
  return { name: m.name, versions: [...m.readyVersions], platform: PLATFORM, inputs: m.inputs.map(tensorMetadata), outputs: m.outputs.map(tensorMetadata) };
}

/** `GET /v2/models/{m}/config`: the effective configuration as Triton's ModelConfig in JSON. */
export function modelConfigDocument(c: EffectiveConfig): JsonWritable {
  return snakeCase(configDocument(c));
}

/** `GET .../stats`: Triton's statistics of the versions asked for (see statisticsVersions). */
export function statisticsDocument(repository: ModelRepository, name: string, version: string): JsonWritable {
  const models: ModelVersion[] = statisticsVersions(repository, name, version, (n, v) => resolveModel(repository, n, v));
  return { model_stats: models.map((model) => snakeCase({ ...modelStatisticsDocument(model), memoryUsage: [] })) };
}

/** `POST /v2/repository/index`: every model version and its state (only ready ones with `readyOnly`), as a JSON array; empty fields left out. */
export function repositoryIndexDocument(repository: ModelRepository, readyOnly: boolean): JsonWritable {
  return repositoryIndex(repository, readyOnly).map((entry) => ({ name: entry.name, version: entry.version === '' ? undefined : entry.version, state: entry.state, reason: entry.reason === '' ? undefined : entry.reason }));
}

export { resolveModel, unknownModel } from '../../open-inference';
