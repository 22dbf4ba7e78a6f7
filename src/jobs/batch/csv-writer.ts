import type { OutputColumn, OutputRow } from './batch-writer';
import { PartFile } from './part-file';
import { PartFileWriter, type PartFileState } from './part-file-writer';
import { tensorValues } from './tensor-values';
import { InferdError } from '../../inferd-error';

/** A cell as CSV needs it: quoted when it holds a comma, a quote, a line break or edge spaces. */
function quote(text: string): string {
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * CSV output: a header `row,key,<columns>`, then one line per row. An output whose record shape
 * is known gets one column per element (`y` for a scalar, `y_0`, `y_1`, … in row-major order
 * otherwise); one whose shape is known only per row gets one column holding the JSON nested
 * array. Written to a part file renamed onto the output when the job ends.
 */
export class CsvWriter extends PartFileWriter {
  private constructor(
    file: PartFile,
    private readonly columns: readonly OutputColumn[],
  ) {
    super(file);
  }

  /** Opens the part file of `file`, fresh (writing the header) or at `resume`; throws ResumeError when that cannot be. */
  static async open(file: string, tag: string, columns: readonly OutputColumn[], resume?: unknown, fromTag?: string): Promise<CsvWriter> {
    const part = await PartFile.open(file, tag, (resume as PartFileState | undefined)?.bytes, fromTag);
    const writer = new CsvWriter(part, columns);
    if (resume === undefined) await part.append(`${['row', 'key', ...columns.flatMap(headerOf)].map(quote).join(',')}\n`);
    return writer;
  }

  async write(rows: readonly OutputRow[]): Promise<void> {
    const lines = rows.map((r) => {
      const cells = [String(r.row), r.key === null || r.key === undefined ? '' : typeof r.key === 'string' ? r.key : JSON.stringify(r.key)];
      for (const column of this.columns) {
        const t = r.outputs[column.name]!;
        if (!known(column)) {
          cells.push(tensorValues.json(t));
          continue;
        }
        const leaves = tensorValues.leaves(t);
        const width = headerOf(column).length;
        if (leaves.length !== width) throw new InferdError('INTERNAL', `output "${column.name}" has ${leaves.length} elements for row ${r.row}, the CSV header has ${width} columns for it`);
        cells.push(...leaves.map(tensorValues.cell));
      }
      return `${cells.map(quote).join(',')}\n`;
    });
    await this.file.append(lines.join(''));
  }
}

function known(column: OutputColumn): boolean {
  return column.dims.every((d) => d >= 0);
}

function headerOf(column: OutputColumn): string[] {
  if (!known(column) || column.dims.length === 0) return [column.name];
  const count = column.dims.reduce((a, b) => a * b, 1);
  return Array.from({ length: count }, (_, i) => `${column.name}_${i}`);
}
