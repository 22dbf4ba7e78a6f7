import type { Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { ServingMetrics, VersionMetrics } from './serving-metrics';
import { InferdError } from '../inferd-error';
import { endFailed, type Outcome, type Tracing } from './tracing';

/**
 * One inference request as telemetry follows it: a unary Predict or ModelInfer call, one
 * message of a stream, a prediction job or one run of a batch job. The front end makes it and
 * finishes it with the outcome (counted once, here, for every front end); the core reports the
 * model version and runs its steps through `step`. Without tracing, `span` is undefined and no
 * span code runs.
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
    /** True when this scope owns `span` (a stream message, a batch job's run) and ends it in finish(). */
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
   * Counts the outcome and the time taken, logs it at debug level to `log` when given (never the tensors); ends the
   * request's own span (see ownsSpan) with the outcome. `span` gets the gRPC status code when
   * the outcome has one.
   */
  finish(outcome: Outcome, log?: Logger): void {
    const tookMs = performance.now() - this.startedMs;
    const series = this.series ?? this.metrics.forVersion('', '');
    series.requests(outcome.code).inc();
    series.requestDuration.observe(tookMs / 1000);
    if (this.series !== undefined) this.series.requestsInFlight.dec();
    if (log?.isLevelEnabled('debug') === true) this.logger(log).debug({ model: this.model, version: this.version, code: outcome.code, ms: Math.round(tookMs * 1000) / 1000 }, 'request answered');
    if (this.span === undefined) return;
    if (outcome.rpcStatus !== undefined) this.span.setAttribute('rpc.grpc.status_code', outcome.rpcStatus);
    if (this.ownsSpan) {
      if (outcome.code === 'OK') this.span.end();
      else endFailed(this.span, new Error(outcome.message ?? outcome.code));
    }
  }

  /**
   * Runs `work` as this request and finishes the scope with how it settled (see outcomeOf).
   * Settles as `work` does. For front ends with no status mapping of their own (jobs).
   */
  async serve<T>(work: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await work();
    } catch (err) {
      this.finish(outcomeOf(err));
      throw err;
    }
    this.finish({ code: 'OK' });
    return result;
  }
}

/** A failure as telemetry counts it: an InferdError's code and message; INTERNAL for anything else (a bug, logged by whoever handles it). */
export function outcomeOf(err: unknown): Outcome {
  return err instanceof InferdError ? { code: err.code, message: err.message } : { code: 'INTERNAL', message: 'internal error' };
}
