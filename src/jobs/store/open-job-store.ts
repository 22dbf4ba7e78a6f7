import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import type { JobStore } from '../job-store';
import type { WallClock } from '../wall-clock';
import type { JobStoreUrl } from './job-store-url';
import { PostgresJobStore } from './postgres-job-store';
import { SqliteJobStore } from './sqlite-job-store';

/**
 * Opens the store --job-store names: a SQLite file (its folder created when missing) or a
 * PostgreSQL database (its schema migrated). Rejects with an Error saying where (never with a
 * password) and why.
 */
export async function openJobStore(url: JobStoreUrl, options: { readonly replicaId: string; readonly clock: WallClock; readonly log: Logger }): Promise<JobStore> {
  if (url.kind === 'sqlite') {
    try {
      mkdirSync(path.dirname(url.file), { recursive: true });
      return SqliteJobStore.open({ file: url.file, clock: options.clock });
    } catch (err) {
      throw new Error(`cannot open the job store ${url.file}: ${(err as Error).message}`, { cause: err });
    }
  }
  return PostgresJobStore.open({ url: url.url, safe: url.safe, host: url.host, port: url.port, replicaId: options.replicaId, clock: options.clock, log: options.log });
}
