import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

/** The folder holding inferd's package.json, found from this file (whether in src/ or dist/src/). */
export const PACKAGE_ROOT = ((): string => {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${__dirname}`);
    dir = parent;
  }
  return dir;
})();

/** inferd's version, from its package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}
