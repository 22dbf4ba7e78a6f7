import type { VersionPolicy } from './model-config';

/**
 * A version's state as clients see it (ListModels, health; Triton's model states). READY is
 * the one state in which a version serves: a version is READY exactly while a loaded model
 * serves it, also while a newer file of it loads or fails to.
 */
export type VersionState = 'LOADING' | 'READY' | 'UNLOADING' | 'UNAVAILABLE' | 'FAILED';

export interface VersionStatus {
  readonly version: string;
  readonly state: VersionState;
  /** Why the version is in its state, when it is not plainly READY. */
  readonly reason: string;
}

/** A version folder as the scan found it. */
export interface DiskVersion {
  /** The folder's number, without leading zeros. */
  readonly version: string;
  /** Changes whenever the version's files change: its model file and the model's config file. */
  readonly files: string;
  /** Why the folder cannot be loaded as it is (no model file, a bad MLmodel, two folders of one number). */
  readonly problem?: string;
}

/** A model's folder as the scan found it. */
export interface DiskModel {
  /** Newest (highest number) first. */
  readonly versions: readonly DiskVersion[];
  /** The version policy of the model's config file, or why that file cannot be used. */
  readonly policy: VersionPolicy | { readonly invalid: string };
}

/** A version the repository holds, as far as deciding goes. */
export interface HeldVersion {
  readonly version: string;
  readonly state: VersionState;
  readonly reason: string;
  /** The files the model serving the version was loaded from; undefined while none serves it. */
  readonly servingFiles?: string;
  /** The files whose last load failed, and why: they are not loaded again until they change. */
  readonly failure?: { readonly files: string; readonly reason: string };
}

/**
 * The operator's word on one model (explicit model control, as Triton's): serve what its
 * policy picks (the default, and after LoadModel), or nothing (after UnloadModel, until
 * LoadModel). Whether the repository follows the folder (--model-control) decides when plans
 * are made, not what they say.
 */
export type ModelControl = 'serve' | 'unloaded';

export interface PlanInput {
  /** The model's folder; undefined when it is gone. */
  readonly onDisk: DiskModel | undefined;
  /** Every version the repository holds of the model. */
  readonly held: readonly HeldVersion[];
  readonly control: ModelControl;
}

/** One step that brings a model in step with its folder, its policy and the operator's word. */
export type Action =
  /** Loads the version's files; a model serving the version goes on serving it until they are ready, and after they fail. */
  | { readonly kind: 'load'; readonly version: string; readonly files: string }
  /** Takes the serving version out of service (after its requests in flight); it is then UNAVAILABLE for `reason`. */
  | { readonly kind: 'retire'; readonly version: string; readonly reason: string }
  /** Its folder is gone: retires the version if it serves, then forgets it. */
  | { readonly kind: 'remove'; readonly version: string }
  /** The model's folder is gone: retires every version that serves, then forgets the model. */
  | { readonly kind: 'remove-model' }
  /** Only the status changes. */
  | { readonly kind: 'mark'; readonly version: string; readonly state: VersionState; readonly reason: string };

export const NOT_PICKED = 'not served: the version policy does not pick it';
export const UNLOADED = 'unloaded by request';
export const FOLDER_REMOVED = 'its folder was removed';
export const NOTHING_PICKED_LOADS = 'still serving: no version the policy picks could be loaded';

/** The status of a version whose load of `reason` failed: FAILED, or READY while an earlier file still serves. */
export function afterFailedLoad(serving: boolean, reason: string): { readonly state: VersionState; readonly reason: string } {
  return serving ? { state: 'READY', reason: `still serving the earlier file: ${reason}` } : { state: 'FAILED', reason };
}

/** The versions a policy serves, out of those on disk (given newest first); keeps that order. */
export function selectVersions(policy: VersionPolicy, onDisk: readonly string[]): string[] {
  if ('all' in policy) return [...onDisk];
  if ('latest' in policy) return onDisk.slice(0, policy.latest);
  return onDisk.filter((v) => policy.specific.includes(v));
}

/**
 * What to do next for one model, as TensorFlow Serving's manager does with its aspired
 * versions: the versions the policy picks ("aspired") load and serve, and a version it no
 * longer picks retires only once a picked one serves, so that a bad new version never leaves
 * the model with nothing. A version whose files failed to load is not loaded again until they
 * change. Versions leave service only after the loads planned with them settle: the caller
 * applies the actions, then plans again, until the plan is empty (at most three rounds: loads,
 * then retirements, then nothing).
 *
 * Pure: the same input gives the same actions; a `mark` is planned only when it changes a status.
 */
export function plan(input: PlanInput): Action[] {
  const { onDisk, control } = input;
  if (onDisk === undefined) return [{ kind: 'remove-model' }];
  const actions: Action[] = [];
  const held = new Map(input.held.map((version) => [version.version, version]));
  const mark = (version: string, state: VersionState, reason: string): void => {
    const current = held.get(version);
    if (current === undefined || current.state !== state || current.reason !== reason) actions.push({ kind: 'mark', version, state, reason });
  };
  const serving = (version: string): boolean => held.get(version)?.servingFiles !== undefined;

  // Versions gone from disk go at once: whoever deleted them wants them gone.
  const present = new Set(onDisk.versions.map((folder) => folder.version));
  for (const { version } of input.held) if (!present.has(version)) actions.push({ kind: 'remove', version });

  const { policy } = onDisk;
  if ('invalid' in policy) {
    // Nothing can load without a config; what serves goes on serving.
    for (const folder of onDisk.versions) {
      if (serving(folder.version)) mark(folder.version, 'READY', `still serving: ${policy.invalid}`);
      else mark(folder.version, 'FAILED', policy.invalid);
    }
    return actions;
  }

  const picked = new Set(control === 'unloaded' ? [] : selectVersions(policy, onDisk.versions.map((folder) => folder.version)));
  const leftOut = control === 'unloaded' ? UNLOADED : NOT_PICKED;
  let loading = false;
  for (const folder of onDisk.versions) {
    const current = held.get(folder.version);
    if (!picked.has(folder.version)) {
      if (!serving(folder.version)) mark(folder.version, 'UNAVAILABLE', leftOut);
      // A serving one retires below, once the loads settle.
    } else if (folder.problem !== undefined) {
      // What serves goes on serving; otherwise the folder's problem is the reason.
      if (!serving(folder.version)) mark(folder.version, 'FAILED', folder.problem);
    } else if (current?.servingFiles === folder.files) {
      mark(folder.version, 'READY', ''); // up to date: any earlier note is stale
    } else if (current?.failure?.files === folder.files) {
      const after = afterFailedLoad(serving(folder.version), current.failure.reason);
      mark(folder.version, after.state, after.reason);
    } else {
      actions.push({ kind: 'load', version: folder.version, files: folder.files });
      loading = true;
    }
  }
  if (loading) return actions;

  const pickedServes = [...picked].some(serving);
  for (const folder of onDisk.versions) {
    if (picked.has(folder.version) || !serving(folder.version)) continue;
    if (pickedServes || picked.size === 0) actions.push({ kind: 'retire', version: folder.version, reason: leftOut });
    else mark(folder.version, 'READY', NOTHING_PICKED_LOADS);
  }
  return actions;
}
