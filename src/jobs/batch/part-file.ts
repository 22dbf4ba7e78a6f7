import { constants, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';

/** A partial output cannot be continued (it is missing or shorter than its checkpoint): the job starts over. */
export class ResumeError extends Error {
  override readonly name = 'ResumeError';
}

/**
 * An output file written as `<file>.<tag>.part` and renamed onto `<file>` when complete, so that
 * readers never see half an output and an older output stays until the new one is whole. Its
 * length in bytes is the checkpoint: resuming truncates it there, dropping whatever was
 * appended after the last checkpoint.
 */
export class PartFile {
  private closed = false;

  private constructor(
    private readonly handle: FileHandle,
    readonly finalPath: string,
    readonly partPath: string,
    private length: number,
  ) {}

  /**
   * Opens the part file of `finalPath`: empty, or, with `resumeBytes`, cut back to that length.
   * Resuming the part file of another tag (`fromTag`: a job taken over from another replica)
   * copies its first `resumeBytes` into this tag's and removes it, so that a replica still
   * holding the old one (frozen past its lease) can never write into the output. Refuses to
   * follow a symbolic link at the part file's path. Throws ResumeError when resuming finds the
   * part file missing or shorter than `resumeBytes`.
   */
  static async open(finalPath: string, tag: string, resumeBytes?: number, fromTag?: string): Promise<PartFile> {
    const partPath = `${finalPath}.${tag}.part`;
    await fs.mkdir(path.dirname(finalPath), { recursive: true });
    if (resumeBytes !== undefined && fromTag !== undefined && fromTag !== tag) {
      const fromPath = `${finalPath}.${fromTag}.part`;
      const from = await fs.lstat(fromPath).catch(() => undefined);
      if (from === undefined || !from.isFile()) throw new ResumeError(`${fromPath} is gone`);
      await fs.rm(partPath, { force: true });
      await fs.copyFile(fromPath, partPath, constants.COPYFILE_EXCL);
      await fs.rm(fromPath, { force: true });
    }
    if (resumeBytes === undefined) {
      const handle = await fs.open(partPath, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o644);
      return new PartFile(handle, finalPath, partPath, 0);
    }
    let handle: FileHandle;
    try {
      handle = await fs.open(partPath, constants.O_WRONLY | constants.O_NOFOLLOW);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ResumeError(`${partPath} is gone`);
      throw err;
    }
    const { size } = await handle.stat();
    if (size < resumeBytes) {
      await handle.close();
      throw new ResumeError(`${partPath} has ${size} bytes, fewer than its checkpoint's ${resumeBytes}`);
    }
    await handle.truncate(resumeBytes);
    return new PartFile(handle, finalPath, partPath, resumeBytes);
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.length;
  }

  async append(text: string): Promise<void> {
    const data = Buffer.from(text, 'utf8');
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.handle.write(data, done, data.length - done, this.length + done);
      done += bytesWritten;
    }
    this.length += data.length;
  }

  /** Flushes to disk, renames the part file onto the final path and closes. */
  async publish(): Promise<void> {
    await this.handle.sync();
    await this.close();
    await fs.rename(this.partPath, this.finalPath);
  }

  /** Closes, leaving the part file. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }

  /** Closes and deletes the part file. */
  async discard(): Promise<void> {
    await this.close();
    await fs.rm(this.partPath, { force: true });
  }
}
