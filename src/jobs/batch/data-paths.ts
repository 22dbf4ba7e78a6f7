import { lstatSync, realpathSync } from 'node:fs';
import * as path from 'node:path';
import { InferdError } from '../../inferd-error';

export interface DataPathsOptions {
  /** The folder relative paths resolve against. */
  readonly root: string;
  /**
   * true (the server): every path must stay inside `root`, symbolic links followed;
   * false (the standalone command line, run with the user's own rights): any path is taken
   * (its links resolved all the same).
   */
  readonly confine: boolean;
}

/**
 * Turns the paths in a job's input_uri and output_uri into real file-system paths. On the server
 * they are confined to the data directory, so a client cannot read or write anything else.
 */
export class DataPaths {
  constructor(private readonly options: DataPathsOptions) {}

  get root(): string {
    return this.options.root;
  }

  /**
   * The absolute path of `given` (relative to the root, or absolute), named `what` in messages,
   * with its symbolic links resolved (the deepest part that exists is resolved, so a file not
   * written yet is placed by its folder): the real path, what two paths are compared by. When
   * confined, throws INVALID_ARGUMENT naming the path when it resolves outside the root: through
   * "..", as an absolute path elsewhere, or through a symbolic link that leads out (a link to
   * nothing counts as out: writing through it would create its target).
   */
  resolve(given: string, what: string): string {
    if (given === '') throw new InferdError('INVALID_ARGUMENT', `${what}: no path given`);
    if (given.includes('\0'))
      throw new InferdError(
        'INVALID_ARGUMENT',
        `${what} "${given.replace(/\0/g, '\\0')}": a path cannot hold a NUL byte`,
      );
    const { confine } = this.options;
    const root = path.resolve(this.options.root);
    const full = path.resolve(root, given);
    const outside = (): InferdError =>
      new InferdError('INVALID_ARGUMENT', `${what} "${given}" is outside the data directory`);
    if (confine && !inside(root, full)) throw outside();
    const rest: string[] = [];
    let existing = full;
    for (;;) {
      let real: string | undefined;
      try {
        real = realpathSync(existing);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR')
          throw new InferdError('INVALID_ARGUMENT', `${what} "${given}" cannot be resolved: ${code}`);
        if (confine && lstatSync(existing, { throwIfNoEntry: false })?.isSymbolicLink()) throw outside();
      }
      if (real !== undefined) {
        if (confine && !inside(realpathSync(root), real)) throw outside();
        return path.join(real, ...rest);
      }
      const parent = path.dirname(existing);
      if (parent === existing) return full;
      rest.unshift(path.basename(existing));
      existing = parent;
    }
  }
}

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel));
}
