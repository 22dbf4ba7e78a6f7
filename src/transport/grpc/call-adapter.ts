import {
  status,
  type handleBidiStreamingCall,
  type handleUnaryCall,
  type Metadata,
  type MethodDefinition,
  type Server,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { InferdError } from '../../inferd-error';
import type { RequestScope } from '../../telemetry/request-scope';
import type { Telemetry } from '../../telemetry/telemetry';
import type { Headers, Outcome } from '../../telemetry/tracing';
import { OpenStreams } from './bounded-stream';
import type { CancelSignal } from '../../scheduler/cancel-signal';
import { callCancellation, callSignal, type CallSignal, type CancellableCall } from './call-signal';
import { RefusedRequest } from './refused-request';
import { REQUEST_LAYOUTS } from './request-layouts';
import { scanRequest, type RequestLimits } from './scan-request';
import { statusFor, type CallStatus } from './status-for';

export interface CallAdapterOptions {
  /** Spans of every call (unless a handler opts out) and the request metrics of inference calls. */
  readonly telemetry: Telemetry;
  /** What one request that carries tensors may cost to decode; past it, RESOURCE_EXHAUSTED before decoding. */
  readonly requestLimits: RequestLimits;
  readonly log: Logger;
}

export interface UnaryOptions {
  /** False for calls that are neither traced nor counted (health checks, which probes make all the time). Default true. */
  readonly traced?: boolean;
}

/** A unary handler as services write it: the request in, the response out; what it throws becomes the call's status. */
export type UnaryAnswer<Req, Res> = (request: Req, signal: AbortSignal) => Res | Promise<Res>;

/**
 * An inference handler: one request in its request scope (see RequestScope), for a unary call or
 * one message of a stream. Its signal is for the core (Inference.infer): a unary call's is no
 * AbortSignal (see callCancellation).
 */
export type InferenceAnswer<Req, Res> = (request: Req, signal: CancelSignal, scope: RequestScope) => Promise<Res>;

export interface InferenceStreamOptions {
  /** Requests one stream may have in flight; at the bound the server stops reading it. */
  readonly maxInFlight: number;
}

const OK: Outcome = { code: 'OK', rpcStatus: status.OK };

/**
 * The one place a gRPC call is served, for every service. Services write handlers as plain
 * functions of the request (unary, inferenceUnary, inferenceStream); the adapter gives each
 * call its signal (client cancel and deadline, see callSignal), its telemetry (a span per call;
 * for inference, a request scope per request, counted in the request metrics), a request the
 * deserializer refused answered as the call's status (see register), and maps what a handler
 * throws to the call's status (statusFor). Authentication and authorisation come before, in
 * authInterceptor. `drain()` ends the open inference streams once they have answered what they
 * have in flight.
 */
export class CallAdapter {
  private readonly streams = new OpenStreams();

  constructor(private readonly options: CallAdapterOptions) {}

  /**
   * Adds a service whose request deserializers refuse instead of throwing (which grpc-js answers
   * with INTERNAL): a request of a method that carries tensors (REQUEST_LAYOUTS) longer than
   * the request limits is scanned first, and one over them becomes a RefusedRequest
   * (RESOURCE_EXHAUSTED) before anything of it is decoded (a shorter one cannot pass them); bytes that do not decode become a RefusedRequest
   * (INVALID_ARGUMENT, with the decoder's reason) for every method. Handlers made here answer a
   * RefusedRequest with its status; refusedRequestInterceptor answers it for the others.
   */
  register<S extends ServiceDefinition>(
    server: Server,
    definition: S,
    handlers: UntypedServiceImplementation | object,
  ): void {
    server.addService(guarded(definition, this.options.requestLimits), handlers as UntypedServiceImplementation);
  }

  /** A unary handler for a call that is not an inference request (model and job management, health). */
  unary<Req, Res>(answer: UnaryAnswer<Req, Res>, options: UnaryOptions = {}): handleUnaryCall<Req, Res> {
    const traced = options.traced ?? true;
    return (call, callback) => {
      const { telemetry, log } = this.options;
      const span = traced
        ? telemetry.startCall(...serviceAndMethod(call.getPath()), () => traceHeaders(call.metadata))
        : undefined;
      this.serveUnary(call, callSignal, answer, (outcome) => span?.end(outcome), span?.logger(log) ?? log).then(
        (response) => callback(null, response),
        (s: CallStatus) => callback(s),
      );
    };
  }

  /** A unary inference call (Predict, ModelInfer): the call's span is its request's. */
  inferenceUnary<Req, Res>(answer: InferenceAnswer<Req, Res>): handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const { telemetry, log } = this.options;
      const span = telemetry.startCall(...serviceAndMethod(call.getPath()), () => traceHeaders(call.metadata));
      const scope = span.request();
      const ended = (outcome: Outcome): void => {
        scope.finish(outcome, log);
        span.end(outcome);
      };
      this.serveUnary(
        call,
        callCancellation,
        (request, signal) => answer(request, signal, scope),
        ended,
        scope.logger(log),
      ).then(
        (response) => callback(null, response),
        (s: CallStatus) => callback(s),
      );
    };
  }

  /**
   * A bidirectional inference stream (PredictStream, ModelStreamInfer) over a BoundedStream:
   * each request in a request scope and span of its own, answered in completion order; a request
   * that fails is answered with `failed(its id, the status)` and the stream goes on.
   */
  inferenceStream<Req extends { readonly id: string }, Res>(
    answer: InferenceAnswer<Req, Res>,
    failed: (id: string, s: CallStatus) => Res,
    options: InferenceStreamOptions,
  ): handleBidiStreamingCall<Req, Res> {
    return (call) => {
      const { telemetry, log } = this.options;
      const span = telemetry.startCall(...serviceAndMethod(call.getPath()), () => traceHeaders(call.metadata));
      const stream = this.streams.start<Req, Res>(
        call,
        (request, signal) => {
          // then() rather than an async function: one promise a message fewer, on the path every stream message takes.
          const scope = span.message();
          let answered: Promise<Res>;
          try {
            answered = answer(RefusedRequest.check(request), signal, scope);
          } catch (err) {
            answered = Promise.reject(err);
          }
          return answered.then(
            (response) => {
              scope.finish(OK, log);
              return response;
            },
            (err: unknown) => {
              const s = statusFor(err, scope.logger(log));
              scope.finish(statusOutcome(s), log);
              return failed(request.id, s);
            },
          );
        },
        (request, err) => failed(request.id, statusFor(err, log)),
        { maxInFlight: options.maxInFlight },
      );
      void stream.done.then(() => span.end(statusOutcome({ code: stream.code ?? status.CANCELLED })));
    };
  }

  /** Stops reading every open inference stream; each ends (UNAVAILABLE) after answering what it has in flight. */
  drain(): Promise<void> {
    return this.streams.drainAll();
  }

  /**
   * Runs `answer` on the call's request with the call's signal (made by `watch`), tells `ended`
   * the outcome, and settles with the response, or rejects with the status to answer (logging an
   * unexpected error to `log`).
   */
  private async serveUnary<Req, Res, S>(
    call: CancellableCall & { readonly request: Req },
    watch: (call: CancellableCall) => CallSignal<S>,
    answer: (request: Req, signal: S) => Res | Promise<Res>,
    ended: (outcome: Outcome) => void,
    log: Logger,
  ): Promise<Res> {
    const cancel = watch(call);
    try {
      const response = await answer(RefusedRequest.check(call.request), cancel.signal);
      ended(OK);
      return response;
    } catch (err) {
      const s = statusFor(err, log);
      ended(statusOutcome(s));
      throw s;
    } finally {
      cancel.dispose();
    }
  }
}

/** The outcome of a call or request answered with status `s`. */
function statusOutcome(s: { readonly code: status; readonly details?: string | undefined }): Outcome {
  return { code: status[s.code], message: s.details, rpcStatus: s.code };
}

/** Service and method of a call, from its path: "/inferd.v1.PredictionService/Predict" → ["inferd.v1.PredictionService", "Predict"]. */
function serviceAndMethod(path: string): [string, string] {
  const slash = path.lastIndexOf('/');
  return [path.slice(1, slash), path.slice(slash + 1)];
}

/** The W3C trace context headers of a call's metadata (the first value of each). */
function traceHeaders(metadata: Metadata): Headers {
  const first = (key: string): string | undefined => {
    const v = metadata.get(key)[0];
    return v === undefined ? undefined : v.toString();
  };
  return { traceparent: first('traceparent'), tracestate: first('tracestate') };
}

/** `definition` with request deserializers that refuse instead of throwing (see CallAdapter.register). */
function guarded<S extends ServiceDefinition>(definition: S, limits: RequestLimits): S {
  const methods: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [key, method] of Object.entries(definition) as [string, MethodDefinition<unknown, unknown>][]) {
    const layout = REQUEST_LAYOUTS.get(method.path);
    const decode = method.requestDeserialize;
    const what = layout === undefined ? `request message of ${method.path}` : layout.name;
    methods[key] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        // Every element and string the scan counts takes a byte of the message at least: one no
        // longer than both limits cannot pass them, so it is scanned only when it does not decode
        // (for its id and the scan's reason), not on the way of every request.
        let scan =
          layout !== undefined && bytes.length > Math.min(limits.maxRequestElements, limits.maxRequestStrings)
            ? scanRequest(bytes, layout, limits)
            : undefined;
        if (scan?.refusal !== undefined) return new RefusedRequest(scan.refusal, scan.id);
        try {
          return decode(bytes);
        } catch (err) {
          if (layout !== undefined) scan ??= scanRequest(bytes, layout, limits);
          if (scan?.refusal !== undefined) return new RefusedRequest(scan.refusal, scan.id);
          return new RefusedRequest(
            new InferdError('INVALID_ARGUMENT', `the request is not a valid ${what}: ${(err as Error).message}`, {
              cause: err,
            }),
            scan?.id ?? '',
          );
        }
      },
    };
  }
  return methods as S;
}
