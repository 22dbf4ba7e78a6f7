import type { InferdClient } from '../client';
import type { Inputs } from '../client/tensor-types';
import { summarize, type LevelResult } from './summarize';

/** What the typed client's load sends: the same inputs, as typed arrays, on every request. */
export interface ClientLoadOptions {
  readonly model: string;
  readonly inputs: Inputs;
  readonly concurrency: number;
  readonly durationMs: number;
  readonly rowsPerRequest: number;
}

/**
 * `concurrency` loops each awaiting `client.predict` back to back for `durationMs`: the raw
 * unary load's twin through inferd/client (encoding each request, decoding each answer).
 */
export async function clientUnaryLoad(client: InferdClient, o: ClientLoadOptions): Promise<LevelResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const end = started + o.durationMs;
  const loop = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        await client.predict(o.model, o.inputs);
        latencies.push(performance.now() - t0);
      } catch (err) {
        errors++;
        firstError ??= `${(err as { code?: string }).code}: ${(err as Error).message}`;
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, loop));
  return summarize(
    o.concurrency,
    (performance.now() - started) / 1000,
    latencies,
    o.rowsPerRequest,
    errors,
    firstError,
  );
}

/**
 * One `client.predictStream` with `maxInFlight` = `concurrency`, unordered, fed inputs for
 * `durationMs`: the raw stream load's twin. A latency runs from the moment the client took the
 * input to the moment its result came out of the stream.
 */
export async function clientStreamLoad(client: InferdClient, o: ClientLoadOptions): Promise<LevelResult> {
  const latencies: number[] = [];
  const takenAt: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const end = started + o.durationMs;
  function* inputs(): Generator<Inputs> {
    for (let now = performance.now(); now < end; now = performance.now()) {
      takenAt.push(now);
      yield o.inputs;
    }
  }
  try {
    for await (const r of client.predictStream(o.model, inputs(), { maxInFlight: o.concurrency, ordered: false })) {
      if (r.error === undefined) latencies.push(performance.now() - takenAt[r.index]!);
      else {
        errors++;
        firstError ??= `${r.error.code}: ${r.error.message}`;
      }
    }
  } catch (err) {
    errors++;
    firstError ??= `${(err as { code?: string }).code}: ${(err as Error).message}`;
  }
  return summarize(
    o.concurrency,
    (performance.now() - started) / 1000,
    latencies,
    o.rowsPerRequest,
    errors,
    firstError,
  );
}
