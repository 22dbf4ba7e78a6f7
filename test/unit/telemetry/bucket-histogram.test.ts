import { expect } from 'chai';
import { Histogram, Registry } from 'prom-client';
import { BucketHistogram } from '../../../src/telemetry/bucket-histogram';

describe('BucketHistogram', () => {
  it("is written exactly as prom-client's Histogram with the same observations", async () => {
    const buckets = [0.001, 0.01, 0.1, 1];
    const ours = new Registry();
    const theirs = new Registry();
    const histogram = new BucketHistogram('x_seconds', 'Time of x.', buckets, ours);
    const reference = new Histogram({
      name: 'x_seconds',
      help: 'Time of x.',
      labelNames: ['model', 'version'],
      buckets,
      registers: [theirs],
    });
    const a = histogram.labels({ model: 'm', version: '1' });
    const b = histogram.labels({ model: 'm "q"', version: '2' });
    histogram.labels({ model: 'never', version: '1' }); // no observation: no series, as with prom-client
    for (const [series, labels, value] of [
      [a, { model: 'm', version: '1' }, 0.0005],
      [a, { model: 'm', version: '1' }, 0.01],
      [a, { model: 'm', version: '1' }, 5],
      [b, { model: 'm "q"', version: '2' }, 0.05],
    ] as const) {
      series.observe(value);
      reference.observe(labels, value);
    }
    expect(await ours.metrics()).to.equal(await theirs.metrics());
    expect(await ours.metrics()).to.contain('x_seconds_bucket{le="0.01",model="m",version="1"} 2');
  });
});
