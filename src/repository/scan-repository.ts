import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { formatProblem, shown, type ConfigProblem } from '../config-problems';
import { CONFIG_FILES, unreadable } from './model-config';
import { readBoundedFile } from './read-bounded-file';

export interface VersionOnDisk {
  /** The version folder's number, without leading zeros. */
  readonly version: string;
  readonly dir: string;
  /** The ONNX file to load: `model.onnx`, or the file an MLflow `MLmodel` names. */
  readonly modelPath: string;
  /** modelPath relative to the repository, as messages to clients name it. */
  readonly shownPath: string;
  /** Changes whenever the model file (or MLmodel) or the model's config file changes: their sizes and modification times. */
  readonly files: string;
  /** Why the folder cannot be served as it is, when it cannot: no model file, a bad MLmodel, two folders of one number. */
  readonly problem?: string;
}

export interface ModelOnDisk {
  readonly name: string;
  readonly dir: string;
  /** Newest (highest number) first. */
  readonly versions: readonly VersionOnDisk[];
  /** Changes whenever a config file appears, changes or goes. */
  readonly configStamp: string;
}

const MODEL_FILE = 'model.onnx';
const MLMODEL_FILE = 'MLmodel';

export interface ScanOptions {
  /** The largest MLmodel file read, bytes (the bound on config files). */
  readonly maxFileBytes: number;
}

/**
 * The model folders of a repository laid out as `<root>/<model>/<version>/model.onnx`: its
 * folders but the hidden ones. Rejects when the root is not a readable folder.
 */
export async function modelFolders(root: string): Promise<string[]> {
  const entries = await fs.readdir(root, { withFileTypes: true });
  return entries.filter((entry) => entry.isDirectory() && !entry.name.startsWith('.')).map((entry) => entry.name);
}

/**
 * One model's folder; undefined when it is not there (any more). A version folder is named by a
 * whole number; one with leading zeros ("01") is that number's version ("1"), and two folders of
 * one number make that version's problem.
 */
export async function scanModel(root: string, name: string, options: ScanOptions): Promise<ModelOnDisk | undefined> {
  const dir = path.join(root, name);
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return undefined;
  }
  const folders = new Map<string, string[]>();
  for (const entry of entries) {
    if (!entry.isDirectory() || !/^\d+$/.test(entry.name)) continue;
    const version = String(BigInt(entry.name));
    folders.set(version, [...(folders.get(version) ?? []), entry.name].sort());
  }
  const configStamp = (await Promise.all(CONFIG_FILES.map((f) => stampOf(path.join(dir, f))))).join('|');
  const versions: VersionOnDisk[] = [];
  for (const [version, names] of folders) {
    const { stamp, ...found } = await scanVersion(root, path.join(name, names.includes(version) ? version : names[0]!), version, options);
    const files = `${stamp}#${configStamp}`;
    if (names.length > 1) versions.push({ ...found, files, problem: `folders ${names.map((n) => path.join(name, n)).join(' and ')} are all version ${version}; keep one` });
    else if (found.problem === undefined && stamp === '') versions.push({ ...found, files, problem: `no model.onnx in ${path.dirname(found.shownPath)}` });
    else versions.push({ ...found, files });
  }
  versions.sort((a, b) => (BigInt(b.version) > BigInt(a.version) ? 1 : BigInt(b.version) < BigInt(a.version) ? -1 : 0));
  return { name, dir, versions, configStamp };
}

/** A version folder as found, before the config file's stamp is added: `stamp` is its model file's (or MLmodel's and model file's), '' when there is none. */
type ScannedVersion = Omit<VersionOnDisk, 'files'> & { readonly stamp: string };

/** A version folder, `folder` relative to `root`. */
async function scanVersion(root: string, folder: string, version: string, options: ScanOptions): Promise<ScannedVersion> {
  const dir = path.join(root, folder);
  const mlmodel = path.join(folder, MLMODEL_FILE);
  const mlmodelStamp = await stampOf(path.join(root, mlmodel));
  if (mlmodelStamp === '') {
    const shownPath = path.join(folder, MODEL_FILE);
    return { version, dir, modelPath: path.join(root, shownPath), shownPath, stamp: await stampOf(path.join(root, shownPath)) };
  }
  // An MLflow model folder: the onnx flavour names the ONNX file.
  const failed = (problem: ConfigProblem): ScannedVersion => ({ version, dir, modelPath: path.join(root, mlmodel), shownPath: mlmodel, stamp: mlmodelStamp, problem: formatProblem(problem) });
  let text: string;
  try {
    text = await readBoundedFile(path.join(root, mlmodel), options.maxFileBytes);
  } catch (err) {
    return failed(unreadable(mlmodel, err));
  }
  let data: unknown;
  try {
    const doc = parseYaml(text) as { flavors?: { onnx?: { data?: unknown } } } | null;
    data = doc?.flavors?.onnx?.data;
    if (doc?.flavors?.onnx === undefined) return failed({ file: mlmodel, field: 'flavors.onnx', expected: 'an onnx flavor (as mlflow.onnx.log_model writes it)', got: 'none' });
  } catch (err) {
    return failed({ file: mlmodel, field: '', expected: 'YAML', got: `text that does not parse (${(err as Error).message})` });
  }
  if (typeof data !== 'string' || data === '' || path.isAbsolute(data) || data.split(/[\\/]/).includes('..')) {
    return failed({ file: mlmodel, field: 'flavors.onnx.data', expected: 'the name of a file inside the version folder', got: shown(data) });
  }
  const shownPath = path.join(folder, data);
  return { version, dir, modelPath: path.join(root, shownPath), shownPath, stamp: `${mlmodelStamp}|${await stampOf(path.join(root, shownPath))}` };
}

/** Size and modification time of a file; '' when it is not there. */
async function stampOf(file: string): Promise<string> {
  try {
    const s = await fs.stat(file);
    return `${s.size}@${s.mtimeMs}`;
  } catch {
    return '';
  }
}
