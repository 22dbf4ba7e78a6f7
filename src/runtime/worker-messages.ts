import type { HostTensor, TensorSpec } from '../tensor/tensor-types';
import type { Timing } from './ort-session';

/** ONNX Runtime session settings for one model instance. */
export interface SessionOptions {
  /** Threads one run may use (ORT intra-op pool); 1 runs on the worker thread alone. */
  readonly intraOpThreads: number;
  /** Threads for running independent nodes in parallel; used only in parallel execution mode. */
  readonly interOpThreads: number;
  readonly executionMode: 'sequential' | 'parallel';
  readonly graphOptimizationLevel: 'disabled' | 'basic' | 'extended' | 'all';
}

/** What the main thread hands a session worker when it starts it. */
export interface WorkerStart {
  readonly modelPath: string;
  readonly options: SessionOptions;
  /**
   * One flag per run id modulo its length (Int32), shared: the main thread sets a run's flag to
   * 1 to have the worker skip the run if it has not begun it. Set back to 0 when a run is sent.
   */
  readonly skipFlags: SharedArrayBuffer;
}

/** Flags in WorkerStart.skipFlags: more than runs that can wait in one worker at once. */
export const SKIP_FLAGS = 1024;

export type ToWorker =
  | { kind: 'run'; id: number; feeds: Record<string, HostTensor>; outputNames: readonly string[] }
  /** Time runs on the same feeds (see timeRuns) and answer with the fastest run's length. */
  | { kind: 'time'; id: number; feeds: Record<string, HostTensor>; outputNames: readonly string[]; timing: Timing }
  | { kind: 'close' };

export type FromWorker =
  | { kind: 'ready'; inputs: TensorSpec[]; outputs: TensorSpec[] }
  | { kind: 'load-failed'; message: string }
  | { kind: 'result'; id: number; outputs: Record<string, HostTensor> }
  | { kind: 'timed'; id: number; runUs: number }
  | { kind: 'run-failed'; id: number; message: string }
  | { kind: 'skipped'; id: number }
  | { kind: 'closed' };
