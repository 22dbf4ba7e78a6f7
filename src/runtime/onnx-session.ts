import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { InferdError } from '../inferd-error';
import type { HostTensor, TensorSpec } from '../tensor/tensor-types';
import type { Timing } from './ort-session';
import { SKIP_FLAGS, type FromWorker, type SessionOptions, type ToWorker, type WorkerStart } from './worker-messages';

export type { SessionOptions } from './worker-messages';

interface Pending {
  /** With a run's outputs, or a timing's fastest run in µs. */
  resolve: (value: never) => void;
  reject: (err: unknown) => void;
  /** The run's skip signal, and its listener, when it has one. */
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * One ONNX Runtime session, owned by a worker thread of its own (session-worker.ts); requests and
 * answers cross to it as messages whose tensor buffers are transferred, not copied.
 */
export class OnnxSession {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closing: Promise<void> | undefined;
  private exited = false;

  private constructor(
    private readonly worker: Worker,
    private readonly skipFlags: Int32Array,
    /** The model's inputs as it declares them; -1 marks a dimension of any size. */
    readonly inputs: readonly TensorSpec[],
    readonly outputs: readonly TensorSpec[],
  ) {
    worker.on('message', (m: FromWorker) => this.onMessage(m));
    worker.on('exit', () => this.onExit());
    worker.on('error', () => undefined); // the exit that follows fails what is pending
  }

  /**
   * Starts a worker and loads the model in it. Rejects with the runtime's reason when the file
   * cannot be read or is not a model ONNX Runtime can run.
   */
  static async create(modelPath: string, options: SessionOptions): Promise<OnnxSession> {
    const skipFlags = new SharedArrayBuffer(SKIP_FLAGS * Int32Array.BYTES_PER_ELEMENT);
    const start: WorkerStart = { modelPath, options, skipFlags };
    const worker = new Worker(path.join(__dirname, 'session-worker.js'), { workerData: start });
    const ready = await new Promise<Extract<FromWorker, { kind: 'ready' }>>((resolve, reject) => {
      const fail = (message: string): void => {
        cleanup();
        reject(new Error(message));
      };
      const onMessage = (m: FromWorker): void => {
        if (m.kind === 'ready') {
          cleanup();
          resolve(m);
        } else if (m.kind === 'load-failed') fail(m.message);
      };
      const onError = (err: Error): void => fail(err.message);
      const onExit = (code: number): void => fail(`session worker exited with code ${code} while loading`);
      const cleanup = (): void => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
    return new OnnxSession(worker, new Int32Array(skipFlags), ready.inputs, ready.outputs);
  }

  /**
   * Runs the model; runs sent while one is in progress wait in the worker, in order. A feed whose
   * data spans its whole buffer has that buffer transferred to the worker: the caller must not use
   * it afterwards. A feed that is a view into a larger buffer (a decoded request's bytes, say) is
   * copied instead, and that buffer left as it is. The outputs'
   * buffers belong to the caller. Rejects with INTERNAL carrying the runtime's message when the
   * run fails, UNAVAILABLE when the session is closed, and the signal's reason when `signal`
   * fires before the worker begins the run (which it then skips).
   */
  run(
    feeds: Record<string, HostTensor>,
    outputNames: readonly string[],
    signal?: AbortSignal,
  ): Promise<Record<string, HostTensor>> {
    return this.send((id, sent) => ({ kind: 'run', id, feeds: sent, outputNames }), feeds, signal);
  }

  /**
   * Times runs of the model on the same feeds (see Timing), in turn with other runs, and resolves
   * with the fastest run's length in µs as the worker measures it (the hand-over to the worker
   * excluded). The feeds' buffers are transferred, as with run().
   */
  timeRuns(feeds: Record<string, HostTensor>, outputNames: readonly string[], timing: Timing): Promise<number> {
    return this.send((id, sent) => ({ kind: 'time', id, feeds: sent, outputNames, timing }), feeds, undefined);
  }

  private send<T>(
    message: (id: number, feeds: Record<string, HostTensor>) => ToWorker,
    feeds: Record<string, HostTensor>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    if (this.closing !== undefined || this.exited) {
      return Promise.reject(new InferdError('UNAVAILABLE', 'model instance is closed'));
    }
    if (signal?.aborted === true) return Promise.reject(signal.reason);
    const id = this.nextId++;
    const { sent, transfer } = transferable(feeds);
    return new Promise<T>((resolve, reject) => {
      const flag = id % SKIP_FLAGS;
      const onAbort = signal === undefined ? undefined : (): void => void Atomics.store(this.skipFlags, flag, 1);
      this.pending.set(id, { resolve: resolve as (value: never) => void, reject, signal, onAbort });
      if (onAbort !== undefined) signal!.addEventListener('abort', onAbort, { once: true });
      Atomics.store(this.skipFlags, flag, 0);
      this.worker.postMessage(message(id, sent), transfer);
    });
  }

  /** Runs in progress or waiting in this session's worker. */
  get busy(): number {
    return this.pending.size;
  }

  /** Releases the session and ends the worker, after the runs already sent finish. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= this.exited
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          this.worker.once('exit', () => resolve());
          const message: ToWorker = { kind: 'close' };
          this.worker.postMessage(message);
        });
    return this.closing;
  }

  /**
   * Fails every pending run with `reason` at once, for a stop whose drain time is up. The run in
   * progress cannot be interrupted: it ends in the worker and its result is dropped. (Ending the
   * worker mid-run instead makes onnxruntime-node abort the whole process when the run returns.)
   * close() still releases the session after it.
   */
  abandon(reason: InferdError): void {
    // Runs still waiting in the worker are skipped rather than run for nobody.
    for (const id of this.pending.keys()) Atomics.store(this.skipFlags, id % SKIP_FLAGS, 1);
    this.failPending(reason);
  }

  private failPending(reason: InferdError): void {
    for (const [id, p] of this.pending) {
      this.settled(id, p);
      p.reject(reason);
    }
  }

  /** Forgets a pending run and its signal listener. */
  private settled(id: number, p: Pending): void {
    this.pending.delete(id);
    if (p.onAbort !== undefined) p.signal!.removeEventListener('abort', p.onAbort);
  }

  private onMessage(m: FromWorker): void {
    if (m.kind === 'closed') {
      void this.worker.terminate();
      return;
    }
    if (m.kind !== 'result' && m.kind !== 'timed' && m.kind !== 'run-failed' && m.kind !== 'skipped') return;
    const p = this.pending.get(m.id);
    if (p === undefined) return;
    this.settled(m.id, p);
    if (m.kind === 'result') p.resolve(m.outputs as never);
    else if (m.kind === 'timed') p.resolve(m.runUs as never);
    else if (m.kind === 'skipped') p.reject(p.signal?.reason ?? new InferdError('CANCELLED', 'model run skipped'));
    else p.reject(new InferdError('INTERNAL', `model run failed: ${m.message}`));
  }

  private onExit(): void {
    this.exited = true;
    this.failPending(new InferdError('INTERNAL', 'model instance stopped during the run'));
  }
}

/**
 * The feeds as they go to the worker, and the buffers to transfer: a feed's own buffer when its
 * data spans all of it (moved, not copied), else a copy of the view (transferring the buffer
 * under a view would take the rest of it away from its owner, a request's message or Node's
 * Buffer pool).
 */
function transferable(feeds: Record<string, HostTensor>): {
  sent: Record<string, HostTensor>;
  transfer: ArrayBuffer[];
} {
  const sent: Record<string, HostTensor> = {};
  const transfer: ArrayBuffer[] = [];
  for (const name in feeds) {
    const t = feeds[name]!;
    if (Array.isArray(t.data)) {
      sent[name] = t;
      continue;
    }
    const buffer = t.data.buffer;
    const whole =
      buffer instanceof ArrayBuffer &&
      t.data.byteOffset === 0 &&
      t.data.byteLength === buffer.byteLength &&
      !transfer.includes(buffer);
    const data = whole ? t.data : t.data.slice();
    transfer.push(data.buffer as ArrayBuffer);
    sent[name] = whole ? t : { type: t.type, dims: t.dims, data };
  }
  return { sent, transfer };
}
