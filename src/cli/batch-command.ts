import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import { isatty } from 'node:tty';
import { parseArgs } from 'node:util';
import pino, { type Logger } from 'pino';
import { InferdError } from '../inferd-error';
import { Inference } from '../inference';
import { ModelRepository } from '../repository/model-repository';
import { LogDestination } from '../telemetry/log-destination';
import { InferdClient, InferdClientError, type Job as RemoteJob } from '../client';
import { CLIENT_SECURITY_OPTIONS, CLIENT_SECURITY_USAGE, clientSecurityOptions, readClientSecurity, type ClientSecurity } from '../client/client-security';
import { BATCH_SIZE } from '../jobs/batch/batch-size';
import { isFinished, type Job } from '../jobs/job';
import { JobManager, type BatchRequest } from '../jobs/job-manager';
import { parseOutputUri } from '../jobs/batch/parse-output-uri';
import { ProgressReporter } from '../jobs/progress-reporter';
import { SYSTEM_WALL_CLOCK } from '../jobs/wall-clock';

export const BATCH_USAGE = `Usage: inferd batch --model NAME --input PATH --output PATH [--models DIR | --server HOST:PORT] [options]

Scores every record of the input with a model and writes one result per record, in input
order. Records that fail (a line that is not a record, a wrong shape, a value of the wrong
type) go, with their line and reason, to the output's errors file (OUTPUT.errors.jsonl); the
others are scored all the same, unless more fail than --max-bad-records allows.

Without --server the model is loaded in this process from --models; a run that is killed or
interrupted (Ctrl-C) resumes where it stopped when the same command is run again. With
--server the job is submitted to a running inferd and followed until it ends; its paths are
then paths under that server's data directory.

Input: a .jsonl file (one JSON object per line: {"<input>": nested array for one record,
"key": optional}), a .csv file with a header (the columns, in order, form the model's one
input; a "key" column is carried along), or a folder of such files (read in name order).
Output: a .jsonl file ({"row": n, "key": k, "outputs": {...}} per line), a .csv file, or
sqlite:PATH#TABLE.

Options:
  --model NAME              the model (required)
  --model-version V         a version of it (default: the newest)
  --input PATH              the input file or folder (required)
  --output PATH             the output (required)
  --models DIR              model repository to load the model from (default models)
  --server HOST:PORT        submit to a running server instead, and follow the job
${CLIENT_SECURITY_USAGE}  --batch-size N            records per model run (default ${BATCH_SIZE.default}, at most ${BATCH_SIZE.max})
  --input-columns A,B,...   CSV input: the columns that form the input (default: all but "key")
  --output-names A,B,...    the outputs to write (default: all)
  --max-bad-records N       fail the job once more than N records failed (default: no limit)
  --data-dir DIR            standalone: folder of the job store that makes resuming possible
                            (DIR/batch.sqlite; default data)
  --intra-op-threads N      standalone: ONNX Runtime threads (default ${availableParallelism()}, the cores)
  --quiet                   no progress, only the summary
  --help                    this text

With --server and a server that checks tokens, the token (scope "jobs") is read from the
INFERD_TOKEN environment variable, so that it shows in no process list.

Progress goes to stderr: a bar with the rate and the time left on a terminal, a line every
few seconds otherwise. Exits 0 when the job succeeded (its summary says how many records
failed), 1 when it failed or could not start (an output that is the input, or lies inside the
input folder, is refused), 2 for a usage error, 130 when interrupted.
`;

/** The standalone run's job store, in --data-dir (apart from a server's jobs.sqlite, so a server never takes its job). */
const STORE_FILE = 'batch.sqlite';
/** Plain progress lines (not a terminal), at most this often. */
const PLAIN_EVERY_MS = 5000;
const SUBMIT_DEADLINE_MS = 60_000;

interface BatchArgs {
  readonly request: BatchRequest;
  readonly models: string;
  readonly server: string | undefined;
  readonly security: ClientSecurity;
  readonly dataDir: string;
  readonly intraOpThreads: number;
  readonly quiet: boolean;
}

function list(value: string | undefined): string[] {
  return value === undefined ? [] : value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** The arguments, or the problems with them. */
function readArgs(argv: readonly string[], token: string | undefined): BatchArgs | string[] {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        model: { type: 'string' },
        'model-version': { type: 'string' },
        input: { type: 'string' },
        output: { type: 'string' },
        models: { type: 'string' },
        server: { type: 'string' },
        ...CLIENT_SECURITY_OPTIONS,
        'batch-size': { type: 'string' },
        'input-columns': { type: 'string' },
        'output-names': { type: 'string' },
        'max-bad-records': { type: 'string' },
        'data-dir': { type: 'string' },
        'intra-op-threads': { type: 'string' },
        quiet: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return [(err as Error).message];
  }
  const problems: string[] = [];
  for (const required of ['model', 'input', 'output'] as const) if (values[required] === undefined || values[required] === '') problems.push(`--${required} is required`);
  if (values.server !== undefined && values.models !== undefined) problems.push('--models and --server exclude each other: the server loads its own models');
  if (values.server !== undefined && !/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:.]+\]:\d{1,5}$/.test(values.server)) problems.push(`--server: expected HOST:PORT, got "${values.server}"`);
  const security = readClientSecurity(values, values.server, token, problems);
  const whole = (flag: string, text: string | undefined, min: number, max: number, fallback: number): number => {
    if (text === undefined) return fallback;
    const n = /^\d+$/.test(text) ? Number(text) : NaN;
    if (Number.isInteger(n) && n >= min && n <= max) return n;
    problems.push(`--${flag}: expected a whole number from ${min} to ${max}, got "${text}"`);
    return fallback;
  };
  const batchSize = whole('batch-size', values['batch-size'], 1, BATCH_SIZE.max, 0);
  const intraOpThreads = whole('intra-op-threads', values['intra-op-threads'], 1, 1024, availableParallelism());
  const maxBadRecords = values['max-bad-records'] === undefined ? undefined : whole('max-bad-records', values['max-bad-records'], 0, 0xffffffff, 0);
  if (problems.length > 0) return problems;
  return {
    request: {
      modelName: values.model!,
      modelVersion: values['model-version'] ?? '',
      inputUri: values.input!,
      outputUri: values.output!,
      batchSize,
      inputColumns: list(values['input-columns']),
      outputNames: list(values['output-names']),
      maxBadRecords,
    },
    models: values.models ?? 'models',
    server: values.server,
    security,
    dataDir: values['data-dir'] ?? 'data',
    intraOpThreads,
    quiet: values.quiet ?? false,
  };
}

/** `inferd batch ...`: resolves with the exit code. */
export async function batchCommand(argv: readonly string[], env: { readonly INFERD_TOKEN?: string | undefined } = {}): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(BATCH_USAGE);
    return 0;
  }
  const args = readArgs(argv, env.INFERD_TOKEN);
  if (Array.isArray(args)) {
    process.stderr.write(`inferd batch: ${args.join('\n  ')}\n\nRun "inferd batch --help" for the options.\n`);
    return 2;
  }
  const reporter = new ProgressReporter({
    tty: process.stderr.isTTY === true,
    columns: process.stderr.columns ?? 80,
    everyMs: PLAIN_EVERY_MS,
    now: () => performance.now(),
    write: (text) => {
      if (!args.quiet) process.stderr.write(text);
    },
  });
  const interrupted = new AbortController();
  const onSignal = (): void => interrupted.abort(new InferdError('CANCELLED', 'interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return args.server === undefined ? await standalone(args, reporter, interrupted.signal) : await remote(args, args.server, reporter, interrupted.signal);
  } catch (err) {
    reporter.done();
    if (!(err instanceof InferdError) && !(err instanceof InferdClientError)) throw err;
    process.stderr.write(`inferd batch: ${err.message}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Absolute paths, so that a later run from another folder finds the same job to resume. */
function absolute(request: BatchRequest): BatchRequest {
  const sqlite = /^sqlite:([^#]+)#(.*)$/.exec(request.outputUri);
  const outputUri = sqlite === null ? path.resolve(request.outputUri) : `sqlite:${path.resolve(sqlite[1]!)}#${sqlite[2]}`;
  return { ...request, inputUri: path.resolve(request.inputUri), outputUri };
}

async function standalone(args: BatchArgs, reporter: ProgressReporter, interrupted: AbortSignal): Promise<number> {
  const log: Logger = pino({ level: 'error', base: { service: 'inferd-batch' } }, new LogDestination({ fd: 2, format: isatty(2) ? 'pretty' : 'json', colorize: isatty(2) }));
  const repository = await ModelRepository.create({
    root: args.models,
    defaults: { instances: 1, placement: 'auto', maxQueueSize: 4096, session: { intraOpThreads: args.intraOpThreads, interOpThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' } },
    control: 'explicit',
    pollMs: 0,
    log,
  }).catch((err: Error) => {
    throw new InferdError('INVALID_ARGUMENT', err.message);
  });
  const manager = await JobManager.create(
    {
      store: { kind: 'sqlite', file: path.join(args.dataDir, STORE_FILE) },
      leaseMs: 30_000,
      paths: { root: process.cwd(), confine: false },
      retentionMs: 7 * 24 * 3_600_000,
      maxBatchJobs: 1,
      maxPredictionJobs: 1,
      webhook: { allow: [], secret: '', retryMs: 1000, maxAttempts: 1, timeoutMs: 1000 },
      schedules: [],
      alone: true,
      clock: SYSTEM_WALL_CLOCK,
      log,
    },
    new Inference(repository),
  ).catch(async (err: unknown) => {
    await repository.close();
    throw err;
  });
  manager.start('inferd-batch');
  try {
    const job = await manager.runAlone(absolute(args.request));
    if (job.processed > 0) process.stderr.write(`inferd batch: resuming job ${job.id} after row ${job.processed} of ${job.total}\n`);
    const stop = new AbortController();
    let last: Job = job;
    const watching = manager.watch(job.id, (j) => {
      last = j;
      reporter.update(j);
    }, stop.signal);
    const onInterrupt = (): void => stop.abort();
    interrupted.addEventListener('abort', onInterrupt, { once: true });
    await watching;
    interrupted.removeEventListener('abort', onInterrupt);
    reporter.done();
    if (interrupted.aborted && !isFinished(last.state)) {
      await manager.stop();
      const now = await manager.get(job.id);
      process.stderr.write(`inferd batch: interrupted after ${now.processed} of ${now.total} rows; run the same command again to resume\n`);
      return 130;
    }
    return summary({ ...last, outputUri: args.request.outputUri, errorsUri: parseOutputUri(args.request.outputUri).errorsPath });
  } finally {
    await manager.close();
    await repository.close();
  }
}

async function remote(args: BatchArgs, server: string, reporter: ProgressReporter, interrupted: AbortSignal): Promise<number> {
  let client: InferdClient;
  try {
    client = new InferdClient(server, clientSecurityOptions(args.security));
  } catch (err) {
    throw new InferdError('INVALID_ARGUMENT', (err as Error).message, { cause: err });
  }
  try {
    const r = args.request;
    const job = await client.submitBatchJob(
      { model: r.modelName, version: r.modelVersion, input: r.inputUri, output: r.outputUri, batchSize: r.batchSize, inputColumns: r.inputColumns, outputNames: r.outputNames, maxBadRecords: r.maxBadRecords },
      { deadlineMs: SUBMIT_DEADLINE_MS },
    );
    process.stderr.write(`inferd batch: job ${job.id} submitted to ${server}\n`);
    let final: RemoteJob = job;
    try {
      for await (const j of client.watchJob(job.id, { signal: interrupted })) {
        final = j;
        reporter.update(j);
      }
    } catch (err) {
      reporter.done();
      if (!interrupted.aborted) throw err;
      process.stderr.write(`inferd batch: stopped following job ${job.id}; it goes on on the server\n`);
      return 130;
    }
    reporter.done();
    return summary(final);
  } finally {
    client.close();
  }
}

/** Prints how the job ended; the exit code. */
function summary(job: { readonly id: string; readonly state: string; readonly total: number; readonly processed: number; readonly failed: number; readonly outputUri: string; readonly errorsUri: string; readonly error: { readonly message: string } | undefined }): number {
  if (job.state === 'SUCCEEDED') {
    const failed = job.failed > 0 ? `; ${job.failed} failed, see ${job.errorsUri}` : '';
    process.stderr.write(`inferd batch: ${job.processed - job.failed} of ${job.total} rows written to ${job.outputUri}${failed}\n`);
    return 0;
  }
  process.stderr.write(`inferd batch: job ${job.id} ${job.state}: ${job.error?.message ?? 'no reason given'}\n`);
  return 1;
}
