/**
 * The calls into onnxruntime-node that a session worker and the main-thread session share:
 * opening a session, describing its inputs and outputs, running it, timing it.
 */
import './ort-telemetry-off';
import * as ort from 'onnxruntime-node';
import { elementTypeOfRuntime, type NumericArray } from '../tensor/element-types';
import type { HostTensor, TensorSpec } from '../tensor/tensor-types';
import type { SessionOptions } from './worker-messages';

export interface OpenSession {
  readonly session: ort.InferenceSession;
  readonly inputs: TensorSpec[];
  readonly outputs: TensorSpec[];
}

/** Loads a model; rejects with the runtime's reason, or with ours when an input or output is not a tensor we serve. */
export async function openSession(modelPath: string, o: SessionOptions): Promise<OpenSession> {
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: o.intraOpThreads,
    interOpNumThreads: o.interOpThreads,
    executionMode: o.executionMode,
    graphOptimizationLevel: o.graphOptimizationLevel,
    // Failures reach the caller (and our log) as errors; ORT's own stderr lines would repeat them.
    logSeverityLevel: 4,
    // Spinning threads would take CPU from the main thread's network work between runs.
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  });
  try {
    return { session, inputs: describe(session.inputMetadata, 'input'), outputs: describe(session.outputMetadata, 'output') };
  } catch (err) {
    await session.release();
    throw err;
  }
}

function describe(values: readonly ort.InferenceSession.ValueMetadata[], kind: string): TensorSpec[] {
  return values.map((v) => {
    if (!v.isTensor) throw new Error(`${kind} "${v.name}" is not a tensor; inferd serves tensor inputs and outputs only`);
    const info = elementTypeOfRuntime(v.type);
    if (info === undefined) throw new Error(`${kind} "${v.name}" has element type ${v.type}, which inferd does not serve`);
    return { name: v.name, type: info.type, dims: v.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) };
  });
}

/** Runs the session; the outputs' buffers are new and belong to the caller. Rejects with the runtime's error. */
export async function runSession(session: ort.InferenceSession, feeds: Record<string, HostTensor>, outputNames: readonly string[]): Promise<Record<string, HostTensor>> {
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(t.type, t.data, t.dims);
  const results = await session.run(ortFeeds, outputNames as string[]);
  const outputs: Record<string, HostTensor> = {};
  for (const name of outputNames) {
    const t = results[name] as ort.Tensor;
    outputs[name] = { type: t.type as HostTensor['type'], dims: t.dims, data: t.data as NumericArray | string[] };
  }
  return outputs;
}

/** Runs timed before a model may be judged slow at once: the first run of a shape is the slowest, and a busy core can stretch any one. */
const EARLY_RUNS = 3;

/** How to time a model: see timeRuns. */
export interface Timing {
  /** Runs not counted, first (the first runs of a new shape, and of the JavaScript around them, are slower). */
  readonly warmupRuns: number;
  readonly timedRuns: number;
  /** When each of the first EARLY_RUNS runs takes longer than this (µs), the fastest of them is the answer. */
  readonly enoughUs: number;
}

/**
 * Times runs of the session on the same feeds, from the call to the outputs in hand; resolves
 * with the fastest timed run's length in µs (or the fastest of the first EARLY_RUNS, when each is
 * past `enoughUs`: one cold or preempted run alone must not decide). The fastest,
 * not the median: other work on the machine (other models loading, traffic) only ever adds to a
 * run's time, and the decision this feeds is about the model, not about that moment.
 */
export async function timeRuns(session: ort.InferenceSession, feeds: Record<string, HostTensor>, outputNames: readonly string[], timing: Timing): Promise<number> {
  const runUs = async (): Promise<number> => {
    const started = process.hrtime.bigint();
    await runSession(session, feeds, outputNames);
    return Number(process.hrtime.bigint() - started) / 1000;
  };
  let early = Infinity;
  for (let i = 0; i < EARLY_RUNS && early > timing.enoughUs; i++) early = Math.min(early, await runUs());
  if (early > timing.enoughUs) return early;
  for (let i = 0; i < timing.warmupRuns; i++) await runUs();
  let fastest = Infinity;
  for (let i = 0; i < timing.timedRuns; i++) fastest = Math.min(fastest, await runUs());
  return Number.isFinite(fastest) ? fastest : early;
}
