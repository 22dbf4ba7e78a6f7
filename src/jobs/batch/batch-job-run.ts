import type { Logger } from 'pino';
import { InferdError } from '../../inferd-error';
import { selectOutputs, type Inference } from '../../inference';
import type { ModelVersion } from '../../repository/model-version';
import type { CallScope } from '../../telemetry/call-scope';
import { outcomeOf } from '../../telemetry/request-scope';
import { formatShape, type HostTensor } from '../../tensor/tensor-types';
import { BatchFiles } from './batch-files';
import { BatchInput, type InputPosition, type InputRecord } from './batch-input';
import type { BatchWriter, OutputColumn, OutputRow } from './batch-writer';
import { CsvWriter } from './csv-writer';
import type { DataPaths } from './data-paths';
import { ErrorsFile, type RowFailure } from './errors-file';
import type { BatchSpec, Job } from '../job';
import { LeaseLostError, type JobStore, type Lease, type StagedRows } from '../job-store';
import { untilStored } from '../until-stored';
import { JsonlWriter } from './jsonl-writer';
import { parseOutputUri } from './parse-output-uri';
import { ResumeError } from './part-file';
import { RecordLayout } from './record-layout';
import { SqliteWriter } from './sqlite-writer';
import { PostgresTableWriter } from './postgres-table-writer';
import { PostgresJobStore } from '../store/postgres-job-store';
import { tensorRows } from './tensor-rows';
import type { WallClock } from '../wall-clock';

/** What a batch job's checkpoint holds: where to go on reading, and what had been written by then. */
interface BatchCheckpoint {
  /** The input files as first read; a resume refuses files that changed since. */
  readonly fingerprint: readonly string[];
  readonly position: InputPosition;
  /** The record number of the next record. */
  readonly nextRow: number;
  readonly processed: number;
  readonly failed: number;
  /** The writers' checkpoint() states. */
  readonly output: unknown;
  readonly errors: unknown;
  /**
   * The tag of the writers' part files and staging tables: the lease's (absent from checkpoints
   * written before leases: the job id's first 8 characters).
   */
  readonly tag?: string;
}

export interface BatchJobParts {
  readonly store: JobStore;
  /** The runner's lease on the job: every checkpoint is written under it. */
  readonly lease: Lease;
  readonly inference: Inference;
  readonly paths: DataPaths;
  readonly clock: WallClock;
  readonly log: Logger;
  readonly leaseMs: number;
}

interface Writers {
  readonly output: BatchWriter;
  readonly errors: ErrorsFile;
}

interface Scored {
  readonly record: Exclude<InputRecord, { readonly kind: 'bad' }>;
  readonly feeds: Record<string, HostTensor>;
}

/** After a run refused for a full queue, the first wait before trying again; it doubles up to the most. */
const BUSY_RETRY_MS = 50;
const BUSY_RETRY_MAX_MS = 2000;

/**
 * One run of a batch job, from its last checkpoint (or the start) to the end of its input or
 * until its signal fires. Reads records in batches of batch_size, scores them at background
 * priority, appends results and failed records to their files, and checkpoints after every
 * batch: input position, counts and the writers' lengths, in one store transaction. A record
 * that is malformed (a line that is not a record), that does not fit the model, or that the
 * runtime fails on, fails alone; the job fails for what makes every record fail (a fault of a
 * whole file, an unknown model), or once more records failed than max_bad_records allows.
 * Each model run is one request of the core (Inference.infer), counted in the request metrics
 * and traced under the run's "job batch" span.
 */
export class BatchJobRun {
  private readonly spec: BatchSpec;
  private readonly tag: string;
  /** The run's span and request metrics: each model run is one request of it. */
  private readonly traced: CallScope;

  constructor(
    private readonly job: Job,
    private readonly parts: BatchJobParts,
  ) {
    if (job.spec.kind !== 'batch') throw new Error(`job ${job.id} is not a batch job`);
    this.spec = job.spec;
    // One process per SQLite store: the job's own tag. Many replicas: one per lease, so that no
    // two replicas ever write the same part file or staging table.
    this.tag = parts.store.kind === 'sqlite' ? job.id.slice(0, 8) : `${job.id.slice(0, 8)}-${parts.lease.epoch}`;
    this.traced = parts.inference.telemetry.startJob('batch', job.id);
  }

  /**
   * Resolves 'finished' once the output is published, 'stopped' when `signal` fired first (with
   * an InferdError CANCELLED as its reason, the partial output is removed; with any other, it
   * is kept for a resume). Rejects with an InferdError for a fault that fails the whole job; the
   * partial output is removed then.
   */
  async run(signal: AbortSignal): Promise<'finished' | 'stopped'> {
    try {
      const end = await this.runFromCheckpoint(signal);
      this.traced.end(end === 'finished' ? { code: 'OK' } : outcomeOf(signal.reason));
      return end;
    } catch (err) {
      this.traced.end(outcomeOf(signal.aborted ? signal.reason : err));
      if (signal.aborted) return 'stopped';
      throw err;
    }
  }

  private async runFromCheckpoint(signal: AbortSignal): Promise<'finished' | 'stopped'> {
    const { store, paths } = this.parts;
    const spec = this.spec;
    const target = parseOutputUri(spec.outputUri);
    const inputPath = paths.resolve(spec.inputUri, 'input');
    const outputPath = target.format === 'postgres' ? '' : paths.resolve(target.path, 'output');
    const errorsPath = paths.resolve(target.errorsPath, 'errors file');
    const input = await BatchInput.open(inputPath, spec.inputUri, paths);
    // Checked at submit too; again here for a job queued by an older inferd, or a link added to the folder since.
    BatchFiles.of(spec, paths, input).checkOwn();
    const fingerprint = input.fingerprint();

    let model = this.model();
    let layout = this.layout(model);
    const columns: OutputColumn[] = layout.outputNames.map((name) => {
      const spec = model.outputs.find((s) => s.name === name)!;
      return { name, dims: layout.outputDims(spec), type: spec.type };
    });
    const open = async (resume: BatchCheckpoint | undefined): Promise<Writers> => {
      const from = resume === undefined ? undefined : (resume.tag ?? this.job.id.slice(0, 8));
      const output =
        target.format === 'jsonl'
          ? await JsonlWriter.open(outputPath, this.tag, layout.outputNames, resume?.output, from)
          : target.format === 'csv'
            ? await CsvWriter.open(outputPath, this.tag, columns, resume?.output, from)
            : target.format === 'sqlite'
              ? SqliteWriter.open(outputPath, target.table!, this.tag, columns, resume?.output, from)
              : await PostgresTableWriter.open(this.postgres(), this.parts.lease, target.table!, this.tag, columns, resume?.output, from);
      try {
        return { output, errors: await ErrorsFile.open(errorsPath, this.tag, resume?.errors, from) };
      } catch (err) {
        await (resume === undefined ? output.discard() : output.close());
        throw err;
      }
    };
    const start = (writers: Writers): Promise<BatchCheckpoint> => this.checkpointOf(fingerprint, { file: 0, offset: 0, line: 0 }, 1, 0, 0, writers);

    let checkpoint = (await store.checkpoint(this.job.id)) as BatchCheckpoint | undefined;
    if (checkpoint !== undefined && checkpoint.fingerprint.join('\n') !== fingerprint.join('\n')) {
      throw new InferdError('INVALID_ARGUMENT', `input "${spec.inputUri}" changed while the job was stopped (it had ${checkpoint.fingerprint.join(', ')}): submit the job again`);
    }
    let writers: Writers;
    if (checkpoint === undefined) {
      const count = await input.scan(signal);
      if (spec.maxBadRecords !== undefined && count.bad > spec.maxBadRecords) {
        throw new InferdError('INVALID_ARGUMENT', `${count.bad} ${count.bad === 1 ? 'record' : 'records'} of input "${spec.inputUri}" ${count.bad === 1 ? 'is' : 'are'} malformed, more than max_bad_records (${spec.maxBadRecords}) allows; the first: ${count.firstBad}`);
      }
      writers = await open(undefined);
      try {
        checkpoint = await start(writers);
        await this.save({ total: count.records, processed: 0, failed: 0, checkpoint }, writers, signal);
      } catch (err) {
        await Promise.allSettled([writers.output.discard(), writers.errors.discard()]);
        throw err;
      }
    } else {
      try {
        const before = checkpoint;
        writers = await open(before);
        this.parts.log.info({ job: this.job.id, row: before.nextRow }, 'batch job resumed');
        if ((before.tag ?? this.job.id.slice(0, 8)) !== this.tag) {
          // Taken over: from now on the checkpoint names this lease's files.
          checkpoint = { ...before, tag: this.tag, output: await writers.output.checkpoint(), errors: await writers.errors.checkpoint() };
          await this.save({ processed: before.processed, failed: before.failed, checkpoint }, writers, signal);
        }
      } catch (err) {
        if (!(err instanceof ResumeError)) throw err;
        this.parts.log.warn({ job: this.job.id, reason: err.message }, 'batch job output cannot be resumed: starting over');
        writers = await open(undefined);
        checkpoint = await start(writers);
        await this.save({ processed: 0, failed: 0, checkpoint }, writers, signal);
      }
    }

    let { processed, failed } = checkpoint;
    let header: readonly string[] | undefined;
    try {
      for await (const batch of chunks(input.records(checkpoint.position, checkpoint.nextRow), spec.batchSize)) {
        signal.throwIfAborted();
        const current = this.model();
        if (current !== model) {
          model = current;
          layout = this.layout(model);
        }
        for (const record of batch) {
          if (record.kind === 'csv' && record.header !== header) {
            header = record.header;
            try {
              layout.checkCsv(RecordLayout.csvColumns(header, spec.inputColumns).length);
            } catch (err) {
              throw new InferdError('INVALID_ARGUMENT', `input "${record.where.replace(/ line \d+$/, '')}": ${(err as Error).message}`);
            }
          }
        }
        const { rows, failures } = await this.score(batch, model, layout, signal);
        await writers.output.write(rows);
        await writers.errors.write(failures);
        processed += batch.length;
        failed += failures.length;
        const last = batch[batch.length - 1]!;
        if (spec.maxBadRecords !== undefined && failed > spec.maxBadRecords) {
          // The output is dropped; the errors file is kept, to show what went wrong.
          await writers.output.discard();
          await writers.errors.finish();
          await this.save({ processed, failed }, undefined, signal);
          throw new InferdError('INVALID_ARGUMENT', `${failed} ${failed === 1 ? 'record' : 'records'} failed by row ${last.row}, more than max_bad_records (${spec.maxBadRecords}) allows; they are in "${target.errorsPath}"`);
        }
        checkpoint = await this.checkpointOf(fingerprint, last.after, last.row + 1, processed, failed, writers);
        await this.save({ processed, failed, checkpoint }, writers, signal);
      }
      signal.throwIfAborted();
      // The output is published only while the lease is still this run's.
      await untilStored(() => store.renew(this.parts.lease, this.parts.leaseMs), { what: 'lease', job: this.job.id, signal, clock: this.parts.clock, log: this.parts.log });
      await writers.output.finish();
      await writers.errors.finish();
      return 'finished';
    } catch (err) {
      if (signal.aborted || err instanceof LeaseLostError) {
        const reason: unknown = err instanceof LeaseLostError ? err : signal.reason;
        const cancelled = (reason instanceof InferdError && reason.code === 'CANCELLED') || (reason instanceof LeaseLostError && reason.cancelled);
        // A lost lease keeps the files: they are this lease's own, and the new holder has its copy.
        await Promise.all(cancelled ? [writers.output.discard(), writers.errors.discard()] : [writers.output.close(), writers.errors.close()]);
        if (err instanceof LeaseLostError) throw err;
        return 'stopped';
      }
      await Promise.allSettled([writers.output.discard(), writers.errors.discard()]);
      throw err;
    }
  }

  private async checkpointOf(fingerprint: readonly string[], position: InputPosition, nextRow: number, processed: number, failed: number, writers: Writers): Promise<BatchCheckpoint> {
    return { fingerprint, position, nextRow, processed, failed, output: await writers.output.checkpoint(), errors: await writers.errors.checkpoint(), tag: this.tag };
  }

  /**
   * Writes progress (and the checkpoint, with the rows a `postgres:` output staged since the last
   * one) under the lease, waiting while the store cannot be reached. Rejects with LeaseLostError
   * when the lease is no longer the job's.
   */
  private async save(progress: { total?: number; processed: number; failed: number; checkpoint?: BatchCheckpoint }, writers: Writers | undefined, signal: AbortSignal): Promise<void> {
    const staged: StagedRows | undefined = writers?.output.takeStaged?.();
    const { store, lease, clock, log } = this.parts;
    await untilStored(() => store.progress(lease, progress, staged), { what: 'checkpoint', job: this.job.id, signal, clock, log });
  }

  /** The store, for a postgres: output (refused at submit with any other store). */
  private postgres(): PostgresJobStore {
    const { store } = this.parts;
    if (!(store instanceof PostgresJobStore)) throw new InferdError('INVALID_ARGUMENT', `output "${this.spec.outputUri}" needs a PostgreSQL job store (--job-store postgres://…)`);
    return store;
  }

  private model(): ModelVersion {
    return this.parts.inference.resolve(this.spec.modelName, this.spec.modelVersion);
  }

  private layout(model: ModelVersion): RecordLayout {
    return new RecordLayout(model, selectOutputs(model, this.spec.outputNames));
  }

  /** Scores one batch: the rows that ran and the records that failed, each in row order. */
  private async score(batch: readonly InputRecord[], model: ModelVersion, layout: RecordLayout, signal: AbortSignal): Promise<{ rows: OutputRow[]; failures: RowFailure[] }> {
    const failures: RowFailure[] = [];
    const fail = (record: InputRecord, err: unknown): void => {
      failures.push({ row: record.row, key: record.key, where: record.where, error: this.reason(err) });
    };
    const scored: Scored[] = [];
    for (const record of batch) {
      if (record.kind === 'bad') {
        failures.push({ row: record.row, key: null, where: record.where, error: record.reason });
        continue;
      }
      try {
        scored.push({ record, feeds: layout.feeds(record, this.spec.inputColumns) });
      } catch (err) {
        fail(record, err);
      }
    }
    const groups: Scored[][] = [];
    if (layout.stackable) {
      const byShape = new Map<string, Scored[]>();
      for (const s of scored) {
        const key = Object.entries(s.feeds).map(([name, t]) => `${name}${formatShape(t.dims.slice(1))}`).join(';');
        const group = byShape.get(key) ?? [];
        if (group.length === 0) byShape.set(key, group);
        group.push(s);
      }
      groups.push(...byShape.values());
    } else {
      groups.push(...scored.map((s) => [s]));
    }
    const rows: OutputRow[] = [];
    for (const group of groups) {
      for (const [s, outcome] of await this.runGroup(group, model, layout, signal)) {
        if (outcome instanceof Error) fail(s.record, outcome);
        else rows.push({ row: s.record.row, key: s.record.key, outputs: outcome });
      }
    }
    rows.sort((a, b) => a.row - b.row);
    failures.sort((a, b) => a.row - b.row);
    return { rows, failures };
  }

  /**
   * Runs records stacked into one batch; when that run fails, runs each alone so that only the
   * records at fault fail. Rejects (failing the job) when the model is gone, and with the
   * signal's reason when it fires.
   */
  private async runGroup(group: readonly Scored[], model: ModelVersion, layout: RecordLayout, signal: AbortSignal): Promise<[Scored, Record<string, HostTensor> | Error][]> {
    const feeds: Record<string, HostTensor> = {};
    for (const name of Object.keys(group[0]!.feeds)) feeds[name] = group.length === 1 ? group[0]!.feeds[name]! : tensorRows.stack(group.map((s) => s.feeds[name]!));
    for (let busyMs = BUSY_RETRY_MS; ; busyMs = Math.min(busyMs * 2, BUSY_RETRY_MAX_MS)) {
      try {
        const scope = this.traced.message();
        const request = { modelName: model.name, modelVersion: model.version, inputs: feeds, outputNames: layout.outputNames, priority: 'background' as const };
        const result = await scope.serve(() => this.parts.inference.infer(request, signal, scope));
        const results = Object.fromEntries(result.outputs.map((o) => [o.name, o.tensor]));
        return group.map((s, i) => [s, layout.outputs(results, i, group.length)]);
      } catch (err) {
        signal.throwIfAborted();
        if (err instanceof InferdError && (err.code === 'NOT_FOUND' || err.code === 'UNAVAILABLE')) throw err;
        if (err instanceof InferdError && err.code === 'RESOURCE_EXHAUSTED') {
          await sleep(this.parts.clock, busyMs, signal);
          continue;
        }
        if (group.length === 1) return [[group[0]!, err instanceof Error ? err : new Error(String(err))]];
        const alone: [Scored, Record<string, HostTensor> | Error][] = [];
        for (const s of group) alone.push(...(await this.runGroup([s], model, layout, signal)));
        return alone;
      }
    }
  }

  /** A record's failure as the errors file says it; faults that are not InferdErrors are logged whole and named generically. */
  private reason(err: unknown): string {
    if (err instanceof InferdError) return err.message;
    this.parts.log.error({ err, job: this.job.id }, 'unexpected error while scoring a record');
    return 'internal error';
  }
}

/** The records in arrays of `size` (the last one may be shorter). */
async function* chunks<T>(items: AsyncIterable<T>, size: number): AsyncGenerator<T[]> {
  let chunk: T[] = [];
  for await (const item of items) {
    chunk.push(item);
    if (chunk.length >= size) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}

function sleep(clock: WallClock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clock.clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
