import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The series of one model version, bound to their labels once, so that a request updates them
 * without hashing label sets.
 */
export interface VersionMetrics {
  /** inferd_requests_total for one outcome (a gRPC status code name). */
  requests(code: string): Counter.Internal;
  readonly requestDuration: Histogram.Internal<string>;
  readonly requestsInFlight: Gauge.Internal<string>;
  readonly inferences: Counter.Internal;
  readonly executions: Counter.Internal;
  readonly queueDuration: Histogram.Internal<string>;
  readonly computeDuration: Histogram.Internal<string>;
  readonly batchSize: Histogram.Internal<string>;
  /** inferd_instance_busy_seconds_total for one instance. */
  instanceBusy(instance: number | string): Counter.Internal;
}
import type { ModelRepository, VersionState } from '../repository/model-repository';

/** Latency buckets, in seconds: from half a millisecond to half a minute. */
const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Batch size buckets, in rows. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];
const VERSION_STATES: readonly VersionState[] = ['LOADING', 'READY', 'UNLOADING', 'UNAVAILABLE', 'FAILED'];
const MV = ['model', 'version'] as const;

/**
 * inferd's Prometheus metrics, in a registry of their own, written in the text exposition
 * format by `text()`. Counters and histograms are updated as requests and runs happen; queue
 * depth, runs in flight and version states are read from the repository at each scrape.
 * Requests that named no model version being served count under model "" and version "".
 */
export class ServingMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'inferd_requests_total', help: 'Inference requests answered (one per Predict or ModelInfer call, stream message, prediction job or batch job model run), by outcome: the status code name.', labelNames: [...MV, 'code'], registers: [this.registry] });
  readonly requestDuration = new Histogram({ name: 'inferd_request_duration_seconds', help: 'Time from a request arriving to its answer, whatever the outcome.', labelNames: MV, buckets: LATENCY_BUCKETS_S, registers: [this.registry] });
  readonly requestsInFlight = new Gauge({ name: 'inferd_requests_in_flight', help: 'Inference requests being served (resolved to a model version and not yet answered).', labelNames: MV, registers: [this.registry] });
  readonly inferences = new Counter({ name: 'inferd_inferences_total', help: 'Rows run by the model, over every run (inferences / executions is the mean batch size).', labelNames: MV, registers: [this.registry] });
  readonly executions = new Counter({ name: 'inferd_executions_total', help: 'Runs of the model (one run serves a batch of requests).', labelNames: MV, registers: [this.registry] });
  readonly queueDuration = new Histogram({ name: 'inferd_queue_duration_seconds', help: 'Time each request waited in the queue before its run started.', labelNames: MV, buckets: LATENCY_BUCKETS_S, registers: [this.registry] });
  readonly computeDuration = new Histogram({ name: 'inferd_compute_duration_seconds', help: 'Time each run took, as the main thread sees it (to and from the worker included).', labelNames: MV, buckets: LATENCY_BUCKETS_S, registers: [this.registry] });
  readonly batchSize = new Histogram({ name: 'inferd_batch_size', help: 'Rows per run.', labelNames: MV, buckets: BATCH_BUCKETS, registers: [this.registry] });
  readonly instanceBusy = new Counter({ name: 'inferd_instance_busy_seconds_total', help: 'Time each model instance spent running (instance 0, 1, … a worker thread; "main" the main thread); its rate is the instance utilisation.', labelNames: [...MV, 'instance'], registers: [this.registry] });
  private repository: ModelRepository | undefined;
  private readonly versions = new Map<string, VersionMetrics>();

  constructor() {
    const self = this;
    new Gauge({
      name: 'inferd_queue_depth', help: 'Requests waiting in the queue of a model version.', labelNames: MV, registers: [this.registry],
      collect() {
        this.reset();
        for (const v of self.servedVersions()) this.set({ model: v.model, version: v.version }, v.depth);
      },
    });
    new Gauge({
      name: 'inferd_runs_in_flight', help: 'Runs of a model version in progress (at most its instance count).', labelNames: MV, registers: [this.registry],
      collect() {
        this.reset();
        for (const v of self.servedVersions()) this.set({ model: v.model, version: v.version }, v.inFlight);
      },
    });
    new Gauge({
      name: 'inferd_model_version_state', help: 'State of each model version: 1 for the state it is in, 0 for the others.', labelNames: [...MV, 'state'], registers: [this.registry],
      collect() {
        this.reset();
        const repo = self.repository;
        if (repo === undefined) return;
        for (const model of repo.modelNames()) {
          for (const v of repo.versions(model) ?? []) {
            for (const state of VERSION_STATES) this.set({ model, version: v.version, state }, v.state === state ? 1 : 0);
          }
        }
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'inferd_' });
  }

  /** The series of a model version (model "" and version "" for requests that named none served). */
  forVersion(model: string, version: string): VersionMetrics {
    const key = `${model}\u0000${version}`;
    let found = this.versions.get(key);
    if (found === undefined) {
      const labels = { model, version };
      const byCode = new Map<string, Counter.Internal>();
      const byInstance = new Map<number | string, Counter.Internal>();
      found = {
        requests: (code) => {
          let c = byCode.get(code);
          if (c === undefined) byCode.set(code, (c = this.requests.labels({ ...labels, code })));
          return c;
        },
        requestDuration: this.requestDuration.labels(labels),
        requestsInFlight: this.requestsInFlight.labels(labels),
        inferences: this.inferences.labels(labels),
        executions: this.executions.labels(labels),
        queueDuration: this.queueDuration.labels(labels),
        computeDuration: this.computeDuration.labels(labels),
        batchSize: this.batchSize.labels(labels),
        instanceBusy: (instance) => {
          let c = byInstance.get(instance);
          if (c === undefined) byInstance.set(instance, (c = this.instanceBusy.labels({ ...labels, instance: String(instance) })));
          return c;
        },
      };
      this.versions.set(key, found);
    }
    return found;
  }

  /** Reads queue depths and version states from `repository` at each scrape. */
  watch(repository: ModelRepository): void {
    this.repository = repository;
  }

  /** The exposition text and its content type. */
  async text(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }

  private *servedVersions(): Generator<{ model: string; version: string; depth: number; inFlight: number }> {
    const repo = this.repository;
    if (repo === undefined) return;
    for (const model of repo.modelNames()) {
      for (const v of repo.versions(model) ?? []) {
        if (v.state !== 'READY') continue;
        let loaded;
        try {
          loaded = repo.resolve(model, v.version);
        } catch {
          continue; // stopped serving since the listing
        }
        yield { model, version: v.version, depth: loaded.depth, inFlight: loaded.inFlight };
      }
    }
  }
}
