import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { JobServiceClient, JobState as WireState, type Job as WireJob } from '../../generated/inferd/v1/job_service';
import { ERROR_CODES, InferdError, type ErrorCode } from '../inferd-error';
import type { JobState } from '../jobs/job';
import type { BatchRequest } from '../jobs/job-manager';
import { clientChannel, type ClientSecurity } from './client-channel';
import { STATUS_FOR } from '../transport/grpc/status-for';

/** What the command line follows of a job on a server. */
export interface RemoteJob {
  readonly id: string;
  readonly state: JobState;
  readonly total: number;
  readonly processed: number;
  readonly failed: number;
  readonly outputUri: string;
  readonly errorsUri: string;
  readonly error: { readonly code: ErrorCode; readonly message: string } | undefined;
}

const STATE_OF: Readonly<Partial<Record<WireState, JobState>>> = {
  [WireState.JOB_STATE_QUEUED]: 'QUEUED',
  [WireState.JOB_STATE_RUNNING]: 'RUNNING',
  [WireState.JOB_STATE_SUCCEEDED]: 'SUCCEEDED',
  [WireState.JOB_STATE_FAILED]: 'FAILED',
  [WireState.JOB_STATE_CANCELLED]: 'CANCELLED',
};

function codeOf(grpcStatus: number): ErrorCode {
  return ERROR_CODES.find((c) => STATUS_FOR[c] === grpcStatus) ?? 'INTERNAL';
}

function remoteJob(job: WireJob): RemoteJob {
  return {
    id: job.id,
    state: STATE_OF[job.state] ?? 'QUEUED',
    total: Number(job.total),
    processed: Number(job.processed),
    failed: Number(job.failed),
    outputUri: job.outputUri,
    errorsUri: job.errorsUri,
    error: job.error === undefined ? undefined : { code: codeOf(job.error.code), message: job.error.message },
  };
}

/** A call's failure as an InferdError with the status's code and details. */
function fromServiceError(err: ServiceError): InferdError {
  if (err.code === status.UNAVAILABLE && /connect|No connection/i.test(err.details)) return new InferdError('UNAVAILABLE', `cannot reach the server: ${err.details}`, { cause: err });
  return new InferdError(codeOf(err.code), err.details, { cause: err });
}

/** A JobService client for the command line, speaking domain types (so that the command line needs no gRPC). */
export class JobClient {
  private readonly client: JobServiceClient;

  /** `address`: host:port of a running server. Connects lazily. Throws when a file of `security` cannot be read. */
  constructor(address: string, security: ClientSecurity = { caFile: undefined, certFile: undefined, keyFile: undefined, token: undefined }) {
    const channel = clientChannel(security);
    this.client = new JobServiceClient(address, channel.credentials, channel.options);
  }

  /** SubmitBatchJob; rejects with an InferdError carrying the server's status and message. */
  submitBatch(request: BatchRequest, options: { deadlineMs: number }): Promise<RemoteJob> {
    return new Promise((resolve, reject) => {
      this.client.submitBatchJob(
        { ...request, inputColumns: [...request.inputColumns], outputNames: [...request.outputNames], callbackUrl: '' },
        new Metadata(),
        { deadline: Date.now() + options.deadlineMs },
        (err, job) => (err ? reject(fromServiceError(err)) : resolve(remoteJob(job))),
      );
    });
  }

  /** CancelJob. */
  cancel(id: string): Promise<RemoteJob> {
    return new Promise((resolve, reject) => {
      this.client.cancelJob({ id }, (err, job) => (err ? reject(fromServiceError(err)) : resolve(remoteJob(job))));
    });
  }

  /**
   * WatchJob: calls `onChange` for each message and settles with the job in its final state.
   * Rejects with an InferdError when the stream fails, or with `signal`'s reason when it fires.
   */
  watch(id: string, onChange: (job: RemoteJob) => void, signal: AbortSignal): Promise<RemoteJob> {
    return new Promise((resolve, reject) => {
      const call = this.client.watchJob({ id });
      let last: RemoteJob | undefined;
      const onAbort = (): void => call.cancel();
      signal.addEventListener('abort', onAbort, { once: true });
      call.on('data', (job: WireJob) => {
        last = remoteJob(job);
        onChange(last);
      });
      call.on('error', (err: ServiceError) => {
        signal.removeEventListener('abort', onAbort);
        reject(signal.aborted ? signal.reason : fromServiceError(err));
      });
      call.on('end', () => {
        signal.removeEventListener('abort', onAbort);
        if (last === undefined) reject(new InferdError('INTERNAL', `WatchJob of ${id} ended without a message`));
        else resolve(last);
      });
    });
  }

  close(): void {
    this.client.close();
  }
}
