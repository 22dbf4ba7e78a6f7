import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

/** Writes `content` to `name` (relative, may hold folders, made when missing) in `folder`. */
export function writeFileIn(folder: string, name: string, content: string | Uint8Array): void {
  mkdirSync(path.dirname(path.join(folder, name)), { recursive: true });
  writeFileSync(path.join(folder, name), content);
}

/** The UTF-8 text of `name` (relative) in `folder`. */
export function readFileIn(folder: string, name: string): string {
  return readFileSync(path.join(folder, name), 'utf8');
}
