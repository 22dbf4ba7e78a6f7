import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { MAX_DIMENSION } from '../tensor/tensor-types';
import { readBoundedFile } from './read-bounded-file';

/** Which versions on disk are served. */
export type VersionPolicy = { readonly latest: number } | { readonly all: true } | { readonly specific: readonly string[] };

export interface SessionConfig {
  readonly intraOpThreads?: number;
  readonly interOpThreads?: number;
  readonly graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  readonly executionMode?: 'sequential' | 'parallel';
}

export interface DynamicBatchingConfig {
  readonly maxQueueDelayUs?: number;
  readonly preferredBatchSizes?: readonly number[];
  readonly maxQueueSize?: number;
}

/** How a warm-up input is filled. */
export type WarmupFill = { readonly zero: true } | { readonly random: true } | { readonly values: readonly (number | string | boolean)[] };

export interface WarmupInput {
  readonly shape: readonly number[];
  readonly fill: WarmupFill;
}

export interface WarmupRequest {
  readonly name: string;
  /** Runs per instance. */
  readonly count: number;
  readonly inputs: Readonly<Record<string, WarmupInput>>;
}

export interface TensorOverride {
  readonly name: string;
  readonly dims: readonly number[];
}

/**
 * Where a model's runs go. auto: short requests of a model measured at load to run in at most
 * MAIN_THREAD_MAX_RUN_US run on the main thread, the rest on the worker instances; worker: every
 * run on a worker instance.
 */
export type Placement = 'auto' | 'worker';

/** A model's config file as written (every field optional), after validation. */
export interface ModelConfigFile {
  /** The file it came from, relative to the model repository; undefined when the model has none. */
  readonly file?: string;
  readonly versionPolicy?: VersionPolicy;
  readonly instances?: number;
  readonly placement?: Placement;
  readonly session?: SessionConfig;
  readonly maxBatchSize?: number;
  readonly dynamicBatching?: DynamicBatchingConfig;
  readonly warmup?: readonly WarmupRequest[];
  readonly inputs?: readonly TensorOverride[];
  readonly outputs?: readonly TensorOverride[];
}

/** A config file that cannot be used: its message names the file, the field and the reason. */
export class ModelConfigError extends Error {
  override readonly name = 'ModelConfigError';
}

export const CONFIG_FILES = ['config.yaml', 'config.yml', 'config.json'] as const;

/** Default of --max-model-config-bytes: the largest config file (or MLmodel) read. */
export const DEFAULT_MAX_MODEL_CONFIG_BYTES = 64 * 1024;

/**
 * Reads `<root>/<model>/config.yaml` (or .yml, .json), if there is one, and validates it. Rejects
 * with a ModelConfigError naming the file (relative to `root`), the field and the reason, among
 * them a file larger than `maxFileBytes`; resolves `{}` when the model has no config file.
 */
export async function readModelConfig(root: string, model: string, options: { readonly maxFileBytes: number }): Promise<ModelConfigFile> {
  const present: string[] = [];
  for (const name of CONFIG_FILES) {
    const file = path.join(model, name);
    if (await fs.stat(path.join(root, file)).then((s) => s.isFile(), () => false)) present.push(file);
  }
  if (present.length === 0) return {};
  if (present.length > 1) throw new ModelConfigError(`${present.join(' and ')}: a model takes one config file, found ${present.length}`);
  const file = present[0]!;
  let text: string;
  try {
    text = await readBoundedFile(path.join(root, file), options.maxFileBytes);
  } catch (err) {
    // The file system's own message names the whole path; its code says enough.
    const code = (err as NodeJS.ErrnoException).code;
    throw new ModelConfigError(`${file}: ${code === undefined ? (err as Error).message : `cannot read: ${code}`}`);
  }
  let raw: unknown;
  try {
    raw = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ModelConfigError(`${file}: cannot parse: ${(err as Error).message}`);
  }
  return parseModelConfig(raw ?? {}, file);
}

/** Validates a parsed config document; throws ModelConfigError naming `file`, the field and the reason. */
export function parseModelConfig(raw: unknown, file: string): ModelConfigFile {
  const r = new Reader(file);
  const doc = r.object(raw, '', ['version_policy', 'instances', 'placement', 'session', 'max_batch_size', 'dynamic_batching', 'warmup', 'inputs', 'outputs']);
  const config: ModelConfigFile = {
    file,
    versionPolicy: r.optional(doc, 'version_policy', (v, at) => versionPolicy(r, v, at)),
    instances: r.optional(doc, 'instances', (v, at) => r.int(v, at, 1, 256)),
    placement: r.optional(doc, 'placement', (v, at) => r.oneOf(v, at, ['auto', 'worker'] as const)),
    session: r.optional(doc, 'session', (v, at) => {
      const s = r.object(v, at, ['intra_op_threads', 'inter_op_threads', 'graph_optimization_level', 'execution_mode']);
      return {
        intraOpThreads: r.optional(s, `${at}.intra_op_threads`, (x, a) => r.int(x, a, 1, 1024)),
        interOpThreads: r.optional(s, `${at}.inter_op_threads`, (x, a) => r.int(x, a, 1, 1024)),
        graphOptimizationLevel: r.optional(s, `${at}.graph_optimization_level`, (x, a) => r.oneOf(x, a, ['disabled', 'basic', 'extended', 'all'] as const)),
        executionMode: r.optional(s, `${at}.execution_mode`, (x, a) => r.oneOf(x, a, ['sequential', 'parallel'] as const)),
      };
    }),
    maxBatchSize: r.optional(doc, 'max_batch_size', (v, at) => r.int(v, at, 0, 1 << 20)),
    dynamicBatching: r.optional(doc, 'dynamic_batching', (v, at) => {
      const d = r.object(v, at, ['max_queue_delay_us', 'preferred_batch_sizes', 'max_queue_size']);
      return {
        maxQueueDelayUs: r.optional(d, `${at}.max_queue_delay_us`, (x, a) => r.int(x, a, 0, 60_000_000)),
        preferredBatchSizes: r.optional(d, `${at}.preferred_batch_sizes`, (x, a) => r.array(x, a).map((n, i) => r.int(n, `${a}[${i}]`, 1, 1 << 20))),
        maxQueueSize: r.optional(d, `${at}.max_queue_size`, (x, a) => r.int(x, a, 1, 10_000_000)),
      };
    }),
    warmup: r.optional(doc, 'warmup', (v, at) => r.array(v, at).map((w, i) => warmupRequest(r, w, `${at}[${i}]`))),
    inputs: r.optional(doc, 'inputs', (v, at) => r.array(v, at).map((t, i) => override(r, t, `${at}[${i}]`))),
    outputs: r.optional(doc, 'outputs', (v, at) => r.array(v, at).map((t, i) => override(r, t, `${at}[${i}]`))),
  };
  return config;
}

function versionPolicy(r: Reader, v: unknown, at: string): VersionPolicy {
  const p = r.object(v, at, ['latest', 'all', 'specific']);
  const keys = Object.keys(p);
  if (keys.length !== 1) throw r.fail(at, `expected exactly one of latest, all, specific, got ${keys.length === 0 ? 'none' : keys.join(', ')}`);
  if ('latest' in p) return { latest: r.int(p['latest'], `${at}.latest`, 1, 1_000_000) };
  if ('all' in p) {
    if (p['all'] !== true) throw r.fail(`${at}.all`, `expected true, got ${JSON.stringify(p['all'])}`);
    return { all: true };
  }
  const list = r.array(p['specific'], `${at}.specific`).map((n, i) => String(r.int(n, `${at}.specific[${i}]`, 0, Number.MAX_SAFE_INTEGER)));
  if (list.length === 0) throw r.fail(`${at}.specific`, 'expected at least one version');
  return { specific: list };
}

function warmupRequest(r: Reader, v: unknown, at: string): WarmupRequest {
  const w = r.object(v, at, ['name', 'count', 'inputs']);
  const inputs = r.object(w['inputs'], `${at}.inputs`, undefined);
  const parsed: Record<string, WarmupInput> = {};
  for (const [name, spec] of Object.entries(inputs)) {
    const a = `${at}.inputs.${name}`;
    const s = r.object(spec, a, ['shape', 'zero', 'random', 'values']);
    const shape = r.array(s['shape'], `${a}.shape`).map((d, i) => r.int(d, `${a}.shape[${i}]`, 0, MAX_DIMENSION));
    const fills = ['zero', 'random', 'values'].filter((k) => k in s);
    if (fills.length !== 1) throw r.fail(a, `expected exactly one of zero, random, values, got ${fills.length === 0 ? 'none' : fills.join(', ')}`);
    let fill: WarmupFill;
    if ('values' in s) {
      const values = r.array(s['values'], `${a}.values`);
      const count = shape.reduce((x, y) => x * y, 1);
      if (values.length !== count) throw r.fail(`${a}.values`, `shape [${shape.join(',')}] needs ${count} values, got ${values.length}`);
      values.forEach((x, i) => {
        if (!['number', 'string', 'boolean'].includes(typeof x)) throw r.fail(`${a}.values[${i}]`, `expected a number, string or boolean, got ${JSON.stringify(x)}`);
      });
      fill = { values: values as (number | string | boolean)[] };
    } else {
      const key = fills[0]!;
      if (s[key] !== true) throw r.fail(`${a}.${key}`, `expected true, got ${JSON.stringify(s[key])}`);
      fill = key === 'zero' ? { zero: true } : { random: true };
    }
    parsed[name] = { shape, fill };
  }
  return {
    name: r.optional(w, `${at}.name`, (x, a) => r.string(x, a)) ?? at,
    count: r.optional(w, `${at}.count`, (x, a) => r.int(x, a, 1, 1000)) ?? 1,
    inputs: parsed,
  };
}

function override(r: Reader, v: unknown, at: string): TensorOverride {
  const t = r.object(v, at, ['name', 'dims']);
  return {
    name: r.string(t['name'], `${at}.name`),
    dims: r.array(t['dims'], `${at}.dims`).map((d, i) => r.int(d, `${at}.dims[${i}]`, -1, MAX_DIMENSION)),
  };
}

/** Typed reads that throw ModelConfigError with the file and the field's path. */
class Reader {
  constructor(private readonly file: string) {}

  fail(at: string, reason: string): ModelConfigError {
    return new ModelConfigError(`${this.file}: ${at === '' ? 'the document' : at}: ${reason}`);
  }

  object(v: unknown, at: string, keys: readonly string[] | undefined): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw this.fail(at, `expected a mapping, got ${JSON.stringify(v)}`);
    if (keys !== undefined) {
      for (const k of Object.keys(v)) if (!keys.includes(k)) throw this.fail(at === '' ? k : `${at}.${k}`, `unknown field (known: ${keys.join(', ')})`);
    }
    return v as Record<string, unknown>;
  }

  optional<T>(o: Record<string, unknown>, at: string, read: (v: unknown, at: string) => T): T | undefined {
    const key = at.slice(at.lastIndexOf('.') + 1);
    return o[key] === undefined ? undefined : read(o[key], at);
  }

  array(v: unknown, at: string): unknown[] {
    if (!Array.isArray(v)) throw this.fail(at, `expected a list, got ${JSON.stringify(v)}`);
    return v;
  }

  int(v: unknown, at: string, min: number, max: number): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw this.fail(at, `expected a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
    return v;
  }

  string(v: unknown, at: string): string {
    if (typeof v !== 'string' || v === '') throw this.fail(at, `expected a non-empty string, got ${JSON.stringify(v)}`);
    return v;
  }

  oneOf<T extends string>(v: unknown, at: string, options: readonly T[]): T {
    if (!options.includes(v as T)) throw this.fail(at, `expected one of ${options.join(', ')}, got ${JSON.stringify(v)}`);
    return v as T;
  }
}
