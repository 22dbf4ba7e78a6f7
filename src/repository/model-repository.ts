import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { InferdError } from '../inferd-error';
import { ModelVersion, type ModelVersionOptions } from './model-version';
import { scanRepository } from './scan-repository';

export type VersionState = 'LOADING' | 'READY' | 'UNLOADING' | 'UNAVAILABLE' | 'FAILED';

export interface VersionStatus {
  readonly version: string;
  readonly state: VersionState;
  /** Why the version is not ready, when it is not. */
  readonly reason: string;
}

export interface ModelRepositoryOptions {
  /** The repository folder: `<root>/<model>/<version>/model.onnx`. */
  readonly root: string;
  readonly version: ModelVersionOptions;
  readonly log: Logger;
}

interface Entry {
  status: VersionStatus;
  loaded?: ModelVersion;
}

/**
 * The models the server serves. It loads the newest version of each model in the repository
 * folder; older versions are known but not served. Emits `change` (model name) whenever a
 * version's state changes.
 */
export class ModelRepository extends EventEmitter<{ change: [model: string] }> {
  /** model name → version → entry, versions newest first. */
  private readonly models = new Map<string, Map<string, Entry>>();
  private closed: Promise<void> | undefined;

  private constructor(private readonly options: ModelRepositoryOptions) {
    super();
  }

  /**
   * Reads the repository and loads what it serves. Settles when every load has finished,
   * successfully or not (a model that fails to load is FAILED, with its reason, not an error
   * here). Rejects only when the folder cannot be read.
   */
  static async create(options: ModelRepositoryOptions): Promise<ModelRepository> {
    const repo = new ModelRepository(options);
    await repo.loadAll();
    return repo;
  }

  private async loadAll(): Promise<void> {
    let onDisk;
    try {
      onDisk = await scanRepository(this.options.root);
    } catch (err) {
      throw new Error(`cannot read the model repository ${this.options.root}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
    const loads: Promise<void>[] = [];
    for (const model of onDisk) {
      const versions = new Map<string, Entry>();
      this.models.set(model.name, versions);
      model.versions.forEach((v, i) => {
        if (i === 0) {
          versions.set(v.version, { status: { version: v.version, state: 'LOADING', reason: '' } });
          loads.push(this.load(model.name, v.version, v.modelPath));
        } else {
          versions.set(v.version, { status: { version: v.version, state: 'UNAVAILABLE', reason: 'not served: only the newest version is served' } });
        }
      });
    }
    await Promise.all(loads);
  }

  private async load(name: string, version: string, modelPath: string): Promise<void> {
    const log = this.options.log;
    const started = performance.now();
    const entry = this.models.get(name)!.get(version)!;
    try {
      entry.loaded = await ModelVersion.create(name, version, modelPath, this.options.version);
      entry.status = { version, state: 'READY', reason: '' };
      log.info({ model: name, version, loadMs: Math.round(performance.now() - started) }, 'model version ready');
    } catch (err) {
      entry.status = { version, state: 'FAILED', reason: `cannot load ${modelPath}: ${(err as Error).message}` };
      log.error({ model: name, version, reason: entry.status.reason }, 'model version failed to load');
    }
    this.emit('change', name);
  }

  /** Model names, sorted. */
  modelNames(): string[] {
    return [...this.models.keys()].sort();
  }

  /** Every version of a model, newest first; undefined for an unknown model. */
  versions(name: string): VersionStatus[] | undefined {
    const versions = this.models.get(name);
    return versions && [...versions.values()].map((e) => e.status);
  }

  /** True when a version of the model is ready to serve. */
  isReady(name: string): boolean {
    return [...(this.models.get(name)?.values() ?? [])].some((e) => e.loaded !== undefined && e.status.state === 'READY');
  }

  /**
   * The version that serves a request: the named one, or the newest ready one when `version` is
   * "". Throws NOT_FOUND for a model or version that does not exist, UNAVAILABLE for one that
   * exists but is not ready (with its state and reason).
   */
  resolve(name: string, version: string): ModelVersion {
    const versions = this.models.get(name);
    if (versions === undefined) throw new InferdError('NOT_FOUND', `unknown model "${name}"`);
    if (version === '') {
      for (const e of versions.values()) if (e.loaded !== undefined && e.status.state === 'READY') return e.loaded;
      const newest = versions.values().next().value;
      const why = newest === undefined ? 'it has no version folders' : `version ${newest.status.version} is ${newest.status.state}${newest.status.reason ? `: ${newest.status.reason}` : ''}`;
      throw new InferdError('UNAVAILABLE', `model "${name}" has no ready version: ${why}`);
    }
    const e = versions.get(/^\d+$/.test(version) ? String(BigInt(version)) : version);
    if (e === undefined) throw new InferdError('NOT_FOUND', `unknown version "${version}" of model "${name}"`);
    if (e.loaded === undefined || e.status.state !== 'READY') {
      throw new InferdError('UNAVAILABLE', `model "${name}" version ${e.status.version} is ${e.status.state}${e.status.reason ? `: ${e.status.reason}` : ''}`);
    }
    return e.loaded;
  }

  /** Fails every queued and running request with `reason` at once (see OnnxSession.abandon). */
  abandon(reason: InferdError): void {
    for (const versions of this.models.values()) for (const e of versions.values()) e.loaded?.abandon(reason);
  }

  /** Waits for in-flight requests, then closes every session. Safe to call twice. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      const closing: Promise<void>[] = [];
      for (const [name, versions] of this.models) {
        for (const e of versions.values()) {
          if (e.loaded === undefined) continue;
          e.status = { version: e.status.version, state: 'UNLOADING', reason: 'server is shutting down' };
          this.emit('change', name);
          closing.push(e.loaded.close());
        }
      }
      await Promise.all(closing);
    })();
    return this.closed;
  }
}
