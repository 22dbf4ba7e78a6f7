import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export interface VersionOnDisk {
  /** The version folder's name: a whole number. */
  readonly version: string;
  readonly modelPath: string;
}

export interface ModelOnDisk {
  readonly name: string;
  /** Newest (highest number) first. */
  readonly versions: readonly VersionOnDisk[];
}

const MODEL_FILE = 'model.onnx';

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
    const modelDir = path.join(root, entry.name);
    const versions: VersionOnDisk[] = [];
    for (const v of await fs.readdir(modelDir, { withFileTypes: true })) {
      if (!v.isDirectory() || !/^\d+$/.test(v.name)) continue;
      versions.push({ version: String(BigInt(v.name)), modelPath: path.join(modelDir, v.name, MODEL_FILE) });
    }
    versions.sort((a, b) => (BigInt(b.version) > BigInt(a.version) ? 1 : -1));
    models.push({ name: entry.name, versions });
  }
  models.sort((a, b) => a.name.localeCompare(b.name));
  return models;
}
