import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { MAX_DIMENSION } from '../tensor/tensor-types';
import { ConfigError, ConfigReader, shown, type ConfigProblem } from '../config-problems';
import { FileTooLargeError, readBoundedFile } from './read-bounded-file';

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

export const CONFIG_FILES = ['config.yaml', 'config.yml', 'config.json'] as const;

/** Default of --max-model-config-bytes: the largest config file (or MLmodel) read. */
export const DEFAULT_MAX_MODEL_CONFIG_BYTES = 64 * 1024;

/**
 * Reads `<root>/<model>/config.yaml` (or .yml, .json), if there is one, and validates it.
 * Rejects with a ConfigError listing every problem, each naming the file (relative to `root`),
 * the field, what was expected and what came, among them a file larger than `maxFileBytes`;
 * resolves `{}` when the model has no config file.
 */
export async function readModelConfig(root: string, model: string, options: { readonly maxFileBytes: number }): Promise<ModelConfigFile> {
  const present: string[] = [];
  for (const name of CONFIG_FILES) {
    const file = path.join(model, name);
    if (await fs.stat(path.join(root, file)).then((s) => s.isFile(), () => false)) present.push(file);
  }
  if (present.length === 0) return {};
  if (present.length > 1) throw new ConfigError([{ file: model, field: '', expected: `one config file (${CONFIG_FILES.join(', ')})`, got: present.join(' and ') }]);
  const file = present[0]!;
  let text: string;
  try {
    text = await readBoundedFile(path.join(root, file), options.maxFileBytes);
  } catch (err) {
    throw new ConfigError([unreadable(file, err)]);
  }
  let raw: unknown;
  const json = file.endsWith('.json');
  try {
    raw = json ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError([{ file, field: '', expected: json ? 'JSON' : 'YAML', got: `text that does not parse (${(err as Error).message})` }]);
  }
  return parseModelConfig(raw ?? {}, file);
}

/** A config file (or MLmodel) that cannot be read: larger than the bound, or refused by the file system. */
export function unreadable(file: string, err: unknown): ConfigProblem {
  if (err instanceof FileTooLargeError) return { file, field: '', expected: `at most ${err.maxBytes} bytes (--max-model-config-bytes)`, got: 'a larger file' };
  // The file system's own message names the whole path; its code says enough.
  return { file, field: '', expected: 'a readable file', got: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
}

const TOP_FIELDS = ['version_policy', 'instances', 'placement', 'session', 'max_batch_size', 'dynamic_batching', 'warmup', 'inputs', 'outputs'];

/** Validates a parsed config document; throws a ConfigError listing every problem, each naming `file` and the field. */
export function parseModelConfig(raw: unknown, file: string): ModelConfigFile {
  const r = new ConfigReader(file);
  const doc = r.mapping(raw, '', TOP_FIELDS) ?? {};
  const config: ModelConfigFile = {
    file,
    versionPolicy: r.optional(doc, '', 'version_policy', (v, at) => versionPolicy(r, v, at)),
    instances: r.optional(doc, '', 'instances', (v, at) => r.int(v, at, 1, 256)),
    placement: r.optional(doc, '', 'placement', (v, at) => r.oneOf(v, at, ['auto', 'worker'] as const)),
    session: r.optional(doc, '', 'session', (v, at) => {
      const s = r.mapping(v, at, ['intra_op_threads', 'inter_op_threads', 'graph_optimization_level', 'execution_mode']) ?? {};
      return {
        intraOpThreads: r.optional(s, at, 'intra_op_threads', (x, a) => r.int(x, a, 1, 1024)),
        interOpThreads: r.optional(s, at, 'inter_op_threads', (x, a) => r.int(x, a, 1, 1024)),
        graphOptimizationLevel: r.optional(s, at, 'graph_optimization_level', (x, a) => r.oneOf(x, a, ['disabled', 'basic', 'extended', 'all'] as const)),
        executionMode: r.optional(s, at, 'execution_mode', (x, a) => r.oneOf(x, a, ['sequential', 'parallel'] as const)),
      };
    }),
    maxBatchSize: r.optional(doc, '', 'max_batch_size', (v, at) => r.int(v, at, 0, 1 << 20)),
    dynamicBatching: r.optional(doc, '', 'dynamic_batching', (v, at) => {
      const d = r.mapping(v, at, ['max_queue_delay_us', 'preferred_batch_sizes', 'max_queue_size']) ?? {};
      return {
        maxQueueDelayUs: r.optional(d, at, 'max_queue_delay_us', (x, a) => r.int(x, a, 0, 60_000_000)),
        preferredBatchSizes: r.optional(d, at, 'preferred_batch_sizes', (x, a) => r.items(x, a, (n, f) => r.int(n, f, 1, 1 << 20))),
        maxQueueSize: r.optional(d, at, 'max_queue_size', (x, a) => r.int(x, a, 1, 10_000_000)),
      };
    }),
    warmup: r.optional(doc, '', 'warmup', (v, at) => r.items(v, at, (w, f) => warmupRequest(r, w, f))),
    inputs: r.optional(doc, '', 'inputs', (v, at) => r.items(v, at, (t, f) => override(r, t, f))),
    outputs: r.optional(doc, '', 'outputs', (v, at) => r.items(v, at, (t, f) => override(r, t, f))),
  };
  r.problems.throwIfAny();
  return config;
}

function versionPolicy(r: ConfigReader, value: unknown, field: string): VersionPolicy | undefined {
  const kinds = ['latest', 'all', 'specific'];
  const p = r.mapping(value, field, kinds);
  if (p === undefined) return undefined;
  const given = Object.keys(p).filter((key) => kinds.includes(key));
  if (given.length !== 1) {
    r.problem(field, `exactly one of ${kinds.join(', ')}`, given.length === 0 ? 'none' : given.join(', '));
    return undefined;
  }
  if ('latest' in p) {
    const latest = r.int(p['latest'], `${field}.latest`, 1, 1_000_000);
    return latest === undefined ? undefined : { latest };
  }
  if ('all' in p) {
    if (p['all'] === true) return { all: true };
    r.problem(`${field}.all`, 'true', shown(p['all']));
    return undefined;
  }
  const list = r.items(p['specific'], `${field}.specific`, (n, f) => r.int(n, f, 0, Number.MAX_SAFE_INTEGER));
  if (list === undefined) return undefined;
  if (list.length > 0) return { specific: list.map(String) };
  r.problem(`${field}.specific`, 'at least one version', '[]');
  return undefined;
}

function warmupRequest(r: ConfigReader, value: unknown, field: string): WarmupRequest | undefined {
  const w = r.mapping(value, field, ['name', 'count', 'inputs']);
  if (w === undefined) return undefined;
  const name = r.optional(w, field, 'name', (x, a) => r.string(x, a));
  const count = r.optional(w, field, 'count', (x, a) => r.int(x, a, 1, 1000));
  const inputs = r.mapping(w['inputs'], `${field}.inputs`);
  if (inputs === undefined) return undefined;
  const parsed: Record<string, WarmupInput> = {};
  let complete = true;
  for (const [input, spec] of Object.entries(inputs)) {
    const read = warmupInput(r, spec, `${field}.inputs.${input}`);
    if (read === undefined) complete = false;
    else parsed[input] = read;
  }
  return complete ? { name: name ?? field, count: count ?? 1, inputs: parsed } : undefined;
}

function warmupInput(r: ConfigReader, value: unknown, field: string): WarmupInput | undefined {
  const fills = ['zero', 'random', 'values'];
  const s = r.mapping(value, field, ['shape', ...fills]);
  if (s === undefined) return undefined;
  const shape = r.items(s['shape'], `${field}.shape`, (d, f) => r.int(d, f, 0, MAX_DIMENSION));
  const given = fills.filter((key) => key in s);
  if (given.length !== 1) {
    r.problem(field, `exactly one of ${fills.join(', ')}`, given.length === 0 ? 'none' : given.join(', '));
    return undefined;
  }
  const fill = given[0]!;
  if (fill !== 'values') {
    if (s[fill] !== true) r.problem(`${field}.${fill}`, 'true', shown(s[fill]));
    return shape === undefined || s[fill] !== true ? undefined : { shape, fill: fill === 'zero' ? { zero: true } : { random: true } };
  }
  const values = r.list(s['values'], `${field}.values`);
  if (values === undefined) return undefined;
  let valid = true;
  values.forEach((x, i) => {
    if (['number', 'string', 'boolean'].includes(typeof x)) return;
    r.problem(`${field}.values[${i}]`, 'a number, string or boolean', shown(x));
    valid = false;
  });
  if (shape === undefined) return undefined;
  const count = shape.reduce((a, b) => a * b, 1);
  if (values.length !== count) {
    r.problem(`${field}.values`, `${count} values for shape [${shape.join(',')}]`, String(values.length));
    return undefined;
  }
  return valid ? { shape, fill: { values: values as (number | string | boolean)[] } } : undefined;
}

function override(r: ConfigReader, value: unknown, field: string): TensorOverride | undefined {
  const t = r.mapping(value, field, ['name', 'dims']);
  if (t === undefined) return undefined;
  const name = r.string(t['name'], `${field}.name`);
  const dims = r.items(t['dims'], `${field}.dims`, (d, f) => r.int(d, f, -1, MAX_DIMENSION));
  return name === undefined || dims === undefined ? undefined : { name, dims };
}
