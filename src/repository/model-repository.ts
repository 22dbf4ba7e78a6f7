import { EventEmitter } from 'node:events';
import { promises as fs } from 'node:fs';
import type { Logger } from 'pino';
import { ConfigError } from '../config-problems';
import { InferdError } from '../inferd-error';
import type { BatcherObserver } from '../scheduler/dynamic-batcher';
import { effectiveConfig, modelSettings, type EffectiveConfig, type ModelDefaults, type ModelSettings } from './effective-config';
import { DEFAULT_MAX_MODEL_CONFIG_BYTES, readModelConfig } from './model-config';
import { ModelVersion } from './model-version';
import { afterFailedLoad, FOLDER_REMOVED, plan, type Action, type DiskModel, type HeldVersion, type ModelControl, type VersionState, type VersionStatus } from './plan';
import { RepositoryWatcher } from './repository-watcher';
import { modelFolders, scanModel, type ModelOnDisk, type VersionOnDisk } from './scan-repository';

export type { EffectiveConfig } from './effective-config';
export type { VersionState, VersionStatus } from './plan';

export interface ModelRepositoryOptions {
  /** The repository folder: `<root>/<model>/<version>/model.onnx`. */
  readonly root: string;
  /** Used where a model's config file says nothing. */
  readonly defaults: ModelDefaults;
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

/** How long file-system events must stop before the repository is scanned: a copy in progress fires many. */
const SETTLE_MS = 250;

/** Rounds of plan and apply in one sync; a plan settles in three (see plan). */
const MAX_ROUNDS = 5;

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

/**
 * One version as the repository holds it. Its status changes only through setStatus, which
 * emits `change`; it is READY exactly while `serving` is set.
 */
interface VersionSlot {
  readonly version: string;
  status: { readonly state: VersionState; readonly reason: string };
  /** The loaded model serving requests, with its configuration and the files it was loaded from. */
  serving?: { readonly model: ModelVersion; readonly config: EffectiveConfig; readonly files: string };
  /** The files whose last load failed, and why: not loaded again until they change or load() is called. */
  failure?: { readonly files: string; readonly reason: string };
}

interface ModelEntry {
  readonly name: string;
  readonly versions: Map<string, VersionSlot>;
  control: ModelControl;
  /** The config file stamp last reported invalid, so that each bad edit is logged once. */
  badConfigStamp?: string;
}

/** A model's folder as one sync reads it: what the plan sees, and what loads need. */
interface ScannedModel {
  readonly folder: ModelOnDisk;
  readonly disk: DiskModel;
  /** The config file completed by the defaults; undefined when the file cannot be used (disk.policy says why). */
  readonly settings: ModelSettings | undefined;
}

/**
 * The models the server serves, kept in step with the repository folder. For each model it
 * serves the versions its version policy picks (the newest one by default): a new or changed
 * version loads and warms up before it takes traffic, and a version that leaves the policy (or
 * the disk) retires once its requests in flight are done. A version that fails to load is
 * FAILED with its reason while the versions already serving go on serving.
 *
 * Scanning (RepositoryWatcher, scanModel, readModelConfig) finds what is on disk; `plan`
 * decides what to do about it; this class applies the plan, one model at a time.
 *
 * Emits `change` (model name) whenever a version's state or reason changes, or a version
 * comes or goes, and `removed` (model name) when a model's folder is gone.
 */
export class ModelRepository extends EventEmitter<{ change: [model: string]; removed: [model: string] }> {
  private readonly models = new Map<string, ModelEntry>();
  /** Per model, the sync in progress; syncs of one model never overlap. */
  private readonly syncs = new Map<string, Promise<void>>();
  private watcher: RepositoryWatcher | undefined;
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
    if (options.control === 'watch') {
      repo.watcher = RepositoryWatcher.start({ root: options.root, pollMs: options.pollMs, settleMs: SETTLE_MS, log: options.log, onChange: () => void repo.syncAll() });
    }
    return repo;
  }

  /** Model names, sorted. */
  modelNames(): string[] {
    return [...this.models.keys()].sort();
  }

  /** Every version of a model, newest first; undefined for an unknown model. */
  versions(name: string): VersionStatus[] | undefined {
    const entry = this.models.get(name);
    return entry && newestFirst(entry).map((slot) => ({ version: slot.version, ...slot.status }));
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
    return this.servingSlot(name, version).serving!.model;
  }

  /** The effective configuration of the version that would serve (name, version); throws as resolve() does. */
  config(name: string, version: string): EffectiveConfig {
    return this.servingSlot(name, version).serving!.config;
  }

  /**
   * Loads (or reloads) a model from its folder, clearing an earlier unload and retrying files
   * that failed. Resolves once the versions its policy picks are ready. Rejects with NOT_FOUND
   * when the folder does not exist, UNAVAILABLE naming each version's reason when none could be
   * made ready.
   */
  async load(name: string): Promise<void> {
    const unfit = unfitModelName(name);
    if (unfit !== undefined) throw new InferdError('NOT_FOUND', `unknown model ${JSON.stringify(name)}: ${unfit}`);
    if ((await this.scanFolder(name)) === undefined) throw new InferdError('NOT_FOUND', `unknown model "${name}": the model repository has no folder "${name}"`);
    const entry = this.models.get(name);
    if (entry !== undefined) {
      entry.control = 'serve';
      for (const slot of entry.versions.values()) slot.failure = undefined; // asked for: try again
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
    entry.control = 'unloaded';
    await this.sync(name);
  }

  /** Fails every queued and running request with `reason` at once (see OnnxSession.abandon). */
  abandon(reason: InferdError): void {
    for (const entry of this.models.values()) for (const slot of entry.versions.values()) slot.serving?.model.abandon(reason);
  }

  /** Stops following the folder, waits for requests in flight, then closes every session. Safe to call twice. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.watcher?.close();
      await Promise.allSettled(this.syncs.values());
      const retiring: Promise<void>[] = [];
      for (const entry of this.models.values()) {
        for (const slot of entry.versions.values()) if (slot.serving) retiring.push(this.retire(entry, slot, 'server is shutting down'));
      }
      await Promise.all(retiring);
    })();
    return this.closed;
  }

  private servingSlot(name: string, version: string): VersionSlot {
    const entry = this.models.get(name);
    if (entry === undefined) throw new InferdError('NOT_FOUND', `unknown model "${name}"`);
    const slots = newestFirst(entry);
    if (version === '') {
      const ready = slots.find(isServing);
      if (ready !== undefined) return ready;
      const newest = slots[0];
      const why = newest === undefined ? 'it has no version folders' : `version ${newest.version} is ${describe(newest)}`;
      throw new InferdError('UNAVAILABLE', `model "${name}" has no ready version: ${why}`);
    }
    const slot = entry.versions.get(version);
    if (slot === undefined) {
      // A version is named by its number alone: "01" names nothing, so that one version has one name.
      const canonical = /^\d+$/.test(version) ? String(BigInt(version)) : undefined;
      const hint = canonical !== undefined && canonical !== version ? `; a version is written as its whole number without leading zeros ("${canonical}")` : '';
      throw new InferdError('NOT_FOUND', `unknown version ${JSON.stringify(version)} of model "${name}"${hint}`);
    }
    if (!isServing(slot)) throw new InferdError('UNAVAILABLE', `model "${name}" version ${slot.version} is ${describe(slot)}`);
    return slot;
  }

  /** Brings every model, on disk or known, in step. */
  private async syncAll(): Promise<void> {
    let names: string[];
    try {
      names = await modelFolders(this.options.root);
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

  /** Scans the model's folder once, then plans and applies until the plan is empty. */
  private async syncModel(name: string): Promise<void> {
    const scanned = await this.scanModel(name);
    let entry = this.models.get(name);
    if (scanned === undefined && entry === undefined) return;
    if (entry === undefined) {
      entry = { name, versions: new Map(), control: 'serve' };
      this.models.set(name, entry);
      this.emit('change', name);
    }
    if (scanned !== undefined) this.noteConfig(entry, scanned);
    for (let round = 1; this.closed === undefined; round++) {
      const actions = plan({ onDisk: scanned?.disk, held: [...entry.versions.values()].map(held), control: entry.control });
      if (actions.length === 0) return;
      if (round > MAX_ROUNDS) {
        this.options.log.error({ model: name, actions }, 'model plan does not settle; left as it is until the next change');
        return;
      }
      await Promise.all(actions.map((action) => this.apply(entry, action, scanned)));
      if (this.models.get(name) !== entry) return; // removed
    }
  }

  private async apply(entry: ModelEntry, action: Action, scanned: ScannedModel | undefined): Promise<void> {
    switch (action.kind) {
      case 'mark':
        this.setStatus(entry, this.slot(entry, action.version, action), action.state, action.reason);
        return;
      case 'load': {
        const slot = this.slot(entry, action.version, { state: 'LOADING', reason: '' });
        const onDisk = scanned!.folder.versions.find((v) => v.version === action.version)!;
        await this.loadVersion(entry, slot, onDisk, scanned!.settings!);
        return;
      }
      case 'retire':
        await this.retire(entry, entry.versions.get(action.version)!, action.reason);
        return;
      case 'remove': {
        const slot = entry.versions.get(action.version)!;
        if (slot.serving) await this.retire(entry, slot, FOLDER_REMOVED);
        entry.versions.delete(action.version);
        this.emit('change', entry.name);
        return;
      }
      case 'remove-model':
        await Promise.all([...entry.versions.values()].filter((slot) => slot.serving).map((slot) => this.retire(entry, slot, FOLDER_REMOVED)));
        this.models.delete(entry.name);
        this.options.log.info({ model: entry.name }, 'model removed');
        this.emit('removed', entry.name);
        return;
    }
  }

  /** The slot of a version, made (with `status`, told as a change) when the repository holds none yet. */
  private slot(entry: ModelEntry, version: string, status: VersionSlot['status']): VersionSlot {
    let slot = entry.versions.get(version);
    if (slot === undefined) {
      slot = { version, status: { state: status.state, reason: status.reason } };
      entry.versions.set(version, slot);
      this.emit('change', entry.name);
    }
    return slot;
  }

  /** Loads a version's files; on success they serve (and what served before retires), on failure the slot remembers why. */
  private async loadVersion(entry: ModelEntry, slot: VersionSlot, onDisk: VersionOnDisk, settings: ModelSettings): Promise<void> {
    const log = this.options.log;
    const replacing = slot.serving;
    if (replacing === undefined) this.setStatus(entry, slot, 'LOADING', '');
    const started = performance.now();
    try {
      const model = await ModelVersion.create(entry.name, onDisk.version, onDisk.modelPath, {
        instances: settings.instances,
        placement: settings.placement,
        session: settings.session,
        maxQueueSize: settings.dynamicBatching.maxQueueSize,
        overrides: { file: settings.file, ...settings.overrides },
        warmup: settings.warmup,
        maxWarmupInputBytes: this.options.maxWarmupInputBytes ?? DEFAULT_MAX_WARMUP_INPUT_BYTES,
        batching: { maxBatchSize: settings.maxBatchSize, maxQueueDelayUs: settings.dynamicBatching.maxQueueDelayUs, preferredBatchSizes: settings.dynamicBatching.preferredBatchSizes },
        log,
        observer: this.options.observe?.(entry.name, onDisk.version),
      });
      if (this.closed !== undefined) {
        await model.close();
        return;
      }
      slot.serving = { model, config: effectiveConfig(entry.name, onDisk.version, settings, model), files: onDisk.files };
      slot.failure = undefined;
      this.setStatus(entry, slot, 'READY', '');
      const main = model.mainThread;
      log.info({ model: entry.name, version: onDisk.version, instances: settings.instances, runUs: main.measuredRunUs === undefined ? undefined : Math.round(main.measuredRunUs), mainThreadMaxRows: main.maxRows, mainThreadNote: main.note || undefined, loadMs: Math.round(performance.now() - started), reload: replacing !== undefined }, 'model version ready');
      if (replacing !== undefined) void replacing.model.close();
    } catch (err) {
      // A config fault names its file already; anything else is about loading the model file.
      // Clients see paths relative to the repository; the runtime's messages name the whole path.
      const reason = err instanceof ConfigError ? reasonOf(err) : `cannot load ${onDisk.shownPath}: ${(err as Error).message.split(onDisk.modelPath).join(onDisk.shownPath)}`;
      slot.failure = { files: onDisk.files, reason };
      const after = afterFailedLoad(replacing !== undefined, reason);
      this.setStatus(entry, slot, after.state, after.reason);
      log.error({ model: entry.name, version: onDisk.version, reason, path: onDisk.modelPath }, 'model version failed to load');
    }
  }

  /** Takes a version out of service; settles once its requests in flight are done and its sessions closed. */
  private async retire(entry: ModelEntry, slot: VersionSlot, reason: string): Promise<void> {
    const { model } = slot.serving!;
    slot.serving = undefined;
    this.setStatus(entry, slot, 'UNLOADING', reason);
    await model.close();
    this.setStatus(entry, slot, 'UNAVAILABLE', reason);
    this.options.log.info({ model: entry.name, version: slot.version, reason }, 'model version unloaded');
  }

  private setStatus(entry: ModelEntry, slot: VersionSlot, state: VersionState, reason: string): void {
    if (slot.status.state === state && slot.status.reason === reason) return;
    slot.status = { state, reason };
    this.emit('change', entry.name);
  }

  /** Logs a config file that cannot be used, once for each edit of it. */
  private noteConfig(entry: ModelEntry, scanned: ScannedModel): void {
    const { policy } = scanned.disk;
    if (!('invalid' in policy)) {
      entry.badConfigStamp = undefined;
      return;
    }
    if (entry.badConfigStamp !== scanned.folder.configStamp) this.options.log.error({ model: entry.name, reason: policy.invalid, dir: scanned.folder.dir }, 'model config is invalid');
    entry.badConfigStamp = scanned.folder.configStamp;
  }

  /** A model's folder and config file as they are on disk now; undefined when the folder is not there. */
  private async scanModel(name: string): Promise<ScannedModel | undefined> {
    const folder = await this.scanFolder(name);
    if (folder === undefined) return undefined;
    let settings: ModelSettings;
    try {
      settings = modelSettings(await readModelConfig(this.options.root, name, { maxFileBytes: this.maxConfigFileBytes }), this.options.defaults);
    } catch (err) {
      return { folder, disk: { versions: folder.versions, policy: { invalid: reasonOf(err) } }, settings: undefined };
    }
    return { folder, disk: { versions: folder.versions, policy: settings.versionPolicy }, settings };
  }

  private scanFolder(name: string): Promise<ModelOnDisk | undefined> {
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

/** What the plan sees of a slot. */
function held(slot: VersionSlot): HeldVersion {
  return { version: slot.version, ...slot.status, servingFiles: slot.serving?.files, failure: slot.failure };
}

function isServing(slot: VersionSlot | undefined): boolean {
  return slot !== undefined && slot.serving !== undefined && slot.status.state === 'READY';
}

/** "FAILED: why", or just the state when there is no reason. */
function describe(slot: VersionSlot): string {
  return `${slot.status.state}${slot.status.reason ? `: ${slot.status.reason}` : ''}`;
}

function newestFirst(entry: ModelEntry): VersionSlot[] {
  return [...entry.versions.values()].sort((a, b) => (BigInt(b.version) > BigInt(a.version) ? 1 : -1));
}
