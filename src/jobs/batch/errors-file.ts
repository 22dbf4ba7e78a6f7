import { promises as fs } from 'node:fs';
import { PartFile } from './part-file';

/** A record that failed, and why. */
export interface RowFailure {
  readonly row: number;
  readonly key: unknown;
  /** The file and line it came from: `in.jsonl line 3`. */
  readonly where: string;
  readonly error: string;
}

interface ErrorsState {
  readonly bytes: number;
  readonly failures: number;
}

/**
 * A batch job's errors file: one JSON line per failed record, `{"row": n, "key": k, "where":
 * "in.jsonl line 3", "error": "…"}`, in row order, written like the output (a part file renamed
 * at the end). When no record failed, finish() leaves no errors file (and removes an older one).
 */
export class ErrorsFile {
  private constructor(
    private readonly file: PartFile,
    private failures: number,
  ) {}

  /** Opens fresh, or at `resume` (a checkpoint() state); throws ResumeError when that cannot be. */
  static async open(file: string, tag: string, resume?: unknown, fromTag?: string): Promise<ErrorsFile> {
    const state = resume as ErrorsState | undefined;
    return new ErrorsFile(await PartFile.open(file, tag, state?.bytes, fromTag), state?.failures ?? 0);
  }

  async write(failures: readonly RowFailure[]): Promise<void> {
    if (failures.length === 0) return;
    this.failures += failures.length;
    await this.file.append(failures.map((f) => `${JSON.stringify({ row: f.row, key: f.key ?? null, where: f.where, error: f.error })}\n`).join(''));
  }

  async checkpoint(): Promise<ErrorsState> {
    return { bytes: this.file.bytes, failures: this.failures };
  }

  async finish(): Promise<void> {
    if (this.failures > 0) return this.file.publish();
    await this.file.discard();
    await fs.rm(this.file.finalPath, { force: true });
  }

  close(): Promise<void> {
    return this.file.close();
  }

  discard(): Promise<void> {
    return this.file.discard();
  }
}
