import { promises as fs } from 'node:fs';
import type { Logger } from 'pino';
import { InferdError } from '../inferd-error';
import { MainThreadSession } from '../runtime/main-thread-session';
import { OnnxSession, type SessionOptions } from '../runtime/onnx-session';
import { addStats, DynamicBatcher, feedBytes, type BatcherObserver, type BatcherStats, type SubmitOptions } from '../scheduler/dynamic-batcher';
import { formatShape } from '../tensor/format-shape';
import type { HostTensor, TensorSpec } from '../tensor/tensor-types';
import { ModelConfigError, type Placement, type TensorOverride, type WarmupRequest } from './model-config';
import { warmupFeeds } from './warmup-feeds';

export interface ModelVersionOptions {
  /** Sessions to run side by side, each on a worker thread of its own. */
  readonly instances: number;
  /** Whether short requests of a model measured to run in microseconds go to the main thread (see MAIN_THREAD_MAX_RUN_US). */
  readonly placement: Placement;
  readonly session: SessionOptions;
  readonly maxQueueSize: number;
  /**
   * Dynamic batching. maxBatchSize 0 runs every request alone; 'auto' batches (up to
   * DEFAULT_MAX_BATCH_SIZE rows and DEFAULT_MAX_BATCH_BYTES of input) when every input and output
   * has a dynamic first dimension.
   */
  readonly batching: { readonly maxBatchSize: number | 'auto'; readonly maxQueueDelayUs: number; readonly preferredBatchSizes: readonly number[] };
  /** Narrower shapes than the model declares, from its config file (named in errors). */
  readonly overrides: { readonly file?: string; readonly inputs: readonly TensorOverride[]; readonly outputs: readonly TensorOverride[] };
  /** Warm-up runs; empty: one best-effort run of zeros per instance. */
  readonly warmup: readonly WarmupRequest[];
  readonly log: Logger;
  /** Told of every run after warm-up (metrics, tracing). */
  readonly observer?: BatcherObserver;
}

/** Rows per run when batching is on by default (see docs/benchmarks.md for how it was chosen). */
export const DEFAULT_MAX_BATCH_SIZE = 32;

/**
 * Input bytes per run when batching is on by default: a batch stops growing at this size, so
 * that models with large inputs run short batches. Measured (docs/benchmarks.md): the OCR
 * classifier (108 KiB a row) at concurrency 32 serves more requests with runs of at most 1 MiB
 * (9 rows) than of 512 KiB or 2 MiB, and 1.5–1.8× as many as with 32-row runs, whose length
 * makes the requests that arrive meanwhile wait in lockstep; models with small rows keep
 * DEFAULT_MAX_BATCH_SIZE.
 */
export const DEFAULT_MAX_BATCH_BYTES = 1024 * 1024;

/**
 * With placement auto, the longest run (µs, the fastest of PROBE_TIMING's timed runs in a worker,
 * on MAIN_THREAD_PROBE_ROWS rows of zeros, from the call to the outputs in hand) of a model whose short requests run on the main
 * thread. Handing a run to a worker and back costs about 0.25 ms of CPU per request
 * (docs/benchmarks.md); a request at most as large as the probe runs in less than that where the
 * request already is, and holds the event loop no longer than a minor garbage collection does.
 */
export const MAIN_THREAD_MAX_RUN_US = 200;

/** Rows of the timed run, along a first dimension of any size; requests up to its input bytes run on the main thread. */
export const MAIN_THREAD_PROBE_ROWS = 64;

/**
 * Largest model file given a second session on the main thread: loading it there holds the event
 * loop (a few ms at this size), and the session's memory is paid twice.
 */
export const MAIN_THREAD_MAX_MODEL_BYTES = 8 * 1024 * 1024;

/** Runs timed at load (after as many untimed); the fastest decides. A first run past 10× the bound ends it. */
const PROBE_TIMING = { warmupRuns: 30, timedRuns: 31, enoughUs: 10 * MAIN_THREAD_MAX_RUN_US };

/** What a version decided at load about the main thread. */
export interface MainThreadUse {
  /** Fastest run of the probe, µs, as the worker measured it; undefined when not measured (placement worker, string inputs, a failed run). */
  readonly measuredRunUs: number | undefined;
  /** Requests with at most this many input bytes run on the main thread; 0: none do. */
  readonly maxRequestBytes: number;
}

/** The main-thread session of a version and the queue in front of it (requests run one at a time, never batched). */
interface MainThreadLane {
  readonly session: MainThreadSession;
  readonly queue: DynamicBatcher;
  readonly maxRequestBytes: number;
}

/**
 * One loaded version of a model: its sessions and the queues in front of them. Its inputs and
 * outputs are what the model declares, narrowed by the config's overrides.
 */
export class ModelVersion {
  private closed: Promise<void> | undefined;
  private lane: MainThreadLane | undefined;
  private measuredRunUs: number | undefined;

  private constructor(
    readonly name: string,
    readonly version: string,
    private readonly sessions: readonly OnnxSession[],
    /** The queue and batcher in front of the worker sessions. */
    private readonly queue: DynamicBatcher,
    readonly inputs: readonly TensorSpec[],
    readonly outputs: readonly TensorSpec[],
  ) {}

  /**
   * Loads every instance and warms each up. Rejects, having closed what it opened, when a
   * session fails to load (the runtime's reason), an override does not fit the model, or a
   * configured warm-up run fails.
   */
  static async create(name: string, version: string, modelPath: string, options: ModelVersionOptions): Promise<ModelVersion> {
    const loads = Array.from({ length: options.instances }, () => OnnxSession.create(modelPath, options.session));
    const settled = await Promise.allSettled(loads);
    const sessions = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    try {
      if (failed !== undefined) throw failed.reason;
      const first = sessions[0]!;
      const file = options.overrides.file ?? 'config';
      const inputs = applyOverrides(first.inputs, options.overrides.inputs, `${file}: inputs`);
      const outputs = applyOverrides(first.outputs, options.overrides.outputs, `${file}: outputs`);
      const batchable = [...inputs, ...outputs].every((s) => s.dims.length > 0 && s.dims[0]! < 0);
      const { maxBatchSize } = options.batching;
      if (typeof maxBatchSize === 'number' && maxBatchSize > 0 && !batchable) {
        throw new ModelConfigError(`${file}: max_batch_size: ${maxBatchSize} needs a first dimension of any size on every input and output; this model has ${[...inputs, ...outputs].map((s) => `"${s.name}" ${formatShape(s.dims)}`).join(', ')}`);
      }
      const queue = new DynamicBatcher(sessions, {
        ...options.batching,
        maxBatchSize: maxBatchSize === 'auto' ? (batchable ? DEFAULT_MAX_BATCH_SIZE : 0) : maxBatchSize,
        // A max_batch_size from the model's config is taken as it is: rows alone bound its runs.
        maxBatchBytes: maxBatchSize === 'auto' ? DEFAULT_MAX_BATCH_BYTES : 0,
        maxQueueSize: options.maxQueueSize,
        label: `model "${name}" version ${version}`,
        pipeline: true,
      });
      const model = new ModelVersion(name, version, sessions, queue, inputs, outputs);
      await model.warmUp(options);
      if (options.placement === 'auto') await model.openMainThreadLane(modelPath, options, batchable);
      for (const q of model.queues()) {
        q.resetStats();
        if (options.observer !== undefined) q.observe(options.observer);
      }
      return model;
    } catch (err) {
      await Promise.all(sessions.map((s) => s.close()));
      throw err;
    }
  }

  /**
   * Times the model in a worker on MAIN_THREAD_PROBE_ROWS rows (or its fixed shape) of zeros; when
   * the fastest run is at most MAIN_THREAD_MAX_RUN_US, opens a session on the main thread for
   * requests no larger than that input. Models with string inputs, model files over
   * MAIN_THREAD_MAX_MODEL_BYTES, and models whose probe run fails keep to the workers.
   */
  private async openMainThreadLane(modelPath: string, options: ModelVersionOptions, batchable: boolean): Promise<void> {
    if (this.inputs.some((s) => s.type === 'string')) return;
    if ((await fs.stat(modelPath)).size > MAIN_THREAD_MAX_MODEL_BYTES) return;
    const probe: WarmupRequest = {
      name: 'main-thread probe',
      count: 1,
      inputs: Object.fromEntries(this.inputs.map((s) => [s.name, { shape: s.dims.map((d, i) => (d >= 0 ? d : i === 0 && batchable ? MAIN_THREAD_PROBE_ROWS : 1)), fill: { zero: true } }])),
    };
    const outputNames = this.outputs.map((o) => o.name);
    const feeds = warmupFeeds(this.inputs, probe);
    const maxRequestBytes = feedBytes(feeds);
    try {
      this.measuredRunUs = await this.sessions[0]!.timeRuns(feeds, outputNames, PROBE_TIMING);
    } catch (err) {
      options.log.debug({ model: this.name, version: this.version, reason: (err as Error).message }, 'main-thread probe run failed; every run stays on the workers');
      return;
    }
    if (this.measuredRunUs > MAIN_THREAD_MAX_RUN_US) return;
    let session: MainThreadSession | undefined;
    try {
      session = await MainThreadSession.create(modelPath, options.session);
      await session.run(warmupFeeds(this.inputs, probe), outputNames); // its first run, not a caller's
    } catch (err) {
      // The workers loaded and ran the same file: they can serve it alone.
      await session?.close();
      options.log.warn({ model: this.name, version: this.version, reason: (err as Error).message }, 'no session on the main thread; every run stays on the workers');
      return;
    }
    const queue = new DynamicBatcher([session], {
      maxBatchSize: 0,
      preferredBatchSizes: [],
      maxQueueDelayUs: 0,
      maxQueueSize: options.maxQueueSize,
      label: `model "${this.name}" version ${this.version}`,
      instanceIds: ['main'],
      // One run handed over while one is under way: measured 1.2× the requests/s of one at a
      // time for tiny_mlp at concurrency 16, and more than one waiting did worse (docs/benchmarks.md).
      pipeline: true,
    });
    this.lane = { session, queue, maxRequestBytes };
  }

  /** What the version decided at load about running on the main thread. */
  get mainThread(): MainThreadUse {
    return { measuredRunUs: this.measuredRunUs, maxRequestBytes: this.lane?.maxRequestBytes ?? 0 };
  }

  /**
   * Queues one request: on the main thread when it is short enough (see MAIN_THREAD_MAX_RUN_US),
   * otherwise on the workers' batcher. Settles as DynamicBatcher.submit does.
   */
  submit(feeds: Record<string, HostTensor>, outputNames: readonly string[], signal: AbortSignal, options: SubmitOptions = {}): Promise<Record<string, HostTensor>> {
    const lane = this.lane;
    const queue = lane !== undefined && feedBytes(feeds) <= lane.maxRequestBytes ? lane.queue : this.queue;
    return queue.submit(feeds, outputNames, signal, options);
  }

  /** Requests waiting for an instance. */
  get depth(): number {
    return this.queues().reduce((n, q) => n + q.depth, 0);
  }

  /** Runs handed to instances and not finished. */
  get inFlight(): number {
    return this.queues().reduce((n, q) => n + q.inFlight, 0);
  }

  /** The counts of every run since the version took traffic. */
  stats(): BatcherStats {
    return this.queues().map((q) => q.stats()).reduce(addStats);
  }

  private queues(): DynamicBatcher[] {
    return this.lane === undefined ? [this.queue] : [this.queue, this.lane.queue];
  }

  /** Most rows the batcher puts in one run; 0 when requests run alone. */
  get maxBatchSize(): number {
    return this.queue.maxBatchSize;
  }

  /** Runs each warm-up request `count` times on every instance (so each session is warm). */
  private async warmUp(options: ModelVersionOptions): Promise<void> {
    const never = new AbortController().signal;
    const outputNames = this.outputs.map((o) => o.name);
    const runs = (request: WarmupRequest | undefined, count: number): Promise<unknown>[] =>
      Array.from({ length: count * this.sessions.length }, () => this.queue.submit(warmupFeeds(this.inputs, request), outputNames, never));
    if (options.warmup.length === 0) {
      try {
        await Promise.all(runs(undefined, 1));
      } catch (err) {
        options.log.warn({ model: this.name, version: this.version, reason: (err as Error).message }, 'default warm-up run failed; add a warmup entry to the model config');
      }
      return;
    }
    for (const request of options.warmup) {
      try {
        await Promise.all(runs(request, request.count));
      } catch (err) {
        // Inputs that do not fit the model are the config file's fault; a failing run is the model's.
        if (err instanceof InferdError && err.code === 'INVALID_ARGUMENT') {
          throw new ModelConfigError(`${options.overrides.file ?? 'config'}: warm-up "${request.name}": ${err.message}`, { cause: err });
        }
        throw new Error(`warm-up "${request.name}" failed: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  /** Fails queued and running requests with `reason` at once (see OnnxSession.abandon). */
  abandon(reason: InferdError): void {
    for (const q of this.queues()) q.failWaiting(reason);
    for (const s of this.sessions) s.abandon(reason);
  }

  /** Waits for queued and running requests, then closes the sessions. Safe to call twice. */
  close(): Promise<void> {
    this.closed ??= Promise.all(this.queues().map((q) => q.whenIdle())).then(async () => {
      await Promise.all([...this.sessions.map((s) => s.close()), this.lane?.session.close()]);
    });
    return this.closed;
  }
}

/** The model's specs with the overrides applied; throws ModelConfigError when one does not fit. */
function applyOverrides(specs: readonly TensorSpec[], overrides: readonly TensorOverride[], where: string): TensorSpec[] {
  const result = [...specs];
  overrides.forEach((o, i) => {
    const at = `${where}[${i}]`;
    const index = result.findIndex((s) => s.name === o.name);
    if (index < 0) throw new ModelConfigError(`${at}.name: the model has no "${o.name}" (it has ${specs.map((s) => `"${s.name}"`).join(', ')})`);
    const spec = result[index]!;
    const fits = o.dims.length === spec.dims.length && o.dims.every((d, k) => spec.dims[k]! < 0 || d === spec.dims[k]);
    if (!fits) throw new ModelConfigError(`${at}.dims: ${formatShape(o.dims)} does not fit the model's ${formatShape(spec.dims)}`);
    result[index] = { ...spec, dims: [...o.dims] };
  });
  return result;
}
