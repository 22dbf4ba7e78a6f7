import * as path from 'node:path';
import { InferdError } from '../../inferd-error';

/** Where a batch job writes, as its output_uri says. Paths as given, not yet resolved. */
export interface OutputUri {
  readonly format: 'jsonl' | 'csv' | 'sqlite';
  /** The file written (for sqlite, the database file). */
  readonly path: string;
  /** For sqlite, the table. */
  readonly table: string | undefined;
  /** Where rows that fail go: the output with ".errors.jsonl" appended (for sqlite, PATH.TABLE.errors.jsonl). */
  readonly errorsPath: string;
}

const TABLE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Reads an output_uri: a .jsonl/.ndjson or .csv file, or `sqlite:PATH#TABLE`. Throws
 * INVALID_ARGUMENT naming the uri when it is none of these.
 */
export function parseOutputUri(uri: string): OutputUri {
  if (uri.startsWith('sqlite:')) {
    const m = /^sqlite:([^#]+)#(.*)$/.exec(uri);
    if (m === null) throw new InferdError('INVALID_ARGUMENT', `output "${uri}": expected sqlite:PATH#TABLE`);
    const table = m[2]!;
    if (!TABLE.test(table)) throw new InferdError('INVALID_ARGUMENT', `output "${uri}": table name "${table}" must be letters, digits and _, not starting with a digit`);
    return { format: 'sqlite', path: m[1]!, table, errorsPath: `${m[1]}.${table}.errors.jsonl` };
  }
  const ext = path.extname(uri).toLowerCase();
  const format = ext === '.jsonl' || ext === '.ndjson' ? 'jsonl' : ext === '.csv' ? 'csv' : undefined;
  if (format === undefined || uri.endsWith('/')) throw new InferdError('INVALID_ARGUMENT', `output "${uri}": expected a .jsonl, .ndjson or .csv file, or sqlite:PATH#TABLE`);
  return { format, path: uri, table: undefined, errorsPath: `${uri}.errors.jsonl` };
}
