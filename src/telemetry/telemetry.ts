import type { Link, Span } from '@opentelemetry/api';
import type { BatcherObserver, RunStart } from '../scheduler/dynamic-batcher';
import { CallScope } from './call-scope';
import { ServingMetrics } from './serving-metrics';
import { endFailed, type Headers, type Tracing } from './tracing';

export interface TelemetryOptions {
  /** Undefined: tracing is off, and no span code runs. */
  readonly tracing?: Tracing | undefined;
}

/**
 * Metrics and tracing as the rest of inferd sees them: front ends open a CallScope per call
 * (or job run), model versions report their runs to `observer`. The metrics are always kept (they cost a few
 * counter updates per request); spans only when tracing is on.
 */
export class Telemetry {
  readonly metrics = new ServingMetrics();
  readonly tracing: Tracing | undefined;

  constructor(options: TelemetryOptions = {}) {
    this.tracing = options.tracing;
  }

  /** Opens the telemetry of one gRPC call; `headers` give the caller's trace context. */
  startCall(service: string, method: string, headers: () => Headers): CallScope {
    const span = this.tracing?.startCall(service, method, headers());
    return new CallScope(this.metrics, this.tracing, span, `${service}/${method} message`);
  }

  /**
   * Opens the telemetry of one job run (`kind`: prediction or batch), in a trace of its own:
   * its predictions count and are traced as the requests of a call are.
   */
  startJob(kind: string, jobId: string | undefined): CallScope {
    const span = this.tracing?.startJob(kind, { 'inferd.job.kind': kind, ...(jobId === undefined ? {} : { 'inferd.job.id': jobId }) });
    return new CallScope(this.metrics, this.tracing, span, `job ${kind} run`);
  }

  /**
   * The observer of one model version's runs: counts rows and runs, times queue waits and runs,
   * and when the requests are traced, gives each a "queue wait" span and the run one "model
   * run" span, a child of the first traced request's span, linked to every request span it served.
   */
  observer(model: string, version: string): BatcherObserver {
    const series = this.metrics.forVersion(model, version);
    const { tracing } = this;
    return {
      runStarting: (run: RunStart) => {
        const startedMs = performance.now();
        series.executions.inc();
        series.inferences.inc(run.rows);
        series.batchSize.observe(run.rows);
        for (const r of run.requests) series.queueDuration.observe(r.waitedMs / 1000);
        let runSpan: Span | undefined;
        if (tracing !== undefined) {
          const spans: Span[] = [];
          for (const r of run.requests) {
            if (r.trace === undefined) continue;
            const span = r.trace as Span;
            spans.push(span);
            tracing.startChild('queue wait', span, { startTime: startedMs - r.waitedMs }).end(startedMs);
          }
          if (spans.length > 0) {
            const links: Link[] = spans.map((s) => ({ context: s.spanContext() }));
            runSpan = tracing.startChild('model run', spans[0]!, {
              links,
              startTime: startedMs,
              attributes: {
                'inferd.model.name': model,
                'inferd.model.version': version,
                'inferd.batch.size': run.rows,
                'inferd.batch.requests': run.requests.length,
                'inferd.model.instance': run.instance,
              },
            });
          }
        }
        return (err: unknown) => {
          const tookS = (performance.now() - startedMs) / 1000;
          series.computeDuration.observe(tookS);
          series.instanceBusy(run.instance).inc(tookS);
          if (runSpan === undefined) return;
          if (err === undefined) runSpan.end();
          else endFailed(runSpan, err);
        };
      },
    };
  }
}
