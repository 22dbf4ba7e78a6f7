import type { Logger } from 'pino';
import { InferdError } from '../../inferd-error';
import { selectOutputs, type Inference } from '../../inference';
import type { ModelVersion } from '../../repository/model-version';
import { formatShape } from '../../tensor/format-shape';
import type { HostTensor } from '../../tensor/tensor-types';
import { BatchFiles } from './batch-files';
import { BatchInput, type InputPosition, type InputRecord } from './batch-input';
import type { BatchWriter, OutputColumn, OutputRow } from './batch-writer';
import { CsvWriter } from './csv-writer';
import type { DataPaths } from './data-paths';
import { ErrorsFile, type RowFailure } from './errors-file';
import type { BatchSpec, Job } from '../job';
import type { JobStore } from '../job-store';
import { JsonlWriter } from './jsonl-writer';
import { parseOutputUri } from './parse-output-uri';
import { ResumeError } from './part-file';
import { RecordLayout } from './record-layout';
import { SqliteWriter } from './sqlite-writer';
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
}

export interface BatchJobParts {
  readonly store: JobStore;
  readonly inference: Inference;
  readonly paths: DataPaths;
  readonly clock: WallClock;
  readonly log: Logger;
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
 */
export class BatchJobRun {
  private readonly spec: BatchSpec;
  private readonly tag: string;

  constructor(
    private readonly job: Job,
    private readonly parts: BatchJobParts,
  ) {
    if (job.spec.kind !== 'batch') throw new Error(`job ${job.id} is not a batch job`);
    this.spec = job.spec;
    this.tag = job.id.slice(0, 8);
  }

  /**
   * Resolves 'finished' once the output is published, 'stopped' when `signal` fired first (with
   * an InferdError CANCELLED as its reason, the partial output is removed; with any other, it
   * is kept for a resume). Rejects with an InferdError for a fault that fails the whole job; the
   * partial output is removed then.
   */
  async run(signal: AbortSignal): Promise<'finished' | 'stopped'> {
    try {
      return await this.runFromCheckpoint(signal);
    } catch (err) {
      if (signal.aborted) return 'stopped';
      throw err;
    }
  }

  private async runFromCheckpoint(signal: AbortSignal): Promise<'finished' | 'stopped'> {
    const { store, paths } = this.parts;
    const spec = this.spec;
    const target = parseOutputUri(spec.outputUri);
    const inputPath = paths.resolve(spec.inputUri, 'input');
    const outputPath = paths.resolve(target.path, 'output');
    const errorsPath = paths.resolve(target.errorsPath, 'errors file');
    const input = await BatchInput.open(inputPath, spec.inputUri, paths);
    // Checked at submit too; again here for a job queued by an older inferd, or a link added to the folder since.
    BatchFiles.of(spec, paths, input).checkOwn();
    const fingerprint = input.fingerprint();

    let model = this.model();
    let layout = this.layout(model);
    const columns: OutputColumn[] = layout.outputNames.map((name) => ({ name, dims: layout.outputDims(model.outputs.find((s) => s.name === name)!) }));
    const open = async (resume: BatchCheckpoint | undefined): Promise<Writers> => {
      const output =
        target.format === 'jsonl'
          ? await JsonlWriter.open(outputPath, this.tag, layout.outputNames, resume?.output)
          : target.format === 'csv'
            ? await CsvWriter.open(outputPath, this.tag, columns, resume?.output)
            : SqliteWriter.open(outputPath, target.table!, this.tag, columns, resume?.output);
      try {
        return { output, errors: await ErrorsFile.open(errorsPath, this.tag, resume?.errors) };
      } catch (err) {
        await (resume === undefined ? output.discard() : output.close());
        throw err;
      }
    };
    const start = (writers: Writers): Promise<BatchCheckpoint> => this.checkpointOf(fingerprint, { file: 0, offset: 0, line: 0 }, 1, 0, 0, writers);

    let checkpoint = store.checkpoint(this.job.id) as BatchCheckpoint | undefined;
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
        store.progress(this.job.id, { total: count.records, processed: 0, failed: 0, checkpoint });
      } catch (err) {
        await Promise.allSettled([writers.output.discard(), writers.errors.discard()]);
        throw err;
      }
    } else {
      try {
        writers = await open(checkpoint);
        this.parts.log.info({ job: this.job.id, row: checkpoint.nextRow }, 'batch job resumed');
      } catch (err) {
        if (!(err instanceof ResumeError)) throw err;
        this.parts.log.warn({ job: this.job.id, reason: err.message }, 'batch job output cannot be resumed: starting over');
        writers = await open(undefined);
        checkpoint = await start(writers);
        store.progress(this.job.id, { processed: 0, failed: 0, checkpoint });
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
          store.progress(this.job.id, { processed, failed });
          throw new InferdError('INVALID_ARGUMENT', `${failed} ${failed === 1 ? 'record' : 'records'} failed by row ${last.row}, more than max_bad_records (${spec.maxBadRecords}) allows; they are in "${target.errorsPath}"`);
        }
        checkpoint = await this.checkpointOf(fingerprint, last.after, last.row + 1, processed, failed, writers);
        store.progress(this.job.id, { processed, failed, checkpoint });
      }
      signal.throwIfAborted();
      await writers.output.finish();
      await writers.errors.finish();
      return 'finished';
    } catch (err) {
      if (signal.aborted) {
        const cancelled = signal.reason instanceof InferdError && signal.reason.code === 'CANCELLED';
        await Promise.all(cancelled ? [writers.output.discard(), writers.errors.discard()] : [writers.output.close(), writers.errors.close()]);
        return 'stopped';
      }
      await Promise.allSettled([writers.output.discard(), writers.errors.discard()]);
      throw err;
    }
  }

  private async checkpointOf(fingerprint: readonly string[], position: InputPosition, nextRow: number, processed: number, failed: number, writers: Writers): Promise<BatchCheckpoint> {
    return { fingerprint, position, nextRow, processed, failed, output: await writers.output.checkpoint(), errors: await writers.errors.checkpoint() };
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
        const results = await this.parts.inference.run(model, feeds, layout.outputNames, signal, { priority: 'background' });
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
