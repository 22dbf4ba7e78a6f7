import { EventEmitter } from 'node:events';
import { watch, type FSWatcher, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { InferdError } from '../inferd-error';
import type { SessionOptions } from '../runtime/onnx-session';
import type { TensorSpec } from '../tensor/tensor-types';
import { ConfigError } from '../config-problems';
import { DEFAULT_MAX_MODEL_CONFIG_BYTES, readModelConfig, type ModelConfigFile, type Placement, type VersionPolicy, type WarmupRequest } from './model-config';
import type { BatcherObserver } from '../scheduler/dynamic-batcher';
import type { MainThreadUse } from '../scheduler/main-thread-lane';
import { ModelVersion } from './model-version';
import { scanModel, type ModelOnDisk, type VersionOnDisk } from './scan-repository';
import { selectVersions } from './version-policy';

export type VersionState = 'LOADING' | 'READY' | 'UNLOADING' | 'UNAVAILABLE' | 'FAILED';

export interface VersionStatus {
  readonly version: string;
  readonly state: VersionState;
  /** Why the version is in its state, when it is not plainly READY. */
  readonly reason: string;
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

export interface ModelRepositoryOptions {
  /** The repository folder: `<root>/<model>/<version>/model.onnx`. */
  readonly root: string;
  /** Used where a model's config file says nothing. */
  readonly defaults: { readonly instances: number; readonly placement: Placement; readonly session: SessionOptions; readonly maxQueueSize: number };
  /** watch: follow changes on disk; explicit: change only through load() and unload(). */
  readonly control: 'watch' | 'explicit';
  /** In watch mode, how often to rescan in case a file-system event was missed; 0: never. */
  readonly pollMs: number;
  readonly log: Logger;
  /** The observer of each loaded version's runs (metrics, tracing); none by default. */
  readonly observe?: (model: string, version: string) => BatcherObserver;
  /** Largest config file (or MLmodel) read, bytes: --max-model-config-bytes; DEFAULT_MAX_MODEL_CONFIG_BYTES by default. */
  readonly maxConfigFileBytes?: number;
  /** Largest warm-up input, bytes: --max-message-bytes, the most a request may carry; DEFAULT_MAX_WARMUP_INPUT_BYTES by default. */
  readonly maxWarmupInputBytes?: number;
}

/** The default of --max-message-bytes, which bounds warm-up inputs where the server gives no other. */
export const DEFAULT_MAX_WARMUP_INPUT_BYTES = 64 * 1024 * 1024;

/**
 * Why a name cannot be a model's: a model is a folder directly in the repository, and the
 * scan passes over hidden ones. Undefined for a name that may be one.
 */
function unfitModelName(name: string): string | undefined {
  if (name === '') return 'a model name may not be empty';
  if (/[/\\\0]/.test(name)) return 'a model name is a folder name, without "/", "\\" or NUL';
  if (name.startsWith('.')) return 'a model name does not start with "." (hidden folders, "." and ".." are not models)';
  return undefined;
}

interface VersionEntry {
  readonly version: string;
  state: VersionState;
  reason: string;
  /** The loaded version serving requests, while READY. */
  loaded?: ModelVersion;
  config?: EffectiveConfig;
  /** What was on disk when `loaded` was loaded (model file and config file stamps). */
  loadedStamp?: string;
  /** What was on disk when the last load failed: not retried until it changes. */
  failedStamp?: string;
}

interface ModelEntry {
  readonly name: string;
  readonly versions: Map<string, VersionEntry>;
  /** Unloaded by request: serves nothing until load(). */
  unloaded: boolean;
  /** The config file stamp last reported invalid, so that each bad edit is logged once. */
  badConfigStamp?: string;
}

/** Debounce for file-system events: a copy in progress fires many. */
const SETTLE_MS = 250;

/**
 * The models the server serves, kept in step with the repository folder. For each model it
 * serves the versions its version policy picks (the newest one by default): a new or changed
 * version loads and warms up before it takes traffic, and a version that leaves the policy (or
 * the disk) retires once its requests in flight are done. A version that fails to load is
 * FAILED with its reason while the versions already serving go on serving.
 *
 * Emits `change` (model name) whenever a version's state changes and `removed` (model name)
 * when a model's folder is gone.
 */
export class ModelRepository extends EventEmitter<{ change: [model: string]; removed: [model: string] }> {
  private readonly models = new Map<string, ModelEntry>();
  /** Per model, the sync in progress; syncs of one model never overlap. */
  private readonly syncs = new Map<string, Promise<void>>();
  private watcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  private closed: Promise<void> | undefined;

  private constructor(private readonly options: ModelRepositoryOptions) {
    super();
  }

  /**
   * Reads the repository, loads what it serves and, in watch mode, starts following it.
   * Settles when every load has finished, successfully or not. Rejects only when the folder
   * cannot be read.
   */
  static async create(options: ModelRepositoryOptions): Promise<ModelRepository> {
    const repo = new ModelRepository(options);
    try {
      await fs.readdir(options.root);
    } catch (err) {
      throw new Error(`cannot read the model repository ${options.root}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
    await repo.syncAll();
    if (options.control === 'watch') repo.follow();
    return repo;
  }

  /** Model names, sorted. */
  modelNames(): string[] {
    return [...this.models.keys()].sort();
  }

  /** Every version of a model, newest first; undefined for an unknown model. */
  versions(name: string): VersionStatus[] | undefined {
    const entry = this.models.get(name);
    return entry && sorted(entry).map((e) => ({ version: e.version, state: e.state, reason: e.reason }));
  }

  /** True when a version of the model is ready to serve. */
  isReady(name: string): boolean {
    const entry = this.models.get(name);
    return entry !== undefined && [...entry.versions.values()].some(isServing);
  }

  /**
   * The version that serves a request: the named one, or the newest ready one when `version` is
   * "". Throws NOT_FOUND for a model or version that does not exist, UNAVAILABLE for one that
   * exists but is not ready (with its state and reason).
   */
  resolve(name: string, version: string): ModelVersion {
    return this.entryFor(name, version).loaded!;
  }

  /** The effective configuration of the version that would serve (name, version); throws as resolve() does. */
  config(name: string, version: string): EffectiveConfig {
    return this.entryFor(name, version).config!;
  }

  /**
   * Loads (or reloads) a model from its folder, clearing an earlier unload. Resolves once the
   * versions its policy picks are ready. Rejects with NOT_FOUND when the folder does not exist,
   * UNAVAILABLE naming each version's reason when none could be made ready.
   */
  async load(name: string): Promise<void> {
    const unfit = unfitModelName(name);
    if (unfit !== undefined) throw new InferdError('NOT_FOUND', `unknown model ${JSON.stringify(name)}: ${unfit}`);
    if ((await this.scan(name)) === undefined) throw new InferdError('NOT_FOUND', `unknown model "${name}": the model repository has no folder "${name}"`);
    const entry = this.models.get(name);
    if (entry !== undefined) {
      entry.unloaded = false;
      for (const e of entry.versions.values()) e.failedStamp = undefined; // asked for: try again
    }
    await this.sync(name);
    if (!this.isReady(name)) {
      const why = (this.versions(name) ?? []).map((v) => `version ${v.version} ${v.state}${v.reason ? `: ${v.reason}` : ''}`).join('; ');
      throw new InferdError('UNAVAILABLE', `model "${name}" failed to load: ${why || 'it has no version folders'}`);
    }
  }

  /** Unloads every version of a model (after their requests in flight) until load() is called. Rejects with NOT_FOUND for an unknown model. */
  async unload(name: string): Promise<void> {
    const entry = this.models.get(name);
    if (entry === undefined) throw new InferdError('NOT_FOUND', `unknown model ${JSON.stringify(name)}`);
    entry.unloaded = true;
    await this.sync(name);
  }

  /** Fails every queued and running request with `reason` at once (see OnnxSession.abandon). */
  abandon(reason: InferdError): void {
    for (const entry of this.models.values()) for (const e of entry.versions.values()) e.loaded?.abandon(reason);
  }

  /** Stops following the folder, waits for requests in flight, then closes every session. Safe to call twice. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.watcher?.close();
      clearInterval(this.pollTimer);
      clearTimeout(this.settleTimer);
      await Promise.allSettled(this.syncs.values());
      const retiring: Promise<void>[] = [];
      for (const entry of this.models.values()) {
        for (const e of entry.versions.values()) if (e.loaded) retiring.push(this.retire(entry, e, 'server is shutting down'));
      }
      await Promise.all(retiring);
    })();
    return this.closed;
  }

  private entryFor(name: string, version: string): VersionEntry {
    const entry = this.models.get(name);
    if (entry === undefined) throw new InferdError('NOT_FOUND', `unknown model "${name}"`);
    const versions = sorted(entry);
    if (version === '') {
      const ready = versions.find(isServing);
      if (ready !== undefined) return ready;
      const newest = versions[0];
      const why = newest === undefined ? 'it has no version folders' : `version ${newest.version} is ${newest.state}${newest.reason ? `: ${newest.reason}` : ''}`;
      throw new InferdError('UNAVAILABLE', `model "${name}" has no ready version: ${why}`);
    }
    const e = entry.versions.get(version);
    if (e === undefined) {
      // A version is named by its number alone: "01" names nothing, so that one version has one name.
      const canonical = /^\d+$/.test(version) ? String(BigInt(version)) : undefined;
      const hint = canonical !== undefined && canonical !== version ? `; a version is written as its whole number without leading zeros ("${canonical}")` : '';
      throw new InferdError('NOT_FOUND', `unknown version ${JSON.stringify(version)} of model "${name}"${hint}`);
    }
    if (!isServing(e)) throw new InferdError('UNAVAILABLE', `model "${name}" version ${e.version} is ${e.state}${e.reason ? `: ${e.reason}` : ''}`);
    return e;
  }

  private follow(): void {
    const schedule = (): void => {
      clearTimeout(this.settleTimer);
      this.settleTimer = setTimeout(() => void this.syncAll(), SETTLE_MS);
    };
    try {
      this.watcher = watch(this.options.root, { recursive: true }, schedule);
      this.watcher.on('error', (err) => this.options.log.warn({ err }, 'watching the model repository failed; polling goes on'));
    } catch (err) {
      this.options.log.warn({ err }, 'cannot watch the model repository; polling it instead');
    }
    if (this.options.pollMs > 0) this.pollTimer = setInterval(() => void this.syncAll(), this.options.pollMs);
  }

  /** Brings every model, on disk or known, in step. */
  private async syncAll(): Promise<void> {
    let names: string[];
    try {
      names = (await fs.readdir(this.options.root, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
    } catch (err) {
      this.options.log.error({ err, root: this.options.root }, 'cannot read the model repository');
      return;
    }
    await Promise.all([...new Set([...names, ...this.models.keys()])].map((name) => this.sync(name)));
  }

  /** Brings one model in step with its folder, after any sync of it already under way. */
  private sync(name: string): Promise<void> {
    const next = (this.syncs.get(name) ?? Promise.resolve())
      .then(() => (this.closed === undefined ? this.syncModel(name) : undefined))
      .catch((err: unknown) => this.options.log.error({ err, model: name }, 'model sync failed'));
    this.syncs.set(name, next);
    void next.then(() => {
      if (this.syncs.get(name) === next) this.syncs.delete(name);
    });
    return next;
  }

  private async syncModel(name: string): Promise<void> {
    const onDisk = await this.scan(name);
    let entry = this.models.get(name);
    if (onDisk === undefined) {
      if (entry === undefined) return;
      await Promise.all([...entry.versions.values()].filter((e) => e.loaded).map((e) => this.retire(entry!, e, 'its folder was removed')));
      this.models.delete(name);
      this.options.log.info({ model: name }, 'model removed');
      this.emit('removed', name);
      return;
    }
    if (entry === undefined) {
      entry = { name, versions: new Map(), unloaded: false };
      this.models.set(name, entry);
      this.emit('change', name);
    }

    let config: ModelConfigFile;
    try {
      config = await readModelConfig(this.options.root, name, { maxFileBytes: this.maxConfigFileBytes });
      entry.badConfigStamp = undefined;
    } catch (err) {
      const reason = reasonOf(err);
      if (entry.badConfigStamp !== onDisk.configStamp) this.options.log.error({ model: name, reason, dir: onDisk.dir }, 'model config is invalid');
      entry.badConfigStamp = onDisk.configStamp;
      this.configFailed(entry, onDisk.versions, reason);
      return;
    }

    // Versions gone from disk retire now: whoever deleted them wants them gone.
    const onDiskVersions = new Set(onDisk.versions.map((v) => v.version));
    for (const e of [...entry.versions.values()]) {
      if (onDiskVersions.has(e.version)) continue;
      if (e.loaded) await this.retire(entry, e, 'its folder was removed');
      entry.versions.delete(e.version);
      this.emit('change', name);
    }

    const policy = config.versionPolicy ?? { latest: 1 };
    const target = new Set(entry.unloaded ? [] : selectVersions(policy, onDisk.versions.map((v) => v.version)));
    const loads: Promise<void>[] = [];
    for (const v of onDisk.versions) {
      let e = entry.versions.get(v.version);
      if (e === undefined) {
        e = { version: v.version, state: 'UNAVAILABLE', reason: '' };
        entry.versions.set(v.version, e);
      }
      const stamp = `${v.stamp}#${onDisk.configStamp}`;
      if (!target.has(v.version)) {
        if (!e.loaded) this.setState(entry, e, 'UNAVAILABLE', entry.unloaded ? 'unloaded by request' : 'not served: the version policy does not pick it');
      } else if (v.problem !== undefined || v.stamp === '') {
        if (!e.loaded) this.setState(entry, e, 'FAILED', v.problem ?? `no model.onnx in ${path.dirname(v.shownPath)}`);
        e.failedStamp = stamp;
      } else if ((e.loaded === undefined || e.loadedStamp !== stamp) && e.failedStamp !== stamp) {
        loads.push(this.loadVersion(entry, e, v, config, policy, stamp));
      } else if (e.loaded !== undefined && e.loadedStamp === stamp) {
        this.setState(entry, e, 'READY', ''); // picked again and up to date: any earlier note is stale
      }
    }
    await Promise.all(loads);

    // Retire versions the policy no longer picks, but only once something it picks is serving,
    // so that a bad new version never leaves the model with nothing.
    const targetServing = [...target].some((v) => isServing(entry!.versions.get(v)));
    const retiring: Promise<void>[] = [];
    for (const e of entry.versions.values()) {
      if (target.has(e.version) || e.loaded === undefined) continue;
      if (targetServing || target.size === 0) {
        retiring.push(this.retire(entry, e, entry.unloaded ? 'unloaded by request' : 'not served: the version policy does not pick it'));
      } else {
        e.reason = 'still serving: no version the policy picks could be loaded';
      }
    }
    await Promise.all(retiring);
  }

  private async loadVersion(entry: ModelEntry, e: VersionEntry, v: VersionOnDisk, config: ModelConfigFile, policy: VersionPolicy, stamp: string): Promise<void> {
    const log = this.options.log;
    const replacing = e.loaded;
    if (replacing === undefined) this.setState(entry, e, 'LOADING', '');
    const started = performance.now();
    const d = this.options.defaults;
    const instances = config.instances ?? d.instances;
    const session: SessionOptions = { ...d.session, ...definedOnly(config.session ?? {}) };
    const maxQueueSize = config.dynamicBatching?.maxQueueSize ?? d.maxQueueSize;
    try {
      const placement = config.placement ?? d.placement;
      const loaded = await ModelVersion.create(entry.name, v.version, v.modelPath, {
        instances,
        placement,
        session,
        maxQueueSize,
        overrides: { file: config.file, inputs: config.inputs ?? [], outputs: config.outputs ?? [] },
        warmup: config.warmup ?? [],
        maxWarmupInputBytes: this.options.maxWarmupInputBytes ?? DEFAULT_MAX_WARMUP_INPUT_BYTES,
        batching: {
          maxBatchSize: config.maxBatchSize ?? 'auto',
          maxQueueDelayUs: config.dynamicBatching?.maxQueueDelayUs ?? 0,
          preferredBatchSizes: config.dynamicBatching?.preferredBatchSizes ?? [],
        },
        log,
        observer: this.options.observe?.(entry.name, v.version),
      });
      if (this.closed !== undefined) {
        await loaded.close();
        return;
      }
      e.loaded = loaded;
      e.loadedStamp = stamp;
      e.failedStamp = undefined;
      e.config = {
        name: entry.name,
        version: v.version,
        platform: 'onnxruntime',
        file: config.file,
        versionPolicy: policy,
        instances,
        placement,
        mainThread: loaded.mainThread,
        session,
        maxBatchSize: loaded.maxBatchSize,
        dynamicBatching: {
          maxQueueDelayUs: config.dynamicBatching?.maxQueueDelayUs ?? 0,
          preferredBatchSizes: config.dynamicBatching?.preferredBatchSizes ?? [],
          maxQueueSize,
        },
        warmup: config.warmup ?? [],
        inputs: loaded.inputs,
        outputs: loaded.outputs,
      };
      this.setState(entry, e, 'READY', '');
      const main = loaded.mainThread;
      log.info({ model: entry.name, version: v.version, instances, runUs: main.measuredRunUs === undefined ? undefined : Math.round(main.measuredRunUs), mainThreadMaxRows: main.maxRows, mainThreadNote: main.note || undefined, loadMs: Math.round(performance.now() - started), reload: replacing !== undefined }, 'model version ready');
      if (replacing !== undefined) void replacing.close();
    } catch (err) {
      e.failedStamp = stamp;
      // A config fault names its file already; anything else is about loading the model file.
      // Clients see paths relative to the repository; the runtime's messages name the whole path.
      const message = (err as Error).message.split(v.modelPath).join(v.shownPath);
      const reason = err instanceof ConfigError ? reasonOf(err) : `cannot load ${v.shownPath}: ${message}`;
      if (replacing !== undefined) e.reason = `still serving the earlier file: ${reason}`;
      else this.setState(entry, e, 'FAILED', reason);
      log.error({ model: entry.name, version: v.version, reason, path: v.modelPath }, 'model version failed to load');
      this.emit('change', entry.name);
    }
  }

  /** A config file that cannot be used: versions serving go on; the others fail with its reason. */
  private configFailed(entry: ModelEntry, onDisk: readonly VersionOnDisk[], reason: string): void {
    for (const v of onDisk) {
      let e = entry.versions.get(v.version);
      if (e === undefined) {
        e = { version: v.version, state: 'FAILED', reason };
        entry.versions.set(v.version, e);
      }
      this.setState(entry, e, e.loaded ? 'READY' : 'FAILED', e.loaded ? `still serving: ${reason}` : reason);
    }
  }

  /** Takes a version out of service; settles once its requests in flight are done and its sessions closed. */
  private async retire(entry: ModelEntry, e: VersionEntry, reason: string): Promise<void> {
    const loaded = e.loaded!;
    e.loaded = undefined;
    this.setState(entry, e, 'UNLOADING', reason);
    await loaded.close();
    this.setState(entry, e, 'UNAVAILABLE', reason);
    this.options.log.info({ model: entry.name, version: e.version, reason }, 'model version unloaded');
  }

  private setState(entry: ModelEntry, e: VersionEntry, state: VersionState, reason: string): void {
    if (e.state === state && e.reason === reason) return;
    e.state = state;
    e.reason = reason;
    this.emit('change', entry.name);
  }

  /** A model's folder as it is on disk; undefined when it is not there. */
  private scan(name: string): Promise<ModelOnDisk | undefined> {
    return scanModel(this.options.root, name, { maxFileBytes: this.maxConfigFileBytes });
  }

  private get maxConfigFileBytes(): number {
    return this.options.maxConfigFileBytes ?? DEFAULT_MAX_MODEL_CONFIG_BYTES;
  }
}

/** A load failure or config problem as a version's reason: one line, each problem after the other. */
function reasonOf(err: unknown): string {
  return err instanceof ConfigError ? err.lines.join('; ') : (err as Error).message;
}

function isServing(e: VersionEntry | undefined): boolean {
  return e !== undefined && e.state === 'READY' && e.loaded !== undefined;
}

/** Newest first. */
function sorted(entry: ModelEntry): VersionEntry[] {
  return [...entry.versions.values()].sort((a, b) => (BigInt(b.version) > BigInt(a.version) ? 1 : -1));
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
