import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { BucketHistogram, type HistogramSeries } from './bucket-histogram';

/**
 * The series of one model version, bound to their labels once, so that a request updates them
 * without hashing label sets.
 */
export interface VersionMetrics {
  /** Adds one to inferd_requests_total for one outcome (a gRPC status code name). */
  answered(code: string): void;
  readonly requestDuration: HistogramSeries;
  /** inferd_requests_in_flight: a plain count, read at each scrape. */
  readonly requestsInFlight: { inc(): void; dec(): void };
  readonly inferences: Counter.Internal;
  readonly executions: Counter.Internal;
  readonly queueDuration: HistogramSeries;
  readonly computeDuration: HistogramSeries;
  readonly batchSize: HistogramSeries;
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
  readonly requestDuration = new BucketHistogram(
    'inferd_request_duration_seconds',
    'Time from a request arriving to its answer, whatever the outcome.',
    LATENCY_BUCKETS_S,
    this.registry,
  );
  readonly inferences = new Counter({
    name: 'inferd_inferences_total',
    help: 'Rows run by the model, over every run (inferences / executions is the mean batch size).',
    labelNames: MV,
    registers: [this.registry],
  });
  readonly executions = new Counter({
    name: 'inferd_executions_total',
    help: 'Runs of the model (one run serves a batch of requests).',
    labelNames: MV,
    registers: [this.registry],
  });
  readonly queueDuration = new BucketHistogram(
    'inferd_queue_duration_seconds',
    'Time each request waited in the queue before its run started.',
    LATENCY_BUCKETS_S,
    this.registry,
  );
  readonly computeDuration = new BucketHistogram(
    'inferd_compute_duration_seconds',
    'Time each run took, as the main thread sees it (to and from the worker included).',
    LATENCY_BUCKETS_S,
    this.registry,
  );
  readonly batchSize = new BucketHistogram('inferd_batch_size', 'Rows per run.', BATCH_BUCKETS, this.registry);
  readonly instanceBusy = new Counter({
    name: 'inferd_instance_busy_seconds_total',
    help: 'Time each model instance spent running (instance 0, 1, … a worker thread; "main" the main thread); its rate is the instance utilisation.',
    labelNames: [...MV, 'instance'],
    registers: [this.registry],
  });
  private repository: ModelRepository | undefined;
  private readonly versions = new Map<string, VersionMetrics>();

  /**
   * Requests answered and in flight, per version, as plain numbers that a request adds to:
   * prom-client hashes the label set at every update, which cost a few percent of a tiny
   * model's stream message (docs/benchmarks.md). Read into the metrics at each scrape.
   */
  private readonly requestCounts = new Map<
    VersionMetrics,
    {
      readonly labels: { model: string; version: string };
      readonly answered: Map<string, number>;
      inFlight: number;
      inFlightSeen: boolean;
    }
  >();

  constructor() {
    const self = this;
    new Counter({
      name: 'inferd_requests_total',
      help: 'Inference requests answered (one per Predict or ModelInfer call, stream message, prediction job or batch job model run), by outcome: the status code name.',
      labelNames: [...MV, 'code'],
      registers: [this.registry],
      collect() {
        for (const { labels, answered } of self.requestCounts.values()) {
          for (const [code, n] of answered) {
            if (n === 0) continue;
            this.inc({ ...labels, code }, n);
            answered.set(code, 0);
          }
        }
      },
    });
    new Gauge({
      name: 'inferd_requests_in_flight',
      help: 'Inference requests being served (resolved to a model version and not yet answered).',
      labelNames: MV,
      registers: [this.registry],
      collect() {
        for (const c of self.requestCounts.values()) if (c.inFlightSeen) this.set(c.labels, c.inFlight);
      },
    });
    new Gauge({
      name: 'inferd_queue_depth',
      help: 'Requests waiting in the queue of a model version.',
      labelNames: MV,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const v of self.servedVersions()) this.set({ model: v.model, version: v.version }, v.depth);
      },
    });
    new Gauge({
      name: 'inferd_runs_in_flight',
      help: 'Runs of a model version in progress (at most its instance count).',
      labelNames: MV,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const v of self.servedVersions()) this.set({ model: v.model, version: v.version }, v.inFlight);
      },
    });
    new Gauge({
      name: 'inferd_model_version_state',
      help: 'State of each model version: 1 for the state it is in, 0 for the others.',
      labelNames: [...MV, 'state'],
      registers: [this.registry],
      collect() {
        this.reset();
        const repo = self.repository;
        if (repo === undefined) return;
        for (const model of repo.modelNames()) {
          for (const v of repo.versions(model) ?? []) {
            for (const state of VERSION_STATES)
              this.set({ model, version: v.version, state }, v.state === state ? 1 : 0);
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
      const byInstance = new Map<number | string, Counter.Internal>();
      const counts = { labels, answered: new Map<string, number>(), inFlight: 0, inFlightSeen: false };
      found = {
        answered: (code) => counts.answered.set(code, (counts.answered.get(code) ?? 0) + 1),
        requestDuration: this.requestDuration.labels(labels),
        requestsInFlight: {
          inc: () => {
            counts.inFlight++;
            counts.inFlightSeen = true;
          },
          dec: () => {
            counts.inFlight--;
          },
        },
        inferences: this.inferences.labels(labels),
        executions: this.executions.labels(labels),
        queueDuration: this.queueDuration.labels(labels),
        computeDuration: this.computeDuration.labels(labels),
        batchSize: this.batchSize.labels(labels),
        instanceBusy: (instance) => {
          let c = byInstance.get(instance);
          if (c === undefined)
            byInstance.set(instance, (c = this.instanceBusy.labels({ ...labels, instance: String(instance) })));
          return c;
        },
      };
      this.versions.set(key, found);
      this.requestCounts.set(found, counts);
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
