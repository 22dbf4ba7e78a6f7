import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Link, type Span, type TextMapGetter, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

/** Request headers as the caller sent them (lower-case names; the first value of each). */
export type Headers = Readonly<Record<string, string | undefined>>;

const GETTER: TextMapGetter<Headers> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

/**
 * Status codes that mark a server span as failed, per the OpenTelemetry RPC conventions for
 * gRPC servers (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS);
 * the others are the caller's fault and leave the status unset.
 */
const SERVER_ERROR_CODES = new Set([2, 4, 12, 13, 14, 15]);

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

  /** Starts a span under `parent`; times are performance.now() milliseconds when given. */
  startChild(name: string, parent: Span, options: { attributes?: Attributes; links?: Link[]; startTime?: number } = {}): Span {
    return this.tracer.startSpan(name, options, trace.setSpan(ROOT_CONTEXT, parent));
  }
}

/** Ends a server span with the call's gRPC status code (the number) and, when it failed, the message. */
export function endCallSpan(span: Span, code: number, message?: string): void {
  span.setAttribute('rpc.grpc.status_code', code);
  if (SERVER_ERROR_CODES.has(code)) span.setStatus({ code: SpanStatusCode.ERROR, ...(message === undefined ? {} : { message }) });
  span.end();
}

/** Marks an internal span failed with the error's message and ends it. */
export function endFailed(span: Span, err: unknown): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
  span.end();
}
