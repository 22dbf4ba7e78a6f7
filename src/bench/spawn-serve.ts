import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { SERVER_NODE_FLAGS } from '../node-flags';
import { PACKAGE_ROOT } from '../package-root';

/** A node script in a child process, once it has printed the JSON line that carries its port. */
export interface Spawned {
  readonly child: ChildProcess;
  readonly port: number;
}

/** Starts a node script, with the server's node flags, and waits for the first JSON line from which `portOf` reads a port. */
export function spawnWithPort(
  args: readonly string[],
  portOf: (record: Record<string, unknown>) => number | undefined,
): Promise<Spawned> {
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const port = portOf(JSON.parse(line) as Record<string, unknown>);
        if (port !== undefined) resolve({ child, port });
      } catch {
        // not JSON: ignore
      }
    });
    child.once('exit', (code) => reject(new Error(`${path.basename(args[0]!)} exited (${code}) before it was ready`)));
  });
}

/** `inferd serve` on a free port of 127.0.0.1, in a child process. */
export function spawnServe(models: string, extra: readonly string[] = []): Promise<Spawned> {
  return spawnWithPort(
    [
      path.join(PACKAGE_ROOT, 'bin', 'inferd.js'),
      'serve',
      '--models',
      models,
      '--port',
      '0',
      '--http-port',
      '0',
      ...extra,
      '--log-level',
      'info',
    ],
    (r) => (r['msg'] === 'serving' ? (r['port'] as number) : undefined),
  );
}

/** The bench's bare grpc-js server (echo-server.ts) in a child process: the echo, or with `answerBytes` the floor's transport. */
export function spawnEchoServer(options: { readonly answerBytes?: number } = {}): Promise<Spawned> {
  const args = [
    path.join(__dirname, 'echo-server.js'),
    ...(options.answerBytes === undefined ? [] : ['--answer-bytes', String(options.answerBytes)]),
  ];
  return spawnWithPort(args, (r) => r['port'] as number | undefined);
}

/** SIGTERM, and settles once the process has exited. */
export function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
