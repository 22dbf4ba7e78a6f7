import type { OutputRow } from './batch-writer';
import { PartFile } from './part-file';
import { PartFileWriter, type PartFileState } from './part-file-writer';
import { tensorValues } from './tensor-values';

/**
 * JSON Lines output: one line per row, `{"row": n, "key": k, "outputs": {name: nested array}}`,
 * written to a part file that is renamed onto the output when the job ends.
 */
export class JsonlWriter extends PartFileWriter {
  private constructor(
    file: PartFile,
    private readonly outputNames: readonly string[],
  ) {
    super(file);
  }

  /** Opens the part file of `file`, fresh or at `resume` (a checkpoint() state); throws ResumeError when that cannot be. */
  static async open(file: string, tag: string, outputNames: readonly string[], resume?: unknown, fromTag?: string): Promise<JsonlWriter> {
    return new JsonlWriter(await PartFile.open(file, tag, (resume as PartFileState | undefined)?.bytes, fromTag), outputNames);
  }

  async write(rows: readonly OutputRow[]): Promise<void> {
    const lines = rows.map((r) => {
      const outputs = this.outputNames.map((name) => `${JSON.stringify(name)}:${tensorValues.json(r.outputs[name]!)}`).join(',');
      return `{"row":${r.row},"key":${JSON.stringify(r.key ?? null)},"outputs":{${outputs}}}\n`;
    });
    await this.file.append(lines.join(''));
  }
}
