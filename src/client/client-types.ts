import type { InferdClientError, StatusName } from './inferd-client-error';
import type { Datatype, Outputs } from './tensor-types';

/*
 * The shapes of what InferdClient takes and returns, apart from the code, so that the typings of
 * inferd/client import no grpc-js types.
 */

/** TLS for a client: PEM contents (not file names). */
export interface ClientTls {
  /** CA bundle to verify the server with; the system's roots when left out. */
  readonly ca?: Uint8Array | string;
  /** Client certificate and its key, for mutual TLS: both or neither. */
  readonly cert?: Uint8Array | string;
  readonly key?: Uint8Array | string;
  /** The name the server's certificate must carry, when it is not the host of the address (e.g. an IP address). */
  readonly serverName?: string;
}

/** An inferd.v1.PredictResponse, its tensors decoded. */
export interface PredictResult {
  readonly modelName: string;
  /** The version that answered (the newest ready one when none was asked for). */
  readonly modelVersion: string;
  readonly outputs: Outputs;
  /** The request's id, echoed. */
  readonly id: string;
}

/**
 * The answer to one input of a stream: its outputs, or the error that input met (which does not
 * end the stream). `index` is the input's position, 0 for the first.
 */
export type StreamResult =
  | { readonly index: number; readonly outputs: Outputs; readonly modelVersion: string; readonly error: undefined }
  | {
      readonly index: number;
      readonly outputs: undefined;
      readonly modelVersion: undefined;
      readonly error: InferdClientError;
    };

export type JobState = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';

/** An asynchronous prediction or a batch job, as the server last told it. */
export interface Job {
  readonly id: string;
  readonly kind: 'PREDICTION' | 'BATCH';
  readonly state: JobState;
  /** Rows to handle: 1 for a prediction; for a batch, 0 until its input has been read through. */
  readonly total: number;
  /** Rows handled so far, failed ones included. */
  readonly processed: number;
  /** Rows that failed (a batch writes them, with their reasons, to `errorsUri`). */
  readonly failed: number;
  /** A prediction's answer, once SUCCEEDED. */
  readonly result: PredictResult | undefined;
  /** Why the job FAILED or was CANCELLED. */
  readonly error: { readonly code: StatusName; readonly message: string } | undefined;
  readonly modelName: string;
  readonly modelVersion: string;
  readonly inputUri: string;
  readonly outputUri: string;
  readonly errorsUri: string;
  readonly batchSize: number;
  readonly callbackUrl: string;
  /** The schedule that made the job; "" for a submitted one. */
  readonly schedule: string;
  readonly createTime: Date | undefined;
  readonly startTime: Date | undefined;
  readonly endTime: Date | undefined;
}

export interface InferdClientOptions {
  /** Sent as "authorization: Bearer <token>" on every call; none when undefined or "". */
  readonly token?: string | undefined;
  /** TLS (mutual with cert and key); plaintext when left out. */
  readonly tls?: ClientTls | undefined;
  /** Default time a call may take, every retry included (default 30,000; Infinity: none). Streams have none unless given one. */
  readonly deadlineMs?: number | undefined;
  /** Retries of a call that failed UNAVAILABLE or could not reach a server (default 3; 0: none). */
  readonly retries?: number | undefined;
  /** Backoff before the first retry, doubling for each next one, with jitter (default 50). */
  readonly retryDelayMs?: number | undefined;
  /** Longest backoff (default 2,000). */
  readonly maxRetryDelayMs?: number | undefined;
  /** Largest message sent or received (default 64 MiB, the server's default). */
  readonly maxMessageBytes?: number | undefined;
}

/** Per-call options. */
export interface CallOptions {
  /** This call's deadline, every retry included (default: the client's `deadlineMs`). */
  readonly deadlineMs?: number | undefined;
  /** Cancels the call: it rejects with CANCELLED. */
  readonly signal?: AbortSignal | undefined;
}

export interface PredictOptions extends CallOptions {
  /** A version of the model; "" or left out: the newest ready one. */
  readonly version?: string | undefined;
  /** The outputs to compute and return; all when left out. */
  readonly outputs?: readonly string[] | undefined;
  /** Echoed in the result (and in the server's logs and traces). */
  readonly id?: string | undefined;
}

export interface PredictStreamOptions {
  readonly version?: string | undefined;
  readonly outputs?: readonly string[] | undefined;
  /** Inputs sent and not yet answered, or answered and not yet taken, at most (default 256, the server's default bound). */
  readonly maxInFlight?: number | undefined;
  /** Results in input order (default true); otherwise as they come, each with its input's `index`. */
  readonly ordered?: boolean | undefined;
  /** A deadline for the whole stream; none by default. */
  readonly deadlineMs?: number | undefined;
  readonly signal?: AbortSignal | undefined;
}

export type ModelVersionStateName = 'LOADING' | 'READY' | 'UNLOADING' | 'UNAVAILABLE' | 'FAILED';

/** A model and the state of each of its versions. */
export interface ModelStatus {
  readonly name: string;
  readonly versions: readonly {
    readonly version: string;
    readonly state: ModelVersionStateName;
    readonly reason: string;
  }[];
}

/** An input or output a model declares. A dimension of -1 takes any size. */
export interface TensorInfo {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: readonly number[];
}

export interface ModelMetadata {
  readonly name: string;
  /** The version described. */
  readonly version: string;
  /** Every version ready to serve. */
  readonly versions: readonly string[];
  readonly platform: string;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
}

export interface BatchJobRequest {
  readonly model: string;
  readonly version?: string | undefined;
  /** Input file or folder, under the server's data directory. */
  readonly input: string;
  /** Output file or sqlite:PATH#TABLE, under the server's data directory. */
  readonly output: string;
  /** Records per model run (default: the server's). */
  readonly batchSize?: number | undefined;
  /** CSV input: the columns that form the input (default: all but "key"). */
  readonly inputColumns?: readonly string[] | undefined;
  /** The outputs to write (default: all). */
  readonly outputNames?: readonly string[] | undefined;
  /** Called when the job ends. */
  readonly callbackUrl?: string | undefined;
  /** Records that may fail (malformed, not fitting the model, failed by the runtime) before the job FAILS (default: no limit). */
  readonly maxBadRecords?: number | undefined;
}

export interface SubmitPredictionOptions extends CallOptions {
  readonly version?: string | undefined;
  readonly outputs?: readonly string[] | undefined;
  /** Called when the job ends. */
  readonly callbackUrl?: string | undefined;
}
