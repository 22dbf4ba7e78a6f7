import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { InferdError } from '../../inferd-error';
import type { DataPaths } from './data-paths';
import { parseCsvLine } from './parse-csv-line';
import { readLines } from './read-lines';

export type InputFormat = 'jsonl' | 'csv';

/** One file of an input, as it was when the job first read it. */
export interface InputFile {
  /** Its real path (a symbolic link in a folder resolved). */
  readonly path: string;
  /** The file as messages name it: the input as submitted, or "<folder>/<file>". */
  readonly name: string;
  readonly format: InputFormat;
  readonly size: number;
  readonly mtimeMs: number;
}

/** Where reading stopped: the next line to read is at `offset` of file number `file`, after line `line`. */
export interface InputPosition {
  readonly file: number;
  readonly offset: number;
  readonly line: number;
}

interface RecordBase {
  /** 1-based record number over the whole input (files of a folder in name order). */
  readonly row: number;
  /** The file and line it came from, for messages: `in.jsonl line 3`. */
  readonly where: string;
  /** Its "key" (a JSON Lines member, a CSV column), or null. */
  readonly key: unknown;
  /** Where the record after this one starts. */
  readonly after: InputPosition;
}

/**
 * One record as read, before it is checked against the model. A line that is not a record (not
 * a JSON object, a CSV quote left open, bytes that are not UTF-8, too long) is a 'bad' record:
 * it has its row number and fails alone, with `reason`.
 */
export type InputRecord =
  | (RecordBase & { readonly kind: 'json'; readonly value: Record<string, unknown> })
  | (RecordBase & { readonly kind: 'csv'; readonly header: readonly string[]; readonly cells: readonly string[] })
  | (RecordBase & { readonly kind: 'bad'; readonly reason: string });

/** What scan() found. */
export interface InputCount {
  /** Records, bad ones included. */
  readonly records: number;
  /** Lines that are not records. */
  readonly bad: number;
  /** The first of them, as `in.jsonl line 3: not valid UTF-8`; undefined when there is none. */
  readonly firstBad: string | undefined;
}

/** Longest line read; a longer one is a bad record. */
const MAX_LINE_BYTES = 64 * 1024 * 1024;

const FORMATS: Readonly<Record<string, InputFormat>> = { '.jsonl': 'jsonl', '.ndjson': 'jsonl', '.csv': 'csv' };

/** The format a file's name says, or undefined. */
export function inputFormatOf(file: string): InputFormat | undefined {
  return FORMATS[path.extname(file).toLowerCase()];
}

/**
 * A batch job's input: a JSON Lines or CSV file, or a folder of them read in name order.
 * JSON Lines: one JSON object per line (blank lines skipped). CSV: a header line, then one
 * record per line. Records are numbered from 1 across the whole input, a line that is not a
 * record (a bad record) included.
 */
export class BatchInput {
  private constructor(
    readonly files: readonly InputFile[],
    /** Whether the input is a folder of files. */
    readonly folder: boolean,
  ) {}

  /**
   * Looks at the input at `file` (already resolved by `paths`), named `uri` in messages. Throws
   * NOT_FOUND when it does not exist, INVALID_ARGUMENT when it is not a .jsonl/.ndjson/.csv file
   * or a folder holding some. In a folder, files whose names start with "." and sub-folders are
   * skipped; a symbolic link is followed (resolved by `paths`, so on the server one leading out
   * of the data directory is INVALID_ARGUMENT, naming it, as is one leading nowhere).
   */
  static async open(file: string, uri: string, paths: DataPaths): Promise<BatchInput> {
    const s = await fs.stat(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new InferdError('NOT_FOUND', `input "${uri}" does not exist`);
      throw new InferdError('INVALID_ARGUMENT', `input "${uri}" cannot be read: ${err.code ?? err.message}`);
    });
    if (s.isFile()) {
      const format = inputFormatOf(file);
      if (format === undefined)
        throw new InferdError(
          'INVALID_ARGUMENT',
          `input "${uri}": expected a .jsonl, .ndjson or .csv file or a folder of them`,
        );
      return new BatchInput([{ path: file, name: uri, format, size: s.size, mtimeMs: s.mtimeMs }], false);
    }
    if (!s.isDirectory()) throw new InferdError('INVALID_ARGUMENT', `input "${uri}" is neither a file nor a folder`);
    const entries = (await fs.readdir(file, { withFileTypes: true }))
      .filter(
        (e) => (e.isFile() || e.isSymbolicLink()) && !e.name.startsWith('.') && inputFormatOf(e.name) !== undefined,
      )
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const files: InputFile[] = [];
    for (const e of entries) {
      const name = `${uri.replace(/\/+$/, '')}/${e.name}`;
      let p = path.join(file, e.name);
      const st = await fs.stat(p).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT')
          throw new InferdError('INVALID_ARGUMENT', `input "${name}" is a symbolic link to nothing`);
        throw new InferdError('INVALID_ARGUMENT', `input "${name}" cannot be read: ${err.code ?? err.message}`);
      });
      if (!st.isFile()) continue; // a link to a folder is skipped, as a sub-folder is
      if (e.isSymbolicLink()) p = paths.resolve(name, 'input');
      files.push({ path: p, name, format: inputFormatOf(e.name)!, size: st.size, mtimeMs: st.mtimeMs });
    }
    if (files.length === 0)
      throw new InferdError('INVALID_ARGUMENT', `input folder "${uri}" holds no .jsonl, .ndjson or .csv file`);
    return new BatchInput(files, true);
  }

  /** What the files were when first read, to tell on resume whether they changed. */
  fingerprint(): string[] {
    return this.files.map((f) => `${f.name}:${f.size}:${Math.round(f.mtimeMs)}`);
  }

  /**
   * Reads the whole input once and counts its records, bad ones included. Throws INVALID_ARGUMENT
   * naming the file for a fault of the file itself: a CSV header missing, with an empty or a
   * repeated name, or a file that cannot be read. Stops early, with the signal's reason, when
   * `signal` fires.
   */
  async scan(signal: AbortSignal): Promise<InputCount> {
    let records = 0;
    let bad = 0;
    let firstBad: string | undefined;
    for await (const record of this.records({ file: 0, offset: 0, line: 0 }, 1)) {
      records++;
      if (record.kind === 'bad') {
        bad++;
        firstBad ??= `${record.where}: ${record.reason}`;
      }
      if (records % 4096 === 0) {
        signal.throwIfAborted();
        await new Promise((resolve) => setImmediate(resolve)); // let calls and timers in
      }
    }
    return { records, bad, firstBad };
  }

  /**
   * The records from `from` on, numbered from `firstRow`; a line that is not a record is yielded
   * as a 'bad' record. Throws as scan() does for a fault of a file.
   */
  async *records(from: InputPosition, firstRow: number): AsyncGenerator<InputRecord> {
    let row = firstRow;
    for (let index = from.file; index < this.files.length; index++) {
      const file = this.files[index]!;
      const start = index === from.file ? from : { file: index, offset: 0, line: 0 };
      const malformed = (line: number, why: string): InferdError =>
        new InferdError('INVALID_ARGUMENT', `input "${file.name}" line ${line}: ${why}`);
      try {
        if (file.format === 'jsonl') {
          for await (const line of readLines(file.path, {
            fromOffset: start.offset,
            fromLine: start.line,
            maxLineBytes: MAX_LINE_BYTES,
          })) {
            if (line.malformed === undefined && line.text.trim() === '') continue;
            const where = `${file.name} line ${line.number}`;
            const after = { file: index, offset: line.end, line: line.number };
            if (line.malformed !== undefined) {
              yield { kind: 'bad', row: row++, where, key: null, reason: line.malformed, after };
              continue;
            }
            let value: unknown;
            try {
              value = JSON.parse(line.text);
            } catch (err) {
              yield {
                kind: 'bad',
                row: row++,
                where,
                key: null,
                reason: `not valid JSON (${(err as Error).message})`,
                after,
              };
              continue;
            }
            if (typeof value !== 'object' || value === null || Array.isArray(value)) {
              yield {
                kind: 'bad',
                row: row++,
                where,
                key: null,
                reason: `expected a JSON object, got ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}`,
                after,
              };
              continue;
            }
            const record = value as Record<string, unknown>;
            yield { kind: 'json', row: row++, where, key: record['key'] ?? null, value: record, after };
          }
        } else {
          const header = await readHeader(file, malformed);
          const keyColumn = header.names.indexOf('key');
          const begin =
            start.offset === 0
              ? { fromOffset: header.end, fromLine: 1 }
              : { fromOffset: start.offset, fromLine: start.line };
          for await (const line of readLines(file.path, { ...begin, maxLineBytes: MAX_LINE_BYTES })) {
            if (line.malformed === undefined && line.text.trim() === '') continue;
            const where = `${file.name} line ${line.number}`;
            const after = { file: index, offset: line.end, line: line.number };
            if (line.malformed !== undefined) {
              yield { kind: 'bad', row: row++, where, key: null, reason: line.malformed, after };
              continue;
            }
            let cells: string[];
            try {
              cells = parseCsvLine(line.text);
            } catch (err) {
              yield { kind: 'bad', row: row++, where, key: null, reason: (err as Error).message, after };
              continue;
            }
            const key = keyColumn >= 0 ? (cells[keyColumn] ?? null) : null;
            yield { kind: 'csv', row: row++, where, key, header: header.names, cells, after };
          }
        }
      } catch (err) {
        if (err instanceof InferdError) throw err;
        const code = (err as NodeJS.ErrnoException).code;
        throw new InferdError(
          'INVALID_ARGUMENT',
          `input "${file.name}" cannot be read: ${code ?? (err as Error).message}`,
          { cause: err },
        );
      }
    }
  }
}

async function readHeader(
  file: InputFile,
  malformed: (line: number, why: string) => InferdError,
): Promise<{ names: string[]; end: number }> {
  for await (const line of readLines(file.path, { fromOffset: 0, fromLine: 0, maxLineBytes: MAX_LINE_BYTES })) {
    if (line.malformed !== undefined) throw malformed(1, `header: ${line.malformed}`);
    let names: string[];
    try {
      names = parseCsvLine(line.text).map((n) => n.trim());
    } catch (err) {
      throw malformed(1, `header: ${(err as Error).message}`);
    }
    const empty = names.findIndex((n) => n === '');
    if (empty >= 0) throw malformed(1, `header: column ${empty + 1} has no name`);
    const repeated = names.find((n, i) => names.indexOf(n) !== i);
    if (repeated !== undefined) throw malformed(1, `header: column "${repeated}" appears twice`);
    return { names, end: line.end };
  }
  throw malformed(1, 'expected a header line, the file is empty');
}
