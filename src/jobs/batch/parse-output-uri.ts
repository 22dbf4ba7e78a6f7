import * as path from 'node:path';
import { InferdError } from '../../inferd-error';

/** Where a batch job writes, as its output_uri says. Paths as given, not yet resolved. */
export interface OutputUri {
  readonly format: 'jsonl' | 'csv' | 'sqlite' | 'postgres';
  /** The file written (for sqlite, the database file; for postgres, none: ""). */
  readonly path: string;
  /** For sqlite, the table. */
  readonly table: string | undefined;
  /** Where rows that fail go: the output with ".errors.jsonl" appended (for sqlite, PATH.TABLE.errors.jsonl; for postgres, postgres.TABLE.errors.jsonl). */
  readonly errorsPath: string;
}

const TABLE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** A postgres: table and its staging tables (`<table>__<job>-<epoch>`) fit PostgreSQL's 63-byte names; inferd_* are the job store's own. */
const PG_TABLE = /^(?!inferd_)[A-Za-z_][A-Za-z0-9_]{0,39}$/i;

/**
 * Reads an output_uri: a .jsonl/.ndjson or .csv file, `sqlite:PATH#TABLE`, or `postgres:TABLE`
 * (a table of the job store's PostgreSQL database). Throws INVALID_ARGUMENT naming the uri when
 * it is none of these.
 */
export function parseOutputUri(uri: string): OutputUri {
  if (uri.startsWith('postgres:')) {
    const table = uri.slice('postgres:'.length);
    if (!PG_TABLE.test(table)) throw new InferdError('INVALID_ARGUMENT', `output "${uri}": table name "${table}" must be letters, digits and _, not starting with a digit or "inferd_", at most 40 characters`);
    return { format: 'postgres', path: '', table: table.toLowerCase(), errorsPath: `postgres.${table.toLowerCase()}.errors.jsonl` };
  }
  if (uri.startsWith('sqlite:')) {
    const m = /^sqlite:([^#]+)#(.*)$/.exec(uri);
    if (m === null) throw new InferdError('INVALID_ARGUMENT', `output "${uri}": expected sqlite:PATH#TABLE`);
    const table = m[2]!;
    if (!TABLE.test(table)) throw new InferdError('INVALID_ARGUMENT', `output "${uri}": table name "${table}" must be letters, digits and _, not starting with a digit`);
    return { format: 'sqlite', path: m[1]!, table, errorsPath: `${m[1]}.${table}.errors.jsonl` };
  }
  const ext = path.extname(uri).toLowerCase();
  const format = ext === '.jsonl' || ext === '.ndjson' ? 'jsonl' : ext === '.csv' ? 'csv' : undefined;
  if (format === undefined || uri.endsWith('/')) throw new InferdError('INVALID_ARGUMENT', `output "${uri}": expected a .jsonl, .ndjson or .csv file, sqlite:PATH#TABLE or postgres:TABLE`);
  return { format, path: uri, table: undefined, errorsPath: `${uri}.errors.jsonl` };
}
