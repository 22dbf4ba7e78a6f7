import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { PACKAGE_ROOT } from '../../src/package-root';

const BIN = path.join(PACKAGE_ROOT, 'bin', 'inferd.js');

/** How a command-line run ended. */
export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly cwd?: string;
  /** Variables added to the environment, from which every INFERD_* variable is first removed. */
  readonly env?: Record<string, string>;
  readonly timeoutMs?: number;
}

/** Runs `inferd ...args` to its end (stderr is a pipe, not a terminal), so that only the arguments and `env` count. */
export function runInferd(args: readonly string[], options: RunOptions = {}): Promise<Run> {
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('INFERD_'))),
    ...options.env,
  };
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: options.cwd, env, timeout: options.timeoutMs ?? 30_000 },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== 'number') reject(err);
        else resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr });
      },
    );
  });
}
