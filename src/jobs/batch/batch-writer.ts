import type { ElementType } from '../../tensor/element-types';
import type { StagedRows } from '../job-store';
import type { HostTensor } from '../../tensor/tensor-types';

/** One scored record. */
export interface OutputRow {
  /** Its 1-based record number in the input. */
  readonly row: number;
  /** Its key from the input, or null. */
  readonly key: unknown;
  /** Its value for each output written (no batch dimension). */
  readonly outputs: Readonly<Record<string, HostTensor>>;
}

/** An output as writers know it before any row: its name and the shape of one record's value (-1: known only per row). */
export interface OutputColumn {
  readonly name: string;
  readonly dims: readonly number[];
  /** Its element type, as the model declares it (for writers with typed columns). */
  readonly type?: ElementType;
}

/**
 * Where a batch job's rows go (a JSON Lines or CSV file, a SQLite table; the same interface
 * leaves room for a database server). Rows come in row order. A writer keeps its output apart
 * until finish() publishes it whole, and can be reopened at a checkpoint so that, after a crash,
 * the published output has every row exactly once.
 */
export interface BatchWriter {
  /** Appends rows (row order). */
  write(rows: readonly OutputRow[]): Promise<void>;
  /**
   * Makes every row written so far survive the process. Resolves with the state (plain JSON)
   * that reopens the writer just after them.
   */
  checkpoint(): Promise<unknown>;
  /** Publishes the output, replacing an older one, and closes. */
  finish(): Promise<void>;
  /** Closes, keeping the partial output for a later resume. Safe to call twice. */
  close(): Promise<void>;
  /** Closes and removes the partial output. */
  discard(): Promise<void>;
  /**
   * A writer into the job store's own database (`postgres:TABLE`): the rows written since the
   * last call, for the store to commit in the same transaction as the next checkpoint.
   */
  takeStaged?(): StagedRows | undefined;
}
