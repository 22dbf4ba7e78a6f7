import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Link, type Span, type TextMapGetter, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

/** Request headers as the caller sent them (lower-case names; the first value of each). */
export type Headers = Readonly<Record<string, string | undefined>>;

const GETTER: TextMapGetter<Headers> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

/**
 * Outcomes (status code names) that mark a server span as failed, per the OpenTelemetry RPC
 * conventions for gRPC servers; the others are the caller's fault and leave the status unset.
 */
const SERVER_ERRORS = new Set(['UNKNOWN', 'DEADLINE_EXCEEDED', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS']);

/** How a call, a job or one request of either ended. */
export interface Outcome {
  /** The status code name: OK, or an InferdError code (INVALID_ARGUMENT, INTERNAL...). */
  readonly code: string;
  /** What failed, when it did. */
  readonly message?: string | undefined;
  /** The gRPC status code number, for a gRPC call (the rpc.grpc.status_code attribute). */
  readonly rpcStatus?: number | undefined;
}

/**
 * The spans inferd makes, over one OpenTelemetry tracer (the SDK's, or a test's with an
 * in-memory exporter). Absent (undefined) when tracing is off: then no span code runs at all.
 * Spans are passed explicitly, never through a context manager.
 */
export class Tracing {
  private readonly propagator = new W3CTraceContextPropagator();

  constructor(private readonly tracer: Tracer) {}

  /**
   * Starts the server span of one gRPC call, named `service/method`, continuing the caller's
   * trace from the W3C `traceparent` and `tracestate` headers when they are present and valid.
   */
  startCall(service: string, method: string, headers: Headers): Span {
    const parent = this.propagator.extract(ROOT_CONTEXT, headers, GETTER);
    return this.tracer.startSpan(
      `${service}/${method}`,
      { kind: SpanKind.SERVER, attributes: { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': method } },
      parent,
    );
  }

  /** Starts the span of one job run, named `job <kind>`, a trace of its own. */
  startJob(kind: string, attributes: Attributes): Span {
    return this.tracer.startSpan(`job ${kind}`, { kind: SpanKind.INTERNAL, attributes }, ROOT_CONTEXT);
  }

  /** Starts a span under `parent`; times are performance.now() milliseconds when given. */
  startChild(name: string, parent: Span, options: { attributes?: Attributes; links?: Link[]; startTime?: number } = {}): Span {
    return this.tracer.startSpan(name, options, trace.setSpan(ROOT_CONTEXT, parent));
  }
}

/**
 * Ends the span of a call or a job with its outcome: the gRPC status code when it has one, and
 * a failed status (with the message) when the server is at fault.
 */
export function endCallSpan(span: Span, outcome: Outcome): void {
  if (outcome.rpcStatus !== undefined) span.setAttribute('rpc.grpc.status_code', outcome.rpcStatus);
  if (SERVER_ERRORS.has(outcome.code)) span.setStatus({ code: SpanStatusCode.ERROR, ...(outcome.message === undefined ? {} : { message: outcome.message }) });
  span.end();
}

/** Marks an internal span failed with the error's message and ends it. */
export function endFailed(span: Span, err: unknown): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
  span.end();
}
