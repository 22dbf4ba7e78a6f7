import type * as ort from 'onnxruntime-node';
import { InferdError } from '../inferd-error';
import type { HostTensor } from '../tensor/tensor-types';
import { openSession, runSession } from './ort-session';
import type { SessionOptions } from './worker-messages';

/**
 * One ONNX Runtime session on the main thread, for models whose runs take microseconds: handing
 * such a run to a worker and back costs the main thread more than the run itself (see
 * docs/benchmarks.md). onnxruntime-node runs synchronously, from a setImmediate, so each run
 * holds the event loop for its length; MainThreadLane gives this session only models and requests
 * it timed to be that short.
 */
export class MainThreadSession {
  /** Runs begun and not yet ended (onnxruntime-node begins each from a setImmediate). */
  private readonly running = new Set<Promise<unknown>>();
  private closed: Promise<void> | undefined;

  private constructor(private readonly session: ort.InferenceSession) {}

  /** Loads the model on this thread; rejects with the runtime's reason. */
  static async create(modelPath: string, options: SessionOptions): Promise<MainThreadSession> {
    return new MainThreadSession((await openSession(modelPath, options)).session);
  }

  /**
   * Runs the model. Rejects with INTERNAL carrying the runtime's message when the run fails,
   * UNAVAILABLE when the session is closed, and the signal's reason when `signal` has fired
   * before the run begins.
   */
  async run(feeds: Record<string, HostTensor>, outputNames: readonly string[], signal?: AbortSignal): Promise<Record<string, HostTensor>> {
    if (this.closed !== undefined) throw new InferdError('UNAVAILABLE', 'model instance is closed');
    if (signal?.aborted === true) throw signal.reason;
    const run = runSession(this.session, feeds, outputNames);
    this.running.add(run);
    try {
      return await run;
    } catch (err) {
      throw new InferdError('INTERNAL', `model run failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.running.delete(run);
    }
  }

  /** Refuses new runs, lets those begun end, then releases the session. Safe to call twice. */
  close(): Promise<void> {
    this.closed ??= Promise.allSettled([...this.running]).then(() => this.session.release());
    return this.closed;
  }
}
