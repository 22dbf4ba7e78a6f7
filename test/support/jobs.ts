import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import {
  JobServiceClient,
  JobState,
  type Job,
  type ListJobsRequest,
  type ListJobsResponse,
  type SubmitBatchJobRequest,
  type SubmitPredictionRequest,
} from '../../generated/inferd/v1/job_service';
import type { PredictRequest } from '../../generated/inferd/v1/prediction_service';
import { until } from './until';

/** Promise-returning calls of inferd.v1.JobService. */
export interface Jobs {
  readonly client: JobServiceClient;
  submitPrediction(request: Partial<PredictRequest>, callbackUrl?: string): Promise<Job>;
  submitBatch(request: Partial<SubmitBatchJobRequest>): Promise<Job>;
  get(id: string): Promise<Job>;
  cancel(id: string): Promise<Job>;
  list(request: Partial<ListJobsRequest>): Promise<ListJobsResponse>;
  /** Every message of a WatchJob until the stream ends (rejects with the ServiceError when it fails); `onJob` sees each as it comes. */
  watch(id: string, onJob?: (job: Job) => void): Promise<Job[]>;
  /** Polls GetJob until the job is in a state it ends in, and returns it. */
  finished(id: string, withinMs?: number): Promise<Job>;
  close(): void;
}

const ENDED = [JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED];

export function jobsClient(address: string): Jobs {
  const client = new JobServiceClient(address, credentials.createInsecure());
  const unary = <Req, Res>(
    method: (r: Req, m: Metadata, cb: (e: ServiceError | null, v: Res) => void) => unknown,
    request: Req,
  ): Promise<Res> =>
    new Promise((resolve, reject) =>
      method.call(client, request, new Metadata(), (err, value) => (err ? reject(err) : resolve(value))),
    );
  const jobs: Jobs = {
    client,
    submitPrediction: (request, callbackUrl = '') => {
      const full: PredictRequest = { modelName: '', modelVersion: '', inputs: {}, outputNames: [], id: '', ...request };
      return unary<SubmitPredictionRequest, Job>(client.submitPrediction, { request: full, callbackUrl });
    },
    submitBatch: (request) =>
      unary<SubmitBatchJobRequest, Job>(client.submitBatchJob, {
        modelName: '',
        modelVersion: '',
        inputUri: '',
        outputUri: '',
        batchSize: 0,
        callbackUrl: '',
        inputColumns: [],
        outputNames: [],
        ...request,
      }),
    get: (id) => unary(client.getJob, { id }),
    cancel: (id) => unary(client.cancelJob, { id }),
    list: (request) => unary(client.listJobs, { states: [], pageSize: 0, pageToken: '', ...request }),
    watch: (id, onJob) =>
      new Promise((resolve, reject) => {
        const seen: Job[] = [];
        const call = client.watchJob({ id });
        call.on('data', (job: Job) => {
          seen.push(job);
          onJob?.(job);
        });
        call.on('error', reject);
        call.on('end', () => resolve(seen));
      }),
    finished: async (id, withinMs = 30_000) => {
      let job: Job | undefined;
      await until(async () => ENDED.includes((job = await jobs.get(id)).state), `job ${id} to end`, withinMs);
      return job!;
    },
    close: () => client.close(),
  };
  return jobs;
}
