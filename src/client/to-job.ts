import { JobKind as WireKind, JobState as WireState, type Job as WireJob } from '../../generated/inferd/v1/job_service';
import { PredictResponse } from '../../generated/inferd/v1/prediction_service';
import type { Timestamp } from '../../generated/google/protobuf/timestamp';
import type { Job, JobState, PredictResult } from './client-types';
import { decodePredictResponse } from './decode-predict-response';
import { statusName } from './from-service-error';

const STATE: Readonly<Record<number, JobState>> = {
  [WireState.JOB_STATE_QUEUED]: 'QUEUED',
  [WireState.JOB_STATE_RUNNING]: 'RUNNING',
  [WireState.JOB_STATE_SUCCEEDED]: 'SUCCEEDED',
  [WireState.JOB_STATE_FAILED]: 'FAILED',
  [WireState.JOB_STATE_CANCELLED]: 'CANCELLED',
};

export const WIRE_STATE: Readonly<Record<JobState, WireState>> = {
  QUEUED: WireState.JOB_STATE_QUEUED,
  RUNNING: WireState.JOB_STATE_RUNNING,
  SUCCEEDED: WireState.JOB_STATE_SUCCEEDED,
  FAILED: WireState.JOB_STATE_FAILED,
  CANCELLED: WireState.JOB_STATE_CANCELLED,
};

/** Whether a job in `state` has ended (and will not change again). */
export function isJobFinished(state: JobState): boolean {
  return state === 'SUCCEEDED' || state === 'FAILED' || state === 'CANCELLED';
}

const date = (t: Timestamp | undefined): Date | undefined =>
  t === undefined ? undefined : new Date(Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6));

/** The client's view of a wire Job; a prediction's result is decoded like a Predict answer. */
export function toJob(job: WireJob): Job {
  let result: PredictResult | undefined;
  if (job.result !== undefined) {
    const bytes = PredictResponse.encode(job.result).finish();
    result = decodePredictResponse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }
  return {
    id: job.id,
    kind: job.kind === WireKind.JOB_KIND_PREDICTION ? 'PREDICTION' : 'BATCH',
    state: STATE[job.state] ?? 'QUEUED',
    total: Number(job.total),
    processed: Number(job.processed),
    failed: Number(job.failed),
    result,
    error: job.error === undefined ? undefined : { code: statusName(job.error.code), message: job.error.message },
    modelName: job.modelName,
    modelVersion: job.modelVersion,
    inputUri: job.inputUri,
    outputUri: job.outputUri,
    errorsUri: job.errorsUri,
    batchSize: job.batchSize,
    callbackUrl: job.callbackUrl,
    schedule: job.schedule,
    createTime: date(job.createTime),
    startTime: date(job.startTime),
    endTime: date(job.endTime),
  };
}
