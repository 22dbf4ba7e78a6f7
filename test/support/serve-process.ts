import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { PACKAGE_ROOT } from '../../src/package-root';

const BIN = path.join(PACKAGE_ROOT, 'bin', 'inferd.js');

export interface LogRecord {
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** `inferd serve` as a child process, its JSON log lines parsed as they come. */
export interface ServeProcess {
  readonly child: ChildProcess;
  readonly port: number;
  /** The HTTP port of /metrics, /healthz and /readyz. */
  readonly httpPort: number;
  readonly logs: LogRecord[];
  /** Settles with the exit code once the process has exited and its output is read. */
  readonly exited: Promise<number | null>;
  /** Settles with the first log record with this message (at once when already logged). */
  logged(msg: string): Promise<LogRecord>;
}

/** Environment without INFERD_* variables, so that only the flags configure the server. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('INFERD_')));
}

/** Every child still running; after each test, whatever is left is killed. */
export const children = new Set<ChildProcess>();

/** `bin/inferd.js serve` on repo, ports 0 of 127.0.0.1 and `dataDir`, then `flags` (the last of a flag given twice wins). */
export function serveArgs(repo: string, dataDir: string, flags: readonly string[]): string[] {
  return [
    BIN,
    'serve',
    '--models',
    repo,
    '--port',
    '0',
    '--http-port',
    '0',
    '--host',
    '127.0.0.1',
    '--data-dir',
    dataDir,
    ...flags,
  ];
}

/** Starts `inferd serve --models repo --port 0 --http-port 0` plus `flags` (and `env` over the clean environment); settles once it logs "serving". */
export async function serve(
  repo: string,
  flags: readonly string[] = [],
  env: Readonly<Record<string, string>> = {},
): Promise<ServeProcess> {
  // A data folder of its own (flags may name another: the last --data-dir wins), removed on exit.
  const dataDir = mkdtempSync(path.join(tmpdir(), 'inferd-data-'));
  const child = spawn(process.execPath, serveArgs(repo, dataDir, flags), {
    env: { ...cleanEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  // 'close', not 'exit': it comes once stdout is read to its end, so every log line is in.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  void exited.then(() => {
    children.delete(child);
    rmSync(dataDir, { recursive: true, force: true });
  });
  const logs: LogRecord[] = [];
  const waiters: { msg: string; resolve: (r: LogRecord) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let record: LogRecord;
    try {
      record = JSON.parse(line) as LogRecord;
    } catch {
      record = { msg: line }; // not a log record (a stray print): kept as it is
    }
    logs.push(record);
    for (const w of waiters.filter((w) => w.msg === record.msg)) w.resolve(record);
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const logged = (msg: string): Promise<LogRecord> => {
    const found = logs.find((r) => r.msg === msg);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      waiters.push({ msg, resolve });
      void exited.then((code) => reject(new Error(`inferd exited (${code}) before logging "${msg}": ${stderr}`)));
    });
  };
  const serving = await logged('serving');
  return { child, port: serving['port'] as number, httpPort: serving['httpPort'] as number, logs, exited, logged };
}
