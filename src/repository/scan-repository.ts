import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CONFIG_FILES } from './model-config';

export interface VersionOnDisk {
  /** The version folder's number, without leading zeros. */
  readonly version: string;
  readonly dir: string;
  /** The ONNX file to load: `model.onnx`, or the file an MLflow `MLmodel` names. */
  readonly modelPath: string;
  /** Changes whenever the model file (or MLmodel) changes: size and modification time. */
  readonly stamp: string;
  /** Why the folder cannot be served as it is, when it cannot. */
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

/**
 * Reads a model repository laid out as `<root>/<model>/<version>/model.onnx`, where a version
 * is a folder named by a whole number. Hidden entries and other files are passed over. Rejects
 * when the root is not a readable folder.
 */
export async function scanRepository(root: string): Promise<ModelOnDisk[]> {
  const entries = await fs.readdir(root, { withFileTypes: true });
  const models: ModelOnDisk[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const model = await scanModel(root, entry.name);
    if (model !== undefined) models.push(model);
  }
  return models.sort((a, b) => a.name.localeCompare(b.name));
}

/** One model's folder; undefined when it is not there (any more). */
export async function scanModel(root: string, name: string): Promise<ModelOnDisk | undefined> {
  const dir = path.join(root, name);
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return undefined;
  }
  const versions: VersionOnDisk[] = [];
  for (const e of entries) {
    if (e.isDirectory() && /^\d+$/.test(e.name)) versions.push(await scanVersion(path.join(dir, e.name), String(BigInt(e.name))));
  }
  versions.sort((a, b) => (BigInt(b.version) > BigInt(a.version) ? 1 : BigInt(b.version) < BigInt(a.version) ? -1 : 0));
  const configStamp = (await Promise.all(CONFIG_FILES.map((f) => stampOf(path.join(dir, f))))).join('|');
  return { name, dir, versions, configStamp };
}

async function scanVersion(dir: string, version: string): Promise<VersionOnDisk> {
  const mlmodel = path.join(dir, MLMODEL_FILE);
  const mlmodelStamp = await stampOf(mlmodel);
  if (mlmodelStamp === '') {
    const modelPath = path.join(dir, MODEL_FILE);
    return { version, dir, modelPath, stamp: await stampOf(modelPath) };
  }
  // An MLflow model folder: the onnx flavour names the ONNX file.
  let data: unknown;
  try {
    const doc = parseYaml(await fs.readFile(mlmodel, 'utf8')) as { flavors?: { onnx?: { data?: unknown } } } | null;
    data = doc?.flavors?.onnx?.data;
    if (doc?.flavors?.onnx === undefined) return { version, dir, modelPath: mlmodel, stamp: mlmodelStamp, problem: `${mlmodel} has no onnx flavor` };
  } catch (err) {
    return { version, dir, modelPath: mlmodel, stamp: mlmodelStamp, problem: `${mlmodel}: cannot parse: ${(err as Error).message}` };
  }
  if (typeof data !== 'string' || data === '' || path.isAbsolute(data) || data.split(/[\\/]/).includes('..')) {
    return { version, dir, modelPath: mlmodel, stamp: mlmodelStamp, problem: `${mlmodel}: flavors.onnx.data must name a file inside the folder, got ${JSON.stringify(data)}` };
  }
  const modelPath = path.join(dir, data);
  return { version, dir, modelPath, stamp: `${mlmodelStamp}|${await stampOf(modelPath)}` };
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
