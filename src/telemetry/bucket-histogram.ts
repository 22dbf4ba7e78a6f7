import type { Registry } from 'prom-client';

/** One label set's series of a BucketHistogram. */
export interface HistogramSeries {
  observe(value: number): void;
}

interface SeriesValues {
  readonly labels: Readonly<Record<string, string>>;
  /** Observations per bucket (not cumulative); the last one counts those above every bound. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

interface ValuePair {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly sharedLabels: Readonly<Record<string, string>>;
  readonly value: number;
  readonly metricName: string;
}

/**
 * A Prometheus histogram whose series are bound to their labels once and observed as plain
 * numbers: prom-client's Histogram validates and hashes the label set at every observation,
 * which cost ~3% of the server's busy time per tiny model stream message (two a request,
 * docs/benchmarks.md). It registers in a prom-client Registry and is written exactly as
 * prom-client writes a histogram (`_bucket` lines with `le` first, `+Inf`, `_sum`, `_count`).
 */
export class BucketHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series: SeriesValues[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly upperBounds: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /** The series of one label set (make it once and keep it). */
  labels(labels: Readonly<Record<string, string>>): HistogramSeries {
    const values: SeriesValues = { labels, counts: new Float64Array(this.upperBounds.length + 1), sum: 0, count: 0 };
    this.series.push(values);
    const bounds = this.upperBounds;
    return {
      observe: (value) => {
        let i = 0;
        while (i < bounds.length && value > bounds[i]!) i++;
        values.counts[i]!++;
        values.sum += value;
        values.count++;
      },
    };
  }

  /** What prom-client's Registry writes (its histograms' getForPromString shape). */
  getForPromString(): { name: string; help: string; type: string; aggregator: string; values: ValuePair[] } {
    const bucket = `${this.name}_bucket`;
    const values: ValuePair[] = [];
    for (const s of this.series) {
      if (s.count === 0) continue; // prom-client shows a series from its first observation
      let acc = 0;
      this.upperBounds.forEach((le, i) => {
        acc += s.counts[i]!;
        values.push({ labels: { le }, sharedLabels: s.labels, value: acc, metricName: bucket });
      });
      values.push({ labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: bucket });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** The same values with each label set whole (prom-client's get(), for getMetricsAsJSON). */
  get(): ReturnType<BucketHistogram['getForPromString']> {
    const data = this.getForPromString();
    return {
      ...data,
      values: data.values.map((v) => ({ ...v, labels: { ...v.sharedLabels, ...v.labels }, sharedLabels: {} })),
    };
  }

  reset(): void {
    for (const s of this.series) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}
