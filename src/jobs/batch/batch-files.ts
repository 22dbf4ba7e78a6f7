import { statSync } from 'node:fs';
import * as path from 'node:path';
import { InferdError } from '../../inferd-error';
import type { BatchInput } from './batch-input';
import type { DataPaths } from './data-paths';
import type { BatchSpec } from '../job';
import { parseOutputUri } from './parse-output-uri';

/** A file or folder a batch job reads or writes. */
interface FileUse {
  /** How messages name it: `input "in.jsonl"`, `input folder "in"`, `output "sqlite:a.db#t"`, `errors file "out.jsonl.errors.jsonl"`. */
  readonly label: string;
  /** Its real path (links resolved). */
  readonly path: string;
  /** The path with a separator after it: what the paths inside it start with. */
  readonly prefix: string;
  /** For a SQLite output, its table in lower case (SQLite's names ignore case): jobs may share a database, not a table. */
  readonly table: string | undefined;
  /** Its device and inode, when it exists, so that a hard link or a case-insensitive name cannot hide it. */
  readonly identity: string | undefined;
  /** The identities of the folders it lies in. */
  readonly folders: readonly string[];
}

type Relation = 'is' | 'lies inside' | 'holds';

function identity(p: string): string | undefined {
  const s = statSync(p, { throwIfNoEntry: false });
  return s === undefined ? undefined : `${s.dev}:${s.ino}`;
}

function use(label: string, real: string, table?: string): FileUse {
  const folders: string[] = [];
  for (let dir = path.dirname(real); ; dir = path.dirname(dir)) {
    const id = identity(dir);
    if (id !== undefined) folders.push(id);
    if (path.dirname(dir) === dir) break;
  }
  return { label, path: real, prefix: real.endsWith(path.sep) ? real : `${real}${path.sep}`, table: table?.toLowerCase(), identity: identity(real), folders };
}

/** Whether `p` lies inside `folder` (both paths are absolute and normalised, so a prefix test is exact). */
function inside(folder: FileUse, p: FileUse): boolean {
  if (p.path.startsWith(folder.prefix)) return true;
  return folder.identity !== undefined && p.folders.includes(folder.identity);
}

/** How `a` stands to `b`, or undefined when neither holds the other. */
function relation(a: FileUse, b: FileUse): Relation | undefined {
  if (a.path === b.path || (a.identity !== undefined && a.identity === b.identity)) {
    return a.table !== undefined && b.table !== undefined && a.table !== b.table ? undefined : 'is';
  }
  if (inside(b, a)) return 'lies inside';
  if (inside(a, b)) return 'holds';
  return undefined;
}

/**
 * What a batch job reads (its input file or folder, and the files that links in the folder lead
 * to) and writes (its output, or its SQLite table, and its errors file; their part files lie
 * beside them), as real paths, to refuse a job that would write over what it or another job
 * reads or writes.
 */
export class BatchFiles {
  private constructor(
    private readonly reads: readonly FileUse[],
    private readonly writes: readonly FileUse[],
  ) {}

  /**
   * The files of `spec`, resolved by `paths` (throws as DataPaths.resolve does). `input` is its
   * input as opened, or undefined when it cannot be (then only the input's own path counts).
   */
  static of(spec: BatchSpec, paths: DataPaths, input: BatchInput | undefined): BatchFiles {
    const target = parseOutputUri(spec.outputUri);
    const inputPath = paths.resolve(spec.inputUri, 'input');
    const reads = [use(`input${input?.folder === true ? ' folder' : ''} "${spec.inputUri}"`, inputPath)];
    for (const file of input?.folder === true ? input.files : []) {
      const linked = use(`input "${file.name}"`, file.path);
      if (!inside(reads[0]!, linked)) reads.push(linked);
    }
    // A postgres: table is no file: it clashes only with the same table (of the one database).
    const output = target.format === 'postgres' ? { label: `output "${spec.outputUri}"`, path: '\0postgres', prefix: '\0postgres\0', table: target.table, identity: undefined, folders: [] } : use(`output "${spec.outputUri}"`, paths.resolve(target.path, 'output'), target.table);
    const writes = [output, use(`errors file "${target.errorsPath}"`, paths.resolve(target.errorsPath, 'errors file'))];
    return new BatchFiles(reads, writes);
  }

  /** Throws INVALID_ARGUMENT, naming both, when the job would write what it reads: it would destroy its own input. */
  checkOwn(): void {
    for (const w of this.writes) {
      for (const r of this.reads) {
        const how = relation(w, r);
        if (how !== undefined) throw new InferdError('INVALID_ARGUMENT', `${w.label} ${how} the ${r.label}: the job would write over its own input`);
      }
    }
  }

  /**
   * Throws INVALID_ARGUMENT, naming both and the other job, when this job would write what `other`
   * reads or writes, or read what it writes.
   */
  checkAgainst(other: BatchFiles, job: { readonly id: string; readonly state: string }): void {
    // Plain loops: a submission runs this once per unfinished job.
    for (const mine of this.writes) {
      for (const theirs of other.reads) clash(mine, theirs, job);
      for (const theirs of other.writes) clash(mine, theirs, job);
    }
    for (const mine of this.reads) for (const theirs of other.writes) clash(mine, theirs, job);
  }
}

function clash(mine: FileUse, theirs: FileUse, job: { readonly id: string; readonly state: string }): void {
  const how = relation(mine, theirs);
  if (how !== undefined) throw new InferdError('INVALID_ARGUMENT', `${mine.label} ${how} the ${theirs.label} of job ${job.id} (${job.state}): wait for that job to end, or cancel it`);
}
