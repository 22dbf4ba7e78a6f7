import { InferdError } from '../../inferd-error';
import type { Lease, StagedRows } from '../job-store';
import type { PostgresJobStore } from '../store/postgres-job-store';
import type { BatchWriter, OutputColumn, OutputRow } from './batch-writer';
import { ResumeError } from './part-file';
import { tensorValues, type Leaf } from './tensor-values';

const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** The column type of an output: a single value by its element type, anything else as JSON (nested arrays). */
function columnType(column: OutputColumn): string {
  if (column.dims.length !== 0 || column.type === undefined) return 'JSONB';
  if (column.type === 'float32' || column.type === 'float64' || column.type === 'float16') return 'DOUBLE PRECISION';
  if (column.type === 'bool') return 'BOOLEAN';
  if (column.type === 'string') return 'TEXT';
  return 'NUMERIC'; // every integer type, uint64 included, exactly
}

function sqlValue(leaf: Leaf): unknown {
  if (typeof leaf === 'bigint') return leaf.toString();
  if (typeof leaf === 'number' && !Number.isFinite(leaf)) return String(leaf); // 'NaN', 'Infinity', '-Infinity' read as double precision
  return leaf;
}

/**
 * Rows in a table of the job store's own PostgreSQL database (`postgres:TABLE`): `row BIGINT
 * PRIMARY KEY, key TEXT, <one column per output>`. Rows go into a staging table,
 * `<table>__<tag>` (one per lease), and are committed in the same transaction as the checkpoint
 * that follows them, so the staging table always holds exactly the rows checkpointed. finish()
 * swaps it for the table in one transaction, under the lease. A replica taking the job over
 * renames the last lease's staging table to its own.
 */
export class PostgresTableWriter implements BatchWriter {
  private pending: unknown[][] = [];
  private closed = false;

  private constructor(
    private readonly store: PostgresJobStore,
    private readonly lease: Lease,
    private readonly table: string,
    private readonly staging: string,
    private readonly columns: readonly OutputColumn[],
  ) {}

  /**
   * Creates the staging table (new and empty), or, with `resume`, finds it (renamed from the
   * `fromTag` one when another lease wrote it). Throws ResumeError when resuming finds no staging
   * table, and INVALID_ARGUMENT for an output named "row" or "key".
   */
  static async open(store: PostgresJobStore, lease: Lease, table: string, tag: string, columns: readonly OutputColumn[], resume?: unknown, fromTag?: string): Promise<PostgresTableWriter> {
    const clash = columns.find((c) => c.name === 'row' || c.name === 'key');
    if (clash !== undefined) throw new InferdError('INVALID_ARGUMENT', `output "${clash.name}" cannot be a column beside "row" and "key": pick the outputs to write`);
    const staging = `${table}__${tag}`;
    if (resume === undefined) {
      await store.execute([`DROP TABLE IF EXISTS ${ident(staging)}`, `CREATE TABLE ${ident(staging)} (row BIGINT PRIMARY KEY, key TEXT, ${columns.map((c) => `${ident(c.name)} ${columnType(c)}`).join(', ')})`]);
    } else {
      const from = `${table}__${fromTag ?? tag}`;
      if (!(await store.tableExists(from))) throw new ResumeError(`postgres:${table}: staging table ${from} is gone`);
      if (from !== staging) await store.execute([`DROP TABLE IF EXISTS ${ident(staging)}`, `ALTER TABLE ${ident(from)} RENAME TO ${ident(staging)}`]);
    }
    return new PostgresTableWriter(store, lease, table, staging, columns);
  }

  async write(rows: readonly OutputRow[]): Promise<void> {
    for (const r of rows) {
      const key = r.key === null || r.key === undefined ? null : typeof r.key === 'string' ? r.key : JSON.stringify(r.key);
      const values = this.columns.map((c) => {
        const t = r.outputs[c.name]!;
        return t.dims.length === 0 && c.dims.length === 0 ? sqlValue(tensorValues.leaves(t)[0]!) : tensorValues.json(t);
      });
      this.pending.push([r.row, key, ...values]);
    }
  }

  takeStaged(): StagedRows | undefined {
    if (this.pending.length === 0) return undefined;
    const rows = this.pending;
    this.pending = [];
    return { table: this.staging, columns: ['row', 'key', ...this.columns.map((c) => c.name)], rows };
  }

  /** The rows are committed with the checkpoint itself: nothing to flush. */
  async checkpoint(): Promise<Record<string, never>> {
    return {};
  }

  async finish(): Promise<void> {
    await this.store.publishTable(this.lease, this.staging, this.table);
    this.closed = true;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.pending = [];
  }

  async discard(): Promise<void> {
    this.pending = [];
    if (!this.closed) await this.store.execute([`DROP TABLE IF EXISTS ${ident(this.staging)}`]).catch(() => undefined);
    this.closed = true;
  }
}
