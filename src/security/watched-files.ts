import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import type { Logger } from 'pino';

export interface WatchedFilesOptions<T> {
  /** What the files hold, for log lines and errors, e.g. "TLS certificate". */
  readonly what: string;
  /** Turns the files' contents (in the order of `paths`) into a value; throws when they are not valid. */
  readonly parse: (contents: Buffer[]) => T;
  /** How often each file's status is checked for a change. */
  readonly pollMs: number;
  readonly log: Logger;
}

/**
 * A value read from a set of files and read again whenever one of them changes, for secrets that
 * rotate without a restart (certificates, token lists, key sets). A change is noticed by polling
 * the files' status (which follows symbolic links, so a Kubernetes secret's link swap counts);
 * the whole set is read again together, so that a certificate and its key change as one. When
 * the new contents do not parse (a half-written file, a key that does not match), the previous
 * value stays and a warning names the problem; the next change tries again.
 */
export class WatchedFiles<T> {
  private value: T;
  private readonly listeners: Array<(value: T) => void> = [];
  private reloadTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly onStat = (current: Stats, previous: Stats): void => {
    if (current.mtimeMs === previous.mtimeMs && current.size === previous.size && current.ino === previous.ino) return;
    // Several files of a set are usually written one after the other: read them once, together.
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.reload(), RELOAD_SETTLE_MS);
  };

  private constructor(
    private readonly paths: readonly string[],
    private readonly options: WatchedFilesOptions<T>,
  ) {
    this.value = options.parse(paths.map((p) => readFileSync(p)));
  }

  /**
   * Reads and parses the files now and starts watching them. Throws an Error naming the file
   * when one cannot be read, or carrying parse's message when the contents are not valid.
   */
  static open<T>(paths: readonly string[], options: WatchedFilesOptions<T>): WatchedFiles<T> {
    let files: WatchedFiles<T>;
    try {
      files = new WatchedFiles(paths, options);
    } catch (err) {
      throw new Error(`${options.what}: ${(err as Error).message}`, { cause: err });
    }
    for (const p of paths) watchFile(p, { interval: options.pollMs, persistent: false }, files.onStat);
    return files;
  }

  /** The value of the last contents that parsed. */
  get current(): T {
    return this.value;
  }

  /** Calls `listener` with each new value (not with the current one). */
  onChange(listener: (value: T) => void): void {
    this.listeners.push(listener);
  }

  /** Stops watching. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reloadTimer);
    for (const p of this.paths) unwatchFile(p, this.onStat);
  }

  private reload(): void {
    if (this.closed) return;
    let value: T;
    try {
      value = this.options.parse(this.paths.map((p) => readFileSync(p)));
    } catch (err) {
      this.options.log.warn(
        { files: this.paths, reason: (err as Error).message },
        'changed files are not valid: keeping the previous ones',
      );
      return;
    }
    this.value = value;
    this.options.log.info({ files: this.paths, what: this.options.what }, 'reloaded changed files');
    for (const listener of this.listeners) {
      try {
        listener(value);
      } catch (err) {
        // One user of the files failing to take them must not stop the others, nor end the process.
        this.options.log.error({ err, files: this.paths }, 'could not apply changed files');
      }
    }
  }
}

/** After a change is seen, how long to wait for the other files of the set before reading them. */
const RELOAD_SETTLE_MS = 100;
