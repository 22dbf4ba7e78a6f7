import type { BatchWriter, OutputRow } from './batch-writer';
import type { PartFile } from './part-file';

/** The checkpoint of a writer to a part file: the file's length. */
export interface PartFileState {
  readonly bytes: number;
}

/**
 * A BatchWriter whose output is one part file, renamed onto the output when the job ends: the
 * checkpoint is the file's length, and finish, close and discard are the part file's. Subclasses
 * say only how rows become text.
 */
export abstract class PartFileWriter implements BatchWriter {
  protected constructor(protected readonly file: PartFile) {}

  abstract write(rows: readonly OutputRow[]): Promise<void>;

  async checkpoint(): Promise<PartFileState> {
    return { bytes: this.file.bytes };
  }

  finish(): Promise<void> {
    return this.file.publish();
  }

  close(): Promise<void> {
    return this.file.close();
  }

  discard(): Promise<void> {
    return this.file.discard();
  }
}
