import type { Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { outcomeOf, RequestScope } from './request-scope';
import type { ServingMetrics } from './serving-metrics';
import { endCallSpan, type Outcome, type Tracing } from './tracing';

/**
 * One traced gRPC call or job run: its span (undefined when tracing is off) and the inference
 * requests it carries: the call's own for a unary call or a prediction job, one per message for
 * a stream, one per run for a batch job.
 */
export class CallScope {
  private ended = false;

  constructor(
    private readonly metrics: ServingMetrics,
    private readonly tracing: Tracing | undefined,
    readonly span: Span | undefined,
    /** Names the spans of its requests (see message()), e.g. "<service>/<method> message". */
    private readonly childName: string,
  ) {}

  /** The one request of a unary call or a prediction job: it shares the call's span. */
  request(): RequestScope {
    return new RequestScope(this.metrics, this.tracing, this.span, false);
  }

  /** One of many requests (a stream's message, a batch job's run), in a span of its own under the call's, ended by its finish(). */
  message(): RequestScope {
    const span = this.span === undefined ? undefined : this.tracing?.startChild(this.childName, this.span);
    return new RequestScope(this.metrics, this.tracing, span, true);
  }

  /**
   * Runs `work` as the one request of this call (see request()), finishes the request and ends
   * the call with how it settled (see outcomeOf). Settles as `work` does. For front ends with
   * no status mapping of their own (a prediction job).
   */
  async serve<T>(work: (scope: RequestScope) => Promise<T>): Promise<T> {
    const scope = this.request();
    try {
      const result = await scope.serve(() => work(scope));
      this.end({ code: 'OK' });
      return result;
    } catch (err) {
      this.end(outcomeOf(err));
      throw err;
    }
  }

  /** `log` with the call's trace_id and span_id when traced. */
  logger(log: Logger): Logger {
    if (this.span === undefined) return log;
    const c = this.span.spanContext();
    return log.child({ trace_id: c.traceId, span_id: c.spanId });
  }

  /** Ends the call's span with its outcome. Safe to call twice. */
  end(outcome: Outcome): void {
    if (this.ended) return;
    this.ended = true;
    if (this.span !== undefined) endCallSpan(this.span, outcome);
  }
}
