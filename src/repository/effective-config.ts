import type { SessionOptions } from '../runtime/onnx-session';
import type { MainThreadUse } from '../scheduler/main-thread-lane';
import type { TensorSpec } from '../tensor/tensor-types';
import type { ModelConfigFile, Placement, TensorOverride, VersionPolicy, WarmupRequest } from './model-config';

/** What the server's flags give a model whose config file leaves a field out. */
export interface ModelDefaults {
  readonly instances: number;
  readonly placement: Placement;
  readonly session: SessionOptions;
  readonly maxQueueSize: number;
}

/** A model's config file completed by the server's defaults: what each of its versions loads with. */
export interface ModelSettings {
  /** The config file (relative to the repository), or undefined when everything came from the model and the defaults. */
  readonly file: string | undefined;
  readonly versionPolicy: VersionPolicy;
  readonly instances: number;
  readonly placement: Placement;
  readonly session: SessionOptions;
  /** auto: decided at load, from the model's shapes (see ModelVersionOptions.batching). */
  readonly maxBatchSize: number | 'auto';
  readonly dynamicBatching: { readonly maxQueueDelayUs: number; readonly preferredBatchSizes: readonly number[]; readonly maxQueueSize: number };
  readonly warmup: readonly WarmupRequest[];
  readonly overrides: { readonly inputs: readonly TensorOverride[]; readonly outputs: readonly TensorOverride[] };
}

/** A model version's configuration as it is served: the config file completed from the model and the server's defaults. */
export interface EffectiveConfig {
  readonly name: string;
  readonly version: string;
  readonly platform: 'onnxruntime';
  /** The config file (relative to the repository), or undefined when everything came from the model and the defaults. */
  readonly file: string | undefined;
  readonly versionPolicy: VersionPolicy;
  readonly instances: number;
  readonly placement: Placement;
  /** What the version decided at load about the main thread (measured run, rows it takes there, or why none). */
  readonly mainThread: MainThreadUse;
  readonly session: SessionOptions;
  readonly maxBatchSize: number;
  readonly dynamicBatching: { readonly maxQueueDelayUs: number; readonly preferredBatchSizes: readonly number[]; readonly maxQueueSize: number };
  readonly warmup: readonly WarmupRequest[];
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
}

/** What a version decided when it loaded, from the model file itself. */
export interface LoadedFacts {
  readonly mainThread: MainThreadUse;
  /** Rows per run, `auto` resolved; 0 when requests run alone. */
  readonly maxBatchSize: number;
  /** The model's inputs and outputs, narrowed by the overrides. */
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
}

/**
 * The one place where the server's defaults fill what a model's config file leaves out (the
 * newest version only, one instance, no queue delay...). Pure.
 */
export function modelSettings(file: ModelConfigFile, defaults: ModelDefaults): ModelSettings {
  return {
    file: file.file,
    versionPolicy: file.versionPolicy ?? { latest: 1 },
    instances: file.instances ?? defaults.instances,
    placement: file.placement ?? defaults.placement,
    session: { ...defaults.session, ...definedOnly(file.session ?? {}) },
    maxBatchSize: file.maxBatchSize ?? 'auto',
    dynamicBatching: {
      maxQueueDelayUs: file.dynamicBatching?.maxQueueDelayUs ?? 0,
      preferredBatchSizes: file.dynamicBatching?.preferredBatchSizes ?? [],
      maxQueueSize: file.dynamicBatching?.maxQueueSize ?? defaults.maxQueueSize,
    },
    warmup: file.warmup ?? [],
    overrides: { inputs: file.inputs ?? [], outputs: file.outputs ?? [] },
  };
}

/** The configuration a loaded version serves with: its settings, with what it decided at load. Pure. */
export function effectiveConfig(name: string, version: string, settings: ModelSettings, loaded: LoadedFacts): EffectiveConfig {
  return {
    name,
    version,
    platform: 'onnxruntime',
    file: settings.file,
    versionPolicy: settings.versionPolicy,
    instances: settings.instances,
    placement: settings.placement,
    mainThread: loaded.mainThread,
    session: settings.session,
    maxBatchSize: loaded.maxBatchSize,
    dynamicBatching: settings.dynamicBatching,
    warmup: settings.warmup,
    inputs: loaded.inputs,
    outputs: loaded.outputs,
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
