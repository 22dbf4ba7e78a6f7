import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { InferdError } from '../inferd-error';
import type { HostTensor, TensorSpec } from '../tensor/tensor-types';
import type { FromWorker, SessionOptions, ToWorker, WorkerStart } from './worker-messages';

export type { SessionOptions } from './worker-messages';

interface Pending {
  resolve: (outputs: Record<string, HostTensor>) => void;
  reject: (err: InferdError) => void;
}

/**
 * One ONNX Runtime session, owned by a worker thread of its own. The only part of inferd that
 * talks to onnxruntime-node (through session-worker.ts).
 */
export class OnnxSession {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closing: Promise<void> | undefined;
  private exited = false;

  private constructor(
    private readonly worker: Worker,
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
    const start: WorkerStart = { modelPath, options };
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
    return new OnnxSession(worker, ready.inputs, ready.outputs);
  }

  /**
   * Runs the model. The feeds' buffers are transferred to the worker: the caller must not use
   * them afterwards. The outputs' buffers belong to the caller. Rejects with INTERNAL carrying
   * the runtime's message when the run fails, and UNAVAILABLE when the session is closed.
   */
  run(feeds: Record<string, HostTensor>, outputNames: readonly string[]): Promise<Record<string, HostTensor>> {
    if (this.closing !== undefined || this.exited) {
      return Promise.reject(new InferdError('UNAVAILABLE', 'model instance is closed'));
    }
    const id = this.nextId++;
    const transfer = new Set<ArrayBuffer>();
    for (const t of Object.values(feeds)) if (!Array.isArray(t.data)) transfer.add(t.data.buffer as ArrayBuffer);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const message: ToWorker = { kind: 'run', id, feeds, outputNames };
      this.worker.postMessage(message, [...transfer]);
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
    this.failPending(reason);
  }

  private failPending(reason: InferdError): void {
    for (const p of this.pending.values()) p.reject(reason);
    this.pending.clear();
  }

  private onMessage(m: FromWorker): void {
    if (m.kind === 'closed') {
      void this.worker.terminate();
      return;
    }
    if (m.kind !== 'result' && m.kind !== 'run-failed') return;
    const p = this.pending.get(m.id);
    if (p === undefined) return;
    this.pending.delete(m.id);
    if (m.kind === 'result') p.resolve(m.outputs);
    else p.reject(new InferdError('INTERNAL', `model run failed: ${m.message}`));
  }

  private onExit(): void {
    this.exited = true;
    this.failPending(new InferdError('INTERNAL', 'model instance stopped during the run'));
  }
}
