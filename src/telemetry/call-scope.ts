import type { Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { RequestScope } from './request-scope';
import type { ServingMetrics } from './serving-metrics';
import { endCallSpan, type Tracing } from './tracing';

/**
 * One traced gRPC call: its server span (undefined when tracing is off) and the requests it
 * carries: the call's own for a unary inference call, one per message for a stream.
 */
export class CallScope {
  private ended = false;

  constructor(
    private readonly metrics: ServingMetrics,
    private readonly tracing: Tracing | undefined,
    readonly span: Span | undefined,
    /** Names a stream's message spans: "<service>/<method> message". */
    private readonly name: string,
  ) {}

  /** The request of a unary call: it shares the call's span. */
  request(): RequestScope {
    return new RequestScope(this.metrics, this.tracing, this.span, false);
  }

  /** One message of a stream, in a span of its own under the call's, ended by its finish(). */
  message(): RequestScope {
    const span = this.span === undefined ? undefined : this.tracing?.startChild(`${this.name} message`, this.span);
    return new RequestScope(this.metrics, this.tracing, span, true);
  }

  /** `log` with the call's trace_id and span_id when traced. */
  logger(log: Logger): Logger {
    if (this.span === undefined) return log;
    const c = this.span.spanContext();
    return log.child({ trace_id: c.traceId, span_id: c.spanId });
  }

  /** Ends the call's span with its gRPC status code (a number). Safe to call twice. */
  end(code: number, message?: string): void {
    if (this.ended) return;
    this.ended = true;
    if (this.span !== undefined) endCallSpan(this.span, code, message);
  }
}
