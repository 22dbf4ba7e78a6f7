import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from 'pino';

export interface RepositoryWatcherOptions {
  /** The repository folder, followed with everything under it. */
  readonly root: string;
  /** How often to call `onChange` anyway, in case a file-system event was missed; 0: never. */
  readonly pollMs: number;
  /** How long file-system events must stop before `onChange` is called: a copy in progress fires many. */
  readonly settleMs: number;
  readonly onChange: () => void;
  readonly log: Logger;
}

/**
 * Tells when the repository folder may have changed: once its file-system events settle, and
 * every `pollMs`. Where the platform cannot watch a folder, polling alone goes on (with a
 * warning). It says nothing of what changed: the repository scans to find out.
 */
export class RepositoryWatcher {
  private watcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private settleTimer: NodeJS.Timeout | undefined;

  private constructor() {}

  static start(options: RepositoryWatcherOptions): RepositoryWatcher {
    const w = new RepositoryWatcher();
    const settle = (): void => {
      clearTimeout(w.settleTimer);
      w.settleTimer = setTimeout(options.onChange, options.settleMs);
    };
    try {
      w.watcher = watch(options.root, { recursive: true }, settle);
      w.watcher.on('error', (err) => options.log.warn({ err }, 'watching the model repository failed; polling goes on'));
    } catch (err) {
      options.log.warn({ err }, 'cannot watch the model repository; polling it instead');
    }
    if (options.pollMs > 0) w.pollTimer = setInterval(options.onChange, options.pollMs);
    return w;
  }

  /** Stops watching and polling; no `onChange` comes after. Safe to call twice. */
  close(): void {
    this.watcher?.close();
    clearInterval(this.pollTimer);
    clearTimeout(this.settleTimer);
  }
}
