import type { Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { ServingMetrics, VersionMetrics } from './serving-metrics';
import { endFailed, type Tracing } from './tracing';

/**
 * One inference request as telemetry follows it: a unary Predict or ModelInfer call, or one
 * message of a stream. The adapter makes it and finishes it with the outcome (counted once,
 * here, for every protocol); the core reports the model version and runs its steps through
 * `step`. Without tracing, `span` is undefined and no span code runs.
 */
export class RequestScope {
  private model = '';
  private version = '';
  private series: VersionMetrics | undefined;
  private readonly startedMs = performance.now();

  constructor(
    private readonly metrics: ServingMetrics,
    private readonly tracing: Tracing | undefined,
    /** The request's span: the call's own for a unary call, the message's in a stream. */
    readonly span: Span | undefined,
    /** True when this scope owns `span` (a stream message) and ends it in finish(). */
    private readonly ownsSpan: boolean,
  ) {}

  /** The request is served by this model version (labels and span attributes). */
  resolved(model: string, version: string): void {
    if (this.series !== undefined) return;
    this.model = model;
    this.version = version;
    this.series = this.metrics.forVersion(model, version);
    this.series.requestsInFlight.inc();
    this.span?.setAttributes({ 'inferd.model.name': model, 'inferd.model.version': version });
  }

  /** Runs `f` in a child span `name` when tracing; a throw marks the span failed and goes on. */
  step<T>(name: string, f: () => T): T {
    if (this.span === undefined || this.tracing === undefined) return f();
    const span = this.tracing.startChild(name, this.span);
    let result: T;
    try {
      result = f();
    } catch (err) {
      endFailed(span, err);
      throw err;
    }
    span.end();
    return result;
  }

  /** What the scheduler carries to the run that serves the request (the span), if traced. */
  get trace(): object | undefined {
    return this.span;
  }

  /** `log`, with this request's trace_id and span_id on every line when traced. */
  logger(log: Logger): Logger {
    if (this.span === undefined) return log;
    const c = this.span.spanContext();
    return log.child({ trace_id: c.traceId, span_id: c.spanId });
  }

  /**
   * Counts the outcome (`codeName`, the gRPC status code name) and the time taken, logs it at
   * debug level (never the tensors); ends the message span of a stream with the status (`code`
   * and, when failed, the message).
   */
  finish(code: number, codeName: string, message: string | undefined, log: Logger): void {
    const tookMs = performance.now() - this.startedMs;
    const series = this.series ?? this.metrics.forVersion('', '');
    series.requests(codeName).inc();
    series.requestDuration.observe(tookMs / 1000);
    if (this.series !== undefined) this.series.requestsInFlight.dec();
    if (log.isLevelEnabled('debug')) this.logger(log).debug({ model: this.model, version: this.version, code: codeName, ms: Math.round(tookMs * 1000) / 1000 }, 'request answered');
    if (this.span === undefined) return;
    this.span.setAttribute('rpc.grpc.status_code', code);
    if (this.ownsSpan) {
      if (code === 0) this.span.end();
      else endFailed(this.span, new Error(message ?? codeName));
    }
  }
}
