import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { InferdError } from '../../inferd-error';
import type { BatchWriter, OutputColumn, OutputRow } from './batch-writer';
import { ResumeError } from './part-file';
import { tensorValues, type Leaf } from './tensor-values';

const INT64_MAX = 2n ** 63n - 1n;

const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** A value as SQLite stores it: numbers as numbers, booleans as 0/1, uint64 past int64 as text. */
function sqlValue(leaf: Leaf): number | bigint | string {
  if (typeof leaf === 'boolean') return leaf ? 1 : 0;
  if (typeof leaf === 'bigint' && leaf > INT64_MAX) return leaf.toString();
  return leaf;
}

/**
 * Rows in a SQLite table: `row INTEGER PRIMARY KEY, key, <one column per output>`. An output
 * whose record is a single value is stored as that value; any other as JSON text (nested
 * arrays). Rows go into a staging table, `<table>__<tag>`, upserted by row number (so a batch
 * written again after a crash replaces itself); finish() swaps it for the table in one
 * transaction.
 */
export class SqliteWriter implements BatchWriter {
  private closed = false;

  private constructor(
    private readonly db: Database.Database,
    private readonly table: string,
    private readonly staging: string,
    private readonly columns: readonly OutputColumn[],
  ) {}

  /**
   * Opens the database `file` (created when missing) and its staging table: new and empty, or,
   * with `resume`, as it was. Throws ResumeError when resuming finds no staging table, and
   * INVALID_ARGUMENT for an output named "row" or "key".
   */
  static open(file: string, table: string, tag: string, columns: readonly OutputColumn[], resume?: unknown, fromTag?: string): SqliteWriter {
    const clash = columns.find((c) => c.name === 'row' || c.name === 'key');
    if (clash !== undefined) throw new InferdError('INVALID_ARGUMENT', `output "${clash.name}" cannot be a column beside "row" and "key": pick the outputs to write`);
    mkdirSync(path.dirname(file), { recursive: true });
    const db = new Database(file);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('busy_timeout = 5000');
      const staging = `${table}__${tag}`;
      if (resume !== undefined && fromTag !== undefined && fromTag !== tag) takeOver(db, `${table}__${fromTag}`, staging, file);
      const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(staging) !== undefined;
      if (resume !== undefined && !exists) throw new ResumeError(`${file}: staging table ${staging} is gone`);
      if (resume === undefined) {
        db.exec(`DROP TABLE IF EXISTS ${ident(staging)}`);
        db.exec(`CREATE TABLE ${ident(staging)} (row INTEGER PRIMARY KEY, key, ${columns.map((c) => ident(c.name)).join(', ')})`);
      }
      return new SqliteWriter(db, table, staging, columns);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  async write(rows: readonly OutputRow[]): Promise<void> {
    const names = ['row', 'key', ...this.columns.map((c) => c.name)];
    const insert = this.db.prepare(`INSERT OR REPLACE INTO ${ident(this.staging)} (${names.map(ident).join(', ')}) VALUES (${names.map(() => '?').join(', ')})`);
    this.db.transaction(() => {
      for (const r of rows) {
        const key = r.key === null || r.key === undefined ? null : typeof r.key === 'string' || typeof r.key === 'number' ? r.key : JSON.stringify(r.key);
        const values = this.columns.map((c) => {
          const t = r.outputs[c.name]!;
          return t.dims.length === 0 ? sqlValue(tensorValues.leaves(t)[0]!) : tensorValues.json(t);
        });
        insert.run(r.row, key, ...values);
      }
    })();
  }

  /** Every write is its own committed transaction already: nothing to flush. */
  async checkpoint(): Promise<Record<string, never>> {
    return {};
  }

  async finish(): Promise<void> {
    this.db.transaction(() => {
      this.db.exec(`DROP TABLE IF EXISTS ${ident(this.table)}`);
      this.db.exec(`ALTER TABLE ${ident(this.staging)} RENAME TO ${ident(this.table)}`);
    })();
    await this.close();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  async discard(): Promise<void> {
    if (!this.closed) this.db.exec(`DROP TABLE IF EXISTS ${ident(this.staging)}`);
    await this.close();
  }
}

/**
 * Moves the rows of another replica's staging table (a job taken over) into this one's, in one
 * transaction, and drops it: a replica still writing to the old one (frozen past its lease) then
 * fails instead of touching the output. Throws ResumeError when the old one is gone.
 */
function takeOver(db: Database.Database, from: string, to: string, file: string): void {
  db.transaction(() => {
    const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(from) !== undefined;
    if (!exists) throw new ResumeError(`${file}: staging table ${from} is gone`);
    const sql = (db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").get(from) as { sql: string }).sql;
    db.exec(`DROP TABLE IF EXISTS ${ident(to)}`);
    db.exec(sql.replace(/^CREATE TABLE\s+("(?:[^"]|"")*"|\S+)/i, `CREATE TABLE ${ident(to)}`));
    db.exec(`INSERT INTO ${ident(to)} SELECT * FROM ${ident(from)}`);
    db.exec(`DROP TABLE ${ident(from)}`);
  })();
}
