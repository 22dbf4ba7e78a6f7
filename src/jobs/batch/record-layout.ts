import { InferdError } from '../../inferd-error';
import { elementType, type ElementType } from '../../tensor/element-types';
import { formatShape, type HostTensor, type TensorSpec } from '../../tensor/tensor-types';
import type { InputRecord } from './batch-input';
import { recordTensor } from './record-tensor';
import { tensorRows } from './tensor-rows';

/** What the layout needs to know of a model version. */
export interface ModelSignature {
  readonly name: string;
  readonly version: string;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
}

/**
 * How records map onto a model's tensors. When every input's first dimension is -1 or 1 (a
 * batch dimension), a record leaves it out and gets it back as 1 (or as N when N records are
 * stacked). Records are stacked into one run only when every input and every output wanted has
 * a first dimension of -1, so that output row i is record i's; otherwise each record runs alone.
 * A model without a batch dimension takes each record as its whole input.
 */
export class RecordLayout {
  /** Records leave out the inputs' first dimension. */
  readonly lead: boolean;
  /** Records may be stacked along the first dimension into one run. */
  readonly stackable: boolean;

  constructor(
    readonly model: ModelSignature,
    /** The outputs written, in order. */
    readonly outputNames: readonly string[],
  ) {
    const batchDim = (s: TensorSpec, ok: readonly number[]): boolean => s.dims.length >= 1 && ok.includes(s.dims[0]!);
    this.lead = model.inputs.length > 0 && model.inputs.every((s) => batchDim(s, [-1, 1]));
    const outputs = model.outputs.filter((s) => outputNames.includes(s.name));
    this.stackable = model.inputs.length > 0 && model.inputs.every((s) => batchDim(s, [-1])) && outputs.every((s) => batchDim(s, [-1]));
  }

  /** The shape of one record's value for an input (-1: any size). */
  inputDims(spec: TensorSpec): readonly number[] {
    return this.lead ? spec.dims.slice(1) : spec.dims;
  }

  /** The shape of one record's value for an output (-1: known only once it runs). */
  outputDims(spec: TensorSpec): readonly number[] {
    return this.lead && spec.dims.length >= 1 && (spec.dims[0] === -1 || spec.dims[0] === 1) ? spec.dims.slice(1) : spec.dims;
  }

  /**
   * Checks what a CSV input needs of the model, with `columns` values per record: a single input
   * whose record shape is known, or of rank 1. Throws INVALID_ARGUMENT saying why not.
   */
  checkCsv(columns: number): void {
    const where = `model "${this.model.name}" version ${this.model.version}`;
    if (this.model.inputs.length !== 1) {
      throw new InferdError('INVALID_ARGUMENT', `CSV input needs a model with one input; ${where} has ${this.model.inputs.length} (${this.model.inputs.map((s) => `"${s.name}"`).join(', ')}): use JSON Lines`);
    }
    const spec = this.model.inputs[0]!;
    const dims = this.inputDims(spec);
    const known = dims.every((d) => d >= 0);
    const count = dims.reduce((a, b) => a * Math.max(b, 1), 1);
    if (known ? count !== columns : dims.length !== 1) {
      throw new InferdError('INVALID_ARGUMENT', `CSV input: input "${spec.name}" of ${where} takes records of shape ${formatShape(dims)}, which ${columns} columns do not fill`);
    }
  }

  /**
   * One record as feeds of one row each (with the leading dimension of 1 when records leave it
   * out). `columns` picks a CSV record's columns ([] = every column but "key"). Throws
   * INVALID_ARGUMENT saying what is wrong with the record: an unknown or missing input, a shape
   * that does not fit, a value that is not of the input's type, a CSV line whose cell count is
   * not the header's.
   */
  feeds(record: Exclude<InputRecord, { readonly kind: 'bad' }>, columns: readonly string[]): Record<string, HostTensor> {
    const where = `model "${this.model.name}" version ${this.model.version}`;
    const takes = this.model.inputs.map((s) => `"${s.name}"`).join(', ');
    const feeds: Record<string, HostTensor> = {};
    const withLead = (t: HostTensor): HostTensor => (this.lead ? { ...t, dims: [1, ...t.dims] } : t);
    if (record.kind === 'json') {
      for (const name of Object.keys(record.value)) {
        if (name !== 'key' && !this.model.inputs.some((s) => s.name === name)) throw new InferdError('INVALID_ARGUMENT', `unknown input "${name}": ${where} takes ${takes}`);
      }
      for (const spec of this.model.inputs) {
        const value = record.value[spec.name];
        if (value === undefined) throw new InferdError('INVALID_ARGUMENT', `missing input "${spec.name}": ${where} takes ${takes}`);
        feeds[spec.name] = withLead(recordTensor(`input "${spec.name}"`, value, spec.type, this.inputDims(spec)));
      }
      return feeds;
    }
    const spec = this.model.inputs[0]!;
    if (record.cells.length !== record.header.length) {
      throw new InferdError('INVALID_ARGUMENT', `expected ${record.header.length} cells (one per column of the header), got ${record.cells.length}`);
    }
    const picked = csvColumns(record.header, columns);
    const leaves = csvLeaves(picked.map((c) => ({ column: c, text: record.cells[record.header.indexOf(c)]! })), spec.type);
    const dims = this.inputDims(spec);
    const shape = dims.every((d) => d >= 0) ? dims : [leaves.length];
    feeds[spec.name] = withLead(recordTensor(`input "${spec.name}"`, nest(leaves, shape), spec.type, dims));
    return feeds;
  }

  /**
   * The columns that form a CSV record's input: `columns` when given, else every column but
   * "key". Throws INVALID_ARGUMENT naming a column the header lacks.
   */
  static csvColumns(header: readonly string[], columns: readonly string[]): readonly string[] {
    return csvColumns(header, columns);
  }

  /**
   * Record `index`'s outputs from a run of `rows` records. Throws INTERNAL when a stacked run
   * answered an output whose first dimension is not `rows`.
   */
  outputs(results: Readonly<Record<string, HostTensor>>, index: number, rows: number): Record<string, HostTensor> {
    const record: Record<string, HostTensor> = {};
    for (const name of this.outputNames) {
      const t = results[name]!;
      if (this.stackable) {
        if (t.dims[0] !== rows) throw new InferdError('INTERNAL', `output "${name}" has shape ${formatShape(t.dims)} for a batch of ${rows} records`);
        record[name] = tensorRows.slice(t, index);
      } else {
        const spec = this.model.outputs.find((s) => s.name === name)!;
        const strip = this.lead && t.dims[0] === 1 && spec.dims.length >= 1 && (spec.dims[0] === -1 || spec.dims[0] === 1);
        record[name] = strip ? tensorRows.slice(t, 0) : t;
      }
    }
    return record;
  }
}

/**
 * The columns that form a CSV record's input: `columns` when given, else every column but "key".
 * Throws INVALID_ARGUMENT naming a column the header lacks.
 */
function csvColumns(header: readonly string[], columns: readonly string[]): readonly string[] {
  if (columns.length === 0) return header.filter((c) => c !== 'key');
  const missing = columns.find((c) => !header.includes(c));
  if (missing !== undefined) throw new InferdError('INVALID_ARGUMENT', `no column "${missing}" in the header (it has ${header.map((c) => `"${c}"`).join(', ')})`);
  return columns;
}

/**
 * A CSV record's cells as the leaves `recordTensor` takes for `type`: numbers (64-bit integers
 * kept as their decimal text, "NaN" and "Infinity" allowed for floats), booleans from
 * true/false/1/0, strings as they are. Throws INVALID_ARGUMENT naming the column of a cell
 * that is not a value of the type.
 */
function csvLeaves(cells: readonly { readonly column: string; readonly text: string }[], type: ElementType): unknown[] {
  const label = elementType(type).label;
  return cells.map(({ column, text }) => {
    const t = text.trim();
    const bad = (): InferdError => new InferdError('INVALID_ARGUMENT', `column "${column}": ${t === '' ? 'empty' : JSON.stringify(text)}, expected ${article(label)}`);
    switch (type) {
      case 'string':
        return text;
      case 'bool':
        if (/^(true|1)$/i.test(t)) return true;
        if (/^(false|0)$/i.test(t)) return false;
        throw bad();
      case 'int64':
      case 'uint64':
        if (/^[-+]?\d+$/.test(t)) return t.replace(/^\+/, '');
        throw bad();
      default: {
        if (/^[-+]?(inf|infinity)$/i.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
        if (/^nan$/i.test(t)) return NaN;
        const n = t === '' ? NaN : Number(t);
        if (Number.isNaN(n)) throw bad();
        return n;
      }
    }
  });
}

/** Flat leaves as nested arrays of shape `dims`. */
function nest(leaves: readonly unknown[], dims: readonly number[]): unknown {
  if (dims.length === 0) return leaves[0];
  const step = dims.slice(1).reduce((a, b) => a * b, 1);
  return Array.from({ length: dims[0]! }, (_, i) => nest(leaves.slice(i * step, (i + 1) * step), dims.slice(1)));
}

function article(label: string): string {
  return /^[AEIOU]/.test(label) ? `an ${label}` : `a ${label}`;
}
