import { status, type ServerWritableStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Timestamp } from '../../../generated/google/protobuf/timestamp';
import {
  JobKind,
  JobState as WireState,
  type Job as WireJob,
  type JobServiceServer,
  type WatchJobRequest,
} from '../../../generated/inferd/v1/job_service';
import { InferdError } from '../../inferd-error';
import type { Job, JobState } from '../../jobs/job';
import type { JobManager } from '../../jobs/job-manager';
import { parseOutputUri } from '../../jobs/batch/parse-output-uri';
import type { CallAdapter } from './call-adapter';
import { callSignal } from './call-signal';
import { STATUS_FOR, statusFor } from './status-for';

/** Job states on the wire, both ways. */
export const WIRE_STATE: Readonly<Record<JobState, WireState>> = {
  QUEUED: WireState.JOB_STATE_QUEUED,
  RUNNING: WireState.JOB_STATE_RUNNING,
  SUCCEEDED: WireState.JOB_STATE_SUCCEEDED,
  FAILED: WireState.JOB_STATE_FAILED,
  CANCELLED: WireState.JOB_STATE_CANCELLED,
};

function timestamp(ms: number | undefined): Timestamp | undefined {
  if (ms === undefined) return undefined;
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

/** A job as inferd.v1.Job. */
export function wireJob(job: Job): WireJob {
  const spec = job.spec;
  const batch = spec.kind === 'batch' ? spec : undefined;
  return {
    id: job.id,
    kind: spec.kind === 'batch' ? JobKind.JOB_KIND_BATCH : JobKind.JOB_KIND_PREDICTION,
    state: WIRE_STATE[job.state],
    total: BigInt(job.total),
    processed: BigInt(job.processed),
    failed: BigInt(job.failed),
    result: job.result,
    error: job.error === undefined ? undefined : { code: STATUS_FOR[job.error.code], message: job.error.message },
    modelName: spec.kind === 'batch' ? spec.modelName : spec.request.modelName,
    modelVersion: spec.kind === 'batch' ? spec.modelVersion : spec.request.modelVersion,
    inputUri: batch?.inputUri ?? '',
    outputUri: batch?.outputUri ?? '',
    errorsUri: batch === undefined ? '' : parseOutputUri(batch.outputUri).errorsPath,
    batchSize: batch?.batchSize ?? 0,
    callbackUrl: job.callbackUrl,
    schedule: job.schedule,
    owner: job.owner,
    createTime: timestamp(job.createdMs),
    startTime: timestamp(job.startedMs),
    endTime: timestamp(job.finishedMs),
    maxBadRecords: batch?.maxBadRecords,
  };
}

function domainState(state: WireState): JobState {
  const found = (Object.keys(WIRE_STATE) as JobState[]).find((s) => WIRE_STATE[s] === state);
  if (found === undefined) throw new InferdError('INVALID_ARGUMENT', `states: ${WireState[state] ?? state} is not a state to list by`);
  return found;
}

export interface JobServiceOptions {
  readonly log: Logger;
}

/**
 * inferd.v1.JobService over the jobs core. `close()` ends every open WatchJob with UNAVAILABLE
 * (the job goes on; the client may watch again after the restart), so a graceful stop does not
 * wait on them.
 */
export class JobService {
  private readonly watches = new Map<ServerWritableStream<WatchJobRequest, WireJob>, AbortController>();

  constructor(
    private readonly jobs: JobManager,
    private readonly calls: CallAdapter,
    private readonly options: JobServiceOptions,
  ) {}

  handlers(): JobServiceServer {
    const { calls } = this;
    return {
      submitPrediction: calls.unary(async ({ request, callbackUrl }) => {
        if (request === undefined) throw new InferdError('INVALID_ARGUMENT', 'request: a PredictRequest is required');
        return wireJob(await this.jobs.submitPrediction(request, callbackUrl));
      }),
      submitBatchJob: calls.unary(async (r) => {
        const spec = {
          modelName: r.modelName,
          modelVersion: r.modelVersion,
          inputUri: r.inputUri,
          outputUri: r.outputUri,
          batchSize: r.batchSize,
          inputColumns: r.inputColumns,
          outputNames: r.outputNames,
          maxBadRecords: r.maxBadRecords,
        };
        return wireJob(await this.jobs.submitBatch(spec, r.callbackUrl));
      }),
      getJob: calls.unary(async (request) => wireJob(await this.jobs.get(request.id))),
      cancelJob: calls.unary(async (request) => wireJob(await this.jobs.cancel(request.id))),
      listJobs: calls.unary(async ({ states, pageSize, pageToken }) => {
        const page = await this.jobs.list({ states: states.map(domainState), pageSize, pageToken });
        return { jobs: page.jobs.map(wireJob), nextPageToken: page.nextPageToken };
      }),
      watchJob: (call) => this.watch(call),
    };
  }

  /** Ends every open WatchJob with UNAVAILABLE. */
  close(): void {
    for (const [call, controller] of this.watches) {
      controller.abort();
      call.emit('error', { code: status.UNAVAILABLE, details: 'server is shutting down: watch the job again once it is back' });
    }
    this.watches.clear();
  }

  /**
   * Streams the job and each change to it. While the client is slow to read, changes coalesce:
   * only the newest waiting one is sent (the final state always is).
   */
  private watch(call: ServerWritableStream<WatchJobRequest, WireJob>): void {
    const { signal: callCancelled, dispose } = callSignal(call);
    const controller = new AbortController();
    const stop = (): void => controller.abort();
    callCancelled.addEventListener('abort', stop, { once: true });
    let pending: WireJob | undefined;
    const flush = (): void => {
      if (pending !== undefined && !call.writableNeedDrain) {
        call.write(pending);
        pending = undefined;
      }
    };
    call.on('drain', flush);
    const cleanup = (): void => {
      callCancelled.removeEventListener('abort', stop);
      call.off('drain', flush);
      dispose();
      this.watches.delete(call);
    };
    try {
      this.watches.set(call, controller);
      this.jobs
        .watch(
          call.request.id,
          (job) => {
            pending = wireJob(job);
            flush();
          },
          controller.signal,
        )
        .then(
          () => {
            if (controller.signal.aborted) return cleanup();
            if (pending !== undefined) call.write(pending);
            cleanup();
            call.end();
          },
          (err: unknown) => {
            cleanup();
            call.emit('error', statusFor(err, this.options.log));
          },
        );
    } catch (err) {
      cleanup();
      call.emit('error', statusFor(err, this.options.log));
    }
  }
}
