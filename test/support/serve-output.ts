import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { cleanEnv, serveArgs } from './serve-process';
import { removeFolder, writeRepository } from './test-server';

/**
 * Runs its arguments as a command in a new pseudo-terminal, copying this process's stdin to the
 * terminal and the terminal's output to stdout; exits with the command's exit code.
 */
const IN_TERMINAL = 'import os, pty, sys; sys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))';

/** `inferd serve` whose standard output is read as text lines, whatever their format. */
export interface ServeOutput {
  /** inferd itself, or on a terminal python3 holding the terminal (inferd is its child). */
  readonly child: ChildProcess;
  /** Lines of standard output as they came (on a terminal: stderr too, and without the \r). */
  readonly lines: string[];
  /** Standard error so far (on a terminal: always empty, it shares the terminal with stdout). */
  stderr(): string;
  /** Settles with the first line that `matches` (at once when already read). */
  line(matches: (line: string) => boolean, what: string): Promise<string>;
  /** The exit code, on the child's 'exit' event. */
  readonly exited: Promise<number | null>;
}

/** Children still running; after each test, whatever is left is killed. */
export const outputChildren = new Set<ChildProcess>();

/**
 * Starts `inferd serve --models repo --port 0 --http-port 0` plus `flags`, with its standard output
 * on a pipe, or, with `terminal`, on a pseudo-terminal (through python3's pty module). The
 * environment is this one without INFERD_* and NO_COLOR, plus `env`.
 */
export function serveOutput(
  repo: string,
  flags: readonly string[],
  options: {
    terminal: boolean;
    env?: Record<string, string>;
    /** 'program': bin/inferd.js run as an executable (its first line chooses node and node's flags); default 'node': `node bin/inferd.js`. */
    launch?: 'node' | 'program';
  },
): ServeOutput {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'inferd-data-'));
  const serve = serveArgs(repo, dataDir, flags);
  const env = { ...cleanEnv(), ...options.env };
  delete env['NO_COLOR'];
  const child = options.terminal
    ? spawn('python3', ['-c', IN_TERMINAL, process.execPath, ...serve], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    : options.launch === 'program'
      ? // Its first line runs `node` from PATH: this test's node, first.
        spawn(serve[0]!, serve.slice(1), {
          env: { ...env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${env['PATH'] ?? ''}` },
          stdio: ['ignore', 'pipe', 'pipe'],
        })
      : spawn(process.execPath, serve, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  outputChildren.add(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => {
    outputChildren.delete(child);
    rmSync(dataDir, { recursive: true, force: true });
  });
  const lines: string[] = [];
  const waiters: { matches: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  createInterface({ input: child.stdout!, crlfDelay: Infinity }).on('line', (raw) => {
    const line = raw.replace(/\r$/, '');
    lines.push(line);
    for (const w of waiters.filter((w) => w.matches(line))) w.resolve(line);
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const line = (matches: (line: string) => boolean, what: string): Promise<string> => {
    const found = lines.find(matches);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      waiters.push({ matches, resolve });
      void exited.then((code) =>
        reject(new Error(`inferd exited (${code}) before printing ${what}: ${stderr}${lines.join('\n')}`)),
      );
    });
  };
  return { child, lines, stderr: () => stderr, line, exited };
}

/**
 * For a describe whose tests start serveOutput(): registers hooks that write a repository of
 * `models` before its tests, kill whatever inferd a test left running after each (with SIGKILL),
 * and remove the repository after all. Returns the repository's folder, known once the tests run.
 */
export function serveOutputSuite(models: Parameters<typeof writeRepository>[0]): () => string {
  let repo: string | undefined;
  before(() => {
    repo = writeRepository(models);
  });
  afterEach(() => {
    for (const child of outputChildren) child.kill('SIGKILL');
  });
  after(() => {
    if (repo !== undefined) removeFolder(repo);
  });
  return () => repo!;
}

/** The line without its ANSI colour codes. */
export function plain(line: string): string {
  return line.replace(/\x1b\[[0-9;]*m/g, '');
}
