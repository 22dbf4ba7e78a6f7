import { Client, type ClientDuplexStream, type Metadata, type ServiceError } from '@grpc/grpc-js';
import {
  HealthCheckRequest,
  HealthCheckResponse,
  HealthCheckResponse_ServingStatus as Serving,
} from '../../generated/grpc/health/v1/health';
import {
  CancelJobRequest,
  GetJobRequest,
  Job as WireJob,
  ListJobsRequest,
  ListJobsResponse,
  SubmitBatchJobRequest,
  SubmitPredictionRequest,
  WatchJobRequest,
} from '../../generated/inferd/v1/job_service';
import {
  GetModelMetadataRequest,
  GetModelMetadataResponse,
  ListModelsRequest,
  ListModelsResponse,
  ModelVersionState,
  type TensorMetadata,
} from '../../generated/inferd/v1/model_service';
import { PredictRequest } from '../../generated/inferd/v1/prediction_service';
import { elementTypeOfWire } from '../tensor/element-types';
import { callMetadata, channelSettings } from './client-channel';
import type {
  BatchJobRequest,
  CallOptions,
  InferdClientOptions,
  Job,
  JobState,
  ModelMetadata,
  ModelStatus,
  ModelVersionStateName,
  PredictOptions,
  PredictResult,
  PredictStreamOptions,
  StreamResult,
  SubmitPredictionOptions,
  TensorInfo,
} from './client-types';
import { decodePredictResponse } from './decode-predict-response';
import { decodePredictStreamResponse, type StreamAnswer } from './decode-predict-stream-response';
import { encodePredictRequest } from './encode-predict-request';
import { fromServiceError } from './from-service-error';
import { InferdClientError } from './inferd-client-error';
import { PredictStream } from './predict-stream';
import { serverStreamMessages } from './server-stream-messages';
import type { Datatype, Inputs } from './tensor-types';
import { isJobFinished, toJob, WIRE_STATE } from './to-job';
import { toWireInput, type WireInput } from './to-wire-input';
import { backoffMs, cancelled, retryWaitMs, sleep, type RetryPolicy } from './retry-wait-ms';

const identity = (b: Buffer): Buffer => b;
const view = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const VERSION_STATE: Readonly<Record<number, ModelVersionStateName>> = {
  [ModelVersionState.MODEL_VERSION_STATE_LOADING]: 'LOADING',
  [ModelVersionState.MODEL_VERSION_STATE_READY]: 'READY',
  [ModelVersionState.MODEL_VERSION_STATE_UNLOADING]: 'UNLOADING',
  [ModelVersionState.MODEL_VERSION_STATE_UNAVAILABLE]: 'UNAVAILABLE',
  [ModelVersionState.MODEL_VERSION_STATE_FAILED]: 'FAILED',
};
const SERVING_NAME: Readonly<Record<number, string>> = {
  [Serving.UNKNOWN]: 'UNKNOWN',
  [Serving.SERVING]: 'SERVING',
  [Serving.NOT_SERVING]: 'NOT_SERVING',
  [Serving.SERVICE_UNKNOWN]: 'SERVICE_UNKNOWN',
};

const PREDICT = '/inferd.v1.PredictionService/Predict';
const PREDICT_STREAM = '/inferd.v1.PredictionService/PredictStream';

function tensorInfo(t: TensorMetadata): TensorInfo {
  return {
    name: t.name,
    datatype: (elementTypeOfWire(t.datatype)?.label ?? 'FLOAT32') as Datatype,
    shape: t.shape.map(Number),
  };
}

function positive(name: string, value: number | undefined, fallback: number, min: number, infinite = false): number {
  if (value === undefined) return fallback;
  if (!(Number.isFinite(value) || (infinite && value === Infinity)) || value < min)
    throw new InferdClientError('INVALID_ARGUMENT', `${name}: expected a number ≥ ${min}, got ${value}`);
  return value;
}

/** Checks every input; the first problem is thrown as an InferdClientError INVALID_ARGUMENT. */
function wireInputs(inputs: Inputs): WireInput[] {
  if (inputs === null || typeof inputs !== 'object')
    throw new InferdClientError(
      'INVALID_ARGUMENT',
      `inputs: expected an object of named tensors, got ${inputs === null ? 'null' : typeof inputs}`,
    );
  return Object.keys(inputs).map((name) => toWireInput(name, inputs[name]!));
}

/**
 * A client of one inferd service (or of several replicas of it), speaking plain TypeScript types:
 * typed arrays in and out, errors as InferdClientError with the gRPC status name. One channel
 * carries every call; with several addresses (or a DNS name with several addresses) calls go
 * round-robin over the replicas whose connection is up. Retries UNAVAILABLE and calls that could
 * not reach a server, with backoff and jitter, within the call's deadline.
 *
 * The constructor does no I/O: connections open on the first call. `close()` closes the channel
 * (calls still in flight fail CANCELLED or UNAVAILABLE); it may be called twice.
 */
export class InferdClient {
  private readonly grpc: Client;
  private readonly token: string | undefined;
  private readonly deadlineMs: number;
  private readonly retry: RetryPolicy;
  private closed = false;

  /**
   * `address`: host:port, a grpc-js target such as dns:///inferd-headless:8001, or a list of
   * IP:port addresses. Throws an InferdClientError INVALID_ARGUMENT for a bad option.
   */
  constructor(address: string | readonly string[], options: InferdClientOptions = {}) {
    if (options.token !== undefined && options.token !== '' && !/^[!-~]+$/.test(options.token))
      throw new InferdClientError(
        'INVALID_ARGUMENT',
        'token: holds a character no token can have (a space or a line break?)',
      );
    this.token = options.token === '' ? undefined : options.token;
    this.deadlineMs = positive('deadlineMs', options.deadlineMs, 30_000, 1, true);
    const retries = positive('retries', options.retries, 3, 0);
    if (!Number.isInteger(retries))
      throw new InferdClientError('INVALID_ARGUMENT', `retries: expected a whole number, got ${retries}`);
    const retryDelayMs = positive('retryDelayMs', options.retryDelayMs, 50, 0);
    this.retry = {
      retries,
      retryDelayMs,
      maxRetryDelayMs: positive('maxRetryDelayMs', options.maxRetryDelayMs, 2_000, retryDelayMs),
    };
    const maxMessageBytes =
      options.maxMessageBytes === undefined ? undefined : positive('maxMessageBytes', options.maxMessageBytes, 0, 1);
    const channel = channelSettings(address, { tls: options.tls, maxMessageBytes });
    this.grpc = new Client(channel.target, channel.credentials, channel.options);
  }

  /**
   * One prediction. Resolves with the model's outputs (typed arrays, as views into the answer
   * where alignment allows), rejects with an InferdClientError: INVALID_ARGUMENT before anything
   * is sent for an input whose shape and data disagree; otherwise the server's status and details.
   */
  predict(model: string, inputs: Inputs, options: PredictOptions = {}): Promise<PredictResult> {
    let request: Buffer;
    try {
      request = encodePredictRequest({
        modelName: model,
        modelVersion: options.version ?? '',
        inputs: wireInputs(inputs),
        outputNames: options.outputs ?? [],
        id: options.id ?? '',
      });
    } catch (err) {
      return Promise.reject(err);
    }
    return this.unary(PREDICT, request, decodePredictResponse, options, true);
  }

  /**
   * Many predictions on one PredictStream: one result per input, in input order when `ordered`
   * (the default). An input the client or the server refuses gets a result with `error` and the
   * stream goes on; a failure of the stream itself (after its retries) is thrown by the iterator.
   * At most `maxInFlight` inputs are unanswered or untaken at a time: a slow consumer slows the
   * reading of `inputs`. Breaking out of the loop cancels the stream.
   */
  predictStream(
    model: string,
    inputs: AsyncIterable<Inputs> | Iterable<Inputs>,
    options: PredictStreamOptions = {},
  ): AsyncIterableIterator<StreamResult> {
    const maxInFlight = positive('maxInFlight', options.maxInFlight, 256, 1);
    const deadline = options.deadlineMs === undefined ? undefined : Date.now() + options.deadlineMs;
    const modelVersion = options.version ?? '';
    const outputNames = options.outputs ?? [];
    return new PredictStream(inputs, {
      open: (): ClientDuplexStream<Buffer, StreamAnswer> =>
        this.grpc.makeBidiStreamRequest(
          PREDICT_STREAM,
          identity,
          decodePredictStreamResponse,
          this.metadata(),
          deadline === undefined ? {} : { deadline },
        ),
      encode: (index, message) =>
        encodePredictRequest({
          modelName: model,
          modelVersion,
          inputs: wireInputs(message),
          outputNames,
          id: String(index),
        }),
      maxInFlight,
      ordered: options.ordered ?? true,
      retry: this.retry,
      signal: options.signal,
    });
  }

  /** Every model the server knows, with the state of each version. */
  async listModels(options: CallOptions = {}): Promise<ModelStatus[]> {
    const r = await this.unary(
      '/inferd.v1.ModelService/ListModels',
      view(ListModelsRequest.encode({}).finish()),
      (b) => ListModelsResponse.decode(b),
      options,
      true,
    );
    return r.models.map((m) => ({
      name: m.name,
      versions: m.versions.map((v) => ({
        version: v.version,
        state: VERSION_STATE[v.state] ?? 'UNAVAILABLE',
        reason: v.reason,
      })),
    }));
  }

  /** What a model (its newest ready version, or `version`) takes and returns. */
  async modelMetadata(
    model: string,
    options: CallOptions & { readonly version?: string | undefined } = {},
  ): Promise<ModelMetadata> {
    const request = view(
      GetModelMetadataRequest.encode({ modelName: model, modelVersion: options.version ?? '' }).finish(),
    );
    const r = await this.unary(
      '/inferd.v1.ModelService/GetModelMetadata',
      request,
      (b) => GetModelMetadataResponse.decode(b),
      options,
      true,
    );
    return {
      name: r.name,
      version: r.version,
      versions: r.versions,
      platform: r.platform,
      inputs: r.inputs.map(tensorInfo),
      outputs: r.outputs.map(tensorInfo),
    };
  }

  /**
   * Settles once the server reports `model` SERVING (with no model: the server as a whole),
   * following grpc.health.v1.Health/Watch; a server not up yet, or a watch that breaks, is tried
   * again with backoff. Rejects DEADLINE_EXCEEDED after `timeoutMs` (default 30,000) naming the
   * last status seen, CANCELLED when `signal` fires, or with a failure that waiting cannot mend
   * (UNAUTHENTICATED, PERMISSION_DENIED...).
   */
  async waitForReady(
    model = '',
    options: { readonly timeoutMs?: number | undefined; readonly signal?: AbortSignal | undefined } = {},
  ): Promise<void> {
    const timeoutMs = positive('timeoutMs', options.timeoutMs, 30_000, 0);
    const deadline = Date.now() + timeoutMs;
    const signal = options.signal;
    const what = model === '' ? 'the server' : `model "${model}"`;
    let last = 'no answer';
    for (let n = 0; ; n++) {
      if (signal?.aborted) throw cancelled(signal);
      const request = view(HealthCheckRequest.encode({ service: model }).finish());
      const call = this.grpc.makeServerStreamRequest(
        '/grpc.health.v1.Health/Watch',
        identity,
        (b: Buffer) => HealthCheckResponse.decode(b),
        request,
        this.metadata(),
        { deadline },
      );
      const onAbort = (): void => call.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
      let failure: InferdClientError | undefined;
      try {
        for await (const answer of serverStreamMessages(call)) {
          last = SERVING_NAME[answer.status] ?? String(answer.status);
          if (answer.status === Serving.SERVING) return;
        }
        failure = new InferdClientError('UNAVAILABLE', 'the health watch ended', true);
      } catch (err) {
        failure = fromServiceError(err as ServiceError, true);
        if (failure.code !== 'UNAVAILABLE' && failure.code !== 'DEADLINE_EXCEEDED' && failure.code !== 'CANCELLED')
          throw failure;
        last = failure.code === 'UNAVAILABLE' ? `UNAVAILABLE: ${failure.message}` : last;
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
      if (signal?.aborted) throw cancelled(signal);
      const wait = Math.min(backoffMs(this.retry, Math.min(n, 10)), deadline - Date.now());
      if (wait <= 0)
        throw new InferdClientError(
          'DEADLINE_EXCEEDED',
          `${what} was not SERVING within ${timeoutMs} ms (last: ${last})`,
          false,
          { cause: failure },
        );
      await sleep(wait, signal);
    }
  }

  /** Submits a batch job (paths under the server's data directory); resolves with it QUEUED. */
  async submitBatchJob(request: BatchJobRequest, options: CallOptions = {}): Promise<Job> {
    const bytes = SubmitBatchJobRequest.encode({
      modelName: request.model,
      modelVersion: request.version ?? '',
      inputUri: request.input,
      outputUri: request.output,
      batchSize: request.batchSize ?? 0,
      callbackUrl: request.callbackUrl ?? '',
      inputColumns: [...(request.inputColumns ?? [])],
      outputNames: [...(request.outputNames ?? [])],
      maxBadRecords: request.maxBadRecords,
    }).finish();
    return toJob(
      await this.unary('/inferd.v1.JobService/SubmitBatchJob', view(bytes), (b) => WireJob.decode(b), options, false),
    );
  }

  /** Submits one prediction to run in the background; its result comes in the job (`getJob`, `watchJob`). */
  async submitPrediction(model: string, inputs: Inputs, options: SubmitPredictionOptions = {}): Promise<Job> {
    const predict = encodePredictRequest({
      modelName: model,
      modelVersion: options.version ?? '',
      inputs: wireInputs(inputs),
      outputNames: options.outputs ?? [],
      id: '',
    });
    const bytes = SubmitPredictionRequest.encode({
      request: PredictRequest.decode(predict),
      callbackUrl: options.callbackUrl ?? '',
    }).finish();
    return toJob(
      await this.unary('/inferd.v1.JobService/SubmitPrediction', view(bytes), (b) => WireJob.decode(b), options, false),
    );
  }

  async getJob(id: string, options: CallOptions = {}): Promise<Job> {
    return toJob(
      await this.unary(
        '/inferd.v1.JobService/GetJob',
        view(GetJobRequest.encode({ id }).finish()),
        (b) => WireJob.decode(b),
        options,
        true,
      ),
    );
  }

  /** Cancels a job (a finished one is left as it is); resolves with its state after. */
  async cancelJob(id: string, options: CallOptions = {}): Promise<Job> {
    return toJob(
      await this.unary(
        '/inferd.v1.JobService/CancelJob',
        view(CancelJobRequest.encode({ id }).finish()),
        (b) => WireJob.decode(b),
        options,
        true,
      ),
    );
  }

  /** Jobs, newest first, optionally only those in `states`; `nextPageToken` is "" on the last page. */
  async listJobs(
    request: { readonly states?: readonly JobState[]; readonly pageSize?: number; readonly pageToken?: string } = {},
    options: CallOptions = {},
  ): Promise<{ jobs: Job[]; nextPageToken: string }> {
    const bytes = ListJobsRequest.encode({
      states: (request.states ?? []).map((s) => WIRE_STATE[s]),
      pageSize: request.pageSize ?? 0,
      pageToken: request.pageToken ?? '',
    }).finish();
    const r = await this.unary(
      '/inferd.v1.JobService/ListJobs',
      view(bytes),
      (b) => ListJobsResponse.decode(b),
      options,
      true,
    );
    return { jobs: r.jobs.map(toJob), nextPageToken: r.nextPageToken };
  }

  /**
   * The job now and at every change, until it ends (the last value has its final state). A watch
   * that breaks UNAVAILABLE is opened again (up to `retries` times in a row). Throws an
   * InferdClientError (NOT_FOUND for an unknown id; CANCELLED when `signal` fires).
   */
  async *watchJob(
    id: string,
    options: { readonly signal?: AbortSignal | undefined } = {},
  ): AsyncGenerator<Job, void, undefined> {
    const signal = options.signal;
    for (let failures = 0; ;) {
      if (signal?.aborted) throw cancelled(signal);
      const call = this.grpc.makeServerStreamRequest(
        '/inferd.v1.JobService/WatchJob',
        identity,
        (b: Buffer) => WireJob.decode(b),
        view(WatchJobRequest.encode({ id }).finish()),
        this.metadata(),
        {},
      );
      const onAbort = (): void => call.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
      let error: InferdClientError;
      try {
        let finished = false;
        for await (const wire of serverStreamMessages(call)) {
          failures = 0;
          const job = toJob(wire);
          finished = isJobFinished(job.state);
          yield job;
        }
        if (finished) return;
        error = new InferdClientError('UNAVAILABLE', `the watch of job ${id} ended before the job did`, true);
      } catch (err) {
        if (signal?.aborted) throw cancelled(signal);
        error = err instanceof InferdClientError ? err : fromServiceError(err as ServiceError, true);
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
      if (!error.retryable || failures >= this.retry.retries) throw error;
      await sleep(backoffMs(this.retry, failures++), signal);
    }
  }

  /** Closes the channel; safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.grpc.close();
  }

  private metadata(): Metadata {
    return callMetadata(this.token);
  }

  /**
   * One unary call of `path` with `request` bytes, retried as the policy allows within the
   * deadline. Written with callbacks, not async functions: a call that needs no retry costs one
   * promise.
   */
  private unary<T>(
    path: string,
    request: Buffer,
    decode: (b: Buffer) => T,
    options: CallOptions,
    idempotent: boolean,
  ): Promise<T> {
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(cancelled(signal));
    const deadline = Date.now() + (options.deadlineMs ?? this.deadlineMs);
    const callOptions = deadline === Infinity ? {} : { deadline };
    return new Promise<T>((resolve, reject) => {
      let retries = 0;
      const attempt = (): void => {
        if (this.closed) {
          reject(new InferdClientError('CANCELLED', 'the client is closed'));
          return;
        }
        let onAbort: (() => void) | undefined;
        const call = this.grpc.makeUnaryRequest(
          path,
          identity,
          decode,
          request,
          this.metadata(),
          callOptions,
          (err: ServiceError | null, value?: T) => {
            if (onAbort !== undefined) signal!.removeEventListener('abort', onAbort);
            if (err === null) {
              resolve(value!);
              return;
            }
            const error = signal?.aborted ? cancelled(signal) : fromServiceError(err, idempotent);
            const wait = retryWaitMs(this.retry, retries, deadline, error);
            if (wait === undefined) {
              reject(error);
              return;
            }
            retries++;
            sleep(wait, signal).then(attempt, reject);
          },
        );
        if (signal !== undefined) {
          onAbort = (): void => call.cancel();
          signal.addEventListener('abort', onAbort, { once: true });
        }
      };
      attempt();
    });
  }
}
