import type * as ort from 'onnxruntime-node';
import { InferdError } from '../inferd-error';
import type { Runner } from '../scheduler/runner';
import type { HostTensor } from '../tensor/tensor-types';
import { openSession, runSession } from './ort-session';
import type { SessionOptions } from './worker-messages';

interface PendingRun {
  readonly feeds: Record<string, HostTensor>;
  readonly outputNames: readonly string[];
  readonly signal: AbortSignal | undefined;
  readonly resolve: (outputs: Record<string, HostTensor>) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * One ONNX Runtime session on the main thread, for models whose runs take microseconds: handing
 * such a run to a worker and back costs the main thread more than the run itself (see
 * docs/benchmarks.md). onnxruntime-node runs synchronously, from a setImmediate, so each run
 * holds the event loop for its length; MainThreadLane gives this session only models and requests
 * it timed to be that short.
 *
 * Runs one at a time, in the order handed over, as a worker session does: a run handed over
 * while another is under way is given to onnxruntime-node only once that one has ended, so that
 * its signal is read just before it begins (onnxruntime-node offers no way to withdraw a run it
 * was given).
 */
export class MainThreadSession implements Runner {
  /** Runs handed over and not ended, in order; the first one is under way. */
  private readonly runs: PendingRun[] = [];
  private drained: (() => void) | undefined;
  private closed: Promise<void> | undefined;

  private constructor(private readonly session: ort.InferenceSession) {}

  /** Loads the model on this thread; rejects with the runtime's reason. */
  static async create(modelPath: string, options: SessionOptions): Promise<MainThreadSession> {
    return new MainThreadSession((await openSession(modelPath, options)).session);
  }

  /**
   * Runs the model once the runs handed over before it have ended. The feeds are read, not
   * taken: the caller may use them again once the run settles. Rejects with INTERNAL carrying
   * the runtime's message when the run fails, UNAVAILABLE when the session is closed, and the
   * signal's reason when `signal` fires before the run begins (it is then skipped).
   */
  run(
    feeds: Record<string, HostTensor>,
    outputNames: readonly string[],
    signal?: AbortSignal,
  ): Promise<Record<string, HostTensor>> {
    if (this.closed !== undefined) return Promise.reject(new InferdError('UNAVAILABLE', 'model instance is closed'));
    if (signal?.aborted === true) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      this.runs.push({ feeds, outputNames, signal, resolve, reject });
      if (this.runs.length === 1) this.beginFirst();
    });
  }

  /** Refuses new runs, lets those handed over end, then releases the session. Safe to call twice. */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      if (this.runs.length === 0) resolve();
      else this.drained = resolve;
    }).then(() => this.session.release());
    return this.closed;
  }

  /** Begins the first run handed over, skipping those whose signal fired while they waited. */
  private beginFirst(): void {
    let next = this.runs[0];
    while (next?.signal?.aborted === true) {
      this.runs.shift();
      next.reject(next.signal.reason);
      next = this.runs[0];
    }
    if (next === undefined) {
      this.drained?.();
      return;
    }
    const done = next;
    runSession(this.session, done.feeds, done.outputNames).then(
      (outputs) => {
        done.resolve(outputs);
        this.beginNext();
      },
      (err: unknown) => {
        done.reject(
          new InferdError('INTERNAL', `model run failed: ${err instanceof Error ? err.message : String(err)}`),
        );
        this.beginNext();
      },
    );
  }

  /** The run under way ended: the next one handed over begins. */
  private beginNext(): void {
    this.runs.shift();
    this.beginFirst();
  }
}
