import { promises as fs } from 'node:fs';
import type { Logger } from 'pino';
import { MainThreadSession } from '../runtime/main-thread-session';
import type { OnnxSession, SessionOptions } from '../runtime/onnx-session';
import { readModelOps, SHAPE_BOUND_OPS } from '../runtime/onnx-ops';
import type { Timing } from '../runtime/ort-session';
import { elementType } from '../tensor/element-types';
import type { HostTensor, TensorSpec } from '../tensor/tensor-types';
import type { WarmupRequest } from '../repository/model-config';
import { warmupFeeds } from '../repository/warmup-feeds';
import { DynamicBatcher } from './dynamic-batcher';

/**
 * With placement auto, the longest run (µs: the fastest of PROBE_TIMING's timed runs on a worker,
 * on the probe's input of zeros, from the call to the outputs in hand) of a model whose small
 * requests run on the main thread. Handing a run to a worker and back costs more CPU per request
 * than that (docs/benchmarks.md), and a run this short holds the event loop no longer than a
 * minor garbage collection does.
 */
export const MAIN_THREAD_MAX_RUN_US = 200;

/** Rows of the probe, along a first dimension of any size (fewer when 64 would pass MAIN_THREAD_MAX_PROBE_BYTES). */
export const MAIN_THREAD_PROBE_ROWS = 64;

/**
 * Rows per run on the main thread. Each run costs onnxruntime-node a fixed overhead whatever its
 * size, so a few requests a run save main-thread time; but a run that takes every waiting request
 * makes client and server take turns, each idle while the other works (docs/benchmarks.md
 * compares sizes). A request of more rows (up to the probe's) runs by itself, so no run is larger
 * than the probe.
 */
export const MAIN_THREAD_MAX_BATCH_ROWS = 8;

/**
 * Rows per run on the main thread when many requests wait (DynamicBatcherOptions.
 * deepQueueMaxBatchSize: up to a quarter of them): with 256 in flight on one stream, runs of up
 * to 32 rows cost 0.8× the server CPU per message of runs of 8, and answered 1.28× as many
 * (docs/benchmarks.md); at concurrency 16 nothing changes (a quarter of 16 is under 8).
 */
export const MAIN_THREAD_DEEP_QUEUE_ROWS = 32;

/** Most input bytes in the probe, so that timing a model with large rows stays cheap. */
export const MAIN_THREAD_MAX_PROBE_BYTES = 64 * 1024;

/**
 * Largest model file given a second session on the main thread: loading it there holds the event
 * loop, and the session's memory is paid twice.
 */
export const MAIN_THREAD_MAX_MODEL_BYTES = 8 * 1024 * 1024;

/** Runs timed at load, after untimed ones; the fastest decides. A first run past 10× the bound ends it. */
const PROBE_TIMING: Timing = { warmupRuns: 30, timedRuns: 31, enoughUs: 10 * MAIN_THREAD_MAX_RUN_US };

/** What a version decided at load about the main thread. */
export interface MainThreadUse {
  /** Fastest timed run of the probe on a worker, µs; undefined when not timed. */
  readonly measuredRunUs: number | undefined;
  /** Requests shaped like the probe with at most this many rows run on the main thread; 0: none do. */
  readonly maxRows: number;
  /** Why no request runs on the main thread; empty when some do. */
  readonly note: string;
}

export const WORKER_ONLY: MainThreadUse = { measuredRunUs: undefined, maxRows: 0, note: 'placement: worker' };

export interface LaneOptions {
  readonly modelPath: string;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** Every input and output has a first dimension of any size. */
  readonly batchable: boolean;
  /** The version's first worker session: the probe runs there, never on the main thread. */
  readonly worker: OnnxSession;
  readonly session: SessionOptions;
  /** Warm-up requests of the model's config: those shaped for the lane warm its session too. */
  readonly warmup: readonly WarmupRequest[];
  /** The largest warm-up input, bytes (see warmupFeeds). */
  readonly maxWarmupInputBytes: number;
  readonly maxQueueSize: number;
  /** What the lane's batcher counts against maxQueueSize: the version's requests waiting in all its batchers. */
  readonly queueDepth: () => number;
  readonly label: string;
  readonly log: Logger;
}

/**
 * A session on the main thread for the small requests of a model that runs in microseconds, and
 * the batcher in front of it: runs of at most MAIN_THREAD_MAX_BATCH_ROWS rows (a larger request
 * by itself), one handed over while another runs. It fits only requests shaped like the probe it
 * was timed with (the same non-batch dimensions, at most as many rows), and only models whose
 * every operator's work depends on shapes alone (SHAPE_BOUND_OPS), so no request it serves runs
 * much longer than the probe did.
 */
export class MainThreadLane {
  private constructor(
    private readonly session: MainThreadSession,
    readonly batcher: DynamicBatcher,
    /** Per input, its dimensions after the first (all of them when not batchable). */
    private readonly shapes: ReadonlyMap<string, readonly number[]>,
    private readonly batchable: boolean,
    readonly maxRows: number,
  ) {}

  /**
   * Decides whether the model gets a lane and opens it. Resolves with the lane (or none) and what
   * was decided; never rejects: whatever goes wrong leaves every run on the workers.
   */
  static async open(o: LaneOptions): Promise<{ lane: MainThreadLane | undefined; use: MainThreadUse }> {
    const none = (note: string, measuredRunUs?: number): { lane: undefined; use: MainThreadUse } => ({
      lane: undefined,
      use: { measuredRunUs, maxRows: 0, note },
    });
    let session: MainThreadSession | undefined;
    try {
      const refusal = await unfit(o);
      if (refusal !== undefined) return none(refusal);
      const shapes = new Map(
        o.inputs.map((s) => [s.name, s.dims.slice(o.batchable ? 1 : 0).map((d) => Math.max(d, 1))]),
      );
      const rowBytes = o.inputs.reduce(
        (sum, s) => sum + elementType(s.type).bytes * shapes.get(s.name)!.reduce((a, d) => a * d, 1),
        0,
      );
      const rows = o.batchable
        ? Math.min(MAIN_THREAD_PROBE_ROWS, Math.floor(MAIN_THREAD_MAX_PROBE_BYTES / Math.max(rowBytes, 1)))
        : 1;
      if (rows < 1 || (!o.batchable && rowBytes > MAIN_THREAD_MAX_PROBE_BYTES))
        return none(`a request is larger than ${MAIN_THREAD_MAX_PROBE_BYTES} bytes`);
      const probe = (): Record<string, HostTensor> =>
        Object.fromEntries(
          o.inputs.map((s) => {
            const dims = o.batchable ? [rows, ...shapes.get(s.name)!] : shapes.get(s.name)!;
            return [
              s.name,
              { type: s.type, dims, data: elementType(s.type).allocate(dims.reduce((a, b) => a * b, 1)) },
            ];
          }),
        );
      const outputNames = o.outputs.map((s) => s.name);
      const runUs = await o.worker.timeRuns(probe(), outputNames, PROBE_TIMING);
      if (runUs > MAIN_THREAD_MAX_RUN_US)
        return none(`a run of ${rows} row(s) took ${Math.round(runUs)} µs, over ${MAIN_THREAD_MAX_RUN_US}`, runUs);
      session = await MainThreadSession.create(o.modelPath, o.session);
      await session.run(probe(), outputNames); // its first run, not a caller's
      const batcher = new DynamicBatcher([session], {
        maxBatchSize: o.batchable ? Math.min(MAIN_THREAD_MAX_BATCH_ROWS, rows) : 0,
        deepQueueMaxBatchSize: o.batchable ? Math.min(MAIN_THREAD_DEEP_QUEUE_ROWS, rows) : 0,
        preferredBatchSizes: [],
        maxQueueDelayUs: 0,
        maxQueueSize: o.maxQueueSize,
        queueDepth: o.queueDepth,
        label: o.label,
        instanceIds: ['main'],
        // One run handed over while one is under way did better at concurrency 16 than one at a
        // time, and more than one waiting did worse (docs/benchmarks.md).
        pipeline: true,
      });
      const lane = new MainThreadLane(session, batcher, shapes, o.batchable, o.batchable ? rows : 1);
      for (const w of o.warmup) {
        const feeds = warmupFeeds(o.inputs, w, { maxInputBytes: o.maxWarmupInputBytes });
        if (!lane.fits(feeds)) continue;
        // A run on this thread reads its feeds without taking them: the same feeds serve each run.
        for (let i = 0; i < w.count; i++) await session.run(feeds, outputNames);
      }
      return { lane, use: { measuredRunUs: runUs, maxRows: lane.maxRows, note: '' } };
    } catch (err) {
      await session?.close();
      o.log.warn(
        { reason: (err as Error).message, label: o.label },
        'no session on the main thread; every run stays on the workers',
      );
      return none(`not timed: ${(err as Error).message}`);
    }
  }

  /** Whether a request is shaped for this lane: each input's non-batch dimensions as probed, at most maxRows rows. */
  fits(feeds: Record<string, HostTensor>): boolean {
    const offset = this.batchable ? 1 : 0;
    for (const [name, dims] of this.shapes) {
      const t = feeds[name];
      if (t === undefined) return false;
      if (t.dims.length !== dims.length + offset) return false;
      if (this.batchable && t.dims[0]! > this.maxRows) return false;
      for (let i = 0; i < dims.length; i++) if (t.dims[i + offset] !== dims[i]) return false;
    }
    return true;
  }

  /** Releases the session; call once the batcher is idle. */
  close(): Promise<void> {
    return this.session.close();
  }
}

/** Why a model gets no lane, or undefined when it may. */
async function unfit(o: LaneOptions): Promise<string | undefined> {
  if (o.inputs.some((s) => s.type === 'string')) return 'it takes string inputs';
  const size = (await fs.stat(o.modelPath)).size;
  if (size > MAIN_THREAD_MAX_MODEL_BYTES) return `the model file is larger than ${MAIN_THREAD_MAX_MODEL_BYTES} bytes`;
  const { ops, hasFunctions } = readModelOps(await fs.readFile(o.modelPath));
  if (hasFunctions) return 'the model defines functions of its own';
  const valueBound = [...ops].filter((op) => !SHAPE_BOUND_OPS.has(op));
  if (valueBound.length > 0)
    return `its operators ${valueBound.sort().join(', ')} may take time that depends on input values`;
  return undefined;
}
