import type { Logger } from 'pino';
import { InferdError } from '../inferd-error';
import { OnnxSession, type SessionOptions } from '../runtime/onnx-session';
import {
  addStats,
  DynamicBatcher,
  type BatcherObserver,
  type BatcherStats,
  type SubmitOptions,
} from '../scheduler/dynamic-batcher';
import { formatShape, type HostTensor, type TensorSpec } from '../tensor/tensor-types';
import { MainThreadLane, WORKER_ONLY, type MainThreadUse } from '../scheduler/main-thread-lane';
import type { CancelSignal } from '../scheduler/cancel-signal';
import { ConfigError, type ConfigProblem } from '../config-problems';
import type { Placement, TensorOverride, WarmupRequest } from './model-config';
import { warmupFeeds, warmupProblems, type FieldProblem } from './warmup-feeds';

export interface ModelVersionOptions {
  /** Sessions to run side by side, each on a worker thread of its own. */
  readonly instances: number;
  /** auto: small requests of a model timed at load to run in microseconds go to the main thread (see MainThreadLane). */
  readonly placement: Placement;
  readonly session: SessionOptions;
  readonly maxQueueSize: number;
  /**
   * Dynamic batching. maxBatchSize 0 runs every request alone; 'auto' batches (up to
   * DEFAULT_MAX_BATCH_SIZE rows and DEFAULT_MAX_BATCH_BYTES of input) when every input and output
   * has a dynamic first dimension.
   */
  readonly batching: {
    readonly maxBatchSize: number | 'auto';
    readonly maxQueueDelayUs: number;
    readonly preferredBatchSizes: readonly number[];
  };
  /** Narrower shapes than the model declares, from its config file (named in errors). */
  readonly overrides: {
    readonly file?: string;
    readonly inputs: readonly TensorOverride[];
    readonly outputs: readonly TensorOverride[];
  };
  /** Warm-up runs; empty: one best-effort run of zeros per instance. */
  readonly warmup: readonly WarmupRequest[];
  /** The largest warm-up input, bytes (the most a request may carry): a larger one fails the load, or skips the default warm-up. */
  readonly maxWarmupInputBytes: number;
  readonly log: Logger;
  /** Told of every run after warm-up (metrics, tracing). */
  readonly observer?: BatcherObserver;
}

/** Rows per run when batching is on by default (see docs/benchmarks.md for how it was chosen). */
export const DEFAULT_MAX_BATCH_SIZE = 32;

/**
 * Input bytes per run when batching is on by default: a batch stops growing at this size, so
 * that models with large inputs run short batches (long runs make the requests that arrive
 * meanwhile wait in lockstep), while models with small rows keep DEFAULT_MAX_BATCH_SIZE.
 * docs/benchmarks.md has the measurements that chose it.
 */
export const DEFAULT_MAX_BATCH_BYTES = 1024 * 1024;

/**
 * One loaded version of a model: its sessions and the queues in front of them. Its inputs and
 * outputs are what the model declares, narrowed by the config's overrides.
 */
export class ModelVersion {
  private closed: Promise<void> | undefined;
  private lane: MainThreadLane | undefined;
  private mainThreadUse: MainThreadUse = WORKER_ONLY;

  private constructor(
    readonly name: string,
    readonly version: string,
    private readonly sessions: readonly OnnxSession[],
    /** The batcher in front of the worker sessions. */
    private readonly batcher: DynamicBatcher,
    readonly inputs: readonly TensorSpec[],
    readonly outputs: readonly TensorSpec[],
  ) {}

  /**
   * Loads every instance and warms each up. Rejects, having closed what it opened, with the
   * runtime's reason when a session fails to load or a configured warm-up run fails, and with a
   * ConfigError naming every field of the config file that does not fit the model (overrides,
   * max_batch_size, warm-up inputs).
   */
  static async create(
    name: string,
    version: string,
    modelPath: string,
    options: ModelVersionOptions,
  ): Promise<ModelVersion> {
    const loads = Array.from({ length: options.instances }, () => OnnxSession.create(modelPath, options.session));
    const settled = await Promise.allSettled(loads);
    const sessions = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    try {
      if (failed !== undefined) throw failed.reason;
      const first = sessions[0]!;
      const misfits: FieldProblem[] = [];
      const inputs = applyOverrides(first.inputs, options.overrides.inputs, 'inputs', misfits);
      const outputs = applyOverrides(first.outputs, options.overrides.outputs, 'outputs', misfits);
      const batchable = [...inputs, ...outputs].every((s) => s.dims.length > 0 && s.dims[0]! < 0);
      const { maxBatchSize } = options.batching;
      if (typeof maxBatchSize === 'number' && maxBatchSize > 0 && !batchable) {
        const shapes = [...inputs, ...outputs].map((s) => `"${s.name}" ${formatShape(s.dims)}`).join(', ');
        misfits.push({
          field: 'max_batch_size',
          expected: `0 for this model: batching needs a first dimension of any size on every input and output, and it has ${shapes}`,
          got: String(maxBatchSize),
        });
      }
      options.warmup.forEach((request, i) =>
        misfits.push(
          ...warmupProblems(inputs, request, `warmup[${i}]`, { maxInputBytes: options.maxWarmupInputBytes }),
        ),
      );
      if (misfits.length > 0)
        throw new ConfigError(misfits.map((p): ConfigProblem => ({ file: options.overrides.file, ...p })));
      const label = `model "${name}" version ${version}`;
      const batcher = new DynamicBatcher(sessions, {
        ...options.batching,
        maxBatchSize: maxBatchSize === 'auto' ? (batchable ? DEFAULT_MAX_BATCH_SIZE : 0) : maxBatchSize,
        // A max_batch_size from the model's config is taken as it is: rows alone bound its runs.
        maxBatchBytes: maxBatchSize === 'auto' ? DEFAULT_MAX_BATCH_BYTES : 0,
        maxQueueSize: options.maxQueueSize,
        // The version's batchers (workers, main thread) share one queue limit.
        queueDepth: (): number => model.depth,
        label,
        pipeline: true,
      });
      const model: ModelVersion = new ModelVersion(name, version, sessions, batcher, inputs, outputs);
      await model.warmUp(options);
      if (options.placement === 'auto') {
        const { lane, use } = await MainThreadLane.open({
          modelPath,
          inputs,
          outputs,
          batchable,
          worker: sessions[0]!,
          session: options.session,
          warmup: options.warmup,
          maxWarmupInputBytes: options.maxWarmupInputBytes,
          maxQueueSize: options.maxQueueSize,
          queueDepth: (): number => model.depth,
          label,
          log: options.log,
        });
        model.lane = lane;
        model.mainThreadUse = use;
      }
      for (const b of model.batchers()) {
        b.resetStats();
        if (options.observer !== undefined) b.observe(options.observer);
      }
      return model;
    } catch (err) {
      await Promise.all(sessions.map((s) => s.close()));
      throw err;
    }
  }

  /** What the version decided at load about running on the main thread. */
  get mainThread(): MainThreadUse {
    return this.mainThreadUse;
  }

  /**
   * Queues one request: on the main thread when it is shaped for the version's lane there (see
   * MainThreadLane), otherwise on the workers' batcher. Settles as DynamicBatcher.submit does;
   * the version's queues share one max_queue_size.
   */
  submit(
    feeds: Record<string, HostTensor>,
    outputNames: readonly string[],
    signal: CancelSignal,
    options: SubmitOptions = {},
  ): Promise<Record<string, HostTensor>> {
    const batcher = this.lane?.fits(feeds) === true ? this.lane.batcher : this.batcher;
    return batcher.submit(feeds, outputNames, signal, options);
  }

  /** Requests waiting for an instance. */
  get depth(): number {
    // On every request's path (the queues' shared limit): no array made.
    return this.batcher.depth + (this.lane?.batcher.depth ?? 0);
  }

  /** Runs handed to instances and not finished. */
  get inFlight(): number {
    return this.batcher.inFlight + (this.lane?.batcher.inFlight ?? 0);
  }

  /** The counts of every run since the version took traffic. */
  stats(): BatcherStats {
    return this.batchers()
      .map((b) => b.stats())
      .reduce(addStats);
  }

  private batchers(): DynamicBatcher[] {
    return this.lane === undefined ? [this.batcher] : [this.batcher, this.lane.batcher];
  }

  /** Most rows the batcher puts in one run; 0 when requests run alone. */
  get maxBatchSize(): number {
    return this.batcher.maxBatchSize;
  }

  /**
   * Runs each warm-up request `count` × instances times, as `instances` runs in flight at once
   * (idle instances take work first, so each session is warmed): each run's feeds are made just
   * before it is queued (they are handed over to a worker), so a warm-up holds as much input as
   * `instances` requests do, whatever its count.
   */
  private async warmUp(options: ModelVersionOptions): Promise<void> {
    const never = new AbortController().signal;
    const outputNames = this.outputs.map((o) => o.name);
    const limits = { maxInputBytes: options.maxWarmupInputBytes };
    const runs = async (request: WarmupRequest | undefined, count: number): Promise<void> => {
      const first = warmupFeeds(this.inputs, request, limits); // a bad input throws before any run
      const lane = async (firstFeeds: Record<string, HostTensor> | undefined): Promise<void> => {
        let feeds = firstFeeds;
        for (let i = 0; i < count; i++) {
          await this.batcher.submit(feeds ?? warmupFeeds(this.inputs, request, limits), outputNames, never);
          feeds = undefined;
        }
      };
      await Promise.all(this.sessions.map((_, k) => lane(k === 0 ? first : undefined)));
    };
    if (options.warmup.length === 0) {
      try {
        await runs(undefined, 1);
      } catch (err) {
        options.log.warn(
          { model: this.name, version: this.version, reason: (err as Error).message },
          'default warm-up run failed; add a warmup entry to the model config',
        );
      }
      return;
    }
    for (const request of options.warmup) {
      try {
        await runs(request, request.count);
      } catch (err) {
        // Its inputs were checked against the model before (warmupProblems): a failing run is the model's fault.
        throw new Error(`warm-up "${request.name}" failed: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  /** Fails queued and running requests with `reason` at once (see OnnxSession.abandon). */
  abandon(reason: InferdError): void {
    for (const b of this.batchers()) b.failWaiting(reason);
    for (const s of this.sessions) s.abandon(reason);
  }

  /** Waits for queued and running requests, then closes the sessions. Safe to call twice. */
  close(): Promise<void> {
    this.closed ??= Promise.all(this.batchers().map((b) => b.whenIdle())).then(async () => {
      await Promise.all([...this.sessions.map((s) => s.close()), this.lane?.close()]);
    });
    return this.closed;
  }
}

/**
 * The model's specs with the overrides of the config file's `field` (inputs or outputs)
 * applied; an override that does not fit is left out and added to `problems`.
 */
function applyOverrides(
  specs: readonly TensorSpec[],
  overrides: readonly TensorOverride[],
  field: string,
  problems: FieldProblem[],
): TensorSpec[] {
  const result = [...specs];
  overrides.forEach((o, i) => {
    const at = `${field}[${i}]`;
    const index = result.findIndex((s) => s.name === o.name);
    if (index < 0) {
      problems.push({
        field: `${at}.name`,
        expected: `one of the model's ${field} (${specs.map((s) => `"${s.name}"`).join(', ')})`,
        got: JSON.stringify(o.name),
      });
      return;
    }
    const spec = result[index]!;
    const fits = o.dims.length === spec.dims.length && o.dims.every((d, k) => spec.dims[k]! < 0 || d === spec.dims[k]);
    if (!fits) {
      problems.push({
        field: `${at}.dims`,
        expected: `a shape the model's ${formatShape(spec.dims)} takes`,
        got: formatShape(o.dims),
      });
      return;
    }
    result[index] = { ...spec, dims: [...o.dims] };
  });
  return result;
}
